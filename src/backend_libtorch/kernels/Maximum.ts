import { Maximum } from '@tensorflow/tfjs-core';
import { binaryKernel } from './kernel_utils.js';

export const maximumConfig = binaryKernel(Maximum, 'maximum');
