// What the CUDA kernels share: the CUDA runtime (real, or emulated on the CPU
// for the tests, see emulation.h), how they are launched and how they loop.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include <algorithm>
#include <cstdint>

#include "library.h"

#ifdef VFI_OPS_EMULATED_CUDA
#include "cuda/emulation.h"
#else
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace vfi_ops {

constexpr int kThreads = 256;

// Enough blocks to fill any current GPU; a grid-stride loop covers the rest.
inline unsigned int grid_size(int64_t n) {
  constexpr int64_t kMaxBlocks = int64_t(1) << 16;
  return static_cast<unsigned int>(std::max<int64_t>(1, std::min<int64_t>((n + kThreads - 1) / kThreads, kMaxBlocks)));
}

// A new tensor whose every element the kernels will write. In the emulated
// build it starts as NaN, so that an element left unwritten shows.
inline at::Tensor uninitialized(at::IntArrayRef sizes, const at::TensorOptions& options) {
  at::Tensor t = at::empty(sizes, options);
#ifdef VFI_OPS_EMULATED_CUDA
  emulation::poison(t);
#endif
  return t;
}

}  // namespace vfi_ops

// VFI_LAUNCH(grid, block, stream, kernel<T...>)(args...) launches a kernel with
// no dynamic shared memory: kernel<<<grid, block, 0, stream>>>(args...) for nvcc,
// the emulated launcher otherwise. (The kernel comes last: its template
// arguments may hold commas.)
#ifdef VFI_OPS_EMULATED_CUDA
#define VFI_LAUNCH(grid, block, stream, ...) ::vfi_ops::emulation::launch(&__VA_ARGS__, grid, block)
#else
#define VFI_LAUNCH(grid, block, stream, ...) __VA_ARGS__<<<grid, block, 0, stream>>>
#endif

// for (index_t i = first item of this thread; i < n; i += all threads of the grid)
#define VFI_GRID_STRIDE_LOOP(i, n) \
  for (index_t i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += blockDim.x * gridDim.x)
