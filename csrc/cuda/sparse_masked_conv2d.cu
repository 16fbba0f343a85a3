// sparse_masked_conv2d: CUDA data movement for the shared driver
// (sparse_masked_conv2d_driver.h); the index math is in sparse_masked_conv2d.h.
//
// One thread per element of the moved matrix (patch row k or channel c, active
// position j), in the matrix's order: j fastest for NCHW, the row (channels)
// fastest for NHWC, so that neighbouring threads touch neighbouring memory.
// The input gradient is scattered with atomic adds (in float for
// float16/bfloat16), whose order varies from run to run; under deterministic
// mode the driver takes the dense route instead.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <tuple>

#include "cuda/launch.cuh"
#include "sparse_masked_conv2d.h"
#include "sparse_masked_conv2d_driver.h"

namespace vfi_ops {
namespace {

template <typename scalar_t, typename index_t>
__global__ void gather_patches_kernel(const scalar_t* __restrict__ input, const int64_t* __restrict__ active,
                                      index_t n, index_t total, ConvGeometry<index_t> g, scalar_t* __restrict__ cols) {
  const index_t K = total / n;
  VFI_GRID_STRIDE_LOOP(i, total) {
    const auto e = matrix_entry(i, K, n, g.channels_last);
    const index_t offset = patch_offset(e.row, output_position(active[e.j], g), g);
    cols[i] = offset >= 0 ? input[offset] : scalar_t(0);
  }
}

template <typename scalar_t, typename acc_t, typename index_t>
__global__ void scatter_patches_add_kernel(const scalar_t* __restrict__ grad_cols,
                                           const int64_t* __restrict__ active, index_t n, index_t total,
                                           ConvGeometry<index_t> g, acc_t* __restrict__ grad_input) {
  const index_t K = total / n;
  VFI_GRID_STRIDE_LOOP(i, total) {
    const auto e = matrix_entry(i, K, n, g.channels_last);
    const index_t offset = patch_offset(e.row, output_position(active[e.j], g), g);
    if (offset >= 0) atomicAdd(grad_input + offset, static_cast<acc_t>(grad_cols[i]));
  }
}

template <typename scalar_t, typename index_t>
__global__ void scatter_rows_kernel(const scalar_t* __restrict__ values, const scalar_t* __restrict__ bias,
                                    const int64_t* __restrict__ active, index_t n, index_t total,
                                    ConvGeometry<index_t> g, scalar_t* __restrict__ output) {
  using acc_t = at::opmath_type<scalar_t>;
  VFI_GRID_STRIDE_LOOP(i, total) {
    const auto e = matrix_entry(i, g.C_out, n, g.channels_last);
    const acc_t b = bias != nullptr ? static_cast<acc_t>(bias[e.row]) : acc_t(0);
    output[output_offset(e.row, output_position(active[e.j], g), g)] =
        static_cast<scalar_t>(static_cast<acc_t>(values[i]) + b);
  }
}

template <typename scalar_t, typename index_t>
__global__ void gather_rows_kernel(const scalar_t* __restrict__ grad_output, const int64_t* __restrict__ active,
                                   index_t n, index_t total, ConvGeometry<index_t> g,
                                   scalar_t* __restrict__ rows) {
  VFI_GRID_STRIDE_LOOP(i, total) {
    const auto e = matrix_entry(i, g.C_out, n, g.channels_last);
    rows[i] = grad_output[output_offset(e.row, output_position(active[e.j], g), g)];
  }
}

// Calls fn(index_zero) with the narrowest index type that covers every tensor the kernels index.
template <typename Fn>
void with_sparse_conv_index_type(const SparseConvShape& s, int64_t n, Fn&& fn) {
  with_index_type(fits_int32({s.B * s.C_in * s.H * s.W, s.B * s.C_out * s.H_out * s.W_out, s.patch_rows() * n,
                              s.C_out * n}),
                  fn);
}

struct CudaKernels {
  // 128 MiB of float32 patches per chunk: big GEMMs, bounded memory.
  static constexpr int64_t kPatchBudget = int64_t(1) << 25;
  // cuDNN's implicit GEMM needs no patch matrix, so it wins sooner than on CPU.
  static constexpr double kDenseAbove = 0.5;
  static constexpr bool kAtomicInputGrad = true;

