// Collectives over libtorch's c10d: rendezvous through a TCPStore (MASTER_ADDR:MASTER_PORT), a
// ProcessGroupGloo (or, built with PROTOSEG_WITH_NCCL, a ProcessGroupNCCL: untested), and
// all-reduce / broadcast / all-gather / barrier on addon tensors (by id, results are new ids) and on
// JS typed arrays (Float32Array, Float64Array, Int32Array, in place or into a new array).
// Built only when scripts/build_native.mjs finds the c10d and Gloo headers and links a probe.
//
// Every call is synchronous on the JS thread and bounded: the store handshake polls up to the
// timeout, every collective waits at most the timeout, and Gloo fails at once when a peer's socket
// closes. After one failure the group refuses further collectives (a Gloo group whose collective
// failed half-way cannot be used again), and every error is one line naming the rank and the cause.
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef PROTOSEG_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <dlfcn.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "common.h"

namespace ptl {
namespace {

using Millis = std::chrono::milliseconds;

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  int rank = 0;
  int size = 1;
  Millis timeout{0};
  std::string backend;
  // Where collectives run: CPU for Gloo, cuda:localRank for NCCL.
  at::Device device{at::kCPU};
  // Non-empty after a failed collective: the group is then unusable.
  std::string broken;
};

// Never destroyed: a group whose peer died may still have a Gloo worker blocked on it, and running
// its destructor at process exit would wait for that worker.
std::unordered_map<int64_t, Group>& groups() {
  static auto* g = new std::unordered_map<int64_t, Group>();
  return *g;
}
int64_t next_group = 1;

// c10d logs every failed connection attempt and timeout through glog on stderr; while the store
// connects, those lines are silenced (the error thrown says it in one line). glog is found in the
// already loaded libraries, so nothing extra is linked; without it this does nothing.
class QuietGlog {
 public:
  QuietGlog() {
    for (const char* lib : {"libglog.so.1", "libglog.so.0", "libglog.so"}) {
      void* handle = dlopen(lib, RTLD_LAZY | RTLD_NOLOAD);
      if (handle == nullptr) continue;
      level_ = static_cast<int32_t*>(dlsym(handle, "_ZN3fLI17FLAGS_minloglevelE"));
      dlclose(handle);
      if (level_ != nullptr) break;
    }
    if (level_ != nullptr) {
      saved_ = *level_;
      *level_ = 3;  // FATAL only
    }
  }
  ~QuietGlog() {
    if (level_ != nullptr) *level_ = saved_;
  }
  QuietGlog(const QuietGlog&) = delete;
  QuietGlog& operator=(const QuietGlog&) = delete;

