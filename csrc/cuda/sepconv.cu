// sepconv: CUDA launchers. The math is in sepconv.h; every thread computes one
// value with n = 1 spans of it and owns what it writes:
// forward: one thread per output element (b, c, y, x);
// vertical / horizontal gradients: one thread per kernel element (b, i, y, x),
// summing over the channels;
// input gradient: one thread per input element (b, c, Y, X), gathering from the
// output pixels whose window covers it. No atomics: deterministic.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <tuple>

#include "cuda/launch.cuh"
#include "sepconv_math.h"
#include "sepconv_checks.h"
#include "index_width.h"

namespace vfi_ops {
namespace {

template <typename index_t>
struct Sizes {
  index_t B, C, H, W;  // output
  int K;
};

template <typename index_t>
Sizes<index_t> sizes_of(const at::Tensor& input, const at::Tensor& vertical, int K) {
  return {static_cast<index_t>(input.size(0)), static_cast<index_t>(input.size(1)),
          static_cast<index_t>(vertical.size(2)), static_cast<index_t>(vertical.size(3)), K};
}

template <typename scalar_t, typename index_t>
__global__ void forward_kernel(const scalar_t* __restrict__ input, const scalar_t* __restrict__ vertical,
                               const scalar_t* __restrict__ horizontal, scalar_t* __restrict__ out, Sizes<index_t> s) {
  using acc_t = at::opmath_type<scalar_t>;
  const index_t HW = s.H * s.W, Hin = s.H + s.K - 1, Win = s.W + s.K - 1;
  VFI_GRID_STRIDE_LOOP(i, s.B * s.C * HW) {
    const index_t x = i % s.W, y = (i / s.W) % s.H, bc = i / HW, b = bc / s.C;
    const index_t at = b * s.K * HW + y * s.W + x;
    acc_t tmp, sum;
    sepconv_forward_span<acc_t>(input + (bc * Hin + y) * Win + x, Win, vertical + at, horizontal + at, HW, s.K,
                                index_t(1), &tmp, &sum);
    out[i] = static_cast<scalar_t>(sum);
  }
}

// grad[b, k, y, x] for every k < K: vertical (horizontal pass of row k) or
// horizontal (vertical pass of column k).
template <typename scalar_t, typename index_t, bool vertical_grad>
__global__ void kernel_grad_kernel(const scalar_t* __restrict__ grad_out, const scalar_t* __restrict__ input,
                                   const scalar_t* __restrict__ vertical, const scalar_t* __restrict__ horizontal,
                                   scalar_t* __restrict__ grad, Sizes<index_t> s) {
  using acc_t = at::opmath_type<scalar_t>;
  const index_t HW = s.H * s.W, Hin = s.H + s.K - 1, Win = s.W + s.K - 1;
  VFI_GRID_STRIDE_LOOP(i, s.B * s.K * HW) {
    const index_t p = i % HW, x = p % s.W, y = p / s.W, bk = i / HW, b = bk / s.K;
    const int k = static_cast<int>(bk % s.K);
    const index_t at = b * s.K * HW + p;
    acc_t sum = acc_t(0);
    for (index_t c = 0; c < s.C; ++c) {
      const scalar_t* in = input + ((b * s.C + c) * Hin + y) * Win + x;
      acc_t pass;
      if (vertical_grad) {
        sepconv_horizontal_pass<acc_t>(in + k * Win, horizontal + at, HW, s.K, index_t(1), &pass);
      } else {
        sepconv_vertical_pass<acc_t>(in, Win, vertical + at, HW, s.K, k, index_t(1), &pass);
      }
      sepconv_kernel_grad_term(grad_out + (b * s.C + c) * HW + p, &pass, index_t(1), &sum);
    }
    grad[i] = static_cast<scalar_t>(sum);
  }
}

template <typename scalar_t, typename index_t>
__global__ void input_grad_kernel(const scalar_t* __restrict__ grad_out, const scalar_t* __restrict__ vertical,
                                  const scalar_t* __restrict__ horizontal, scalar_t* __restrict__ grad_input,
                                  Sizes<index_t> s) {
  using acc_t = at::opmath_type<scalar_t>;
  const index_t HW = s.H * s.W, Hin = s.H + s.K - 1, Win = s.W + s.K - 1;
  VFI_GRID_STRIDE_LOOP(e, s.B * s.C * Hin * Win) {
    const index_t X = e % Win, Y = (e / Win) % Hin, bc = e / (Hin * Win), b = bc / s.C;
    const index_t i_lo = Y - (s.H - 1) > 0 ? Y - (s.H - 1) : index_t(0);
    const index_t i_hi = Y < index_t(s.K - 1) ? Y : index_t(s.K - 1);
    acc_t sum = acc_t(0);
    for (index_t i = i_lo; i <= i_hi; ++i) {
      const index_t y = Y - i;
      sepconv_input_grad_row(grad_out + bc * HW + y * s.W, vertical + (b * s.K + i) * HW + y * s.W,
                             horizontal + b * s.K * HW + y * s.W, HW, s.K, s.W, X, index_t(1), &sum);
    }
    grad_input[e] = static_cast<scalar_t>(sum);
  }
}

at::Tensor sepconv_cuda(const at::Tensor& input_, const at::Tensor& vertical_, const at::Tensor& horizontal_) {
  const int K = check_sepconv_args("sepconv", input_, vertical_, horizontal_);
  const c10::cuda::CUDAGuard guard(input_.device());
  const at::Tensor input = input_.contiguous();
  const at::Tensor vertical = vertical_.contiguous();
  const at::Tensor horizontal = horizontal_.contiguous();
  at::Tensor out = uninitialized({input.size(0), input.size(1), vertical.size(2), vertical.size(3)}, input.options());
  if (out.numel() == 0) return out;
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "sepconv_cuda", [&] {
    with_index_type(fits_int32({input.numel(), vertical.numel(), out.numel()}), [&](auto index_zero) {
      using index_t = decltype(index_zero);
      VFI_LAUNCH(grid_size(out.numel()), kThreads, stream, forward_kernel<scalar_t, index_t>)(
          input.const_data_ptr<scalar_t>(), vertical.const_data_ptr<scalar_t>(), horizontal.const_data_ptr<scalar_t>(),
          out.mutable_data_ptr<scalar_t>(), sizes_of<index_t>(input, vertical, K));
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> sepconv_backward_cuda(const at::Tensor& grad_output_,
                                                                     const at::Tensor& input_,
                                                                     const at::Tensor& vertical_,
                                                                     const at::Tensor& horizontal_,
                                                                     std::array<bool, 3> output_mask) {
  const int K = check_sepconv_backward_args(grad_output_, input_, vertical_, horizontal_);
  const c10::cuda::CUDAGuard guard(input_.device());
  const at::Tensor grad_output = grad_output_.contiguous();
  const at::Tensor input = input_.contiguous();
  const at::Tensor vertical = vertical_.contiguous();
  const at::Tensor horizontal = horizontal_.contiguous();
  // Every element of a requested gradient is written by its thread (zeros where
  // no output pixel reaches it); nothing to write when there is no output.
  const bool empty = grad_output.numel() == 0;
  auto make = [&](bool needed, const at::Tensor& like) {
    if (!needed) return at::empty({0}, like.options());
    return empty ? at::zeros(like.sizes(), like.options()) : uninitialized(like.sizes(), like.options());
  };
  at::Tensor grad_input = make(output_mask[0], input);
  at::Tensor grad_vertical = make(output_mask[1], vertical);
  at::Tensor grad_horizontal = make(output_mask[2], horizontal);
  if (empty) return {grad_input, grad_vertical, grad_horizontal};
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "sepconv_backward_cuda", [&] {
    with_index_type(fits_int32({input.numel(), vertical.numel(), grad_output.numel()}), [&](auto index_zero) {
      using index_t = decltype(index_zero);
      const Sizes<index_t> s = sizes_of<index_t>(input, vertical, K);
      const scalar_t* g = grad_output.const_data_ptr<scalar_t>();
      const scalar_t* in = input.const_data_ptr<scalar_t>();
      const scalar_t* v = vertical.const_data_ptr<scalar_t>();
      const scalar_t* h = horizontal.const_data_ptr<scalar_t>();
      if (output_mask[0]) {
        VFI_LAUNCH(grid_size(input.numel()), kThreads, stream, input_grad_kernel<scalar_t, index_t>)(
            g, v, h, grad_input.mutable_data_ptr<scalar_t>(), s);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      }
      if (output_mask[1]) {
        VFI_LAUNCH(grid_size(vertical.numel()), kThreads, stream, kernel_grad_kernel<scalar_t, index_t, true>)(
            g, in, v, h, grad_vertical.mutable_data_ptr<scalar_t>(), s);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      }
      if (output_mask[2]) {
        VFI_LAUNCH(grid_size(horizontal.numel()), kThreads, stream, kernel_grad_kernel<scalar_t, index_t, false>)(
            g, in, v, h, grad_horizontal.mutable_data_ptr<scalar_t>(), s);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      }
    });
  });
  return {grad_input, grad_vertical, grad_horizontal};
}

}  // namespace

TORCH_LIBRARY_IMPL(VFI_OPS_LIBRARY, VFI_OPS_CUDA_KEY, m) {
  m.impl("sepconv", &sepconv_cuda);
  m.impl("sepconv_backward", &sepconv_backward_cuda);
}

}  // namespace vfi_ops
