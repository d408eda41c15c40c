// Module init, the tensor table, N-API argument helpers, and the storage functions the
// tfjs backend class uses (write, read, dispose, metadata, memory, threads).
#include <ATen/Parallel.h>
#include <torch/version.h>

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <malloc.h>

#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <cstring>

#include "common.h"

namespace ptl {

namespace {

void check(napi_env env, napi_status status, const char* what) {
  if (status != napi_ok) throw std::runtime_error(std::string("N-API call failed: ") + what);
}

// The output metadata of the latest call, in a Float64Array JS handed over once (setMetaBuffer): per
// stored tensor id, dtypeCode, rank, ...shape, from the start. JS reads a fresh output's shape from it
// instead of asking with a second N-API call (meta) for each of ~1500 outputs an iteration; it finds a
// record by its id (ids are never reused, so even a record left from an earlier call is right).
struct MetaBuffer {
  double* data = nullptr;
  size_t capacity = 0;
  size_t used = 0;
  napi_ref ref = nullptr;
};
MetaBuffer& meta_buffer() {
  static MetaBuffer b;
  return b;
}

void record_meta(int64_t id, const at::Tensor& t) {
  MetaBuffer& b = meta_buffer();
  size_t need = 3 + static_cast<size_t>(t.dim());
  if (b.data == nullptr || b.used + need > b.capacity) return;  // JS falls back to meta(id)
  double* r = b.data + b.used;
  r[0] = static_cast<double>(id);
  r[1] = dtype_code(t.scalar_type());
  r[2] = static_cast<double>(t.dim());
  for (int64_t d = 0; d < t.dim(); ++d) r[3 + d] = static_cast<double>(t.size(d));
  b.used += need;
}

napi_value trampoline(napi_env env, napi_callback_info info) {
  void* data = nullptr;
  size_t argc = 0;
  napi_get_cb_info(env, info, &argc, nullptr, nullptr, &data);
  auto impl = reinterpret_cast<Impl>(data);
  meta_buffer().used = 0;
  try {
    Args args(env, info);
    return impl(args);
  } catch (const c10::Error& e) {
    napi_throw_error(env, "PROTOSEG_NATIVE", e.what_without_backtrace());
  } catch (const std::exception& e) {
    napi_throw_error(env, "PROTOSEG_NATIVE", e.what());
  }
  return nullptr;
}

}  // namespace

TensorTable& table() {
  static TensorTable t;
  return t;
}

int64_t store(at::Tensor t) {
  switch (t.scalar_type()) {
    case at::kFloat:
    case at::kInt:
    case at::kBool:
      break;
    case at::kLong:
    case at::kShort:
    case at::kByte:
    case at::kChar:
      t = t.to(at::kInt);
      break;
    default:
      t = t.to(at::kFloat);
  }
  auto& tab = table();
  int64_t id = tab.next_id++;
  record_meta(id, t);
  tab.tensors.emplace(id, std::move(t));
  return id;
}

const at::Tensor& lookup(int64_t id) {
  auto& tab = table();
  auto it = tab.tensors.find(id);
  if (it == tab.tensors.end()) throw std::runtime_error("unknown tensor id " + std::to_string(id) + " (already disposed?)");
  return it->second;
}

at::ScalarType dtype_from_code(int code) {
  switch (code) {
    case 0:
      return at::kFloat;
    case 1:
      return at::kInt;
    case 2:
      return at::kBool;
  }
  throw std::runtime_error("unknown dtype code " + std::to_string(code));
}

int dtype_code(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
      return 0;
    case at::kInt:
      return 1;
    case at::kBool:
      return 2;
    default:
      throw std::runtime_error(std::string("dtype not representable in tfjs: ") + c10::toString(t));
  }
}

Args::Args(napi_env e, napi_callback_info info) : env(e) {
  size_t argc = 16;
  values_.resize(argc);
  check(env, napi_get_cb_info(env, info, &argc, values_.data(), nullptr, nullptr), "get_cb_info");
  values_.resize(argc);
}

napi_value Args::raw(size_t i) const {
  if (i >= values_.size()) throw std::runtime_error("missing argument " + std::to_string(i));
  return values_[i];
}

bool Args::is_null(size_t i) const {
  if (i >= values_.size()) return true;
  napi_valuetype t;
  check(env, napi_typeof(env, values_[i], &t), "typeof");
  return t == napi_null || t == napi_undefined;
}

double Args::num(size_t i) const {
  double v;
  if (napi_get_value_double(env, raw(i), &v) != napi_ok) throw std::runtime_error("argument " + std::to_string(i) + " must be a number");
  return v;
}

bool Args::flag(size_t i) const {
  bool v;
  if (napi_get_value_bool(env, raw(i), &v) != napi_ok) throw std::runtime_error("argument " + std::to_string(i) + " must be a boolean");
  return v;
}

