import { Sigmoid } from '@tensorflow/tfjs-core';
import { unaryKernel } from './kernel_utils.js';

export const sigmoidConfig = unaryKernel(Sigmoid, 'sigmoid');
