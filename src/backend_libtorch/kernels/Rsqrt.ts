import { Rsqrt } from '@tensorflow/tfjs-core';
import { unaryKernel } from './kernel_utils.js';

export const rsqrtConfig = unaryKernel(Rsqrt, 'rsqrt');