std::string Args::str(size_t i) const {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, raw(i), nullptr, 0, &len) != napi_ok) throw std::runtime_error("argument " + std::to_string(i) + " must be a string");
  std::string s(len, '\0');
  napi_get_value_string_utf8(env, raw(i), s.data(), len + 1, &len);
  return s;
}

std::vector<double> Args::nums(size_t i) const {
  uint32_t n = 0;
  napi_value arr = raw(i);
  if (napi_get_array_length(env, arr, &n) != napi_ok) throw std::runtime_error("argument " + std::to_string(i) + " must be an array");
  std::vector<double> out(n);
  for (uint32_t k = 0; k < n; ++k) {
    napi_value el;
    check(env, napi_get_element(env, arr, k, &el), "get_element");
    check(env, napi_get_value_double(env, el, &out[k]), "array element must be a number");
  }
  return out;
}

std::vector<int64_t> Args::ints(size_t i) const {
  auto d = nums(i);
  return std::vector<int64_t>(d.begin(), d.end());
}

at::Tensor Args::opt_tensor(size_t i) const {
  if (is_null(i)) return at::Tensor();
  int64_t id = i64(i);
  if (id < 0) return at::Tensor();
  return lookup(id);
}

std::vector<at::Tensor> Args::tensors(size_t i) const {
  auto ids = ints(i);
  std::vector<at::Tensor> out;
  out.reserve(ids.size());
  for (auto id : ids) out.push_back(lookup(id));
  return out;
}

napi_value make_number(napi_env env, double v) {
  napi_value out;
  check(env, napi_create_double(env, v, &out), "create_double");
  return out;
}

napi_value make_id(napi_env env, at::Tensor t) { return make_number(env, static_cast<double>(store(std::move(t)))); }

napi_value make_ids(napi_env env, const std::vector<at::Tensor>& ts) {
  napi_value arr;
  check(env, napi_create_array_with_length(env, ts.size(), &arr), "create_array");
  for (size_t k = 0; k < ts.size(); ++k) check(env, napi_set_element(env, arr, k, make_id(env, ts[k])), "set_element");
  return arr;
}

napi_value make_undefined(napi_env env) {
  napi_value out;
  napi_get_undefined(env, &out);
  return out;
}

at::Tensor apply_activation(const at::Tensor& x, const std::string& activation, const at::Tensor& prelu_weights,
                            double leaky_alpha) {
  if (activation == "linear" || activation.empty()) return x;
  if (activation == "relu") return at::relu(x);
  if (activation == "relu6") return at::clamp(x, 0, 6);
  if (activation == "elu") return at::elu(x);
  if (activation == "sigmoid") return at::sigmoid(x);
  if (activation == "leakyrelu") return at::leaky_relu(x, leaky_alpha);
  if (activation == "prelu") return at::where(x < 0, x * prelu_weights, x);
  throw std::runtime_error("unsupported fused activation '" + activation + "'");
}

void add_function(napi_env env, napi_value exports, const char* name, Impl impl) {
  napi_value fn;
  check(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, trampoline, reinterpret_cast<void*>(impl), &fn), name);
  check(env, napi_set_named_property(env, exports, name, fn), name);
}

