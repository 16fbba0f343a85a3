// adaptive_warp: CUDA launchers. The math is in adaptive_warp_math.h.
//
// Forward: one thread per output element (b, c, y, x). Backward: the input
// gradient is scattered by one thread per element with atomic adds; the tap
// products R_t = sum_c g_c I_c[offset_t] are computed by one thread per
// (b, tap, y, x), each owning its value (no atomics); one thread per pixel then
// turns them into the kernel and flow gradients.
#include <ATen/Context.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <tuple>

#include "adaptive_warp_math.h"
#include "adaptive_warp_checks.h"
#include "cuda/launch.cuh"
#include "index_width.h"

namespace vfi_ops {
namespace {

template <typename index_t>
struct Sizes {
  index_t B, C, H, W;
  int F;
};

template <typename index_t>
Sizes<index_t> sizes_of(const at::Tensor& input, int F) {
  return {static_cast<index_t>(input.size(0)), static_cast<index_t>(input.size(1)), static_cast<index_t>(input.size(2)),
          static_cast<index_t>(input.size(3)), F};
}

// The window of pixel p of batch item b.
template <typename acc_t, typename index_t, typename scalar_t>
__device__ AdaptiveWindow<acc_t, index_t> window_at(const scalar_t* flow, const Sizes<index_t>& s, index_t b,
                                                    index_t p) {
  const index_t HW = s.H * s.W;
  const acc_t u = static_cast<acc_t>(flow[2 * b * HW + p]), v = static_cast<acc_t>(flow[2 * b * HW + HW + p]);
  return adaptive_window<acc_t, index_t>(p % s.W, p / s.W, u, v, s.H, s.W, s.F);
}

// Calls fn(offset, w) for the F*F taps of pixel p of batch item b: out = sum w * plane[offset].
template <typename acc_t, typename index_t, typename scalar_t, typename Fn>
__device__ void for_each_tap(const scalar_t* flow, const scalar_t* kernel, const Sizes<index_t>& s, index_t b,
                             index_t p, Fn&& fn) {
  const index_t HW = s.H * s.W;
  const auto win = window_at<acc_t>(flow, s, b, p);
  acc_t bw[4];
  adaptive_blend_weights(win, bw);
  const scalar_t* k = kernel + b * s.F * s.F * HW + p;
  for (int m = 0; m < s.F; ++m) {
    for (int n = 0; n < s.F; ++n) {
      const acc_t k_t = static_cast<acc_t>(k[(m * s.F + n) * HW]);
      fn(adaptive_tap_offset(win, m, n, s.H, s.W),
         adaptive_tap_weight(win, bw[adaptive_quadrant(m, n, s.F)], k_t, m, n));
    }
  }
}

template <typename scalar_t, typename index_t>
__global__ void forward_kernel(const scalar_t* __restrict__ input, const scalar_t* __restrict__ flow,
                               const scalar_t* __restrict__ kernel, scalar_t* __restrict__ out, Sizes<index_t> s) {
  using acc_t = at::opmath_type<scalar_t>;
  const index_t HW = s.H * s.W;
  VFI_GRID_STRIDE_LOOP(i, s.B * s.C * HW) {
    const index_t p = i % HW, bc = i / HW;
    const scalar_t* plane = input + bc * HW;
    acc_t sum = acc_t(0);
    for_each_tap<acc_t>(flow, kernel, s, bc / s.C, p,
                        [&](index_t offset, acc_t w) { sum += w * static_cast<acc_t>(plane[offset]); });
    out[i] = static_cast<scalar_t>(sum);
  }
}

// grad_input_acc is float for half/bfloat16 inputs (accumulated in float, cast after).
template <typename scalar_t, typename index_t>
__global__ void input_grad_kernel(const scalar_t* __restrict__ grad_out, const scalar_t* __restrict__ flow,
                                  const scalar_t* __restrict__ kernel,
                                  at::opmath_type<scalar_t>* __restrict__ grad_input_acc, Sizes<index_t> s) {
  using acc_t = at::opmath_type<scalar_t>;
  const index_t HW = s.H * s.W;
  VFI_GRID_STRIDE_LOOP(i, s.B * s.C * HW) {
    const index_t p = i % HW, bc = i / HW;
    const acc_t g = static_cast<acc_t>(grad_out[i]);
    acc_t* plane = grad_input_acc + bc * HW;
    for_each_tap<acc_t>(flow, kernel, s, bc / s.C, p, [&](index_t offset, acc_t w) {
      if (w != acc_t(0)) atomicAdd(plane + offset, g * w);
    });
  }
}

// R[b, t, p] = sum_c grad_out[b, c, p] * input[b, c, offset_t(p)].
template <typename scalar_t, typename index_t>
__global__ void tap_products_kernel(const scalar_t* __restrict__ grad_out, const scalar_t* __restrict__ input,
                                    const scalar_t* __restrict__ flow, at::opmath_type<scalar_t>* __restrict__ R,
                                    Sizes<index_t> s) {
  using acc_t = at::opmath_type<scalar_t>;
  const index_t HW = s.H * s.W, taps = index_t(s.F) * s.F;
  VFI_GRID_STRIDE_LOOP(i, s.B * taps * HW) {
    const index_t p = i % HW, bt = i / HW, b = bt / taps, t = bt % taps;
    const auto win = window_at<acc_t>(flow, s, b, p);
    const index_t offset = adaptive_tap_offset(win, int(t / s.F), int(t % s.F), s.H, s.W);
    acc_t sum = acc_t(0);
    for (index_t c = 0; c < s.C; ++c) {
      const index_t plane = (b * s.C + c) * HW;
      sum += static_cast<acc_t>(grad_out[plane + p]) * static_cast<acc_t>(input[plane + offset]);
    }
    R[i] = sum;
  }
}

// Kernel and flow gradients of each pixel from its tap products.
template <typename scalar_t, typename index_t>
__global__ void finish_kernel(const at::opmath_type<scalar_t>* __restrict__ R, const scalar_t* __restrict__ flow,
                              const scalar_t* __restrict__ kernel, scalar_t* __restrict__ grad_flow,
                              scalar_t* __restrict__ grad_kernel, Sizes<index_t> s) {
  using acc_t = at::opmath_type<scalar_t>;
  const index_t HW = s.H * s.W, taps = index_t(s.F) * s.F;
  VFI_GRID_STRIDE_LOOP(i, s.B * HW) {
    const index_t p = i % HW, b = i / HW;
    const auto win = window_at<acc_t>(flow, s, b, p);
    acc_t bw[4], K[4] = {acc_t(0), acc_t(0), acc_t(0), acc_t(0)};
    adaptive_blend_weights(win, bw);
    for (int m = 0; m < s.F; ++m) {
      for (int n = 0; n < s.F; ++n) {
        const index_t idx = (b * taps + m * s.F + n) * HW + p;
        const int q = adaptive_quadrant(m, n, s.F);
        K[q] += adaptive_quadrant_term(static_cast<acc_t>(kernel[idx]), R[idx]);
        if (grad_kernel != nullptr) grad_kernel[idx] = static_cast<scalar_t>(adaptive_kernel_grad(bw[q], R[idx]));
      }
    }
    if (grad_flow != nullptr) {
      acc_t du, dv;
      adaptive_flow_grad(win, K, du, dv);
      grad_flow[2 * b * HW + p] = static_cast<scalar_t>(du);
      grad_flow[2 * b * HW + HW + p] = static_cast<scalar_t>(dv);
    }
  }
}

at::Tensor adaptive_warp_cuda(const at::Tensor& input_, const at::Tensor& flow_, const at::Tensor& kernel_) {
  const int F = check_adaptive_warp_args("adaptive_warp", input_, flow_, kernel_);
  const c10::cuda::CUDAGuard guard(input_.device());
  const at::Tensor input = input_.contiguous();
  const at::Tensor flow = flow_.contiguous();
  const at::Tensor kernel = kernel_.contiguous();
  at::Tensor out = uninitialized(input.sizes(), input.options());
  if (out.numel() == 0) return out;
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "adaptive_warp_cuda", [&] {
    with_index_type(fits_int32({input.numel(), kernel.numel()}), [&](auto index_zero) {
      using index_t = decltype(index_zero);
      VFI_LAUNCH(grid_size(input.numel()), kThreads, stream, forward_kernel<scalar_t, index_t>)(
          input.const_data_ptr<scalar_t>(), flow.const_data_ptr<scalar_t>(), kernel.const_data_ptr<scalar_t>(),
          out.mutable_data_ptr<scalar_t>(), sizes_of<index_t>(input, F));
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> adaptive_warp_backward_cuda(const at::Tensor& grad_output_,
                                                                           const at::Tensor& input_,
                                                                           const at::Tensor& flow_,
                                                                           const at::Tensor& kernel_,
                                                                           std::array<bool, 3> output_mask) {
  const int F = check_adaptive_warp_backward_args(grad_output_, input_, flow_, kernel_);
  if (output_mask[0]) {
    // The input gradient is scattered with atomic adds, whose order varies.
    at::globalContext().alertNotDeterministic("vfi_ops::adaptive_warp_backward (CUDA, gradient to input)");
  }
  const c10::cuda::CUDAGuard guard(input_.device());
  const at::Tensor grad_output = grad_output_.contiguous();
  const at::Tensor input = input_.contiguous();
  const at::Tensor flow = flow_.contiguous();
  const at::Tensor kernel = kernel_.contiguous();
  const auto acc_dtype = at::toOpMathType(input.scalar_type());
  at::Tensor grad_input_acc =
      output_mask[0] ? at::zeros(input.sizes(), input.options().dtype(acc_dtype)) : at::Tensor();
  // Zeros: with no channels, flow and kernel get zero gradients.
  at::Tensor grad_flow = output_mask[1] ? at::zeros(flow.sizes(), flow.options()) : at::empty({0}, flow.options());
  at::Tensor grad_kernel =
      output_mask[2] ? at::zeros(kernel.sizes(), kernel.options()) : at::empty({0}, kernel.options());
  const bool need_rest = output_mask[1] || output_mask[2];
  if (grad_output.numel() > 0 && (output_mask[0] || need_rest)) {
    const auto stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "adaptive_warp_backward_cuda", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      with_index_type(fits_int32({input.numel(), kernel.numel()}), [&](auto index_zero) {
        using index_t = decltype(index_zero);
        const Sizes<index_t> s = sizes_of<index_t>(input, F);
        if (output_mask[0]) {
          VFI_LAUNCH(grid_size(input.numel()), kThreads, stream, input_grad_kernel<scalar_t, index_t>)(
              grad_output.const_data_ptr<scalar_t>(), flow.const_data_ptr<scalar_t>(),
              kernel.const_data_ptr<scalar_t>(), grad_input_acc.mutable_data_ptr<acc_t>(), s);
          C10_CUDA_KERNEL_LAUNCH_CHECK();
        }
        if (need_rest) {
          at::Tensor R = uninitialized(kernel.sizes(), kernel.options().dtype(acc_dtype));
          VFI_LAUNCH(grid_size(kernel.numel()), kThreads, stream, tap_products_kernel<scalar_t, index_t>)(
              grad_output.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(), flow.const_data_ptr<scalar_t>(),
              R.mutable_data_ptr<acc_t>(), s);
          C10_CUDA_KERNEL_LAUNCH_CHECK();
          VFI_LAUNCH(grid_size(flow.numel() / 2), kThreads, stream, finish_kernel<scalar_t, index_t>)(
              R.const_data_ptr<acc_t>(), flow.const_data_ptr<scalar_t>(), kernel.const_data_ptr<scalar_t>(),
              output_mask[1] ? grad_flow.mutable_data_ptr<scalar_t>() : nullptr,
              output_mask[2] ? grad_kernel.mutable_data_ptr<scalar_t>() : nullptr, s);
          C10_CUDA_KERNEL_LAUNCH_CHECK();
        }
      });
    });
  }
  at::Tensor grad_input = output_mask[0] ? grad_input_acc.to(input.scalar_type()) : at::empty({0}, input.options());
  return {grad_input, grad_flow, grad_kernel};
}

}  // namespace

TORCH_LIBRARY_IMPL(VFI_OPS_LIBRARY, VFI_OPS_CUDA_KEY, m) {
  m.impl("adaptive_warp", &adaptive_warp_cuda);
  m.impl("adaptive_warp_backward", &adaptive_warp_backward_cuda);
}

}  // namespace vfi_ops
