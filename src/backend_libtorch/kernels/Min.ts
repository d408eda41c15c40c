import { Min } from '@tensorflow/tfjs-core';
import { reduceKernel } from './kernel_utils.js';

export const minConfig = reduceKernel(Min, 'min');
