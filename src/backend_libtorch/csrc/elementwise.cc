// Elementwise, reduction, matmul and creation functions. Broadcasting follows numpy rules in ATen,
// as in tfjs; results are normalised to float32/int32/bool by store().
#include <cmath>
#include <functional>

#include <ATen/Parallel.h>

#include "common.h"

namespace ptl {
namespace {

using Unary = std::function<at::Tensor(const at::Tensor&, double)>;
using Binary = std::function<at::Tensor(const at::Tensor&, const at::Tensor&)>;

at::Tensor as_float(const at::Tensor& x) { return x.is_floating_point() ? x : x.to(at::kFloat); }

at::Tensor step(const at::Tensor& x, double alpha) {
  if (x.scalar_type() != at::kFloat) {
    auto xf = as_float(x);
    return at::where(at::isnan(xf), xf, at::where(xf > 0, at::ones_like(xf), at::full_like(xf, alpha))).to(x.scalar_type());
  }
  at::Tensor in = x.contiguous();
  at::Tensor out = at::empty_like(in);
  const float* src = in.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  const float a = static_cast<float>(alpha);
  at::parallel_for(0, in.numel(), 32768, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      float v = src[i];
      dst[i] = v > 0 ? 1.0f : (v != v ? v : a);
    }
  });
  return out;
}

const std::unordered_map<std::string, Unary>& unary_ops() {
  static const std::unordered_map<std::string, Unary> ops = {
      {"abs", [](const at::Tensor& x, double) { return at::abs(x); }},
      {"neg", [](const at::Tensor& x, double) { return at::neg(x); }},
      {"exp", [](const at::Tensor& x, double) { return at::exp(as_float(x)); }},
      {"expm1", [](const at::Tensor& x, double) { return at::expm1(as_float(x)); }},
      {"log", [](const at::Tensor& x, double) { return at::log(as_float(x)); }},
      {"log1p", [](const at::Tensor& x, double) { return at::log1p(as_float(x)); }},
      {"sqrt", [](const at::Tensor& x, double) { return at::sqrt(as_float(x)); }},
      {"rsqrt", [](const at::Tensor& x, double) { return at::rsqrt(as_float(x)); }},
      {"square", [](const at::Tensor& x, double) { return at::mul(x, x); }},
      {"reciprocal", [](const at::Tensor& x, double) { return at::reciprocal(as_float(x)); }},
      {"relu", [](const at::Tensor& x, double) { return at::relu(x); }},
      {"relu6", [](const at::Tensor& x, double) { return at::clamp(x, 0, 6); }},
      {"elu", [](const at::Tensor& x, double) { return at::elu(as_float(x)); }},
      {"selu", [](const at::Tensor& x, double) { return at::selu(as_float(x)); }},
      {"sigmoid", [](const at::Tensor& x, double) { return at::sigmoid(as_float(x)); }},
      {"tanh", [](const at::Tensor& x, double) { return at::tanh(as_float(x)); }},
      {"softplus", [](const at::Tensor& x, double) { return at::softplus(as_float(x)); }},
      {"sin", [](const at::Tensor& x, double) { return at::sin(as_float(x)); }},
      {"cos", [](const at::Tensor& x, double) { return at::cos(as_float(x)); }},
      {"tan", [](const at::Tensor& x, double) { return at::tan(as_float(x)); }},
      {"asin", [](const at::Tensor& x, double) { return at::asin(as_float(x)); }},
      {"acos", [](const at::Tensor& x, double) { return at::acos(as_float(x)); }},
      {"atan", [](const at::Tensor& x, double) { return at::atan(as_float(x)); }},
      {"sinh", [](const at::Tensor& x, double) { return at::sinh(as_float(x)); }},
      {"cosh", [](const at::Tensor& x, double) { return at::cosh(as_float(x)); }},
      {"erf", [](const at::Tensor& x, double) { return at::erf(as_float(x)); }},
      {"sign", [](const at::Tensor& x, double) { return at::sign(x); }},
      {"floor", [](const at::Tensor& x, double) { return x.is_floating_point() ? at::floor(x) : x.clone(); }},
      {"ceil", [](const at::Tensor& x, double) { return x.is_floating_point() ? at::ceil(x) : x.clone(); }},
      // ATen rounds half to even, as tfjs does.
      {"round", [](const at::Tensor& x, double) { return x.is_floating_point() ? at::round(x) : x.clone(); }},
      {"isnan", [](const at::Tensor& x, double) { return at::isnan(x); }},
      {"isinf", [](const at::Tensor& x, double) { return at::isinf(x); }},
      {"isfinite", [](const at::Tensor& x, double) { return at::isfinite(x); }},
      {"logicalnot", [](const at::Tensor& x, double) { return at::logical_not(x); }},
      {"leakyrelu", [](const at::Tensor& x, double alpha) { return at::where(x < 0, x * alpha, x); }},
      // tfjs step: 1 where x > 0, alpha elsewhere, NaN stays NaN. One pass (it is half of ReLU's gradient).
      {"step", step},
      {"zeroslike", [](const at::Tensor& x, double) { return at::zeros_like(x, at::MemoryFormat::Contiguous); }},
      {"oneslike", [](const at::Tensor& x, double) { return at::ones_like(x, at::MemoryFormat::Contiguous); }},
      // Shares storage: tfjs never writes into a tensor in place.
      {"identity", [](const at::Tensor& x, double) { return x; }},
  };
  return ops;
}

