import { All } from '@tensorflow/tfjs-core';
import { reduceKernel } from './kernel_utils.js';

export const allConfig = reduceKernel(All, 'all');
