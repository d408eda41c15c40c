import { Any } from '@tensorflow/tfjs-core';
import { reduceKernel } from './kernel_utils.js';

export const anyConfig = reduceKernel(Any, 'any');
