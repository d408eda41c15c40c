// Which of tfjs-core 4.22's own jasmine tests run against the native (libtorch) backend, and which specs are
// excluded and why. Read by scripts/tfjs_core_suite.mjs.
//
// FILES: test files (relative to node_modules/@tensorflow/tfjs-core/dist/) of the ops whose kernels the backend
// implements (src/backend_libtorch/README.md, "Kernel coverage"), plus ops composed only of such kernels. The
// gradient specs of an op live in the op's own test file and run with it (tfjs-core's stock gradients).
export const FILES = [
  // unary
  'ops/abs_test.js', 'ops/acos_test.js', 'ops/asin_test.js', 'ops/atan_test.js', 'ops/ceil_test.js',
  'ops/cos_test.js', 'ops/cosh_test.js', 'ops/elu_test.js', 'ops/erf_test.js', 'ops/exp_test.js',
  'ops/expm1_test.js', 'ops/floor_test.js', 'ops/is_finite_test.js', 'ops/is_inf_test.js', 'ops/is_nan_test.js',
  'ops/leaky_relu_test.js', 'ops/log_test.js', 'ops/log1p_test.js', 'ops/logical_not_test.js', 'ops/neg_test.js',
  'ops/reciprocal_test.js', 'ops/relu_test.js', 'ops/relu6_test.js', 'ops/round_test.js', 'ops/rsqrt_test.js',
  'ops/selu_test.js', 'ops/sigmoid_test.js', 'ops/sign_test.js', 'ops/sin_test.js', 'ops/sinh_test.js',
  'ops/softplus_test.js', 'ops/sqrt_test.js', 'ops/square_test.js', 'ops/step_test.js', 'ops/tan_test.js',
  'ops/tanh_test.js', 'ops/zeros_like_test.js', 'ops/ones_like_test.js', 'ops/clip_by_value_test.js',
  'ops/clone_test.js', 'ops/log_sigmoid_test.js',
  // binary
  'ops/add_test.js', 'ops/sub_test.js', 'ops/arithmetic_test.js', 'ops/binary_ops_test.js', 'ops/floordiv_test.js',
  'ops/equal_test.js', 'ops/not_equal_test.js', 'ops/less_test.js', 'ops/less_equal_test.js',
  'ops/greater_test.js', 'ops/greater_equal_test.js', 'ops/logical_and_test.js', 'ops/logical_or_test.js',
  'ops/add_n_test.js', 'ops/where_test.js',
  // reductions
  'ops/sum_test.js', 'ops/mean_test.js', 'ops/max_test.js', 'ops/min_test.js', 'ops/prod_test.js',
  'ops/all_test.js', 'ops/any_test.js', 'ops/arg_max_test.js', 'ops/arg_min_test.js', 'ops/cumsum_test.js',
  'ops/cumprod_test.js', 'ops/topk_test.js', 'ops/softmax_test.js', 'ops/log_softmax_test.js',
  'ops/log_sum_exp_test.js', 'ops/moments_test.js',
  // matmul
  'ops/mat_mul_test.js', 'ops/fused/fused_mat_mul_test.js',
  // convolution
  'ops/conv2d_test.js', 'ops/conv2d_transpose_test.js', 'ops/conv1d_test.js', 'ops/depthwise_conv2d_test.js',
  'ops/conv2d_separable_test.js', 'ops/fused/fused_conv2d_test.js', 'ops/fused/fused_depthwise_conv2d_test.js',
  // pooling
  'ops/max_pool_test.js', 'ops/avg_pool_test.js', 'ops/pool_test.js',
  // resize
  'ops/image/resize_bilinear_test.js', 'ops/image/resize_nearest_neighbor_test.js',
  // normalisation
  'ops/batchnorm_test.js',
  // shape / indexing
  'ops/expand_dims_test.js', 'ops/squeeze_test.js', 'ops/transpose_test.js', 'ops/concat_test.js',
  'ops/stack_test.js', 'ops/unstack_test.js', 'ops/split_test.js', 'ops/slice_test.js', 'ops/slice1d_test.js',
  'ops/slice2d_test.js', 'ops/slice3d_test.js', 'ops/slice4d_test.js', 'ops/strided_slice_test.js',
  'ops/tile_test.js', 'ops/pad_test.js', 'ops/mirror_pad_test.js', 'ops/reverse_test.js', 'ops/reverse_1d_test.js',
  'ops/reverse_2d_test.js', 'ops/reverse_3d_test.js', 'ops/reverse_4d_test.js', 'ops/broadcast_to_test.js',
  'ops/gather_test.js', 'ops/gather_nd_test.js', 'ops/scatter_nd_test.js', 'ops/unsorted_segment_sum_test.js',
  'ops/one_hot_test.js', 'ops/where_async_test.js',
  // creation
  'ops/fill_test.js', 'ops/range_test.js', 'ops/linspace_test.js', 'ops/zeros_test.js', 'ops/ones_test.js',
  'ops/eye_test.js', 'ops/meshgrid_test.js',
  // composed ops
  'ops/losses/absolute_difference_test.js', 'ops/losses/compute_weighted_loss_test.js', 'ops/losses/cosine_distance_test.js',
  'ops/losses/hinge_loss_test.js', 'ops/losses/huber_loss_test.js', 'ops/losses/log_loss_test.js',
  'ops/losses/mean_squared_error_test.js', 'ops/losses/sigmoid_cross_entropy_test.js',
  'ops/losses/softmax_cross_entropy_test.js', 'ops/norm_test.js', 'ops/euclidean_norm_test.js',
  'ops/moving_average_test.js', 'ops/boolean_mask_test.js', 'ops/confusion_matrix_test.js',
  'ops/basic_lstm_cell_test.js', 'ops/multi_rnn_cell_test.js', 'ops/operation_test.js',
  // optimizers, gradients and engine-level behaviour on this backend
  'optimizers/sgd_optimizer_test.js', 'optimizers/momentum_optimizer_test.js', 'optimizers/adam_optimizer_test.js',
  'optimizers/adamax_optimizer_test.js', 'optimizers/adagrad_optimizer_test.js', 'optimizers/adadelta_optimizer_test.js',
  'optimizers/rmsprop_optimizer_test.js', 'optimizers/optimizer_test.js',
  'gradients_test.js', 'variable_test.js', 'tensor_test.js', 'engine_test.js', 'tape_test.js',
];

