// Software prefetch for the CPU warping loops (backward_warp). Where a flow's
// vertical part varies along a row, each output row reads its bottom taps from
// input lines that no earlier output row has read, in runs too short for the
// hardware prefetchers to follow, and the loads wait on memory. The lines a few
// input rows below a tap are the ones the next output rows will read: asking
// for them early hides that wait. (1080p RGB, the benchmarks' flow, one
// thread: the AVX2 forward 22 -> 17 ms.)
#pragma once

#include <cstdint>

namespace vfi_ops {

constexpr int64_t kPrefetchRows = 3;

// Brings the line kPrefetchRows rows below p (a row: `row` elements) towards
// the core (L2), for reading or, with for_write, for writing. A prefetch never
// faults; the address is computed as an integer, since it may lie past the
// tensor.
template <typename T>
inline void prefetch_below(const T* p, int64_t row, bool for_write = false) {
  const uintptr_t at = reinterpret_cast<uintptr_t>(p) + uintptr_t(kPrefetchRows * row) * sizeof(T);
#if defined(__GNUC__)
  if (for_write) {
    __builtin_prefetch(reinterpret_cast<const void*>(at), 1, 2);
  } else {
    __builtin_prefetch(reinterpret_cast<const void*>(at), 0, 2);
  }
#else
  (void)at;
  (void)for_write;
#endif
}

}  // namespace vfi_ops
