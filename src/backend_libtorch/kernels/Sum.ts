import { Sum } from '@tensorflow/tfjs-core';
import { reduceKernel } from './kernel_utils.js';

export const sumConfig = reduceKernel(Sum, 'sum');
