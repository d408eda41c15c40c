// Training-mode batch norm on channels-last data, viewed as rows [M, C] (M = batch*height*width).
// ATen's channels_last kernel spends 0.3-0.7 ms per call on the 8-128-channel layers of the default
// UNet (its NCHW kernel 0.17-0.5); these two passes over the data are the arithmetic alone.
// Per-channel sums are float64 over fixed 1024-row chunks, combined in chunk order, so the result is
// more exact than ATen's float32 accumulation and the same for any thread count.
#include <cmath>
#include <vector>

#include <ATen/Parallel.h>

#include "common.h"

namespace ptl {
namespace {

constexpr int64_t kChunkRows = 1024;

int64_t chunk_count(int64_t rows) { return rows == 0 ? 0 : (rows + kChunkRows - 1) / kChunkRows; }

// Per-channel float64 sums of f(row, channel) over all rows: out[k][c] for each of the K sums f yields.
// Each chunk fills its own partial, then the partials are added in chunk order.
template <int K, typename F>
std::vector<double> channel_sums(int64_t rows, int64_t channels, F&& f) {
  int64_t chunks = chunk_count(rows);
  std::vector<double> partial(static_cast<size_t>(chunks * K * channels), 0.0);
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t chunk = begin; chunk < end; chunk++) {
      double* acc = partial.data() + chunk * K * channels;
      int64_t r1 = std::min(rows, (chunk + 1) * kChunkRows);
      for (int64_t r = chunk * kChunkRows; r < r1; r++) f(r, acc);
    }
  });
  std::vector<double> total(static_cast<size_t>(K * channels), 0.0);
  for (int64_t chunk = 0; chunk < chunks; chunk++) {
    const double* acc = partial.data() + chunk * K * channels;
    for (int64_t i = 0; i < K * channels; i++) total[i] += acc[i];
  }
  return total;
}

// Rows [begin, end) of the elementwise pass, split over threads in blocks of whole rows.
template <typename F>
void for_rows(int64_t rows, int64_t channels, F&& f) {
  int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, channels));
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) { f(begin, end); });
}

at::Tensor float_vector(const std::vector<float>& v) {
  at::Tensor t = at::empty({static_cast<int64_t>(v.size())}, at::TensorOptions().dtype(at::kFloat));
  std::copy(v.begin(), v.end(), t.data_ptr<float>());
  return t;
}

std::vector<float> channel_values(const at::Tensor& t, int64_t channels, float fill) {
  std::vector<float> v(static_cast<size_t>(channels), fill);
  if (!t.defined()) return v;
  at::Tensor c = t.contiguous().to(at::kFloat);
  if (c.numel() != channels) throw std::runtime_error("batch norm: a per-channel vector has the wrong length");
  std::copy(c.data_ptr<float>(), c.data_ptr<float>() + channels, v.begin());
  return v;
}

// y[r, c] = (x[r, c] - mean[c]) * scale[c] + beta[c], then max(0, .) when kRelu.
template <bool kRelu>
void normalise_rows(const float* x, float* y, int64_t begin, int64_t end, int64_t channels, const float* mean, const float* scale,
                    const float* beta) {
  for (int64_t r = begin; r < end; r++) {
    const float* xr = x + r * channels;
    float* yr = y + r * channels;
    for (int64_t c = 0; c < channels; c++) {
      float v = (xr[c] - mean[c]) * scale[c] + beta[c];
      yr[c] = kRelu ? (v > 0.f ? v : 0.f) : v;
    }
  }
}

// dx[r, c] = k1[c] * dy'[r, c] - k0[c] - (x[r, c] - mean[c]) * k2[c], dy' = dy masked where y == 0 when kMasked.
template <bool kMasked>
void input_grad_rows(const float* dy, const float* x, const float* y, float* dx, int64_t begin, int64_t end, int64_t channels,
                     const float* mean, const float* k0, const float* k1, const float* k2) {
  for (int64_t r = begin; r < end; r++) {
    const float* dyr = dy + r * channels;
    const float* xr = x + r * channels;
    const float* yr = kMasked ? y + r * channels : nullptr;
    float* dxr = dx + r * channels;
    for (int64_t c = 0; c < channels; c++) {
      float g = kMasked ? (yr[c] > 0.f ? dyr[c] : 0.f) : dyr[c];
      dxr[c] = k1[c] * g - k0[c] - (xr[c] - mean[c]) * k2[c];
    }
  }
}

