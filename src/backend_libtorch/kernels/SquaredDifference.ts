import { SquaredDifference } from '@tensorflow/tfjs-core';
import { binaryKernel } from './kernel_utils.js';

export const squaredDifferenceConfig = binaryKernel(SquaredDifference, 'squareddifference');
