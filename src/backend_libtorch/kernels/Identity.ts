import { Identity } from '@tensorflow/tfjs-core';
import { unaryKernel } from './kernel_utils.js';

export const identityConfig = unaryKernel(Identity, 'identity');
