// sparse_masked_conv2d: CUDA data movement for the shared driver
// (sparse_masked_conv2d_driver.h); the index math is in sparse_masked_conv2d_math.h.
//
// One thread per element of the moved matrix (patch row k or channel c, active
// position j), in the matrix's order: j fastest for NCHW, the row (channels)
// fastest for NHWC, so that neighbouring threads touch neighbouring memory.
// The matrices are in float for float16/bfloat16 inputs (converted on the
// gathers and scatters). The input gradient is scattered with atomic adds,
// whose order varies from run to run; under deterministic mode the driver
// takes the dense route instead.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include <tuple>

#include "cuda/launch.cuh"
#include "sparse_masked_conv2d_math.h"
#include "sparse_masked_conv2d_driver.h"
#include "index_width.h"

namespace vfi_ops {
namespace {

// The matrices are in acc_t, the accumulation type (float for float16/bfloat16).
template <typename scalar_t, typename acc_t, typename index_t>
__global__ void gather_patches_kernel(const scalar_t* __restrict__ input, const int64_t* __restrict__ active, index_t n,
                                      index_t total, ConvGeometry<index_t> g, acc_t* __restrict__ cols) {
  const index_t K = total / n;
  VFI_GRID_STRIDE_LOOP(i, total) {
    const auto e = matrix_entry(i, K, n, g.channels_last);
    const index_t offset = patch_offset(e.row, output_position(active[e.j], g), g);
    cols[i] = offset >= 0 ? static_cast<acc_t>(input[offset]) : acc_t(0);
  }
}

template <typename acc_t, typename index_t>
__global__ void scatter_patches_add_kernel(const acc_t* __restrict__ grad_cols, const int64_t* __restrict__ active,
                                           index_t n, index_t total, ConvGeometry<index_t> g,
                                           acc_t* __restrict__ grad_input) {
  const index_t K = total / n;
  VFI_GRID_STRIDE_LOOP(i, total) {
    const auto e = matrix_entry(i, K, n, g.channels_last);
    const index_t offset = patch_offset(e.row, output_position(active[e.j], g), g);
    if (offset >= 0) atomicAdd(grad_input + offset, grad_cols[i]);
  }
}

template <typename scalar_t, typename acc_t, typename index_t>
__global__ void scatter_rows_kernel(const acc_t* __restrict__ values, const scalar_t* __restrict__ bias,
                                    const int64_t* __restrict__ active, index_t n, index_t total,
                                    ConvGeometry<index_t> g, scalar_t* __restrict__ output) {
  VFI_GRID_STRIDE_LOOP(i, total) {
    const auto e = matrix_entry(i, g.C_out, n, g.channels_last);
    const acc_t b = bias != nullptr ? static_cast<acc_t>(bias[e.row]) : acc_t(0);
    output[output_offset(e.row, output_position(active[e.j], g), g)] = static_cast<scalar_t>(values[i] + b);
  }
}

template <typename scalar_t, typename acc_t, typename index_t>
__global__ void gather_rows_kernel(const scalar_t* __restrict__ grad_output, const int64_t* __restrict__ active,
                                   index_t n, index_t total, ConvGeometry<index_t> g, acc_t* __restrict__ rows) {
  VFI_GRID_STRIDE_LOOP(i, total) {
    const auto e = matrix_entry(i, g.C_out, n, g.channels_last);
    rows[i] = static_cast<acc_t>(grad_output[output_offset(e.row, output_position(active[e.j], g), g)]);
  }
}

// Calls fn(index_zero) with the narrowest index type that covers every tensor the kernels index.
template <typename Fn>
void with_sparse_conv_index_type(const SparseConvShape& s, int64_t n, Fn&& fn) {
  with_index_type(
      fits_int32({s.B * s.C_in * s.H * s.W, s.B * s.C_out * s.H_out * s.W_out, s.patch_rows() * n, s.C_out * n}), fn);
}

struct CudaKernels {
  // cuDNN's implicit GEMM needs no patch matrix, so it wins sooner than on CPU.
  static constexpr double kDenseAbove = 0.5;
  static constexpr bool kAtomicInputGrad = true;

  static void check_dtype(const char*, const at::Tensor&) {}  // all floating types
  static at::Tensor empty(at::IntArrayRef sizes, const at::TensorOptions& options) {
    return uninitialized(sizes, options);
  }

  // 128 MiB of float32 patches per chunk: big GEMMs, bounded memory.
  static int64_t patch_budget() {
#ifdef VFI_OPS_EMULATED_CUDA
    if (emulation::config().patch_budget > 0) return emulation::config().patch_budget;  // many chunks on small inputs
#endif
    return int64_t(1) << 25;
  }
  // Forward: the chunks one after another, each with device-wide kernels.
  static int64_t forward_budget(int64_t) { return patch_budget(); }
  template <typename Fn>
  static void for_chunk_ranges(int64_t chunks, Fn&& fn) {
    fn(int64_t(0), chunks);
  }

