import { Sign } from '@tensorflow/tfjs-core';
import { unaryKernel } from './kernel_utils.js';

export const signConfig = unaryKernel(Sign, 'sign');
