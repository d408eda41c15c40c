import { Relu } from '@tensorflow/tfjs-core';
import { unaryKernel } from './kernel_utils.js';

export const reluConfig = unaryKernel(Relu, 'relu');
