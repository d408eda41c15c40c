// Shape and indexing functions: reshape, transpose, slicing, concatenation, padding, gathers and
// scatters. Results are made contiguous so a small view never pins a large buffer.
#include <numeric>

#include "common.h"

namespace ptl {
namespace {

int64_t product(at::IntArrayRef s, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to; ++i) p *= s[i];
  return p;
}

napi_value reshape(Args& a) { return make_id(a.env, a.tensor(0).reshape(a.ints(1))); }

napi_value transpose(Args& a) { return make_id(a.env, a.tensor(0).permute(a.ints(1)).contiguous()); }

// slice(id, begin, size); size -1 means to the end.
napi_value slice(Args& a) {
  at::Tensor x = a.tensor(0);
  auto begin = a.ints(1);
  auto size = a.ints(2);
  for (size_t d = 0; d < begin.size(); ++d) {
    int64_t len = size[d] < 0 ? x.size(d) - begin[d] : size[d];
    x = x.narrow(d, begin[d], len);
  }
  return make_id(a.env, x.contiguous());
}

// stridedSlice(id, begin, strides, sparseShape, finalShape): element i of dim d is x[begin[d] + i*strides[d]]
// for i < sparseShape[d] (tfjs' sliceInfo resolves masks, negatives and clamping).
napi_value strided_slice(Args& a) {
  at::Tensor x = a.tensor(0);
  auto begin = a.ints(1), strides = a.ints(2), sizes = a.ints(3);
  for (size_t d = 0; d < begin.size(); ++d) {
    int64_t n = sizes[d], b = begin[d], s = strides[d];
    if (n == 0) {
      x = x.narrow(d, 0, 0);
    } else if (s > 0) {
      x = x.slice(d, b, b + (n - 1) * s + 1, s);
    } else {
      // ATen slices need a positive step: pick the indices explicitly.
      x = x.index_select(d, at::arange(b, b + n * s, s, at::TensorOptions().dtype(at::kLong)));
    }
  }
  return make_id(a.env, x.reshape(a.ints(4)).contiguous());
}

napi_value concat(Args& a) { return make_id(a.env, at::cat(a.tensors(0), a.i64(1))); }

napi_value stack(Args& a) { return make_id(a.env, at::stack(a.tensors(0), a.i64(1))); }

napi_value unstack(Args& a) {
  auto parts = at::unbind(a.tensor(0), a.i64(1));
  std::vector<at::Tensor> out;
  for (auto& p : parts) out.push_back(p.contiguous());
  return make_ids(a.env, out);
}

napi_value split(Args& a) {
  // Views, no copies: this is the gradient of concat, and its consumers read strided tensors.
  return make_ids(a.env, at::split_with_sizes(a.tensor(0), a.ints(1), a.i64(2)));
}

napi_value tile(Args& a) { return make_id(a.env, a.tensor(0).repeat(a.ints(1))); }

// pad(id, paddings [[before, after] per dim] flattened, value)
napi_value pad(Args& a) {
  auto p = a.ints(1);
  std::vector<int64_t> aten;  // ATen wants the last dim first
  for (size_t d = p.size() / 2; d-- > 0;) {
    aten.push_back(p[2 * d]);
    aten.push_back(p[2 * d + 1]);
  }
  return make_id(a.env, at::constant_pad_nd(a.tensor(0), aten, a.num(2)));
}

// mirrorPad(id, paddings flattened, symmetric)
napi_value mirror_pad(Args& a) {
  at::Tensor x = a.tensor(0);
  auto p = a.ints(1);
  bool symmetric = a.flag(2);
  for (int64_t d = 0; d < x.dim(); ++d) {
    int64_t before = p[2 * d], after = p[2 * d + 1], n = x.size(d);
    if (before == 0 && after == 0) continue;
    std::vector<int64_t> idx;
    for (int64_t i = -before; i < n + after; ++i) {
      int64_t j = i < 0 ? (symmetric ? -i - 1 : -i) : i >= n ? (symmetric ? 2 * n - 1 - i : 2 * (n - 1) - i) : i;
      idx.push_back(j);
    }
    x = x.index_select(d, at::tensor(idx, at::TensorOptions().dtype(at::kLong)));
  }
  return make_id(a.env, x.contiguous());
}

napi_value reverse(Args& a) { return make_id(a.env, at::flip(a.tensor(0), a.ints(1))); }

napi_value broadcast_to(Args& a) { return make_id(a.env, a.tensor(0).expand(a.ints(1)).contiguous()); }

// gather(x, indices, axis, batchDims): tf.gather semantics.
napi_value gather(Args& a) {
  const at::Tensor& x = a.tensor(0);
  at::Tensor idx = a.tensor(1).to(at::kLong);
  int64_t axis = a.i64(2), batch = a.i64(3);
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().begin() + axis);
  for (int64_t d = batch; d < idx.dim(); ++d) shape.push_back(idx.size(d));
  for (int64_t d = axis + 1; d < x.dim(); ++d) shape.push_back(x.size(d));
  if (batch == 0) return make_id(a.env, x.index_select(axis, idx.flatten()).reshape(shape));
  auto s = x.sizes();
  int64_t b = product(s, 0, batch), outer = product(s, batch, axis), inner = product(s, axis + 1, s.size());
  at::Tensor x4 = x.reshape({b, outer, x.size(axis), inner});
  at::Tensor i2 = idx.reshape({b, -1});
  at::Tensor ie = i2.view({b, 1, -1, 1}).expand({b, outer, i2.size(1), inner});
  return make_id(a.env, at::gather(x4, 2, ie).reshape(shape));
}

