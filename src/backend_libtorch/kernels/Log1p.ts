import { Log1p } from '@tensorflow/tfjs-core';
import { unaryKernel } from './kernel_utils.js';

export const log1pConfig = unaryKernel(Log1p, 'log1p');
