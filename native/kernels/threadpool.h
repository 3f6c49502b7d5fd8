// One process-wide pool of persistent kernel threads.
//
// parallel_for(n, fn) runs fn(task, thread) for every task in [0, n) and
// returns when all are done. The calling thread takes part (thread 0); the
// workers are threads 1..threads()-1, so per-thread scratch can be indexed by
// `thread`. Tasks are claimed dynamically, and the caller waits only for tasks
// already claimed, so a worker slow to wake never delays a job (at most 2^31
// tasks per job). Callers from several threads
// (e.g. Node worker_threads) are serialised; a parallel_for issued from inside
// a task runs inline. FTZ/DAZ are on while tasks run and the caller's MXCSR is
// restored afterwards.
#pragma once

#include <cstdint>

namespace aiayn {

// Default size: AIAYN_THREADS, else the number of physical cores we may run on.
int default_threads();
// Non-null when AIAYN_THREADS is set but not an integer in [1, 1024]; the
// addon turns it into a load error. default_threads() then ignores it.
const char* threads_env_error();
int threads();
// n >= 1; blocks until running work finishes, then resizes.
void set_threads(int n);

using TaskFn = void (*)(void* ctx, int64_t task, int thread);
void parallel_for_raw(int64_t ntasks, TaskFn fn, void* ctx, int max_threads = 0);

// `max_threads` > 0 caps the threads taking part, so `thread` < max_threads:
// size per-thread scratch with it (threads() may change between a read of it
// and the call when another thread calls set_threads).
template <typename F>
void parallel_for(int64_t ntasks, const F& fn, int max_threads = 0) {
  parallel_for_raw(
      ntasks,
      [](void* ctx, int64_t task, int thread) { (*static_cast<const F*>(ctx))(task, thread); },
      const_cast<F*>(&fn), max_threads);
}

}  // namespace aiayn
