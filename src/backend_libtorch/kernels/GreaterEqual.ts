import { GreaterEqual } from '@tensorflow/tfjs-core';
import { binaryKernel } from './kernel_utils.js';

export const greaterEqualConfig = binaryKernel(GreaterEqual, 'greaterequal');
