// Emulated CUDA: the kernels of this folder compiled as C++ and run on the CPU.
//
// The kernels use no shared memory, barriers or warp operations: only
// grid-stride loops, loads, stores, atomicAdd and atomicMax. Running every
// (block, thread) of a launch one after another, in any order, is then a legal
// CUDA schedule, and an atomic is a read-modify-write. This header gives the emulation build
// (VFI_OPS_EMULATED_CUDA; tests/cuda_emulation.py builds it) what nvcc and the
// CUDA runtime give the real one: the keywords, dim3 and the index variables
// (thread-local), the atomics for the types the kernels use, a launcher that
// checks the limits a GPU enforces, and no-op stand-ins for the stream and the
// device guard. To make mistakes show, a launch runs its blocks in a shuffled
// order and the threads of a block in reverse, and fresh outputs
// (`uninitialized` in launch.cuh) start as NaN.
//
// What it cannot show: races between real threads, nvcc's arithmetic (fused
// multiply-adds; the float atomics' flush-to-zero it does reproduce, see
// atomicAdd below), cuBLAS and cuDNN numerics (the ATen calls run on the CPU),
// device limits other than the launch shape, and speed.
#pragma once

#ifndef VFI_OPS_EMULATED_CUDA
#error "cuda/emulation.h belongs to the emulated-CUDA build only"
#endif

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <tuple>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline

struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};

// The built-in index variables of the emulated thread that is running (unsigned,
// as on a GPU, so that index arithmetic has the same types).
inline thread_local dim3 threadIdx{0, 0, 0};
inline thread_local dim3 blockIdx{0, 0, 0};
inline thread_local dim3 blockDim{1, 1, 1};
inline thread_local dim3 gridDim{1, 1, 1};

using cudaStream_t = struct CUstream_st*;

namespace c10::cuda {
// One device and one stream: nothing to guard or order.
struct CUDAGuard {
  explicit CUDAGuard(c10::Device) {}
};
struct CUDAStream {
  operator cudaStream_t() const { return nullptr; }
};
inline CUDAStream getCurrentCUDAStream() { return {}; }
}  // namespace c10::cuda

#define C10_CUDA_KERNEL_LAUNCH_CHECK() ((void)0)  // launch errors are raised by the launcher itself

namespace vfi_ops::emulation {

struct Config {
  uint64_t seed = 0;                             // of the block order
  bool in_order = false;                         // true: blocks and threads in order (false: shuffled, reversed)
  unsigned int max_blocks = 0, max_threads = 0;  // > 0: cap a launch's grid and block (grid-stride loops go round)
  bool force_int64 = false;                      // fits_int32 says no: the 64-bit index instantiations run
  int64_t patch_budget = 0;                      // > 0: the sparse convolution's chunk size, in patch elements
};

struct Stats {
  int64_t launches = 0, threads = 0, atomics = 0, int32_paths = 0, int64_paths = 0;
};

inline Config& config() {
  static Config c;
  return c;
}

inline Stats& stats() {
  static Stats s;
  return s;
}

// The checks a GPU makes before it runs a launch (cudaErrorInvalidConfiguration).
inline void check_launch_shape(const dim3& grid, const dim3& block) {
  const uint64_t threads = uint64_t(block.x) * block.y * block.z;
  TORCH_CHECK(grid.x >= 1 && grid.y >= 1 && grid.z >= 1 && threads >= 1,
              "emulated CUDA launch: invalid configuration argument (empty grid or block)");
  TORCH_CHECK(grid.x <= 2147483647u && grid.y <= 65535u && grid.z <= 65535u,
              "emulated CUDA launch: invalid configuration argument (grid ", grid.x, " x ", grid.y, " x ", grid.z, ")");
  TORCH_CHECK(block.x <= 1024u && block.y <= 1024u && block.z <= 64u && threads <= 1024u,
              "emulated CUDA launch: invalid configuration argument (block ", block.x, " x ", block.y, " x ", block.z,
              ")");
}

// kernel<<<grid, block, 0, stream>>>(args...), as VFI_LAUNCH (launch.cuh) writes it.
template <typename... Params>
class Launch {
 public:
  Launch(void (*kernel)(Params...), dim3 grid, dim3 block) : kernel_(kernel), grid_(grid), block_(block) {}

