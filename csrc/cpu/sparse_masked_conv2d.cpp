// sparse_masked_conv2d: CPU data movement for the shared driver
// (sparse_masked_conv2d_driver.h); the index math is in sparse_masked_conv2d_math.h.
//
// Each call first lists, for every active position of the chunk, the offsets it
// reads and writes (of channel 0). NCHW: the loops then move one matrix row (one
// channel, one tap) at a time through those offsets, which vectorises as
// gathers. NHWC: each position's tap is a run of channels, moved as a block.
// Tasks own matrix rows, positions, or input channels, so nothing is written by
// two threads and every result is independent of the thread count.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cpu/partition.h"
#include "cpu/simd.h"
#include "sparse_masked_conv2d_math.h"
#include "sparse_masked_conv2d_driver.h"
#include "index_width.h"

namespace vfi_ops {
namespace {

// Where the chunk's positions read and write: for position j,
//   tap[t * n + j]  offset in input of tap t (= ky * kw + kx) for channel 0, or -1 in the padding;
//   out[j]          offset in output of channel 0.
// Channel c adds c * H * W (input) or c * H_out * W_out (output) in NCHW, c in NHWC.
template <typename index_t>
struct ChunkOffsets {
  std::vector<index_t> tap, out;
};

template <typename index_t>
ChunkOffsets<index_t> offsets_of(const at::Tensor& active, const SparseConvShape& s, bool with_taps) {
  const auto g = s.geometry<index_t>();
  const int64_t* flat = active.const_data_ptr<int64_t>();
  const int64_t n = active.size(0), taps = int64_t(s.kh) * s.kw;
  ChunkOffsets<index_t> o;
  o.out.resize(n);
  if (with_taps) o.tap.resize(taps * n);
  parallel_for_shared(0, n, rows_per_task(taps), [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      const auto p = output_position(flat[j], g);
      o.out[j] = output_offset(index_t(0), p, g);
      if (!with_taps) continue;
      for (int ky = 0; ky < s.kh; ++ky) {
        for (int kx = 0; kx < s.kw; ++kx) o.tap[(ky * s.kw + kx) * n + j] = patch_offset_at(p, index_t(0), ky, kx, g);
      }
    }
  });
  return o;
}

// dst[j] = plane[offset[j]], or 0 where offset[j] < 0.
template <typename scalar_t, typename index_t>
VFI_CPU_SIMD void gather_taps(const scalar_t* __restrict__ plane, const index_t* __restrict__ offset, int64_t n,
                              scalar_t* __restrict__ dst) {
  for (int64_t j = 0; j < n; ++j) {
    const index_t o = offset[j];
    const scalar_t v = plane[o >= 0 ? o : 0];  // an unconditional load, so the loop vectorises
    dst[j] = o >= 0 ? v : scalar_t(0);
  }
}

// The scatter has no vector instruction (AVX2), so blocks of kBlock positions
// side by side along a row (consecutive offsets) are added as one vector.
constexpr int64_t kBlock = 8;

template <typename index_t>
inline bool consecutive_block(const index_t* offset) {
  bool same = offset[0] >= 0;
  for (int64_t i = 1; i < kBlock; ++i) same &= offset[i] == offset[0] + i;
  return same;
}

// plane[offset[j]] += src[j] where offset[j] >= 0: the transpose of gather_taps
// (the offsets of one tap are distinct, so the adds never collide).
template <typename scalar_t, typename index_t>
VFI_CPU_SIMD void scatter_add_taps(const scalar_t* __restrict__ src, const index_t* __restrict__ offset, int64_t n,
                                   scalar_t* __restrict__ plane) {
  int64_t j = 0;
  for (; j + kBlock <= n; j += kBlock) {
    if (consecutive_block(offset + j)) {
      scalar_t* dst = plane + offset[j];
      for (int64_t i = 0; i < kBlock; ++i) dst[i] += src[j + i];
    } else {
      for (int64_t i = j; i < j + kBlock; ++i) {
        if (offset[i] >= 0) plane[offset[i]] += src[i];
      }
    }
  }
  for (; j < n; ++j) {
    if (offset[j] >= 0) plane[offset[j]] += src[j];
  }
}

template <typename Fn>
void with_cpu_index_type(const SparseConvShape& s, Fn&& fn) {
  with_index_type(fits_int32({s.B * s.C_in * s.H * s.W, s.B * s.C_out * s.H_out * s.W_out}), fn);
}

// dst[0, len) = src[0, len), or zeros where src is null (a tap in the padding).
template <typename scalar_t>
VFI_CPU_SIMD void copy_run(const scalar_t* __restrict__ src, int64_t len, scalar_t* __restrict__ dst) {
  if (src == nullptr) {
    for (int64_t c = 0; c < len; ++c) dst[c] = scalar_t(0);
  } else {
    for (int64_t c = 0; c < len; ++c) dst[c] = src[c];
  }
}

// dst[c] = src[c] (+ bias[c]) for c in [0, len).
template <typename scalar_t>
VFI_CPU_SIMD void copy_run_plus(const scalar_t* __restrict__ src, const scalar_t* __restrict__ bias, int64_t len,
                                scalar_t* __restrict__ dst) {
  if (bias == nullptr) {
    for (int64_t c = 0; c < len; ++c) dst[c] = src[c];
  } else {
    for (int64_t c = 0; c < len; ++c) dst[c] = src[c] + bias[c];
  }
}

template <typename scalar_t>
VFI_CPU_SIMD void add_run(const scalar_t* __restrict__ src, int64_t len, scalar_t* __restrict__ dst) {
  for (int64_t c = 0; c < len; ++c) dst[c] += src[c];
}

struct CpuKernels {
  // Backward: a chunk's patch matrix (4 MiB in float32) stays in cache between its gather and its GEMMs.
  static int64_t patch_budget() { return int64_t(1) << 20; }
  // Measured crossover (64 -> 64 3x3, 2 threads): 50-65% active for the forward, 65-75% with the backward.
  static constexpr double kDenseAbove = 0.6;
  static constexpr bool kAtomicInputGrad = false;

