import { Mean } from '@tensorflow/tfjs-core';
import { reduceKernel } from './kernel_utils.js';

export const meanConfig = reduceKernel(Mean, 'mean');
