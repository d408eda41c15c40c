import { Prod } from '@tensorflow/tfjs-core';
import { reduceKernel } from './kernel_utils.js';

export const prodConfig = reduceKernel(Prod, 'prod');
