/**
 * Backend selection: chosen once at start-up, printed in the run log.
 * `auto` prefers tfjs-node, then protoseg's libtorch backend (`native`), then wasm.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { ProtosegError } from '../errors.js';
import { registerAllKernels } from './register_all_kernels.js';
import { registerAllGradients } from '../gradients/register_all_gradients.js';

export const BACKEND_CHOICES = ['auto', 'wasm', 'cpu', 'node', 'native'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
export type BackendName = Exclude<BackendChoice, 'auto'>;

export interface BackendInfo {
  /** The protoseg name of the backend in use. */
  name: BackendName;
  /** The tfjs registry name (e.g. 'tensorflow' for tfjs-node). */
  tfjsName: string;
  /** Why `auto` chose it, or that it was requested. */
  reason: string;
}

let active: BackendInfo | undefined;

export interface BackendOptions {
  /** Intra-op threads of the native backend (0 or absent: all cores). wasm runs one thread in Node. */
  threads?: number;
}

let requestedThreads = 0;

/** Loaders for optional backends; each resolves to the tfjs backend name or throws why it is unavailable. */
const optionalBackends: Record<'node' | 'native', () => Promise<string>> = {
  node: async () => {
    // A variable specifier keeps TypeScript from requiring the optional package at build time.
    const specifier = '@tensorflow/tfjs-node';
    await import(specifier);
    return 'tensorflow';
  },
  native: async () => {
    const specifier = '../backend_libtorch/index.js';
    const mod = (await import(specifier)) as { registerLibtorchBackend: (options?: { numThreads?: number }) => string };
    return mod.registerLibtorchBackend(requestedThreads > 0 ? { numThreads: requestedThreads } : {});
  },
};

async function activate(name: BackendName, reason: string): Promise<BackendInfo> {
  let tfjsName: string = name;
  if (name === 'node' || name === 'native') {
    tfjsName = await optionalBackends[name]();
  }
  registerAllKernels();
  registerAllGradients();
  const ok = await tf.setBackend(tfjsName);
  if (!ok) {
    throw new ProtosegError('PROTOSEG_BACKEND_UNAVAILABLE', `backend "${name}": tfjs could not initialise it. Use --backend wasm.`);
  }
  await tf.ready();
  active = { name, tfjsName, reason };
  return active;
}

/**
 * Selects and initialises the tensor backend. Calling it again with the same choice is a no-op;
 * a different explicit choice switches backends.
 */
export async function initBackend(choice: BackendChoice = 'auto', options: BackendOptions = {}): Promise<BackendInfo> {
  requestedThreads = options.threads ?? 0;
  if (active !== undefined && (choice === 'auto' || choice === active.name)) return active;
  if (!(BACKEND_CHOICES as readonly string[]).includes(choice)) {
    throw new ProtosegError('PROTOSEG_UNKNOWN_NAME', `backend: expected one of ${BACKEND_CHOICES.join(', ')}, got "${choice}".`);
  }
  if (choice !== 'auto') {
    try {
      return await activate(choice, 'requested');
    } catch (error) {
      if (error instanceof ProtosegError) throw error;
      throw new ProtosegError(
        'PROTOSEG_BACKEND_UNAVAILABLE',
        `backend "${choice}" could not be loaded (${(error as Error).message.split('\n')[0]}). ` +
          (choice === 'native'
            ? 'Install libtorch (apt-get install libtorch-dev, or set LIBTORCH_DIR) and run npm install again, or use --backend wasm.'
            : choice === 'node'
              ? 'Install @tensorflow/tfjs-node (needs internet for libtensorflow), or use --backend wasm.'
              : 'Use --backend wasm.'),
        { cause: error },
      );
    }
  }
  const skipped: string[] = [];
  for (const candidate of ['node', 'native'] as const) {
    try {
      return await activate(candidate, `auto: ${candidate} loaded`);
    } catch (error) {
      const why = unavailableReason(candidate, error);
      if (why !== undefined) skipped.push(why);
    }
  }
  return activate('wasm', skipped.length > 0 ? skipped.join('; ') : 'auto: no faster backend available');
}

/**
 * Why `auto` passed over an optional backend, in a few words; undefined for tfjs-node not being
 * installed (an optional package most installs do not have: not worth a word).
 */
export function unavailableReason(candidate: 'node' | 'native', error: unknown): string | undefined {
  const e = error as { code?: string; reason?: unknown; message?: string };
  if (candidate === 'node') return e.code === 'ERR_MODULE_NOT_FOUND' ? undefined : `tfjs-node does not load: ${String(e.message).split('\n')[0]}`;
  return typeof e.reason === 'string' ? e.reason : `native backend unavailable: ${String(e.message).split('\n')[0]}`;
}

/** The backend as run logs print it: "native", or "wasm (native addon not built: ...)" after a fallback. */
export function describeBackend(info: BackendInfo): string {
  return info.reason === 'requested' || info.reason.startsWith('auto: ') && info.reason.endsWith(' loaded') ? info.name : `${info.name} (${info.reason})`;
}

/** The backend chosen by initBackend, or undefined before it ran. */
export function activeBackend(): BackendInfo | undefined {
  return active;
}
