// Module entry: info(), setThreads(), and the op bindings. Node-API addons are
// context-aware, so this loads in every worker_thread; the kernel thread pool
// behind it is one per process.
#include <napi.h>

#include <cstdlib>
#include <string>

#include "../kernels/cpu.h"
#include "../kernels/gemm.h"
#include "../kernels/threadpool.h"
#include "args.h"
#include "state.h"

namespace aiayn_addon {
namespace {

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("isa", aiayn::isa_name(aiayn::active_isa()));
  Napi::Array available = Napi::Array::New(env);
  int nlevels = 0;
  const aiayn::Isa* levels = aiayn::isa_levels(&nlevels);
  for (int i = 0; i < nlevels && aiayn::at_least(aiayn::best_isa(), levels[i]); ++i) {
    available.Set(static_cast<uint32_t>(i), aiayn::isa_name(levels[i]));
  }
  out.Set("isaAvailable", available);
  // The GEMM micro-kernel each weight dtype runs on the active ISA.
  Napi::Object gemm = Napi::Object::New(env);
  gemm.Set("fp32", aiayn::linear_kernel_name(aiayn::DType::fp32));
  gemm.Set("bf16", aiayn::linear_kernel_name(aiayn::DType::bf16));
  gemm.Set("int8", aiayn::linear_kernel_name(aiayn::DType::int8));
  out.Set("gemm", gemm);
  out.Set("threads", aiayn::threads());
  out.Set("defaultThreads", aiayn::default_threads());
  const PackedTotals packed = packed_totals();
  out.Set("packedBytes", static_cast<double>(packed.bytes));
  out.Set("packedWeights", static_cast<double>(packed.count));
  return out;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  check_count(info, 1, "setThreads");
  aiayn::set_threads(static_cast<int>(get_int(info, 0, "n", 1, 1024)));
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  if (const char* error = aiayn::isa_env_error()) throw Napi::Error::New(env, error);
  if (const char* error = aiayn::threads_env_error()) {
    throw Napi::Error::New(env, std::string(error) + ", got '" + std::getenv("AIAYN_THREADS") + "'");
  }
  env.SetInstanceData(new AddonState());
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  init_linear(env, exports);
  init_attention(env, exports);
  init_ops(env, exports);
  init_decoder_step(env, exports);
  return exports;
}

}  // namespace
}  // namespace aiayn_addon

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  return aiayn_addon::Init(env, exports);
}

NODE_API_MODULE(aiayn, InitModule)
