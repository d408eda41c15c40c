/**
 * Gradient of Sum as a broadcast of dy (Tile) to x's shape. tfjs' own config multiplies dy by
 * ones(x.shape), which fills a ones array of x's size in JavaScript and uploads it on every backward
 * pass, for the same values (2.7 ms of the default adaptation iteration on the native backend under
 * node's CPU profiler, which inflates it).
 */
import * as tf from '@tensorflow/tfjs-core';

export const sumGradConfig: tf.GradConfig = {
  kernelName: tf.Sum,
  inputsToSave: ['x'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs?: tf.NamedAttrMap) => {
    const [x] = saved as [tf.Tensor];
    const { axis } = attrs as unknown as tf.SumAttrs;
    const expandedShape = x.shape.slice();
    for (const a of tf.util.parseAxisParam(axis, x.shape)) expandedShape[a] = 1;
    const grad = dy as tf.Tensor;
    return {
      // float32 whatever x's dtype, as tfjs' config (its ones are float32).
      x: () => tf.broadcastTo(tf.reshape(grad.dtype === 'float32' ? grad : tf.cast(grad, 'float32'), expandedShape), x.shape),
    };
  },
};
