import { LogicalNot } from '@tensorflow/tfjs-core';
import { unaryKernel } from './kernel_utils.js';

export const logicalNotConfig = unaryKernel(LogicalNot, 'logicalnot');
