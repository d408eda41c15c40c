import { Cumprod } from '@tensorflow/tfjs-core';
import { cumulativeKernel } from './kernel_utils.js';

export const cumprodConfig = cumulativeKernel(Cumprod, 'prod');