 private:
  int32_t* level_ = nullptr;
  int32_t saved_ = 0;
};

std::string first_line(const std::exception& e) {
  const auto* c10e = dynamic_cast<const c10::Error*>(&e);
  std::string s = c10e != nullptr ? c10e->what_without_backtrace() : e.what();
  auto nl = s.find('\n');
  if (nl != std::string::npos) s = s.substr(0, nl);
  while (!s.empty() && (s.back() == ' ' || s.back() == '.')) s.pop_back();
  return s;
}

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

std::string seconds(Millis t) {
  std::ostringstream out;
  out << static_cast<double>(t.count()) / 1000.0 << " s";
  return out.str();
}

Group& group(Args& a, size_t i) {
  auto it = groups().find(a.i64(i));
  if (it == groups().end()) throw std::runtime_error("distributed: unknown process group " + std::to_string(a.i64(i)) + " (already destroyed?)");
  return it->second;
}

std::string where(const Group& g, const char* what) {
  return std::string("distributed ") + what + " (rank " + std::to_string(g.rank) + " of " + std::to_string(g.size) + ")";
}

// Waits for a collective; any failure marks the group broken and becomes one line saying why.
void finish(Group& g, const c10::intrusive_ptr<c10d::Work>& work, const char* what) {
  try {
    work->wait(g.timeout);
  } catch (const std::exception& e) {
    std::string cause = first_line(e);
    std::string reason;
    if (contains(cause, "closed by peer") || contains(cause, "reset by peer") || contains(cause, "Broken pipe") || contains(cause, "Connection refused")) {
      reason = "a peer rank closed its connection: it stopped or crashed (" + cause + ")";
    } else if (contains(cause, "imed out") || contains(cause, "imeout")) {
      reason = "no answer from the other ranks within " + seconds(g.timeout) + ": a rank is stuck, far behind or gone (" + cause + ")";
    } else {
      reason = cause;
    }
    g.broken = reason;
    throw std::runtime_error(where(g, what) + ": " + reason + ".");
  }
}

void check_usable(const Group& g, const char* what) {
  if (!g.broken.empty()) throw std::runtime_error(where(g, what) + ": the process group failed earlier (" + g.broken + ") and cannot be used again.");
}

c10d::ReduceOp reduce_op(const std::string& op) {
  if (op == "sum" || op == "avg") return c10d::ReduceOp::SUM;
  if (op == "max") return c10d::ReduceOp::MAX;
  if (op == "min") return c10d::ReduceOp::MIN;
  throw std::runtime_error("distributed allReduce: expected op sum, avg, max or min, got '" + op + "'");
}

// t on the group's device (a no-op for Gloo).
at::Tensor on_device(const Group& g, const at::Tensor& t) { return g.device.is_cpu() ? t : t.to(g.device); }

// All-reduce of one contiguous tensor in place (avg = sum / size; integer tensors cannot average).
void allreduce_inplace(Group& g, at::Tensor& flat, const std::string& op) {
  check_usable(g, "allReduce");
  if (op == "avg" && !at::isFloatingType(flat.scalar_type())) throw std::runtime_error("distributed allReduce: op avg needs a floating-point tensor, got " + std::string(c10::toString(flat.scalar_type())));
  c10d::AllreduceOptions opts;
  opts.reduceOp = reduce_op(op);
  opts.timeout = g.timeout;
  std::vector<at::Tensor> ts{on_device(g, flat)};
  finish(g, g.pg->allreduce(ts, opts), "allReduce");
  if (!g.device.is_cpu()) flat.copy_(ts[0].to(at::kCPU));
  if (op == "avg") flat.div_(static_cast<double>(g.size));
}

void broadcast_inplace(Group& g, at::Tensor& flat, int root) {
  check_usable(g, "broadcast");
  if (root < 0 || root >= g.size) throw std::runtime_error("distributed broadcast: expected a root rank in 0.." + std::to_string(g.size - 1) + ", got " + std::to_string(root));
  c10d::BroadcastOptions opts;
  opts.rootRank = root;
  opts.timeout = g.timeout;
  std::vector<at::Tensor> ts{on_device(g, flat)};
  finish(g, g.pg->broadcast(ts, opts), "broadcast");
  if (!g.device.is_cpu()) flat.copy_(ts[0].to(at::kCPU));
}

// out (contiguous, size * input.numel() elements) = every rank's input, in rank order.
void allgather_into(Group& g, const at::Tensor& input, at::Tensor& out) {
  check_usable(g, "allGather");
  c10d::AllgatherOptions opts;
  opts.timeout = g.timeout;
  std::vector<at::Tensor> inputs{on_device(g, input.contiguous().reshape({-1}))};
  std::vector<std::vector<at::Tensor>> outputs(1);
  at::Tensor dev_out = on_device(g, out);
  for (int r = 0; r < g.size; ++r) outputs[0].push_back(dev_out.narrow(0, r * input.numel(), input.numel()));
  finish(g, g.pg->allgather(outputs, inputs, opts), "allGather");
  // Gloo's allgather copies into the given views; NCCL's into device views that come back here.
  if (!g.device.is_cpu()) out.copy_(dev_out.to(at::kCPU));
}

// A typed array as a CPU tensor over its memory (no copy; valid during this synchronous call).
at::Tensor typed_array(Args& a, size_t i, const char* what) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value buffer;
  size_t offset = 0;
  if (napi_get_typedarray_info(a.env, a.raw(i), &type, &length, &data, &buffer, &offset) != napi_ok) {
    throw std::runtime_error(std::string("distributed ") + what + ": expected a Float32Array, Float64Array or Int32Array");
  }
  at::ScalarType dtype;
  switch (type) {
    case napi_float32_array:
      dtype = at::kFloat;
      break;
    case napi_float64_array:
      dtype = at::kDouble;
      break;
    case napi_int32_array:
      dtype = at::kInt;
      break;
    default:
      throw std::runtime_error(std::string("distributed ") + what + ": expected a Float32Array, Float64Array or Int32Array, got another typed array");
  }
  if (length == 0) return at::empty({0}, at::TensorOptions().dtype(dtype));
  return at::from_blob(data, {static_cast<int64_t>(length)}, at::TensorOptions().dtype(dtype));
}

