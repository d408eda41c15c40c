import { Erf } from '@tensorflow/tfjs-core';
import { unaryKernel } from './kernel_utils.js';

export const erfConfig = unaryKernel(Erf, 'erf');
