// The index width of the kernels (host only): 32-bit indices where every
// tensor is small enough, 64-bit ones otherwise.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <limits>

#ifdef VFI_OPS_EMULATED_CUDA
// The emulated-CUDA build's controls and counters (defined in cuda/emulation.cpp).
namespace vfi_ops::emulation {
bool forces_int64();
void count_index_path(bool narrow);
}  // namespace vfi_ops::emulation
#endif

namespace vfi_ops {

// 32-bit indices are enough (and faster on GPUs) when every element of every
// tensor, plus one grid stride, stays below 2^31. (The emulated-CUDA tests can
// switch them off, to run the 64-bit paths on small tensors.)
inline bool fits_int32(std::initializer_list<int64_t> numels) {
#ifdef VFI_OPS_EMULATED_CUDA
  if (emulation::forces_int64()) return false;
#endif
  for (int64_t n : numels) {
    if (n > std::numeric_limits<int32_t>::max() / 2) return false;
  }
  return true;
}

// Calls fn(int32_t{0}) if `narrow`, else fn(int64_t{0}): kernels templated on
// their index type get the 32-bit one wherever it is enough.
template <typename Fn>
void with_index_type(bool narrow, Fn&& fn) {
#ifdef VFI_OPS_EMULATED_CUDA
  emulation::count_index_path(narrow);
#endif
  if (narrow) {
    fn(int32_t{0});
  } else {
    fn(int64_t{0});
  }
}

}  // namespace vfi_ops
