// The emulated-CUDA library's controls, for the tests (see emulation.h):
//   _emulation_configure(seed, in_order, max_blocks, max_threads, force_int64, patch_budget)
//   _emulation_stats() -> [launches, threads, atomics, int32 paths, int64 paths] since the last reset
//   _emulation_reset_stats()
//   _emulation_selftest(which, t): a deliberate fault
//     0: reads one element past t's end (AddressSanitizer must catch it);
//     1: converts 1e10 * t.numel() to int (UndefinedBehaviorSanitizer must catch it);
//     2: launches a block of 1025 threads (the launcher must refuse it, as a GPU does).
#include <torch/library.h>

#include <vector>

#include "cuda/emulation.h"
#include "index_width.h"

namespace vfi_ops::emulation {
namespace {

void configure(int64_t seed, bool in_order, int64_t max_blocks, int64_t max_threads, bool force_int64,
               int64_t patch_budget) {
  TORCH_CHECK_VALUE(max_blocks >= 0 && max_threads >= 0 && max_threads <= 1024 && patch_budget >= 0,
                    "_emulation_configure(): bad limits");
  Config& c = config();
  c.seed = static_cast<uint64_t>(seed);
  c.in_order = in_order;
  c.max_blocks = static_cast<unsigned int>(max_blocks);
  c.max_threads = static_cast<unsigned int>(max_threads);
  c.force_int64 = force_int64;
  c.patch_budget = patch_budget;
}

std::vector<int64_t> read_stats() {
  const Stats& s = stats();
  return {s.launches, s.threads, s.atomics, s.int32_paths, s.int64_paths};
}

void reset_stats() { stats() = Stats{}; }

void add_one(float* p) { *p += 1.0f; }

double selftest(int64_t which, const at::Tensor& t) {
  TORCH_CHECK_VALUE(t.scalar_type() == at::kFloat && t.is_contiguous(), "_emulation_selftest(): a float tensor");
  if (which == 0) {
    const volatile float* p = t.const_data_ptr<float>();
    return p[t.numel()];
  }
  if (which == 2) {
    launch(&add_one, dim3(1), dim3(1025))(t.mutable_data_ptr<float>());
    return 0.0;
  }
  volatile double big = 1e10 * static_cast<double>(t.numel());
  volatile int i = static_cast<int>(big);
  return i;
}

}  // namespace

// index_width.h's hooks.
bool forces_int64() { return config().force_int64; }
void count_index_path(bool narrow) { ++(narrow ? stats().int32_paths : stats().int64_paths); }

}  // namespace vfi_ops::emulation

TORCH_LIBRARY_FRAGMENT(vfi_ops_emulated, m) {
  using namespace vfi_ops::emulation;
  m.def(
      "_emulation_configure(int seed=0, bool in_order=False, int max_blocks=0, int max_threads=0, "
      "bool force_int64=False, int patch_budget=0) -> ()",
      &configure);
  m.def("_emulation_stats() -> int[]", &read_stats);
  m.def("_emulation_reset_stats() -> ()", &reset_stats);
  m.def("_emulation_selftest(int which, Tensor t) -> float", &selftest);
}
