// Shared helpers of the protoseg libtorch addon: the tensor table behind tfjs dataIds, argument
// unpacking for N-API callbacks, and the dtype rules (only float32, int32 and bool cross to JS).
#pragma once
#include <ATen/ATen.h>
#include <node_api.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace ptl {

// Every tensor JS can see lives in this table under an integer id (the tfjs dataId holds it).
struct TensorTable {
  std::unordered_map<int64_t, at::Tensor> tensors;
  int64_t next_id = 1;
};
TensorTable& table();

// Stores t under a new id after normalising its dtype to one tfjs knows.
int64_t store(at::Tensor t);
const at::Tensor& lookup(int64_t id);

at::ScalarType dtype_from_code(int code);  // 0 float32, 1 int32, 2 bool
int dtype_code(at::ScalarType t);

class Args {
 public:
  Args(napi_env env, napi_callback_info info);
  napi_env env;
  size_t size() const { return values_.size(); }
  napi_value raw(size_t i) const;
  bool is_null(size_t i) const;  // null or undefined
  double num(size_t i) const;
  int64_t i64(size_t i) const { return static_cast<int64_t>(num(i)); }
  bool flag(size_t i) const;
  std::string str(size_t i) const;
  std::vector<int64_t> ints(size_t i) const;
  std::vector<double> nums(size_t i) const;
  const at::Tensor& tensor(size_t i) const { return lookup(i64(i)); }
  // Optional tensor: null/undefined/-1 gives an undefined tensor.
  at::Tensor opt_tensor(size_t i) const;
  std::vector<at::Tensor> tensors(size_t i) const;

 private:
  std::vector<napi_value> values_;
};

napi_value make_number(napi_env env, double v);
napi_value make_id(napi_env env, at::Tensor t);  // stores t, returns its id
napi_value make_ids(napi_env env, const std::vector<at::Tensor>& ts);
napi_value make_undefined(napi_env env);

// NHWC <-> NCHW views (no copy): an NHWC-contiguous tensor is an NCHW channels_last tensor.
inline at::Tensor nchw(const at::Tensor& nhwc) { return nhwc.contiguous().permute({0, 3, 1, 2}); }
inline at::Tensor nhwc(const at::Tensor& nchw_t) { return nchw_t.permute({0, 2, 3, 1}).contiguous(); }

// Fused activation used by conv / matmul kernels: linear, relu, relu6, elu, sigmoid, leakyrelu, prelu.
at::Tensor apply_activation(const at::Tensor& x, const std::string& activation, const at::Tensor& prelu_weights,
                            double leaky_alpha);

using Impl = napi_value (*)(Args&);
void add_function(napi_env env, napi_value exports, const char* name, Impl impl);

// Each source file registers its functions here (called from the module init).
void register_storage(napi_env env, napi_value exports);
void register_elementwise(napi_env env, napi_value exports);
void register_nn(napi_env env, napi_value exports);
void register_batch_norm(napi_env env, napi_value exports);
void register_shape(napi_env env, napi_value exports);
// Built only with the c10d/Gloo part (PROTOSEG_WITH_DISTRIBUTED, see binding.gyp).
void register_distributed(napi_env env, napi_value exports);

}  // namespace ptl
