import { Reciprocal } from '@tensorflow/tfjs-core';
import { unaryKernel } from './kernel_utils.js';

export const reciprocalConfig = unaryKernel(Reciprocal, 'reciprocal');
