import { Abs } from '@tensorflow/tfjs-core';
import { unaryKernel } from './kernel_utils.js';

export const absConfig = unaryKernel(Abs, 'abs');
