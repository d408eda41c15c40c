/** Shared pieces of methods that keep no state of their own between steps. */
import type { MethodState } from './method.js';

export const NO_STATE: MethodState = { meta: {}, arrays: {} };