napi_value typed_array_like(napi_env env, at::ScalarType dtype, size_t n, void** data) {
  size_t bytes = n * (dtype == at::kDouble ? 8 : 4);
  napi_value buffer, out;
  if (napi_create_arraybuffer(env, bytes, data, &buffer) != napi_ok) throw std::runtime_error("distributed: could not allocate the output array");
  napi_typedarray_type type = dtype == at::kFloat ? napi_float32_array : dtype == at::kDouble ? napi_float64_array : napi_int32_array;
  if (napi_create_typedarray(env, type, n, buffer, 0, &out) != napi_ok) throw std::runtime_error("distributed: could not create the output array");
  return out;
}

// ---- process group lifetime ----

// A rendezvous failure this file diagnosed (other exceptions there come from the store connection).
struct RendezvousError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The store handshake: same world size everywhere, no rank twice, every rank present; waits up to
// the timeout and names the ranks that did not come. A rank that finds a problem also writes it to
// the store ("protoseg/abort"), so the ranks waiting for it fail at once, saying why, instead of
// waiting out the timeout.
void handshake(c10d::Store& store, int rank, int size, Millis timeout, const std::string& master) {
  const std::string me = "(rank " + std::to_string(rank) + " of " + std::to_string(size) + ")";
  const std::string abort_key = "protoseg/abort";
  auto fail = [&](const std::string& message) {
    std::string text = "distributed rendezvous at " + master + ": " + message;
    try {
      store.set(abort_key, std::vector<uint8_t>(text.begin(), text.end()));
    } catch (const std::exception&) {
      // The store is gone too; the others find out through their own timeout.
    }
    throw RendezvousError(text);
  };
  auto check_abort = [&]() {
    if (!store.check({abort_key})) return;
    auto v = store.get(abort_key);
    throw RendezvousError("distributed rendezvous at " + master + " " + me + ": stopped because another rank failed (" + std::string(v.begin(), v.end()) + ")");
  };
  auto deadline = std::chrono::steady_clock::now() + timeout;
  if (rank == 0) store.set("protoseg/world", std::vector<uint8_t>(reinterpret_cast<const uint8_t*>(&size), reinterpret_cast<const uint8_t*>(&size) + sizeof(int)));
  // The world size first: a rank started with another WORLD_SIZE fails at once, naming both.
  while (!store.check({"protoseg/world"})) {
    if (std::chrono::steady_clock::now() >= deadline) {
      throw RendezvousError("distributed rendezvous at " + master + " " + me + ": rank 0 did not join within " + seconds(timeout) +
                            ". Start every rank with the same MASTER_ADDR/MASTER_PORT and WORLD_SIZE, or raise the timeout.");
    }
    std::this_thread::sleep_for(Millis(20));
  }
  auto value = store.get("protoseg/world");
  int world = 0;
  if (value.size() == sizeof(int)) std::memcpy(&world, value.data(), sizeof(int));
  if (world != size) fail("rank " + std::to_string(rank) + " has WORLD_SIZE " + std::to_string(size) + " but rank 0 has " + std::to_string(world) + "; start every rank with the same WORLD_SIZE.");
  int64_t seen = store.add("protoseg/rank/" + std::to_string(rank), 1);
  if (seen > 1) fail("rank " + std::to_string(rank) + " joined twice (two processes have RANK=" + std::to_string(rank) + "); give every process its own RANK in 0.." + std::to_string(size - 1) + ".");
  std::vector<std::string> keys;
  for (int r = 0; r < size; ++r) keys.push_back("protoseg/rank/" + std::to_string(r));
  for (;;) {
    check_abort();
    if (store.check(keys)) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string missing;
      int count = 0;
      for (int r = 0; r < size; ++r) {
        if (!store.check({"protoseg/rank/" + std::to_string(r)})) {
          missing += (count++ == 0 ? "" : ", ") + std::to_string(r);
        }
      }
      throw RendezvousError("distributed rendezvous at " + master + " " + me + ": " + (count == 1 ? "rank " : "ranks ") + missing + " did not join within " + seconds(timeout) +
                            ". Start every rank with the same MASTER_ADDR/MASTER_PORT and WORLD_SIZE, or raise the timeout.");
    }
    std::this_thread::sleep_for(Millis(20));
  }
}