  static void check_dtype(const char*, const at::Tensor&) {}  // all floating types

  // Forward: the chunks one after another, each with device-wide kernels.
  static int64_t forward_budget(int64_t) { return kPatchBudget; }
  template <typename Fn>
  static void for_chunk_ranges(int64_t chunks, Fn&& fn) {
    fn(int64_t(0), chunks);
  }

  static void gather_patches(const at::Tensor& input, const at::Tensor& active, const SparseConvShape& s,
                             at::Tensor& cols) {
    const int64_t n = active.size(0), total = cols.numel();
    const auto stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "sparse_masked_conv2d_gather_patches", [&] {
      with_sparse_conv_index_type(s, n, [&](auto index_zero) {
        using index_t = decltype(index_zero);
        gather_patches_kernel<scalar_t, index_t><<<grid_size(total), kThreads, 0, stream>>>(
            input.const_data_ptr<scalar_t>(), active.const_data_ptr<int64_t>(), static_cast<index_t>(n),
            static_cast<index_t>(total), s.geometry<index_t>(), cols.mutable_data_ptr<scalar_t>());
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
    });
  }

  static void scatter_patches_add(const at::Tensor& grad_cols, const at::Tensor& active, const SparseConvShape& s,
                                  at::Tensor& grad_input) {
    const int64_t n = active.size(0), total = grad_cols.numel();
    const auto stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad_cols.scalar_type(), "sparse_masked_conv2d_scatter_patches", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      with_sparse_conv_index_type(s, n, [&](auto index_zero) {
        using index_t = decltype(index_zero);
        scatter_patches_add_kernel<scalar_t, acc_t, index_t><<<grid_size(total), kThreads, 0, stream>>>(
            grad_cols.const_data_ptr<scalar_t>(), active.const_data_ptr<int64_t>(), static_cast<index_t>(n),
            static_cast<index_t>(total), s.geometry<index_t>(), grad_input.mutable_data_ptr<acc_t>());
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
    });
  }

  static void scatter_rows(const at::Tensor& values, const at::Tensor& bias, const at::Tensor& active,
                           const SparseConvShape& s, at::Tensor& output) {
    const int64_t n = active.size(0), total = values.numel();
    const auto stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, output.scalar_type(), "sparse_masked_conv2d_scatter_rows", [&] {
      with_sparse_conv_index_type(s, n, [&](auto index_zero) {
        using index_t = decltype(index_zero);
        scatter_rows_kernel<scalar_t, index_t><<<grid_size(total), kThreads, 0, stream>>>(
            values.const_data_ptr<scalar_t>(), bias.defined() ? bias.const_data_ptr<scalar_t>() : nullptr,
            active.const_data_ptr<int64_t>(), static_cast<index_t>(n), static_cast<index_t>(total),
            s.geometry<index_t>(), output.mutable_data_ptr<scalar_t>());
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
    });
  }

  static void gather_rows(const at::Tensor& grad_output, const at::Tensor& active, const SparseConvShape& s,
                          at::Tensor& rows) {
    const int64_t n = active.size(0), total = rows.numel();
    const auto stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad_output.scalar_type(), "sparse_masked_conv2d_gather_rows", [&] {
      with_sparse_conv_index_type(s, n, [&](auto index_zero) {
        using index_t = decltype(index_zero);
        gather_rows_kernel<scalar_t, index_t><<<grid_size(total), kThreads, 0, stream>>>(
            grad_output.const_data_ptr<scalar_t>(), active.const_data_ptr<int64_t>(), static_cast<index_t>(n),
            static_cast<index_t>(total), s.geometry<index_t>(), rows.mutable_data_ptr<scalar_t>());
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
    });
  }
};

}  // namespace

TORCH_LIBRARY_IMPL(vfi_ops, CUDA, m) {
  m.impl("sparse_masked_conv2d", &sparse_masked_conv2d_forward<CudaKernels>);
  m.impl("sparse_masked_conv2d.out", &sparse_masked_conv2d_forward_out<CudaKernels>);
  m.impl("sparse_masked_conv2d_backward", &sparse_masked_conv2d_backward<CudaKernels>);
}

}  // namespace vfi_ops