at::Tensor floor_mod(const at::Tensor& a, const at::Tensor& b) { return at::remainder(a, b); }

const std::unordered_map<std::string, Binary>& binary_ops() {
  static const std::unordered_map<std::string, Binary> ops = {
      {"add", [](const at::Tensor& a, const at::Tensor& b) { return at::add(a, b); }},
      {"sub", [](const at::Tensor& a, const at::Tensor& b) { return at::sub(a, b); }},
      {"mul", [](const at::Tensor& a, const at::Tensor& b) { return at::mul(a, b); }},
      {"div", [](const at::Tensor& a, const at::Tensor& b) { return at::div(as_float(a), b); }},
      {"floordiv", [](const at::Tensor& a, const at::Tensor& b) { return at::div(a, b, "floor"); }},
      {"mod", floor_mod},
      {"pow", [](const at::Tensor& a, const at::Tensor& b) { return at::pow(a, b); }},
      {"maximum", [](const at::Tensor& a, const at::Tensor& b) { return at::maximum(a, b); }},
      {"minimum", [](const at::Tensor& a, const at::Tensor& b) { return at::minimum(a, b); }},
      {"squareddifference", [](const at::Tensor& a, const at::Tensor& b) { auto d = at::sub(a, b); return d * d; }},
      {"atan2", [](const at::Tensor& a, const at::Tensor& b) { return at::atan2(as_float(a), as_float(b)); }},
      {"equal", [](const at::Tensor& a, const at::Tensor& b) { return at::eq(a, b); }},
      {"notequal", [](const at::Tensor& a, const at::Tensor& b) { return at::ne(a, b); }},
      {"less", [](const at::Tensor& a, const at::Tensor& b) { return at::lt(a, b); }},
      {"lessequal", [](const at::Tensor& a, const at::Tensor& b) { return at::le(a, b); }},
      {"greater", [](const at::Tensor& a, const at::Tensor& b) { return at::gt(a, b); }},
      {"greaterequal", [](const at::Tensor& a, const at::Tensor& b) { return at::ge(a, b); }},
      {"logicaland", [](const at::Tensor& a, const at::Tensor& b) { return at::logical_and(a, b); }},
      {"logicalor", [](const at::Tensor& a, const at::Tensor& b) { return at::logical_or(a, b); }},
      {"logicalxor", [](const at::Tensor& a, const at::Tensor& b) { return at::logical_xor(a, b); }},
      {"prelu", [](const at::Tensor& x, const at::Tensor& alpha) { return at::where(x < 0, x * alpha, x); }},
      // EluGrad(dy, y): dy where y >= 0, dy * (y + 1) elsewhere.
      {"elugrad", [](const at::Tensor& dy, const at::Tensor& y) { return at::where(y < 0, dy * (y + 1), dy); }},
  };
  return ops;
}

// unary(id, op, alpha) -> id
napi_value unary(Args& a) {
  auto op = a.str(1);
  auto it = unary_ops().find(op);
  if (it == unary_ops().end()) throw std::runtime_error("unary: unknown op '" + op + "'");
  double alpha = a.is_null(2) ? 0.0 : a.num(2);
  return make_id(a.env, it->second(a.tensor(0), alpha));
}

