// Convolution, pooling and resizing on NHWC tensors (batch norm is batch_norm.cc's). Each NHWC tensor
// is viewed as an NCHW channels_last tensor (a permute, no copy), so ATen's oneDNN kernels run in
// channels_last.
// TF's SAME padding can be asymmetric (stride 2, even size); ATen only pads symmetrically, so an
// asymmetric case pads explicitly first.
#include <cmath>
#include <limits>

#include "common.h"

namespace ptl {
namespace {

struct Pads {
  int64_t top, bottom, left, right;
  bool symmetric() const { return top == bottom && left == right; }
  bool zero() const { return top == 0 && bottom == 0 && left == 0 && right == 0; }
};

Pads pads_arg(const Args& a, size_t i) {
  auto p = a.ints(i);
  if (p.size() != 4) throw std::runtime_error("pads must be [top, bottom, left, right]");
  return {p[0], p[1], p[2], p[3]};
}

at::Tensor pad_nhwc(const at::Tensor& x, const Pads& p, double value) {
  return at::constant_pad_nd(x, {0, 0, p.left, p.right, p.top, p.bottom}, value);
}

// The padding to hand ATen: the pads when symmetric, else 0 (the caller pads the input explicitly).
std::vector<int64_t> aten_padding(const Pads& p) {
  return p.symmetric() ? std::vector<int64_t>{p.top, p.left} : std::vector<int64_t>{0, 0};
}

// NHWC x as the NCHW (channels_last) input of a convolution, zero-padded first when asymmetric.
at::Tensor conv_input(const at::Tensor& x, const Pads& p) {
  return p.symmetric() ? nchw(x) : nchw(pad_nhwc(x, p, 0));
}

at::Tensor unpad_nhwc(const at::Tensor& x, const Pads& p, int64_t h, int64_t w) {
  return x.narrow(1, p.top, h).narrow(2, p.left, w).contiguous();
}

// tfjs filter [kh, kw, in, out] (or depthwise [kh, kw, in, multiplier]) -> ATen [out, in/groups, kh, kw].
at::Tensor weight_oihw(const at::Tensor& w, bool depthwise) {
  if (!depthwise) return w.permute({3, 2, 0, 1});
  return w.reshape({w.size(0), w.size(1), -1}).permute({2, 0, 1}).unsqueeze(1);
}

std::vector<int64_t> oihw_shape(const std::vector<int64_t>& hwio, bool depthwise) {
  if (!depthwise) return {hwio[3], hwio[2], hwio[0], hwio[1]};
  return {hwio[2] * hwio[3], 1, hwio[0], hwio[1]};
}

at::Tensor weight_hwio(const at::Tensor& oihw, const std::vector<int64_t>& hwio, bool depthwise) {
  if (!depthwise) return oihw.permute({2, 3, 1, 0}).contiguous();
  return oihw.squeeze(1).permute({1, 2, 0}).reshape(hwio).contiguous();
}

// conv2d(x, filter, bias, preluWeights, strides, pads, dilations, depthwise, activation, leakyAlpha) -> id
napi_value conv2d(Args& a) {
  const at::Tensor& x = a.tensor(0);
  const at::Tensor& w = a.tensor(1);
  at::Tensor bias = a.opt_tensor(2);
  at::Tensor prelu = a.opt_tensor(3);
  auto strides = a.ints(4);
  Pads p = pads_arg(a, 5);
  auto dil = a.ints(6);
  bool depthwise = a.flag(7);
  std::string act = a.is_null(8) ? "linear" : a.str(8);
  double alpha = a.is_null(9) ? 0.2 : a.num(9);

  at::Tensor input = conv_input(x, p);
  std::vector<int64_t> padding = aten_padding(p);
  int64_t groups = depthwise ? x.size(3) : 1;
  c10::optional<at::Tensor> conv_bias;
  bool bias_in_conv = bias.defined() && bias.dim() == 1 && bias.size(0) == (depthwise ? w.size(2) * w.size(3) : w.size(3));
  if (bias_in_conv) conv_bias = bias;
  at::Tensor y = at::convolution(input, weight_oihw(w, depthwise), conv_bias, strides, padding, dil, false, {0, 0}, groups);
  at::Tensor out = nhwc(y);
  if (bias.defined() && !bias_in_conv) out = out + bias;
  return make_id(a.env, apply_activation(out, act, prelu, alpha).contiguous());
}

// conv2dBackpropInput(dy, filter, inputShape, strides, pads, dilations, depthwise) -> id
napi_value conv2d_backprop_input(Args& a) {
  const at::Tensor& dy = a.tensor(0);
  const at::Tensor& w = a.tensor(1);
  auto in_shape = a.ints(2);
  auto strides = a.ints(3);
  Pads p = pads_arg(a, 4);
  auto dil = a.ints(5);
  bool depthwise = a.flag(6);
  int64_t n = in_shape[0], h = in_shape[1], wd = in_shape[2], c = in_shape[3];
  bool sym = p.symmetric();
  int64_t hp = sym ? h : h + p.top + p.bottom, wp = sym ? wd : wd + p.left + p.right;
  std::vector<int64_t> padding = aten_padding(p);
  // Only the sizes of the input matter for the input gradient: an uninitialised channels_last stand-in.
  at::Tensor stand_in = at::empty({n, c, hp, wp}, dy.options(), at::MemoryFormat::ChannelsLast);
  auto grads = at::convolution_backward(nchw(dy), stand_in, weight_oihw(w, depthwise), c10::nullopt, strides, padding, dil, false,
                                        {0, 0}, depthwise ? c : 1, {true, false, false});
  at::Tensor dx = nhwc(std::get<0>(grads));
  if (!sym) dx = unpad_nhwc(dx, p, h, wd);
  return make_id(a.env, dx);
}

// conv2dBackpropFilter(x, dy, filterShape, strides, pads, dilations, depthwise) -> id
napi_value conv2d_backprop_filter(Args& a) {
  const at::Tensor& x = a.tensor(0);
  const at::Tensor& dy = a.tensor(1);
  auto fshape = a.ints(2);
  auto strides = a.ints(3);
  Pads p = pads_arg(a, 4);
  auto dil = a.ints(5);
  bool depthwise = a.flag(6);
  at::Tensor input = conv_input(x, p);
  std::vector<int64_t> padding = aten_padding(p);
  at::Tensor stand_in = at::zeros(oihw_shape(fshape, depthwise), x.options());
  auto grads = at::convolution_backward(nchw(dy), input, stand_in, c10::nullopt, strides, padding, dil, false, {0, 0},
                                        depthwise ? x.size(3) : 1, {false, true, false});
  return make_id(a.env, weight_hwio(std::get<1>(grads), fshape, depthwise));
}

// maxPool(x, kernel, strides, pads) -> id
napi_value max_pool(Args& a) {
  const at::Tensor& x = a.tensor(0);
  auto k = a.ints(1);
  auto s = a.ints(2);
  Pads p = pads_arg(a, 3);
  at::Tensor input = p.zero() ? nchw(x) : nchw(pad_nhwc(x, p, -std::numeric_limits<double>::infinity()));
  return make_id(a.env, nhwc(at::max_pool2d(input, k, s, {0, 0}, {1, 1}, false)));
}

// maxPoolGrad(dy, x, kernel, strides, pads) -> id. Recomputes the argmax positions (first max wins, as in tfjs).
napi_value max_pool_grad(Args& a) {
  const at::Tensor& dy = a.tensor(0);
  const at::Tensor& x = a.tensor(1);
  auto k = a.ints(2);
  auto s = a.ints(3);
  Pads p = pads_arg(a, 4);
  at::Tensor input = p.zero() ? nchw(x) : nchw(pad_nhwc(x, p, -std::numeric_limits<double>::infinity()));
  auto pooled = at::max_pool2d_with_indices(input, k, s, {0, 0}, {1, 1}, false);
  at::Tensor dx = at::max_pool2d_with_indices_backward(nchw(dy), input, k, s, {0, 0}, {1, 1}, false, std::get<1>(pooled));
  at::Tensor out = nhwc(dx);
  if (!p.zero()) out = unpad_nhwc(out, p, x.size(1), x.size(2));
  return make_id(a.env, out);
}

// Number of unpadded elements under each window, as [1, oh, ow, 1] (TF averages over those only).
at::Tensor window_counts(int64_t h, int64_t w, const std::vector<int64_t>& k, const std::vector<int64_t>& s, const Pads& p) {
  at::Tensor ones = at::ones({1, h, w, 1}, at::TensorOptions().dtype(at::kFloat));
  at::Tensor sums = at::avg_pool2d(nchw(pad_nhwc(ones, p, 0)), k, s, {0, 0}, false, true) * static_cast<double>(k[0] * k[1]);
  return nhwc(sums);
}

// avgPool(x, kernel, strides, pads) -> id
napi_value avg_pool(Args& a) {
  const at::Tensor& x = a.tensor(0);
  auto k = a.ints(1);
  auto s = a.ints(2);
  Pads p = pads_arg(a, 3);
  if (p.zero()) return make_id(a.env, nhwc(at::avg_pool2d(nchw(x), k, s, {0, 0}, false, true)));
  double area = static_cast<double>(k[0] * k[1]);
  at::Tensor sums = nhwc(at::avg_pool2d(nchw(pad_nhwc(x, p, 0)), k, s, {0, 0}, false, true)) * area;
  return make_id(a.env, (sums / window_counts(x.size(1), x.size(2), k, s, p)).contiguous());
}

// avgPoolGrad(dy, x, kernel, strides, pads) -> id
napi_value avg_pool_grad(Args& a) {
  const at::Tensor& dy = a.tensor(0);
  const at::Tensor& x = a.tensor(1);
  auto k = a.ints(2);
  auto s = a.ints(3);
  Pads p = pads_arg(a, 4);
  if (p.zero()) {
    return make_id(a.env, nhwc(at::avg_pool2d_backward(nchw(dy), nchw(x), k, s, {0, 0}, false, true, c10::nullopt)));
  }
  double area = static_cast<double>(k[0] * k[1]);
  at::Tensor scaled = (dy / window_counts(x.size(1), x.size(2), k, s, p) * area).contiguous();
  at::Tensor stand_in = at::empty({x.size(0), x.size(3), x.size(1) + p.top + p.bottom, x.size(2) + p.left + p.right},
                                  x.options(), at::MemoryFormat::ChannelsLast);
  at::Tensor dxp = nhwc(at::avg_pool2d_backward(nchw(scaled), stand_in, k, s, {0, 0}, false, true, c10::nullopt));
  return make_id(a.env, unpad_nhwc(dxp, p, x.size(1), x.size(2)));
}

// Source coordinate of output index o, TF resize conventions.
double ratio(int64_t in, int64_t out, bool align_corners) {
  return (align_corners && out > 1) ? static_cast<double>(in - 1) / (out - 1) : static_cast<double>(in) / out;
}

struct Lerp {
  at::Tensor lo, hi, frac;  // int64 [out], int64 [out], float [out]
};

Lerp bilinear_taps(int64_t in, int64_t out, bool align_corners, bool half_pixel) {
  double r = ratio(in, out, align_corners);
  std::vector<int64_t> lo(out), hi(out);
  std::vector<float> frac(out);
  for (int64_t o = 0; o < out; ++o) {
    double src = half_pixel ? r * (o + 0.5) - 0.5 : r * o;
    double f = std::floor(src);
    lo[o] = std::max<int64_t>(0, static_cast<int64_t>(f));
    hi[o] = std::min<int64_t>(in - 1, static_cast<int64_t>(std::ceil(src)));
    frac[o] = static_cast<float>(src - f);
  }
  auto i64 = at::TensorOptions().dtype(at::kLong);
  return {at::tensor(lo, i64), at::tensor(hi, i64), at::tensor(frac, at::TensorOptions().dtype(at::kFloat))};
}

at::Tensor nearest_taps(int64_t in, int64_t out, bool align_corners, bool half_pixel) {
  double r = ratio(in, out, align_corners);
  std::vector<int64_t> idx(out);
  for (int64_t o = 0; o < out; ++o) {
    double src = half_pixel ? r * (o + 0.5) : r * o;
    int64_t i = std::min<int64_t>(in - 1, static_cast<int64_t>(align_corners ? std::round(src) : std::floor(src)));
    idx[o] = half_pixel ? std::max<int64_t>(0, i) : i;
  }
  return at::tensor(idx, at::TensorOptions().dtype(at::kLong));
}

at::Tensor lerp_forward(const at::Tensor& x, int64_t dim, const Lerp& t) {
  at::Tensor lo = x.index_select(dim, t.lo), hi = x.index_select(dim, t.hi);
  std::vector<int64_t> shape(4, 1);
  shape[dim] = -1;
  return lo + (hi - lo) * t.frac.view(shape);
}

at::Tensor lerp_backward(const at::Tensor& g, int64_t dim, int64_t in, const Lerp& t) {
  std::vector<int64_t> shape(4, 1);
  shape[dim] = -1;
  at::Tensor f = t.frac.view(shape);
  auto sizes = g.sizes().vec();
  sizes[dim] = in;
  at::Tensor out = at::zeros(sizes, g.options());
  out.index_add_(dim, t.lo, g * (1 - f));
  out.index_add_(dim, t.hi, g * f);
  return out;
}

// resizeBilinear(x, outH, outW, alignCorners, halfPixelCenters) -> id
napi_value resize_bilinear(Args& a) {
  const at::Tensor& x = a.tensor(0);
  int64_t oh = a.i64(1), ow = a.i64(2);
  bool align = a.flag(3), half = a.flag(4);
  at::Tensor xf = x.is_floating_point() ? x : x.to(at::kFloat);
  if (align || half) {
    // ATen's align_corners=false is TF's half-pixel-centres mode.
    return make_id(a.env, nhwc(at::upsample_bilinear2d(nchw(xf), {oh, ow}, align, c10::nullopt, c10::nullopt)));
  }
  at::Tensor rows = lerp_forward(xf, 1, bilinear_taps(x.size(1), oh, false, false));
  return make_id(a.env, lerp_forward(rows, 2, bilinear_taps(x.size(2), ow, false, false)).contiguous());
}

// resizeBilinearGrad(dy, x, alignCorners, halfPixelCenters) -> id shaped like x
napi_value resize_bilinear_grad(Args& a) {
  const at::Tensor& dy = a.tensor(0);
  const at::Tensor& x = a.tensor(1);
  bool align = a.flag(2), half = a.flag(3);
  int64_t n = x.size(0), h = x.size(1), w = x.size(2), c = x.size(3);
  if (align || half) {
    return make_id(a.env, nhwc(at::upsample_bilinear2d_backward(nchw(dy), {dy.size(1), dy.size(2)}, {n, c, h, w}, align,
                                                               c10::nullopt, c10::nullopt)));
  }
  at::Tensor cols = lerp_backward(dy, 2, w, bilinear_taps(w, dy.size(2), false, false));
  return make_id(a.env, lerp_backward(cols, 1, h, bilinear_taps(h, dy.size(1), false, false)));
}

// resizeNearest(x, outH, outW, alignCorners, halfPixelCenters) -> id
napi_value resize_nearest(Args& a) {
  const at::Tensor& x = a.tensor(0);
  int64_t oh = a.i64(1), ow = a.i64(2);
  bool align = a.flag(3), half = a.flag(4);
  at::Tensor y = x.index_select(1, nearest_taps(x.size(1), oh, align, half));
  return make_id(a.env, y.index_select(2, nearest_taps(x.size(2), ow, align, half)));
}

// resizeNearestGrad(dy, x, alignCorners, halfPixelCenters) -> id shaped like x (the exact adjoint)
napi_value resize_nearest_grad(Args& a) {
  const at::Tensor& dy = a.tensor(0);
  const at::Tensor& x = a.tensor(1);
  bool align = a.flag(2), half = a.flag(3);
  int64_t n = x.size(0), h = x.size(1), w = x.size(2), c = x.size(3);
  at::Tensor cols = at::zeros({n, dy.size(1), w, c}, dy.options());
  cols.index_add_(2, nearest_taps(w, dy.size(2), align, half), dy);
  at::Tensor out = at::zeros({n, h, w, c}, dy.options());
  out.index_add_(1, nearest_taps(h, dy.size(1), align, half), cols);
  return make_id(a.env, out);
}

}  // namespace

void register_nn(napi_env env, napi_value exports) {
  add_function(env, exports, "conv2d", conv2d);
  add_function(env, exports, "conv2dBackpropInput", conv2d_backprop_input);
  add_function(env, exports, "conv2dBackpropFilter", conv2d_backprop_filter);
  add_function(env, exports, "maxPool", max_pool);
  add_function(env, exports, "maxPoolGrad", max_pool_grad);
  add_function(env, exports, "avgPool", avg_pool);
  add_function(env, exports, "avgPoolGrad", avg_pool_grad);
  add_function(env, exports, "resizeBilinear", resize_bilinear);
  add_function(env, exports, "resizeBilinearGrad", resize_bilinear_grad);
  add_function(env, exports, "resizeNearest", resize_nearest);
  add_function(env, exports, "resizeNearestGrad", resize_nearest_grad);
}

}  // namespace ptl
