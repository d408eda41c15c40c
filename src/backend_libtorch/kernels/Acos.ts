import { Acos } from '@tensorflow/tfjs-core';
import { unaryKernel } from './kernel_utils.js';

export const acosConfig = unaryKernel(Acos, 'acos');
