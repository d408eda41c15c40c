import { LessEqual } from '@tensorflow/tfjs-core';
import { binaryKernel } from './kernel_utils.js';

export const lessEqualConfig = binaryKernel(LessEqual, 'lessequal');