// EXCLUDES: a spec is excluded when its full jasmine name contains `match` (a string) or matches it (a RegExp).
// `category` groups the reasons in the summary; `why` says exactly why the spec cannot pass here.
const NOT_SUPPORTED = 'not supported by design';
const CPU_QUIRK = 'tfjs-cpu-specific behaviour';
const ATEN_SEMANTICS = 'ATen semantics differ';

/** Specs named exactly `suite native {} spec`. */
function specs(suite, ...names) {
  return names.map((n) => `${suite} native {} ${n}`);
}
function exact(fullNames) {
  return new RegExp(`^(${fullNames.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})$`);
}

export const EXCLUDES = [
  // --- dtypes: the backend stores float32, int32 and bool only (README "Kernel coverage").
  {
    match: /complex64|complex dtype|complex type|with a complex tensor|complex number|complex input|^(add|sub) native \{\} upcasts when dtypes dont match$/,
    category: NOT_SUPPORTED,
    why: 'complex64 tensors (tf.complex runs the Complex kernel, which the backend does not have)',
  },
  {
    match: exact([
      ...specs('clone', '1D string dtype', '2D string dtype', '3D string dtype', '4D string dtype'),
      ...specs(
        'clone',
        'gradient: 1D string throws error with string dy', 'gradient: 1D string throws error with bool dy',
      ),
      ...specs(
        'clone',
        'gradient: 1D string throws error with int32 dy', 'gradient: 1D string works with float32 dy',
      ),
      ...['equal', 'notEqual', 'less', 'lessEqual', 'greater', 'greaterEqual'].flatMap((s) => specs(s, 'should support string comparison')),
      ...specs('concat3d', 'Accepts string tensor.'),
      ...specs('expandDims', '1d string tensor', '2d string tensor, axis=1'),
      ...specs('fill', '1D fill string', '2D fill string'),
      ...specs('squeeze', 'default', 'specific dimension', 'all ones', 'squeeze only ones'),
      ...specs('stack', 'accepts string.'),
      ...specs('unstack', 'accepts string'),
      ...specs('tile', '1d string tensor', '2d string tensor', '6D string tensor'),
    ]),
    category: NOT_SUPPORTED,
    why: 'string tensors (the backend refuses dtype "string" naming it; strings stay on cpu/wasm)',
  },
  { match: 'slice  native {} accepts string', category: NOT_SUPPORTED, why: 'string tensors' },
  {
    match: exact([
      ...specs(
        'tensor',
        'tf.tensor1d() from string[]', 'tf.tensor1d() from encoded strings', 'tf.tensor2d() from string[][]',
        'tf.tensor2d() from encoded strings', 'tensor3d() from string[][][]', 'tf.tensor3d() from encoded strings',
        'tensor4d() from string[][][][]', 'tf.tensor4d() from encoded strings',
        'tensor4d() from string[][][][] infer shape', 'default dtype from ascii string',
        'default dtype from utf-8 string', 'default dtype from empty string',
        'default dtype from unicode escaped string', 'default dtype from string[]', 'Scalar string dtype',
        'scalar from encoded string', 'Scalar inferred dtype from string', 'Tensor1D inferred dtype from strings',
        '.data() with casting, string tensor', 'reshape a string tensor',
      ),
      ...specs('tensor dataSync', '.dataSync() with casting, string tensor'),
      ...specs(
        'tensor.toString',
        'string scalar verbose', '1d string tensor verbose', '2d string tensor verbose',
        '3d string tensor verbose', '1d long string tensor verbose', '2d long string tensor verbose',
        '2d string tensor with padding verbose', 'scalar string',
      ),
      ...specs('tensor with 0 in shape', '1d string tensor of shape [0]', '2d string tensor of shape [0, 5]'),
      ...specs('tensor.bytes()', 'string tensor from native strings', 'string tensor from encoded bytes'),
      ...specs('memory', 'string tensor', 'unreliable is true for string tensors'),
    ]),
    category: NOT_SUPPORTED,
    why: 'string tensors (creating, printing, reading or measuring them)',
  },
  // --- layouts and kernels outside the coverage table.
  {
    match: /^(conv2d|fused conv2d) native \{\} (?!throws).*NCHW/,
    category: NOT_SUPPORTED,
    why: 'dataFormat NCHW: convolutions are NHWC only (the kernel throws naming the format)',
  },
  {
    match: /^(pool|poolBackprop) native \{\} .* d=2/,
    category: NOT_SUPPORTED,
    why: 'tf.pool with dilation > 1 runs SpaceToBatchND/BatchToSpaceND, which the backend does not have',
  },
  // --- tfjs-cpu quirks the shared tests encode.
  {
    match: exact(specs('pool', 'max x=[2,2,3] f=[1,1] s=2 p=1 fractional outputs default rounding', 'avg x=[2,2,3] f=[1,1] s=2 p=1 fractional outputs default rounding')),
    category: CPU_QUIRK,
    why:
      'tfjs-cpu returns its input for any 1x1 pool whose output shape equals the input shape, ignoring stride 2 and ' +
      'padding 1; here the first window lies wholly in the padding (max -> -Infinity, avg -> NaN), as in TF',
  },
  {
    match: exact(specs('avgPool', 'gradient x=[3,3,1] f=[3,3] s=1 p=explicit')),
    category: CPU_QUIRK,
    why:
      "tfjs-cpu's AvgPoolGrad divides padded windows by the full window size while its forward divides by the " +
      'valid count; this backend is the exact adjoint of its forward (README, Notes)',
  },
  // --- ATen behaviour that differs from tfjs' documented/tested behaviour.
  {
    match: exact([...specs('argmax', 'ignores NaNs'), ...specs('argmin', 'ignores NaNs', '3D, ignores NaNs'), ...specs('maxPool', '[x=[3,3,1] f=[2,2] s=1 ignores NaNs')]),
    category: ATEN_SEMANTICS,
    why: 'ATen (like PyTorch) propagates NaN through max/argmax/argmin/max_pool; tfjs skips NaN',
  },
  {
    match: exact(specs('gather', 'throws when index is out of bound')),
    category: ATEN_SEMANTICS,
    why: "it throws, but with ATen's message ('index out of range in self'), not tfjs' 'GatherV2: the index value ...'",
  },
  {
    match: exact(specs('conv2dTranspose', 'input=8x8x8,output=4x4x8,f=8,s=1,inDepth=8,p=same vec4')),
    category: ATEN_SEMANTICS,
    why:
      "inconsistent shapes: with stride 1 and 'same' padding a 4x4 output cannot come from an 8x8 dy; tfjs-cpu computes " +
      'something anyway, this backend throws naming both sizes (Conv2DBackpropInput)',
  },
];
