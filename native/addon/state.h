// Per-environment addon state. Node-API addons are context-aware: the main
// thread and every worker_thread load their own instance, each with its own
// constructors. addon.cc creates one AddonState per environment and hands it
// to the environment, which frees it at teardown.
#pragma once

#include <napi.h>

namespace aiayn {
struct PackedWeights;
}

namespace aiayn_addon {

struct AddonState {
  Napi::FunctionReference packed_linear;  // PackedLinear's constructor (linear.cc)
};

inline AddonState& addon_state(Napi::Env env) { return *env.GetInstanceData<AddonState>(); }

// Where a PackedLinear object keeps its packed weights and bias (null when it
// has none). Read them at each use: dispose() sets both to null. The slots
// live as long as the object, so hold a reference to it.
struct LinearSlots {
  aiayn::PackedWeights* const* weights;
  float* const* bias;
};

// `value` as a live PackedLinear (linear.cc): TypeError naming `name` if it is
// not one, Error if it was disposed.
LinearSlots linear_slots(Napi::Env env, Napi::Value value, const char* name);

}  // namespace aiayn_addon