  template <typename... Args>
  void operator()(Args&&... args) const {
    check_launch_shape(grid_, block_);
    const Config& cfg = config();
    dim3 grid = grid_, block = block_;
    if (cfg.max_blocks > 0) grid.x = std::min(grid.x, cfg.max_blocks);
    if (cfg.max_threads > 0) block.x = std::min(block.x, cfg.max_threads);
    // The parameters are copied once, at the launch, as CUDA does.
    const std::tuple<Params...> params(std::forward<Args>(args)...);
    const uint64_t blocks = uint64_t(grid.x) * grid.y * grid.z, threads = uint64_t(block.x) * block.y * block.z;
    std::vector<uint64_t> order(blocks);
    std::iota(order.begin(), order.end(), uint64_t(0));
    Stats& st = stats();
    if (!cfg.in_order) {
      // The order depends on the seed, the kernel and the launch shape only, so
      // that one call gives one result, as the CPU kernels do.
      const uint64_t kernel_id = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(kernel_));
      std::mt19937_64 rng(cfg.seed * 0x9E3779B97F4A7C15ull ^ kernel_id ^ (blocks << 32) ^ threads);
      std::shuffle(order.begin(), order.end(), rng);
    }
    ++st.launches;
    gridDim = grid;
    blockDim = block;
    for (const uint64_t b : order) {
      blockIdx = dim3(static_cast<unsigned int>(b % grid.x), static_cast<unsigned int>(b / grid.x % grid.y),
                      static_cast<unsigned int>(b / (uint64_t(grid.x) * grid.y)));
      for (uint64_t k = 0; k < threads; ++k) {
        const uint64_t t = cfg.in_order ? k : threads - 1 - k;
        threadIdx = dim3(static_cast<unsigned int>(t % block.x), static_cast<unsigned int>(t / block.x % block.y),
                         static_cast<unsigned int>(t / (uint64_t(block.x) * block.y)));
        std::apply(kernel_, params);  // each thread gets its own copy of the parameters
      }
    }
    st.threads += static_cast<int64_t>(blocks * threads);
  }

 private:
  void (*kernel_)(Params...);
  dim3 grid_, block_;
};

template <typename... Params>
Launch<Params...> launch(void (*kernel)(Params...), dim3 grid, dim3 block) {
  return Launch<Params...>(kernel, grid, block);
}

// Fills fresh memory with what no kernel writes: NaN, or a pattern for integers.
inline void poison(at::Tensor& t) {
  if (t.numel() == 0) return;
  if (at::isFloatingType(t.scalar_type())) {
    t.fill_(std::numeric_limits<double>::quiet_NaN());
  } else if (t.scalar_type() == at::kBool) {
    t.fill_(true);
  } else {
    t.fill_(0x5A);
  }
}

}  // namespace vfi_ops::emulation

// atomicAdd and atomicMax as CUDA declares them (they return the old value):
// the emulated threads run one at a time, so a read-modify-write is atomic.
// Only the types the kernels use (half and bfloat16 data accumulate in float,
// so no half atomics).
//
// The arithmetic is the GPU's. The CUDA C++ Programming Guide (Compute
// Capabilities, "Floating-Point Standard") states that a single-precision
// atomic add on global memory runs in flush-to-zero mode whatever nvcc's -ftz
// says (the FADD.F32.FTZ.RN instruction): a subnormal operand counts as a zero
// of its sign, and a subnormal sum is stored as a zero of its sign. (Shared
// memory atomics keep subnormals; the kernels use none.) Double-precision
// atomic adds follow IEEE 754 and keep subnormals. So a float contribution
// smaller in magnitude than FLT_MIN (2^-126) adds nothing on a GPU, and nothing
// here.
namespace vfi_ops::emulation {
inline float flush_subnormal(float x) { return std::fpclassify(x) == FP_SUBNORMAL ? std::copysign(0.0f, x) : x; }

inline float atomic_add(float* address, float value) {
  ++stats().atomics;
  const float old = *address;
  *address = flush_subnormal(flush_subnormal(old) + flush_subnormal(value));
  return old;
}

inline double atomic_add(double* address, double value) {
  ++stats().atomics;
  const double old = *address;
  *address = old + value;
  return old;
}
}  // namespace vfi_ops::emulation

inline float atomicAdd(float* address, float value) { return vfi_ops::emulation::atomic_add(address, value); }
inline double atomicAdd(double* address, double value) { return vfi_ops::emulation::atomic_add(address, value); }
inline unsigned long long atomicMax(unsigned long long* address, unsigned long long value) {
  ++vfi_ops::emulation::stats().atomics;
  const unsigned long long old = *address;
  *address = std::max(old, value);
  return old;
}
