// Helpers shared by host and device code of every op.
#pragma once

#include <cmath>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define VFI_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define VFI_HOST_DEVICE inline
#endif

namespace vfi_ops {

// floor(x) as an index, for x already known to lie in (-2^31, 2^31) (or the
// index_t range): truncation plus a correction, which is one instruction on
// CPUs without SSE4.1 where floorf() is a library call.
template <typename index_t, typename T>
VFI_HOST_DEVICE index_t floor_index(T x) {
  const index_t i = static_cast<index_t>(x);
  return static_cast<T>(i) > x ? i - 1 : i;
}

template <typename T>
VFI_HOST_DEVICE T clamp_value(T x, T lo, T hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

}  // namespace vfi_ops