// init(masterAddr, masterPort, rank, worldSize, timeoutMs, backend, glooHost, glooInterface, localRank) -> group id
napi_value init(Args& a) {
  std::string addr = a.str(0);
  int port = static_cast<int>(a.i64(1));
  int rank = static_cast<int>(a.i64(2));
  int size = static_cast<int>(a.i64(3));
  Millis timeout(a.i64(4));
  std::string backend = a.str(5);
  std::string gloo_host = a.str(6);
  std::string gloo_iface = a.str(7);
  int local_rank = static_cast<int>(a.i64(8));
  std::string master = addr + ":" + std::to_string(port);
  if (size < 1 || rank < 0 || rank >= size) throw std::runtime_error("distributed init: expected 0 <= RANK < WORLD_SIZE, got RANK " + std::to_string(rank) + " and WORLD_SIZE " + std::to_string(size));
  if (port < 1 || port > 65535) throw std::runtime_error("distributed init: expected MASTER_PORT in 1..65535, got " + std::to_string(port));
  if (timeout.count() < 1) throw std::runtime_error("distributed init: expected a positive timeout, got " + std::to_string(timeout.count()) + " ms");
  if (backend != "gloo" && backend != "nccl") throw std::runtime_error("distributed init: expected backend gloo or nccl, got '" + backend + "'");
#ifndef PROTOSEG_WITH_NCCL
  if (backend == "nccl") throw std::runtime_error("distributed init: backend nccl is not built into this addon (it needs a CUDA libtorch and PROTOSEG_WITH_NCCL=1 at build time); use gloo.");
#endif

  Group g;
  g.rank = rank;
  g.size = size;
  g.timeout = timeout;
  g.backend = backend;
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(port);
  so.isServer = rank == 0;
  so.waitWorkers = false;  // handshake() waits, naming the missing ranks
  so.timeout = timeout;
  try {
    QuietGlog quiet;
    g.store = c10::make_intrusive<c10d::TCPStore>(addr, so);
  } catch (const std::exception& e) {
    std::string cause = first_line(e);
    if (rank == 0 && (contains(cause, "in use") || contains(cause, "bind"))) {
      throw std::runtime_error("distributed rendezvous: rank 0 could not listen on " + master + " (" + cause + "). Choose a free MASTER_PORT (--master-port).");
    }
    throw std::runtime_error("distributed rendezvous: rank " + std::to_string(rank) + " could not reach the store at " + master + " within " + seconds(timeout) + " (" + cause +
                             "). Check MASTER_ADDR/MASTER_PORT, that rank 0 is running, and that the port is open.");
  }
  try {
    handshake(*g.store, rank, size, timeout, master);
  } catch (const RendezvousError&) {
    throw;
  } catch (const std::exception& e) {
    throw std::runtime_error("distributed rendezvous at " + master + " (rank " + std::to_string(rank) + " of " + std::to_string(size) + "): lost the connection to the store (" + first_line(e) +
                             "): rank 0 has stopped, or the network failed.");
  }
  auto pg_store = c10::make_intrusive<c10d::PrefixStore>("protoseg/pg", g.store);
  try {
    if (backend == "gloo") {
      auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
      if (!gloo_iface.empty()) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(gloo_iface));
      else if (!gloo_host.empty()) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(gloo_host));
      else opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      opts->threads = 2;
      g.pg = c10::make_intrusive<c10d::ProcessGroupGloo>(pg_store, rank, size, opts);
    }
