import { FloorDiv } from '@tensorflow/tfjs-core';
import { binaryKernel } from './kernel_utils.js';

export const floorDivConfig = binaryKernel(FloorDiv, 'floordiv');
