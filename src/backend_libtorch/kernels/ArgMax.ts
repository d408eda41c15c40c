import { ArgMax } from '@tensorflow/tfjs-core';
import { argReduceKernel } from './kernel_utils.js';

export const argMaxConfig = argReduceKernel(ArgMax, 'argmax');
