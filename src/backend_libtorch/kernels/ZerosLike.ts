import { ZerosLike } from '@tensorflow/tfjs-core';
import { unaryKernel } from './kernel_utils.js';

export const zerosLikeConfig = unaryKernel(ZerosLike, 'zeroslike');