// binary(aId, bId, op) -> id
napi_value binary(Args& a) {
  auto op = a.str(2);
  auto it = binary_ops().find(op);
  if (it == binary_ops().end()) throw std::runtime_error("binary: unknown op '" + op + "'");
  const at::Tensor& x = a.tensor(0);
  const at::Tensor& y = a.tensor(1);
  at::Tensor out = it->second(x, y);
  // tfjs keeps int32 op int32 in int32 (ATen agrees) but bool arithmetic is upcast by the ops layer.
  return make_id(a.env, out);
}

// cast(id, dtypeCode) -> id
napi_value cast(Args& a) {
  auto dtype = dtype_from_code(static_cast<int>(a.i64(1)));
  const at::Tensor& x = a.tensor(0);
  if (x.scalar_type() == dtype) return make_id(a.env, x);
  // tfjs truncates floats toward zero when casting to int32, as ATen does.
  return make_id(a.env, x.to(dtype));
}

// where(cond, t, e) -> id
napi_value select(Args& a) { return make_id(a.env, at::where(a.tensor(0).to(at::kBool), a.tensor(1), a.tensor(2))); }

// addN([ids]) -> id
napi_value add_n(Args& a) {
  auto ts = a.tensors(0);
  at::Tensor acc = ts.at(0).clone();
  for (size_t k = 1; k < ts.size(); ++k) acc.add_(ts[k]);
  return make_id(a.env, acc);
}

// clip(id, lo, hi) -> id
napi_value clip(Args& a) { return make_id(a.env, at::clamp(a.tensor(0), a.num(1), a.num(2))); }

// reduce(id, op, axes, keepDims) -> id. ops: sum, mean, max, min, prod, all, any
napi_value reduce(Args& a) {
  const at::Tensor& x = a.tensor(0);
  auto op = a.str(1);
  auto axes = a.ints(2);
  bool keep = a.flag(3);
  if (x.dim() == 0) return make_id(a.env, op == "mean" ? as_float(x) : x.clone());
  if (axes.empty()) return make_id(a.env, keep ? x.clone() : x.clone());
  at::IntArrayRef dims(axes);
  if (op == "sum") return make_id(a.env, x.scalar_type() == at::kBool ? at::sum(x.to(at::kInt), dims, keep) : at::sum(x, dims, keep));
  if (op == "mean") return make_id(a.env, at::mean(as_float(x), dims, keep));
  if (op == "max") return make_id(a.env, at::amax(x, dims, keep));
  if (op == "min") return make_id(a.env, at::amin(x, dims, keep));
  if (op == "all" || op == "any" || op == "prod") {
    // ATen's all/any/prod take one dim at a time: reduce from the last axis down.
    std::vector<int64_t> sorted(axes);
    std::sort(sorted.begin(), sorted.end());
    at::Tensor y = op == "prod" ? x : x.to(at::kBool);
    for (auto it = sorted.rbegin(); it != sorted.rend(); ++it) {
      y = op == "all" ? at::all(y, *it, keep) : op == "any" ? at::any(y, *it, keep) : at::prod(y, *it, keep);
    }
    return make_id(a.env, y);
  }
  throw std::runtime_error("reduce: unknown op '" + op + "'");
}

// argReduce(id, op, axis) -> int32 id
napi_value arg_reduce(Args& a) {
  auto op = a.str(1);
  int64_t axis = a.i64(2);
  // ATen has no argmax/argmin for bool; tfjs accepts it (false < true, as in int32).
  at::Tensor x = a.tensor(0).scalar_type() == at::kBool ? a.tensor(0).to(at::kInt) : a.tensor(0);
  at::Tensor y = op == "argmax" ? at::argmax(x, axis) : at::argmin(x, axis);
  return make_id(a.env, y.to(at::kInt));
}

// softmax(id, dim, log) -> id
napi_value softmax(Args& a) {
  const at::Tensor& x = a.tensor(0);
  int64_t dim = a.i64(1);
  return make_id(a.env, a.flag(2) ? at::log_softmax(x, dim) : at::softmax(x, dim));
}

