import { EluGrad } from '@tensorflow/tfjs-core';
import { binaryKernel } from './kernel_utils.js';

export const eluGradConfig = binaryKernel(EluGrad, 'elugrad', ['dy', 'y']);