namespace {

size_t element_size(at::ScalarType t) { return t == at::kBool ? 1 : 4; }

// fromValues(typedArray, shape, dtypeCode) -> id. Copies: JS memory may move or be freed.
napi_value from_values(Args& a) {
  auto shape = a.ints(1);
  auto dtype = dtype_from_code(static_cast<int>(a.i64(2)));
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value buffer;
  size_t offset = 0;
  if (napi_get_typedarray_info(a.env, a.raw(0), &type, &length, &data, &buffer, &offset) != napi_ok) {
    throw std::runtime_error("fromValues: values must be a typed array");
  }
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
  size_t bytes = static_cast<size_t>(t.numel()) * element_size(dtype);
  size_t given_bytes = 0;
  switch (type) {
    case napi_float32_array:
    case napi_int32_array:
    case napi_uint32_array:
      given_bytes = length * 4;
      break;
    case napi_uint8_array:
    case napi_int8_array:
    case napi_uint8_clamped_array:
      given_bytes = length;
      break;
    default:
      throw std::runtime_error("fromValues: unsupported typed array type");
  }
  if (given_bytes != bytes) throw std::runtime_error("fromValues: expected " + std::to_string(bytes) + " bytes, got " + std::to_string(given_bytes));
  if (bytes > 0) std::memcpy(t.data_ptr(), data, bytes);
  return make_id(a.env, t);
}

// toValues(id) -> typed array copy (Float32Array, Int32Array or Uint8Array for bool).
napi_value to_values(Args& a) {
  at::Tensor t = a.tensor(0).contiguous();
  size_t n = static_cast<size_t>(t.numel());
  size_t bytes = n * element_size(t.scalar_type());
  void* data = nullptr;
  napi_value buffer, out;
  check(a.env, napi_create_arraybuffer(a.env, bytes, &data, &buffer), "create_arraybuffer");
  if (bytes > 0) std::memcpy(data, t.data_ptr(), bytes);
  napi_typedarray_type type = t.scalar_type() == at::kFloat ? napi_float32_array
                              : t.scalar_type() == at::kInt ? napi_int32_array
                                                            : napi_uint8_array;
  check(a.env, napi_create_typedarray(a.env, type, n, buffer, 0, &out), "create_typedarray");
  return out;
}

napi_value dispose(Args& a) {
  table().tensors.erase(a.i64(0));
  return make_undefined(a.env);
}

// meta(id) -> [dtypeCode, ...shape]
napi_value meta(Args& a) {
  const at::Tensor& t = a.tensor(0);
  napi_value arr;
  check(a.env, napi_create_array_with_length(a.env, t.dim() + 1, &arr), "create_array");
  check(a.env, napi_set_element(a.env, arr, 0, make_number(a.env, dtype_code(t.scalar_type()))), "set");
  for (int64_t d = 0; d < t.dim(); ++d) check(a.env, napi_set_element(a.env, arr, d + 1, make_number(a.env, t.size(d))), "set");
  return arr;
}

// setMetaBuffer(Float64Array) -> undefined; keeps a reference, so its memory stays put.
napi_value set_meta_buffer(Args& a) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value buffer;
  size_t offset = 0;
  if (napi_get_typedarray_info(a.env, a.raw(0), &type, &length, &data, &buffer, &offset) != napi_ok || type != napi_float64_array || length < 1) {
    throw std::runtime_error("setMetaBuffer: expected a non-empty Float64Array");
  }
  MetaBuffer& b = meta_buffer();
  if (b.ref != nullptr) check(a.env, napi_delete_reference(a.env, b.ref), "delete_reference");
  check(a.env, napi_create_reference(a.env, a.raw(0), 1, &b.ref), "create_reference");
  b.data = static_cast<double*>(data);
  b.capacity = length;
  b.used = 0;
  return make_undefined(a.env);
}

// memory() -> [liveTensors, bytes]; bytes counts each distinct storage once.
// A CPU allocator that keeps freed blocks of >= 64 KiB for reuse by the next allocation of the same
// (page-rounded) size, up to a limit of cached free bytes. A training step allocates the same sizes
// every time, so after the first step it neither page-faults fresh memory nor fragments glibc's heap
// (which is where the native backend's peak RSS went beyond its live tensors). Thread-safe: ATen
// frees from worker threads too. Never destroyed, so blocks freed during exit stay valid.
class CachingCpuAllocator final : public c10::Allocator {
 public:
  static constexpr size_t kMinCached = 64 * 1024;
  static constexpr size_t kPage = 4096;
  static constexpr size_t kMaxWasteDivisor = 4;  // a reused block may be up to 1/4 larger

  static CachingCpuAllocator& instance() {
    static auto* self = new CachingCpuAllocator();
    return *self;
  }

  c10::DataPtr allocate(size_t n) const override {
    size_t size = n < kMinCached ? n : (n + kPage - 1) / kPage * kPage;
    {
      std::lock_guard<std::mutex> lock(mu_);
      // Best fit: the smallest cached block that is at least `size` and not too much larger.
      auto it = size >= kMinCached ? free_.lower_bound(size) : free_.end();
      if (it != free_.end() && it->first <= size + size / kMaxWasteDivisor) {
        void* p = it->second;
        cached_ -= it->first;
        sizes_[p] = it->first;
        free_.erase(it);
        return {p, p, &CachingCpuAllocator::release, c10::Device(c10::DeviceType::CPU)};
      }
    }
    void* p = c10::alloc_cpu(size);  // outside the lock: it may page-fault fresh memory
    {
      std::lock_guard<std::mutex> lock(mu_);
      sizes_[p] = size;
    }
    return {p, p, &CachingCpuAllocator::release, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &CachingCpuAllocator::release; }

  static void release(void* p) {
    if (p == nullptr) return;
    auto& self = instance();
    {
      std::lock_guard<std::mutex> lock(self.mu_);
      auto it = self.sizes_.find(p);
      size_t size = it == self.sizes_.end() ? 0 : it->second;
      if (it != self.sizes_.end()) self.sizes_.erase(it);
      if (size >= kMinCached && self.cached_ + size <= self.limit_) {
        self.free_.emplace(size, p);
        self.cached_ += size;
        return;
      }
    }
    c10::free_cpu(p);
  }

  void set_limit(size_t limit) {
    std::lock_guard<std::mutex> lock(mu_);
    limit_ = limit;
  }

  // Returns every cached free block to the system.
  void empty() {
    std::vector<void*> blocks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& kv : free_) blocks.push_back(kv.second);
      free_.clear();
      cached_ = 0;
    }
    for (void* p : blocks) c10::free_cpu(p);
  }

  size_t cached_bytes() {
    std::lock_guard<std::mutex> lock(mu_);
    return cached_;
  }

 private:
  // mutable: c10::Allocator::allocate is const.
  mutable std::mutex mu_;
  mutable std::unordered_map<void*, size_t> sizes_;
  mutable std::multimap<size_t, void*> free_;  // free blocks by size
  mutable size_t cached_ = 0;
  size_t limit_ = 0;
};