  // cols (acc) = the patches of input (scalar_t).
  static void gather_patches(const at::Tensor& input, const at::Tensor& active, const SparseConvShape& s,
                             at::Tensor& cols) {
    const int64_t n = active.size(0), total = cols.numel();
    const auto stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(
        at::kHalf, at::kBFloat16, input.scalar_type(), "sparse_masked_conv2d_gather_patches", [&] {
          using acc_t = at::opmath_type<scalar_t>;
          with_sparse_conv_index_type(s, n, [&](auto index_zero) {
            using index_t = decltype(index_zero);
            VFI_LAUNCH(grid_size(total), kThreads, stream, gather_patches_kernel<scalar_t, acc_t, index_t>)(
                input.const_data_ptr<scalar_t>(), active.const_data_ptr<int64_t>(), static_cast<index_t>(n),
                static_cast<index_t>(total), s.geometry<index_t>(), cols.mutable_data_ptr<acc_t>());
            C10_CUDA_KERNEL_LAUNCH_CHECK();
          });
        });
  }

  // grad_input (acc) += the transposed gather of grad_cols (acc).
  static void scatter_patches_add(const at::Tensor& grad_cols, const at::Tensor& active, const SparseConvShape& s,
                                  at::Tensor& grad_input) {
    const int64_t n = active.size(0), total = grad_cols.numel();
    const auto stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES(grad_cols.scalar_type(), "sparse_masked_conv2d_scatter_patches", [&] {
      with_sparse_conv_index_type(s, n, [&](auto index_zero) {
        using index_t = decltype(index_zero);
        VFI_LAUNCH(grid_size(total), kThreads, stream, scatter_patches_add_kernel<scalar_t, index_t>)(
            grad_cols.const_data_ptr<scalar_t>(), active.const_data_ptr<int64_t>(), static_cast<index_t>(n),
            static_cast<index_t>(total), s.geometry<index_t>(), grad_input.mutable_data_ptr<scalar_t>());
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
    });
  }

  // output (scalar_t) at the active positions = values (acc) + bias.
  static void scatter_rows(const at::Tensor& values, const at::Tensor& bias, const at::Tensor& active,
                           const SparseConvShape& s, at::Tensor& output) {
    const int64_t n = active.size(0), total = values.numel();
    const auto stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(
        at::kHalf, at::kBFloat16, output.scalar_type(), "sparse_masked_conv2d_scatter_rows", [&] {
          using acc_t = at::opmath_type<scalar_t>;
          with_sparse_conv_index_type(s, n, [&](auto index_zero) {
            using index_t = decltype(index_zero);
            VFI_LAUNCH(grid_size(total), kThreads, stream, scatter_rows_kernel<scalar_t, acc_t, index_t>)(
                values.const_data_ptr<acc_t>(), bias.defined() ? bias.const_data_ptr<scalar_t>() : nullptr,
                active.const_data_ptr<int64_t>(), static_cast<index_t>(n), static_cast<index_t>(total),
                s.geometry<index_t>(), output.mutable_data_ptr<scalar_t>());
            C10_CUDA_KERNEL_LAUNCH_CHECK();
          });
        });
  }

  // rows (acc) = grad_output (scalar_t) at the active positions.
  static void gather_rows(const at::Tensor& grad_output, const at::Tensor& active, const SparseConvShape& s,
                          at::Tensor& rows) {
    const int64_t n = active.size(0), total = rows.numel();
    const auto stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(
        at::kHalf, at::kBFloat16, grad_output.scalar_type(), "sparse_masked_conv2d_gather_rows", [&] {
          using acc_t = at::opmath_type<scalar_t>;
          with_sparse_conv_index_type(s, n, [&](auto index_zero) {
            using index_t = decltype(index_zero);
            VFI_LAUNCH(grid_size(total), kThreads, stream, gather_rows_kernel<scalar_t, acc_t, index_t>)(
                grad_output.const_data_ptr<scalar_t>(), active.const_data_ptr<int64_t>(), static_cast<index_t>(n),
                static_cast<index_t>(total), s.geometry<index_t>(), rows.mutable_data_ptr<acc_t>());
            C10_CUDA_KERNEL_LAUNCH_CHECK();
          });
        });
  }
};

}  // namespace

TORCH_LIBRARY_IMPL(VFI_OPS_LIBRARY, VFI_OPS_CUDA_KEY, m) {
  m.impl("sparse_masked_conv2d", &sparse_masked_conv2d_forward<CudaKernels>);
  m.impl("sparse_masked_conv2d.out", &sparse_masked_conv2d_forward_out<CudaKernels>);
  m.impl("sparse_masked_conv2d_backward", &sparse_masked_conv2d_backward<CudaKernels>);
}

}  // namespace vfi_ops
