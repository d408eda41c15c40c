import { Atan2 } from '@tensorflow/tfjs-core';
import { binaryKernel } from './kernel_utils.js';

export const atan2Config = binaryKernel(Atan2, 'atan2');
