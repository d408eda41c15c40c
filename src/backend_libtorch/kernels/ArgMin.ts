import { ArgMin } from '@tensorflow/tfjs-core';
import { argReduceKernel } from './kernel_utils.js';

export const argMinConfig = argReduceKernel(ArgMin, 'argmin');