#ifdef PROTOSEG_WITH_NCCL
    if (backend == "nccl") {
      // Untested (no CUDA build here). Host-side waits honour the timeout only with blocking wait.
      setenv("NCCL_BLOCKING_WAIT", "1", 0);
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = timeout;
      g.device = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(local_rank));
      g.pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(pg_store, rank, size, opts);
    }
#endif
  } catch (const std::exception& e) {
    throw std::runtime_error("distributed init (rank " + std::to_string(rank) + " of " + std::to_string(size) + "): could not connect to every other rank within " + seconds(timeout) + " (" + first_line(e) +
                             "). Every rank must reach the others' address (set GLOO_SOCKET_IFNAME to the network interface to use).");
  }
  (void)local_rank;
  int64_t id = next_group++;
  groups().emplace(id, std::move(g));
  return make_number(a.env, static_cast<double>(id));
}

// destroy(group): waits for nothing; a broken group is only forgotten (see groups()).
napi_value destroy(Args& a) {
  auto it = groups().find(a.i64(0));
  if (it == groups().end()) return make_undefined(a.env);
  if (it->second.broken.empty()) {
    groups().erase(it);
  } else {
    // Keep the object alive (leak it): its destructor would wait for a worker stuck on a dead peer.
    static_cast<void>(new Group(std::move(it->second)));
    groups().erase(it);
  }
  return make_undefined(a.env);
}

napi_value barrier(Args& a) {
  Group& g = group(a, 0);
  check_usable(g, "barrier");
  c10d::BarrierOptions opts;
  opts.timeout = g.timeout;
  finish(g, g.pg->barrier(opts), "barrier");
  return make_undefined(a.env);
}

// ---- collectives on addon tensors (ids); inputs are never modified ----

// Flattens the tensors (one dtype) into one new buffer, in order.
at::Tensor flatten_all(const std::vector<at::Tensor>& ts, const char* what) {
  if (ts.empty()) throw std::runtime_error(std::string("distributed ") + what + ": expected at least one tensor");
  std::vector<at::Tensor> flat;
  flat.reserve(ts.size());
  for (const auto& t : ts) {
    if (t.scalar_type() != ts[0].scalar_type()) throw std::runtime_error(std::string("distributed ") + what + ": expected tensors of one dtype, got " + c10::toString(ts[0].scalar_type()) + " and " + c10::toString(t.scalar_type()));
    flat.push_back(t.reshape({-1}));
  }
  return at::cat(flat);
}

// Views of the reduced buffer with the inputs' shapes (they share its storage, as Reshape outputs do).
napi_value unflatten(napi_env env, const at::Tensor& flat, const std::vector<at::Tensor>& like) {
  std::vector<at::Tensor> out;
  out.reserve(like.size());
  int64_t offset = 0;
  for (const auto& t : like) {
    out.push_back(flat.narrow(0, offset, t.numel()).view(t.sizes()));
    offset += t.numel();
  }
  return make_ids(env, out);
}

// allReduceTensors(group, ids, op) -> ids: one collective over all of them.
napi_value all_reduce_tensors(Args& a) {
  Group& g = group(a, 0);
  auto ts = a.tensors(1);
  at::Tensor flat = flatten_all(ts, "allReduce");
  allreduce_inplace(g, flat, a.str(2));
  return unflatten(a.env, flat, ts);
}

