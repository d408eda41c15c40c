import { LeakyRelu } from '@tensorflow/tfjs-core';
import { unaryKernel } from './kernel_utils.js';

export const leakyReluConfig = unaryKernel(LeakyRelu, 'leakyrelu', 'alpha');
