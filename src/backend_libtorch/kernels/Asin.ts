import { Asin } from '@tensorflow/tfjs-core';
import { unaryKernel } from './kernel_utils.js';

export const asinConfig = unaryKernel(Asin, 'asin');
