import { Elu } from '@tensorflow/tfjs-core';
import { unaryKernel } from './kernel_utils.js';

export const eluConfig = unaryKernel(Elu, 'elu');