  static void check_dtype(const char* op, const at::Tensor& input) { check_cpu_dtype(op, input); }
  static at::Tensor empty(at::IntArrayRef sizes, const at::TensorOptions& options) { return at::empty(sizes, options); }

  // Forward: each thread runs whole chunks (gather, single-threaded GEMM,
  // scatter), small enough for its L2 cache, and at least 8 of them when there
  // is enough work to share. Sizes never depend on the thread count, so neither
  // do the results.
  static int64_t forward_budget(int64_t total) {
    return std::min<int64_t>(int64_t(1) << 17, std::max<int64_t>(int64_t(1) << 13, (total + 7) / 8));
  }
  // The threads take chunks one at a time from a shared counter (not a fixed
  // share each, see parallel_for_shared): each chunk writes its own output
  // positions, so the results do not depend on who takes what.
  template <typename Fn>
  static void for_chunk_ranges(int64_t chunks, Fn&& fn) {
    // Worker threads start without the caller's thread-local state (below
    // autograd, grad mode, profiler); the GEMMs they call need it.
    const at::ThreadLocalState state;
    parallel_for_shared(0, chunks, 1, [&](int64_t first, int64_t last) {
      const at::ThreadLocalStateGuard guard(state);
      fn(first, last);
    });
  }

  // NCHW: tasks own rows k = ci * taps + t of the patch matrix.
  // NHWC: tasks own positions j; row j holds each group's taps, each a run of its channels.
  static void gather_patches(const at::Tensor& input, const at::Tensor& active, const SparseConvShape& s,
                             at::Tensor& cols) {
    const int64_t n = active.size(0), taps = int64_t(s.kh) * s.kw, plane = s.H * s.W, K = s.patch_rows();
    const int64_t C_g = s.C_in / s.groups;
    AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "sparse_masked_conv2d_gather_patches", [&] {
      with_cpu_index_type(s, [&](auto index_zero) {
        using index_t = decltype(index_zero);
        const auto o = offsets_of<index_t>(active, s, true);
        const scalar_t* in = input.const_data_ptr<scalar_t>();
        scalar_t* out = cols.mutable_data_ptr<scalar_t>();
        if (s.channels_last) {
          parallel_for_shared(0, n, rows_per_task(K), [&](int64_t begin, int64_t end) {
            for (int64_t j = begin; j < end; ++j) {
              for (int64_t group = 0; group < s.groups; ++group) {
                for (int64_t t = 0; t < taps; ++t) {
                  const index_t offset = o.tap[t * n + j];
                  copy_run(offset >= 0 ? in + offset + group * C_g : nullptr, C_g,
                           out + j * K + nhwc_patch_row<int64_t>(group, t, 0, taps, C_g));
                }
              }
            }
          });
          return;
        }
        parallel_for_shared(0, K, rows_per_task(n), [&](int64_t begin, int64_t end) {
          for (int64_t k = begin; k < end; ++k) {
            gather_taps(in + (k / taps) * plane, o.tap.data() + (k % taps) * n, n, out + k * n);
          }
        });
      });
    });
  }