// matmul(a, b, transposeA, transposeB, bias, activation, preluWeights, leakyAlpha) -> id
napi_value matmul(Args& a) {
  at::Tensor x = a.tensor(0);
  at::Tensor y = a.tensor(1);
  if (a.flag(2)) x = x.transpose(-2, -1);
  if (a.flag(3)) y = y.transpose(-2, -1);
  at::Tensor out = at::matmul(x, y);
  at::Tensor bias = a.opt_tensor(4);
  if (bias.defined()) out = out + bias;
  std::string act = a.is_null(5) ? "linear" : a.str(5);
  out = apply_activation(out, act, a.opt_tensor(6), a.is_null(7) ? 0.2 : a.num(7));
  return make_id(a.env, out.contiguous());
}

// fill(shape, value, dtypeCode) -> id
napi_value fill(Args& a) {
  auto dtype = dtype_from_code(static_cast<int>(a.i64(2)));
  return make_id(a.env, at::full(a.ints(0), a.num(1), at::TensorOptions().dtype(dtype)));
}

// range(start, stop, step, dtypeCode) -> id; values start + i*step computed in double like tfjs.
napi_value range(Args& a) {
  double start = a.num(0), stop = a.num(1), step = a.num(2);
  auto dtype = dtype_from_code(static_cast<int>(a.i64(3)));
  int64_t n = 0;
  if (step != 0 && ((stop > start && step > 0) || (stop < start && step < 0))) {
    n = static_cast<int64_t>(std::ceil(std::abs((stop - start) / step)));
  }
  at::Tensor idx = at::arange(n, at::TensorOptions().dtype(at::kDouble));
  return make_id(a.env, (idx * step + start).to(dtype));
}

// linspace(start, stop, num) -> float32 id
napi_value linspace(Args& a) {
  return make_id(a.env, at::linspace(a.num(0), a.num(1), a.i64(2), at::TensorOptions().dtype(at::kFloat)));
}

// oneHot(indices, depth, on, off, dtypeCode) -> id of shape [...indices, depth]; an index outside
// [0, depth) gives a row of `off`. One fill and one write per index (a broadcast compare and a
// select over every element took ~1 ms per pixel-label map of the default batch).
template <typename T>
void write_one_hot(const int32_t* idx, int64_t n, int64_t depth, T on, T off, T* out) {
  std::fill(out, out + n * depth, off);
  for (int64_t i = 0; i < n; i++) {
    int64_t k = idx[i];
    if (k >= 0 && k < depth) out[i * depth + k] = on;
  }
}

napi_value one_hot(Args& a) {
  at::Tensor idx = a.tensor(0).to(at::kInt).contiguous();
  int64_t depth = a.i64(1);
  double on = a.num(2), off = a.num(3);
  auto dtype = dtype_from_code(static_cast<int>(a.i64(4)));
  std::vector<int64_t> shape = idx.sizes().vec();
  shape.push_back(depth);
  at::Tensor out = at::empty(shape, at::TensorOptions().dtype(dtype));
  const int32_t* ip = idx.data_ptr<int32_t>();
  int64_t n = idx.numel();
  if (dtype == at::kFloat) write_one_hot<float>(ip, n, depth, static_cast<float>(on), static_cast<float>(off), out.data_ptr<float>());
  else if (dtype == at::kInt) write_one_hot<int32_t>(ip, n, depth, static_cast<int32_t>(on), static_cast<int32_t>(off), out.data_ptr<int32_t>());
  else write_one_hot<bool>(ip, n, depth, on != 0, off != 0, out.data_ptr<bool>());
  return make_id(a.env, out);
}

// cumulative(id, op, axis, exclusive, reverse) -> id; op: sum or prod
napi_value cumulative(Args& a) {
  at::Tensor x = a.tensor(0);
  auto op = a.str(1);
  int64_t axis = a.i64(2);
  bool exclusive = a.flag(3), reverse = a.flag(4);
  if (reverse) x = at::flip(x, {axis});
  at::Tensor y = op == "sum" ? at::cumsum(x, axis) : at::cumprod(x, axis);
  if (exclusive) {
    int64_t n = x.size(axis);
    at::Tensor first = op == "sum" ? at::zeros_like(x.narrow(axis, 0, 1)) : at::ones_like(x.narrow(axis, 0, 1));
    y = at::cat({first, y.narrow(axis, 0, std::max<int64_t>(n - 1, 0))}, axis);
  }
  if (reverse) y = at::flip(y, {axis});
  return make_id(a.env, y.to(x.scalar_type()));
}

