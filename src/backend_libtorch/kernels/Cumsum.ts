import { Cumsum } from '@tensorflow/tfjs-core';
import { cumulativeKernel } from './kernel_utils.js';

export const cumsumConfig = cumulativeKernel(Cumsum, 'sum');
