/** wasm has no UnsortedSegmentSum (tfjs 4.22), which the gradient of gather needs: one scatterND. */
import * as tf from '@tensorflow/tfjs-core';
import { unsortedSegmentSumImpl } from '../impl/unsorted_segment_sum.js';
import { asTensor } from '../impl/tensor_info.js';

function unsortedSegmentSum(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const { x, segmentIds } = args.inputs as unknown as tf.UnsortedSegmentSumInputs;
  const { numSegments } = args.attrs as unknown as tf.UnsortedSegmentSumAttrs;
  return unsortedSegmentSumImpl(asTensor(x!, 'UnsortedSegmentSum'), asTensor(segmentIds!, 'UnsortedSegmentSum'), numSegments);
}

export const unsortedSegmentSumConfig: tf.KernelConfig = {
  kernelName: tf.UnsortedSegmentSum,
  backendName: 'wasm',
  kernelFunc: unsortedSegmentSum as unknown as tf.KernelFunc,
};
