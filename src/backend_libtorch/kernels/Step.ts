import { Step } from '@tensorflow/tfjs-core';
import { unaryKernel } from './kernel_utils.js';

export const stepConfig = unaryKernel(Step, 'step', 'alpha');
