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
