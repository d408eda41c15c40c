import { Prelu } from '@tensorflow/tfjs-core';
import { binaryKernel } from './kernel_utils.js';

export const preluConfig = binaryKernel(Prelu, 'prelu', ['x', 'alpha']);