// broadcastTensors(group, ids, root) -> ids: root's values everywhere, one collective.
napi_value broadcast_tensors(Args& a) {
  Group& g = group(a, 0);
  auto ts = a.tensors(1);
  at::Tensor flat = flatten_all(ts, "broadcast");
  broadcast_inplace(g, flat, static_cast<int>(a.i64(2)));
  return unflatten(a.env, flat, ts);
}

// allGatherTensor(group, id) -> id of [size, ...shape] (every rank's tensor has the same shape).
napi_value all_gather_tensor(Args& a) {
  Group& g = group(a, 0);
  const at::Tensor& t = a.tensor(1);
  at::Tensor out = at::empty({g.size * t.numel()}, t.options());
  allgather_into(g, t, out);
  std::vector<int64_t> shape{g.size};
  for (auto d : t.sizes()) shape.push_back(d);
  return make_id(a.env, out.view(shape));
}

// ---- collectives on typed arrays ----

// allReduceArray(group, array, op): in place.
napi_value all_reduce_array(Args& a) {
  Group& g = group(a, 0);
  at::Tensor t = typed_array(a, 1, "allReduce");
  if (t.numel() > 0) allreduce_inplace(g, t, a.str(2));
  return make_undefined(a.env);
}

// broadcastArray(group, array, root): in place.
napi_value broadcast_array(Args& a) {
  Group& g = group(a, 0);
  at::Tensor t = typed_array(a, 1, "broadcast");
  if (t.numel() > 0) broadcast_inplace(g, t, static_cast<int>(a.i64(2)));
  return make_undefined(a.env);
}

// allGatherArray(group, array) -> a new array of the same type, size * length elements, rank order.
napi_value all_gather_array(Args& a) {
  Group& g = group(a, 0);
  at::Tensor t = typed_array(a, 1, "allGather");
  void* data = nullptr;
  size_t n = static_cast<size_t>(g.size) * static_cast<size_t>(t.numel());
  napi_value result = typed_array_like(a.env, t.scalar_type(), n, &data);
  if (n > 0) {
    at::Tensor out = at::from_blob(data, {static_cast<int64_t>(n)}, t.options());
    allgather_into(g, t, out);
  }
  return result;
}

// info(group) -> [rank, size, timeoutMs]
napi_value info(Args& a) {
  Group& g = group(a, 0);
  napi_value arr;
  napi_create_array_with_length(a.env, 3, &arr);
  napi_set_element(a.env, arr, 0, make_number(a.env, g.rank));
  napi_set_element(a.env, arr, 1, make_number(a.env, g.size));
  napi_set_element(a.env, arr, 2, make_number(a.env, static_cast<double>(g.timeout.count())));
  return arr;
}

napi_value backends(Args& a) {
  napi_value arr;
#ifdef PROTOSEG_WITH_NCCL
  napi_create_array_with_length(a.env, 2, &arr);
  napi_value nccl;
  napi_create_string_utf8(a.env, "nccl", NAPI_AUTO_LENGTH, &nccl);
  napi_set_element(a.env, arr, 1, nccl);
#else
  napi_create_array_with_length(a.env, 1, &arr);
#endif
  napi_value gloo;
  napi_create_string_utf8(a.env, "gloo", NAPI_AUTO_LENGTH, &gloo);
  napi_set_element(a.env, arr, 0, gloo);
  return arr;
}

}  // namespace

void register_distributed(napi_env env, napi_value exports) {
  add_function(env, exports, "distBackends", backends);
  add_function(env, exports, "distInit", init);
  add_function(env, exports, "distDestroy", destroy);
  add_function(env, exports, "distInfo", info);
  add_function(env, exports, "distBarrier", barrier);
  add_function(env, exports, "distAllReduceTensors", all_reduce_tensors);
  add_function(env, exports, "distBroadcastTensors", broadcast_tensors);
  add_function(env, exports, "distAllGatherTensor", all_gather_tensor);
  add_function(env, exports, "distAllReduceArray", all_reduce_array);
  add_function(env, exports, "distBroadcastArray", broadcast_array);
  add_function(env, exports, "distAllGatherArray", all_gather_array);
}

}  // namespace ptl
