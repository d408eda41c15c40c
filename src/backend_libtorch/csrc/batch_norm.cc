// Batch norm on NHWC tensors: tfjs' FusedBatchNorm, training mode through ATen's channels_last kernels
// (the tensor viewed as rows [1, M, 1, C]), and protoseg's running-statistics form as one call.
#include "common.h"

namespace ptl {
namespace {

// batchNormTraining(x, gamma, beta, epsilon, relu) -> [y, mean, variance, invStd]; statistics over all
// axes but the last (biased variance), as in training-mode batch norm. With relu, y = max(0, bn(x)),
// applied in place on the fresh output (one pass, and one activation fewer to keep for backprop).
napi_value batch_norm_training(Args& a) {
  const at::Tensor& x = a.tensor(0);
  at::Tensor gamma = a.opt_tensor(1), beta = a.opt_tensor(2);
  double eps = a.num(3);
  bool relu = a.flag(4);
  int64_t c = x.size(-1);
  // Any rank -> NHWC [1, M, 1, C]: as NCHW it is unambiguously channels_last, so ATen takes its
  // channels_last kernel ([M, 1, 1, C] would also look contiguous and take a slow per-image loop).
  at::Tensor x4 = x.reshape({1, -1, 1, c});
  auto out = at::native_batch_norm(nchw(x4), gamma, beta, at::Tensor(), at::Tensor(), true, 0.0, eps);
  if (relu) at::relu_(std::get<0>(out));
  at::Tensor y = nhwc(std::get<0>(out)).reshape(x.sizes());
  at::Tensor mean = std::get<1>(out), invstd = std::get<2>(out);
  at::Tensor var = at::clamp_min(invstd.pow(-2) - eps, 0);
  return make_ids(a.env, {y, mean, var, invstd});
}

// batchNormTrainingGrad(dy, x, gamma, mean, invStd, y, epsilon) -> [dx, dGamma, dBeta]. y (optional)
// is the forward output of a fused ReLU: dy is masked where it is 0 first.
napi_value batch_norm_training_grad(Args& a) {
  const at::Tensor& x = a.tensor(1);
  at::Tensor gamma = a.opt_tensor(2);
  at::Tensor y = a.opt_tensor(5);
  at::Tensor dy = y.defined() ? at::threshold_backward(a.tensor(0), y, 0) : a.tensor(0);
  int64_t c = x.size(-1);
  auto grads = at::native_batch_norm_backward(nchw(dy.reshape({1, -1, 1, c})), nchw(x.reshape({1, -1, 1, c})), gamma,
                                              at::Tensor(), at::Tensor(), a.tensor(3), a.tensor(4), true, a.num(6),
                                              {true, gamma.defined(), true});
  at::Tensor dx = nhwc(std::get<0>(grads)).reshape(x.sizes());
  at::Tensor dgamma = gamma.defined() ? std::get<1>(grads) : at::sum(dy.reshape({-1, c}) * 0, 0);
  return make_ids(a.env, {dx, dgamma, std::get<2>(grads)});
}

// batchNorm(x, mean, variance, offset, scale, epsilon) -> id: tfjs' FusedBatchNorm, its own formula
// (x - mean) * rsqrt(variance + epsilon) * scale + offset, broadcasting
napi_value batch_norm(Args& a) {
  const at::Tensor& x = a.tensor(0);
  at::Tensor y = (x - a.tensor(1)) * at::rsqrt(a.tensor(2) + a.num(5));
  at::Tensor scale = a.opt_tensor(4), offset = a.opt_tensor(3);
  if (scale.defined()) y = y * scale;
  if (offset.defined()) y = y + offset;
  return make_id(a.env, y.contiguous());
}

// batchNormInference(x, gamma, beta, mean, variance, epsilon, relu) -> id: the running-statistics form,
// as the composite of ops/batch_norm_training.ts computes it on this backend (the same ATen ops in the
// same order, so the same bits): scale = gamma * rsqrt(variance + epsilon), shift = beta - mean * scale,
// y = x * scale + shift, then max(0, y) with relu. One call instead of seven.
napi_value batch_norm_inference(Args& a) {
  const at::Tensor& x = a.tensor(0);
  at::Tensor eps = at::scalar_tensor(static_cast<double>(static_cast<float>(a.num(5))), at::TensorOptions().dtype(at::kFloat));
  at::Tensor scale = at::mul(a.tensor(1), at::rsqrt(at::add(a.tensor(4), eps)));
  at::Tensor shift = at::sub(a.tensor(2), at::mul(a.tensor(3), scale));
  at::Tensor y = at::add(at::mul(x, scale), shift);
  if (a.flag(6)) at::relu_(y);
  return make_id(a.env, y.contiguous());
}

}  // namespace

void register_batch_norm(napi_env env, napi_value exports) {
  add_function(env, exports, "batchNorm", batch_norm);
  add_function(env, exports, "batchNormInference", batch_norm_inference);
  add_function(env, exports, "batchNormTraining", batch_norm_training);
  add_function(env, exports, "batchNormTrainingGrad", batch_norm_training_grad);
}

}  // namespace ptl
