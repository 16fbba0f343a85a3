// Helpers shared by host and device code of every op.
#pragma once

#include <cmath>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define VFI_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define VFI_HOST_DEVICE inline
#endif

namespace vfi_ops {

VFI_HOST_DEVICE float floor_value(float x) { return floorf(x); }
VFI_HOST_DEVICE double floor_value(double x) { return floor(x); }

// True for NaN. Written as a comparison so it means the same on host and device.
template <typename T>
VFI_HOST_DEVICE bool is_nan(T x) {
  return x != x;
}

template <typename T>
VFI_HOST_DEVICE T clamp_value(T x, T lo, T hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

}  // namespace vfi_ops
