// Launch configuration shared by the CUDA kernels: grid-stride loops over n items.
#pragma once

#include <algorithm>
#include <cstdint>

namespace vfi_ops {

constexpr int kThreads = 256;

// Enough blocks to fill any current GPU; a grid-stride loop covers the rest.
inline unsigned int grid_size(int64_t n) {
  constexpr int64_t kMaxBlocks = int64_t(1) << 16;
  return static_cast<unsigned int>(std::max<int64_t>(1, std::min<int64_t>((n + kThreads - 1) / kThreads, kMaxBlocks)));
}

}  // namespace vfi_ops

// for (index_t i = first item of this thread; i < n; i += all threads of the grid)
#define VFI_GRID_STRIDE_LOOP(i, n) \
  for (index_t i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += blockDim.x * gridDim.x)
