/**
 * Test support: initialises the backend the test run asks for (PROTOSEG_TEST_BACKEND, default wasm).
 * Test code only; library code never reads the environment.
 */
import { initBackend, type BackendChoice, type BackendInfo } from '../kernels/backend.js';

export async function initTestBackend(): Promise<BackendInfo> {
  const choice = (process.env['PROTOSEG_TEST_BACKEND'] ?? 'wasm') as BackendChoice;
  return initBackend(choice);
}
