/** Replaces tfjs' cpu ResizeBilinearGrad, which ignores halfPixelCenters and returns [B,W,H,C] when H != W. */
import * as tf from '@tensorflow/tfjs-core';
import { resizeBilinearGradImpl } from '../impl/resize_bilinear_grad.js';
import { asTensor } from '../impl/tensor_info.js';

function resizeBilinearGrad(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const { images, dy } = args.inputs as unknown as tf.ResizeBilinearGradInputs;
  const { alignCorners, halfPixelCenters } = args.attrs as unknown as tf.ResizeBilinearGradAttrs;
  return resizeBilinearGradImpl(
    asTensor<tf.Tensor4D>(images!, 'ResizeBilinearGrad'),
    asTensor<tf.Tensor4D>(dy!, 'ResizeBilinearGrad'),
    alignCorners === true,
    halfPixelCenters === true,
  );
}

export const resizeBilinearGradConfig: tf.KernelConfig = {
  kernelName: tf.ResizeBilinearGrad,
  backendName: 'cpu',
  kernelFunc: resizeBilinearGrad as unknown as tf.KernelFunc,
};
