import { IsInf } from '@tensorflow/tfjs-core';
import { unaryKernel } from './kernel_utils.js';

export const isInfConfig = unaryKernel(IsInf, 'isinf');