// Row-major flat offsets of the first K coordinates of `indices` [..., K] into `shape`.
at::Tensor flat_offsets(const at::Tensor& indices, at::IntArrayRef shape) {
  int64_t k = indices.size(-1);
  std::vector<int64_t> strides(k, 1);
  for (int64_t d = k - 2; d >= 0; --d) strides[d] = strides[d + 1] * shape[d + 1];
  at::Tensor st = at::tensor(strides, at::TensorOptions().dtype(at::kLong));
  return (indices.to(at::kLong) * st).sum(-1).flatten();
}

// gatherNd(params, indices) -> id
napi_value gather_nd(Args& a) {
  const at::Tensor& params = a.tensor(0);
  const at::Tensor& indices = a.tensor(1);
  int64_t k = indices.size(-1);
  auto ps = params.sizes();
  std::vector<int64_t> shape(indices.sizes().begin(), indices.sizes().end() - 1);
  for (size_t d = k; d < ps.size(); ++d) shape.push_back(ps[d]);
  at::Tensor rows = params.reshape({product(ps, 0, k), -1});
  return make_id(a.env, rows.index_select(0, flat_offsets(indices, ps)).reshape(shape));
}

// scatterNd(indices, updates, shape) -> id; duplicate indices add up, as in TF.
napi_value scatter_nd(Args& a) {
  const at::Tensor& indices = a.tensor(0);
  const at::Tensor& updates = a.tensor(1);
  auto shape = a.ints(2);
  int64_t k = indices.size(-1);
  int64_t rows = product(shape, 0, k);
  at::Tensor out = at::zeros({rows, product(shape, k, shape.size())}, updates.options());
  out.index_add_(0, flat_offsets(indices, shape), updates.reshape({indices.numel() / std::max<int64_t>(k, 1), -1}));
  return make_id(a.env, out.reshape(shape));
}

// unsortedSegmentSum(x, segmentIds, numSegments) -> id; ids outside [0, n) are dropped, as in TF.
napi_value unsorted_segment_sum(Args& a) {
  const at::Tensor& x = a.tensor(0);
  at::Tensor ids = a.tensor(1).to(at::kLong).flatten();
  int64_t n = a.i64(2);
  int64_t id_dims = a.tensor(1).dim();
  std::vector<int64_t> shape{n};
  for (int64_t d = id_dims; d < x.dim(); ++d) shape.push_back(x.size(d));
  at::Tensor rows = x.reshape({ids.numel(), -1});
  at::Tensor valid = (ids >= 0).logical_and(ids < n);
  if (!valid.all().item<bool>()) {
    rows = rows.index({valid});
    ids = ids.index({valid});
  }
  at::Tensor out = at::zeros({n, rows.size(1)}, x.options());
  out.index_add_(0, ids, rows);
  return make_id(a.env, out.reshape(shape));
}

// nonzero(id) -> int32 [count, rank] coordinates of true/non-zero elements (tf.whereAsync).
napi_value nonzero(Args& a) { return make_id(a.env, at::nonzero(a.tensor(0)).to(at::kInt)); }

}  // namespace

void register_shape(napi_env env, napi_value exports) {
  add_function(env, exports, "reshape", reshape);
  add_function(env, exports, "transpose", transpose);
  add_function(env, exports, "slice", slice);
  add_function(env, exports, "stridedSlice", strided_slice);
  add_function(env, exports, "concat", concat);
  add_function(env, exports, "stack", stack);
  add_function(env, exports, "unstack", unstack);
  add_function(env, exports, "split", split);
  add_function(env, exports, "tile", tile);
  add_function(env, exports, "pad", pad);
  add_function(env, exports, "mirrorPad", mirror_pad);
  add_function(env, exports, "reverse", reverse);
  add_function(env, exports, "broadcastTo", broadcast_to);
  add_function(env, exports, "gather", gather);
  add_function(env, exports, "gatherNd", gather_nd);
  add_function(env, exports, "scatterNd", scatter_nd);
  add_function(env, exports, "unsortedSegmentSum", unsorted_segment_sum);
  add_function(env, exports, "nonzero", nonzero);
}

}  // namespace ptl
