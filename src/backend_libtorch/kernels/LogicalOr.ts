import { LogicalOr } from '@tensorflow/tfjs-core';
import { binaryKernel } from './kernel_utils.js';

export const logicalOrConfig = binaryKernel(LogicalOr, 'logicalor');