// batchNormTraining(x, gamma, beta, epsilon, relu) -> [y, mean, variance, invStd]; statistics over all
// axes but the last (biased variance), as in training-mode batch norm. With relu, y = max(0, bn(x)).
napi_value batch_norm_training(Args& a) {
  at::Tensor x = a.tensor(0).contiguous();
  if (x.scalar_type() != at::kFloat) throw std::runtime_error("batchNormTraining: x must be float32");
  double eps = a.num(3);
  bool relu = a.flag(4);
  int64_t c = x.size(-1), rows = x.numel() / std::max<int64_t>(1, c);
  std::vector<float> gamma = channel_values(a.opt_tensor(1), c, 1.f), beta = channel_values(a.opt_tensor(2), c, 0.f);
  const float* xp = x.data_ptr<float>();
  // Sums of x - x[0] and its square: one pass, and no cancellation when |mean| >> std.
  std::vector<double> shift(static_cast<size_t>(c), 0.0);
  for (int64_t j = 0; j < c && rows > 0; j++) shift[j] = xp[j];
  std::vector<double> sums = channel_sums<2>(rows, c, [&](int64_t r, double* acc) {
    const float* xr = xp + r * c;
    for (int64_t j = 0; j < c; j++) {
      double d = static_cast<double>(xr[j]) - shift[j];
      acc[j] += d;
      acc[c + j] += d * d;
    }
  });
  std::vector<float> mean(c), variance(c), inv_std(c), scale(c);
  double n = static_cast<double>(std::max<int64_t>(1, rows));
  for (int64_t j = 0; j < c; j++) {
    double m = sums[j] / n;
    double v = std::max(0.0, sums[c + j] / n - m * m);
    double s = 1.0 / std::sqrt(v + eps);
    mean[j] = static_cast<float>(shift[j] + m);
    variance[j] = static_cast<float>(v);
    inv_std[j] = static_cast<float>(s);
    scale[j] = static_cast<float>(gamma[j] * s);
  }
  at::Tensor y = at::empty_like(x);
  float* yp = y.data_ptr<float>();
  for_rows(rows, c, [&](int64_t begin, int64_t end) {
    if (relu) normalise_rows<true>(xp, yp, begin, end, c, mean.data(), scale.data(), beta.data());
    else normalise_rows<false>(xp, yp, begin, end, c, mean.data(), scale.data(), beta.data());
  });
  return make_ids(a.env, {y, float_vector(mean), float_vector(variance), float_vector(inv_std)});
}

// batchNormTrainingGrad(dy, x, gamma, mean, invStd, y, epsilon) -> [dx, dGamma, dBeta]. y (optional)
// is the forward output of a fused ReLU: dy is masked where it is 0 first.
napi_value batch_norm_training_grad(Args& a) {
  at::Tensor dy = a.tensor(0).contiguous(), x = a.tensor(1).contiguous();
  at::Tensor gamma_t = a.opt_tensor(2), y_t = a.opt_tensor(5);
  at::Tensor y = y_t.defined() ? y_t.contiguous() : y_t;
  if (dy.scalar_type() != at::kFloat || x.scalar_type() != at::kFloat) throw std::runtime_error("batchNormTrainingGrad: dy and x must be float32");
  int64_t c = x.size(-1), rows = x.numel() / std::max<int64_t>(1, c);
  if (dy.numel() != x.numel() || (y.defined() && y.numel() != x.numel())) throw std::runtime_error("batchNormTrainingGrad: dy, x and y must have one shape");
  std::vector<float> gamma = channel_values(gamma_t, c, 1.f), mean = channel_values(a.tensor(3), c, 0.f), inv_std = channel_values(a.tensor(4), c, 1.f);
  const float *dyp = dy.data_ptr<float>(), *xp = x.data_ptr<float>(), *yp = y.defined() ? y.data_ptr<float>() : nullptr;
  auto accumulate = [&](auto masked) {
    constexpr bool kMasked = decltype(masked)::value;
    return channel_sums<2>(rows, c, [&](int64_t r, double* acc) {
      const float* dyr = dyp + r * c;
      const float* xr = xp + r * c;
      const float* yr = kMasked ? yp + r * c : nullptr;
      for (int64_t j = 0; j < c; j++) {
        double g = kMasked ? (yr[j] > 0.f ? dyr[j] : 0.f) : dyr[j];
        acc[j] += g;
        acc[c + j] += g * (static_cast<double>(xr[j]) - mean[j]);
      }
    });
  };
  std::vector<double> sums = yp ? accumulate(std::true_type{}) : accumulate(std::false_type{});
  double n = static_cast<double>(std::max<int64_t>(1, rows));
  std::vector<float> k0(c), k1(c), k2(c), dgamma(c), dbeta(c);
  for (int64_t j = 0; j < c; j++) {
    double s = inv_std[j], scale = gamma[j] * s;
    k1[j] = static_cast<float>(scale);
    k0[j] = static_cast<float>(scale * sums[j] / n);
    k2[j] = static_cast<float>(scale * s * s * sums[c + j] / n);
    dgamma[j] = gamma_t.defined() ? static_cast<float>(sums[c + j] * s) : 0.f;
    dbeta[j] = static_cast<float>(sums[j]);
  }
  at::Tensor dx = at::empty_like(x);
  float* dxp = dx.data_ptr<float>();
  for_rows(rows, c, [&](int64_t begin, int64_t end) {
    if (yp) input_grad_rows<true>(dyp, xp, yp, dxp, begin, end, c, mean.data(), k0.data(), k1.data(), k2.data());
    else input_grad_rows<false>(dyp, xp, nullptr, dxp, begin, end, c, mean.data(), k0.data(), k1.data(), k2.data());
  });
  return make_ids(a.env, {dx, float_vector(dgamma), float_vector(dbeta)});
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
  add_function(env, exports, "batchNormInference", batch_norm_inference);
  add_function(env, exports, "batchNormTraining", batch_norm_training);
  add_function(env, exports, "batchNormTrainingGrad", batch_norm_training_grad);
}

}  // namespace ptl