// topk(id, k, sorted) -> [values, indices] along the last axis. A stable descending sort, so equal
// values keep their index order as in TF (ATen's topk does not promise that).
napi_value topk(Args& a) {
  auto result = at::sort(a.tensor(0), /*stable=*/true, /*dim=*/-1, /*descending=*/true);
  int64_t k = a.i64(1);
  return make_ids(a.env, {std::get<0>(result).narrow(-1, 0, k).contiguous(), std::get<1>(result).narrow(-1, 0, k).to(at::kInt)});
}

// adamUpdate(param, grad, m, v, beta1, beta2, epsilon, stepSize, weightDecay) -> [param, m, v]:
// one Adam step (L2 weight decay folded into the gradient) as fresh tensors, each written once
// (tfjs tensors are immutable, so no in-place update of the inputs).
napi_value adam_update(Args& a) {
  const at::Tensor& param = a.tensor(0);
  double beta1 = a.num(4), beta2 = a.num(5), eps = a.num(6), step_size = a.num(7), decay = a.num(8);
  at::Tensor g = decay > 0 ? a.tensor(1).add(param, decay) : a.tensor(1);
  at::Tensor m = a.tensor(2).mul(beta1).add_(g, 1 - beta1);
  at::Tensor v = a.tensor(3).mul(beta2).addcmul_(g, g, 1 - beta2);
  at::Tensor next = param.addcdiv(m, v.sqrt().add_(eps), -step_size);
  return make_ids(a.env, {next, m, v});
}

// emaUpdate(teachers, students, momentum, weight) -> ids: teacher_k * momentum + student_k * weight
// for every pair, in one call (the mean teacher's update over all its tensors). Each product is a
// float32 multiply by the float32 rounding of the factor, then one add: the same rounding as the
// tfjs composite add(mul(t, m), mul(s, 1 - m)), so the result is bit for bit the composite's.
napi_value ema_update(Args& a) {
  auto teachers = a.tensors(0);
  auto students = a.tensors(1);
  if (teachers.size() != students.size()) throw std::runtime_error("emaUpdate: expected as many student as teacher tensors");
  at::Scalar m(static_cast<double>(static_cast<float>(a.num(2))));
  at::Scalar w(static_cast<double>(static_cast<float>(a.num(3))));
  std::vector<at::Tensor> out;
  out.reserve(teachers.size());
  for (size_t k = 0; k < teachers.size(); ++k) out.push_back(at::add(teachers[k].mul(m), students[k].mul(w)));
  return make_ids(a.env, out);
}

// sumOfSquares(ids) -> id of a float32 scalar: the sum of every element squared over all the tensors,
// accumulated in float64 (NaN or infinity anywhere gives a non-finite sum). One call for a model's
// gradients instead of a Square and a Sum per tensor and an AddN.
napi_value sum_of_squares(Args& a) {
  double total = 0;
  for (const at::Tensor& t : a.tensors(0)) total += at::sum(at::square(t), at::kDouble).item<double>();
  return make_id(a.env, at::scalar_tensor(total, at::TensorOptions().dtype(at::kFloat)));
}

}  // namespace

void register_elementwise(napi_env env, napi_value exports) {
  add_function(env, exports, "sumOfSquares", sum_of_squares);
  add_function(env, exports, "adamUpdate", adam_update);
  add_function(env, exports, "emaUpdate", ema_update);
  add_function(env, exports, "unary", unary);
  add_function(env, exports, "binary", binary);
  add_function(env, exports, "cast", cast);
  add_function(env, exports, "select", select);
  add_function(env, exports, "addN", add_n);
  add_function(env, exports, "clip", clip);
  add_function(env, exports, "reduce", reduce);
  add_function(env, exports, "argReduce", arg_reduce);
  add_function(env, exports, "softmax", softmax);
  add_function(env, exports, "matmul", matmul);
  add_function(env, exports, "fill", fill);
  add_function(env, exports, "range", range);
  add_function(env, exports, "linspace", linspace);
  add_function(env, exports, "oneHot", one_hot);
  add_function(env, exports, "cumulative", cumulative);
  add_function(env, exports, "topk", topk);
}

}  // namespace ptl