// useCachingAllocator(limitBytes): installs the caching allocator for ATen's CPU tensors (once; a
// later call only changes the limit). Tensors allocated before keep their own deleter.
napi_value use_caching_allocator(Args& a) {
  static bool installed = false;
  auto& cache = CachingCpuAllocator::instance();
  cache.set_limit(static_cast<size_t>(a.num(0)));
  if (!installed) {
    c10::SetCPUAllocator(&cache, /*priority=*/1);
    installed = true;
  }
  return make_undefined(a.env);
}

napi_value empty_cache(Args& a) {
  CachingCpuAllocator::instance().empty();
  return make_undefined(a.env);
}

napi_value memory(Args& a) {
  auto& tab = table();
  std::unordered_map<const void*, size_t> storages;
  for (auto& kv : tab.tensors) {
    const auto& st = kv.second.storage();
    storages[st.unsafeGetStorageImpl()] = st.nbytes();
  }
  double bytes = 0;
  for (auto& kv : storages) bytes += static_cast<double>(kv.second);
  napi_value arr;
  check(a.env, napi_create_array_with_length(a.env, 3, &arr), "create_array");
  napi_set_element(a.env, arr, 0, make_number(a.env, static_cast<double>(tab.tensors.size())));
  napi_set_element(a.env, arr, 1, make_number(a.env, bytes));
  napi_set_element(a.env, arr, 2, make_number(a.env, static_cast<double>(CachingCpuAllocator::instance().cached_bytes())));
  return arr;
}

napi_value set_num_threads(Args& a) {
  int n = static_cast<int>(a.i64(0));
  if (n < 1) throw std::runtime_error("setNumThreads: expected a positive thread count, got " + std::to_string(n));
  at::set_num_threads(n);
  return make_undefined(a.env);
}

// tuneMalloc(mmapThreshold, trimThreshold): keeps activation-sized blocks in glibc's heap instead of
// a fresh mmap per allocation. In Node glibc's dynamic threshold does not kick in, and page-faulting
// every new conv gradient buffer made Conv2DBackpropInput ~6x slower than in PyTorch.
napi_value tune_malloc(Args& a) {
#ifdef M_MMAP_THRESHOLD
  mallopt(M_MMAP_THRESHOLD, static_cast<int>(a.i64(0)));
  mallopt(M_TRIM_THRESHOLD, static_cast<int>(a.i64(1)));
#endif
  return make_undefined(a.env);
}

napi_value get_num_threads(Args& a) { return make_number(a.env, at::get_num_threads()); }

napi_value version(Args& a) {
  napi_value out;
  std::string v = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." + std::to_string(TORCH_VERSION_PATCH);
  napi_create_string_utf8(a.env, v.c_str(), v.size(), &out);
  return out;
}

}  // namespace

void register_storage(napi_env env, napi_value exports) {
  add_function(env, exports, "fromValues", from_values);
  add_function(env, exports, "toValues", to_values);
  add_function(env, exports, "dispose", dispose);
  add_function(env, exports, "meta", meta);
  add_function(env, exports, "setMetaBuffer", set_meta_buffer);
  add_function(env, exports, "memory", memory);
  add_function(env, exports, "setNumThreads", set_num_threads);
  add_function(env, exports, "getNumThreads", get_num_threads);
  add_function(env, exports, "tuneMalloc", tune_malloc);
  add_function(env, exports, "useCachingAllocator", use_caching_allocator);
  add_function(env, exports, "emptyCache", empty_cache);
  add_function(env, exports, "version", version);
}

}  // namespace ptl

static napi_value init(napi_env env, napi_value exports) {
  ptl::register_storage(env, exports);
  ptl::register_elementwise(env, exports);
  ptl::register_nn(env, exports);
  ptl::register_batch_norm(env, exports);
  ptl::register_shape(env, exports);
#ifdef PROTOSEG_WITH_DISTRIBUTED
  ptl::register_distributed(env, exports);
#endif
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