  // Tasks own input channels ci (all batch items): within a row of grad_cols the
  // positions read distinct input pixels, and only rows of ci write to channel ci.
  static void scatter_patches_add(const at::Tensor& grad_cols, const at::Tensor& active, const SparseConvShape& s,
                                  at::Tensor& grad_input) {
    const int64_t n = active.size(0), taps = int64_t(s.kh) * s.kw, plane = s.H * s.W, K = s.patch_rows();
    const int64_t C_g = s.C_in / s.groups;
    AT_DISPATCH_FLOATING_TYPES(grad_input.scalar_type(), "sparse_masked_conv2d_scatter_patches", [&] {
      with_cpu_index_type(s, [&](auto index_zero) {
        using index_t = decltype(index_zero);
        const auto o = offsets_of<index_t>(active, s, true);
        const scalar_t* src = grad_cols.const_data_ptr<scalar_t>();
        scalar_t* grad = grad_input.mutable_data_ptr<scalar_t>();
        parallel_for_shared(0, s.C_in, rows_per_task(taps * n), [&](int64_t begin, int64_t end) {
          if (!s.channels_last) {
            for (int64_t ci = begin; ci < end; ++ci) {
              for (int64_t t = 0; t < taps; ++t) {
                scatter_add_taps(src + (ci * taps + t) * n, o.tap.data() + t * n, n, grad + ci * plane);
              }
            }
            return;
          }
          // The task's channels, split at group boundaries into runs [c, c_end).
          for (int64_t c = begin; c < end;) {
            const int64_t group = c / C_g, c_end = std::min(end, (group + 1) * C_g);
            for (int64_t j = 0; j < n; ++j) {
              for (int64_t t = 0; t < taps; ++t) {
                const index_t offset = o.tap[t * n + j];
                if (offset < 0) continue;
                add_run(src + j * K + nhwc_patch_row<int64_t>(group, t, c - group * C_g, taps, C_g), c_end - c,
                        grad + offset + c);
              }
            }
            c = c_end;
          }
        });
      });
    });
  }

  // NCHW: tasks own output channels. NHWC: tasks own positions.
  static void scatter_rows(const at::Tensor& values, const at::Tensor& bias, const at::Tensor& active,
                           const SparseConvShape& s, at::Tensor& output) {
    const int64_t n = active.size(0), plane = s.H_out * s.W_out, C = s.C_out;
    AT_DISPATCH_FLOATING_TYPES(output.scalar_type(), "sparse_masked_conv2d_scatter_rows", [&] {
      with_cpu_index_type(s, [&](auto index_zero) {
        using index_t = decltype(index_zero);
        const auto o = offsets_of<index_t>(active, s, false);
        const scalar_t* v = values.const_data_ptr<scalar_t>();
        const scalar_t* bias_data = bias.defined() ? bias.const_data_ptr<scalar_t>() : nullptr;
        scalar_t* out = output.mutable_data_ptr<scalar_t>();
        if (s.channels_last) {
          parallel_for_shared(0, n, rows_per_task(C), [&](int64_t begin, int64_t end) {
            for (int64_t j = begin; j < end; ++j) copy_run_plus(v + j * C, bias_data, C, out + o.out[j]);
          });
          return;
        }
        parallel_for_shared(0, C, rows_per_task(n), [&](int64_t begin, int64_t end) {
          for (int64_t c = begin; c < end; ++c) {
            scalar_t* dst = out + c * plane;
            const scalar_t* src = v + c * n;
            if (bias_data != nullptr) {
              for (int64_t j = 0; j < n; ++j) dst[o.out[j]] = src[j] + bias_data[c];
            } else {
              for (int64_t j = 0; j < n; ++j) dst[o.out[j]] = src[j];
            }
          }
        });
      });
    });
  }

  // NCHW: tasks own output channels. NHWC: tasks own positions.
  static void gather_rows(const at::Tensor& grad_output, const at::Tensor& active, const SparseConvShape& s,
                          at::Tensor& rows) {
    const int64_t n = active.size(0), plane = s.H_out * s.W_out, C = s.C_out;
    AT_DISPATCH_FLOATING_TYPES(grad_output.scalar_type(), "sparse_masked_conv2d_gather_rows", [&] {
      with_cpu_index_type(s, [&](auto index_zero) {
        using index_t = decltype(index_zero);
        const auto o = offsets_of<index_t>(active, s, false);
        const scalar_t* grad = grad_output.const_data_ptr<scalar_t>();
        scalar_t* out = rows.mutable_data_ptr<scalar_t>();
        if (s.channels_last) {
          parallel_for_shared(0, n, rows_per_task(C), [&](int64_t begin, int64_t end) {
            for (int64_t j = begin; j < end; ++j) copy_run(grad + o.out[j], C, out + j * C);
          });
          return;
        }
        parallel_for_shared(0, C, rows_per_task(n), [&](int64_t begin, int64_t end) {
          for (int64_t c = begin; c < end; ++c) {
            const scalar_t* src = grad + c * plane;
            for (int64_t j = 0; j < n; ++j) out[c * n + j] = src[o.out[j]];
          }
        });
      });
    });
  }
};

}  // namespace

TORCH_LIBRARY_IMPL(vfi_ops, CPU, m) {
  m.impl("sparse_masked_conv2d", &sparse_masked_conv2d_forward<CpuKernels>);
  m.impl("sparse_masked_conv2d.out", &sparse_masked_conv2d_forward_out<CpuKernels>);
  m.impl("sparse_masked_conv2d_backward", &sparse_masked_conv2d_backward<CpuKernels>);
}

}  // namespace vfi_ops
