import { Max } from '@tensorflow/tfjs-core';
import { reduceKernel } from './kernel_utils.js';

export const maxConfig = reduceKernel(Max, 'max', 'reductionIndices');
