import { Expm1 } from '@tensorflow/tfjs-core';
import { unaryKernel } from './kernel_utils.js';

export const expm1Config = unaryKernel(Expm1, 'expm1');
