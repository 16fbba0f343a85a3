// adaptive_warp: CUDA launchers. The math is in adaptive_warp_math.h.
//
// Forward: one thread per pixel and block of up to kChannelBlock channels. It
// computes its window once (the F*F tap offsets and weights, from one read of
// the pixel's kernel values) and loops over its channels; each output is the
// sum of the F*F taps in the CPU kernel's order.
// Backward, fused: one thread per pixel loops over all channels, reading each
// incoming-gradient element once. Per channel it scatters the input gradient
// (atomic adds, one per tap of nonzero weight) and adds g_c I_c[offset_t] to
// the tap products R_t = sum_c g_c I_c[offset_t], which it owns (no atomics,
// summed in channel order, so the kernel and flow gradients are
// deterministic); then it turns R into the kernel and flow gradients.
// F = 4 (DAIN's window) is specialised at compile time: the 16 offsets,
// weights and tap products live in registers. Other even F take the generic
// path: the taps are recomputed per channel (the kernel values come again from
// the cache) and R lives in a scratch tensor of which each thread owns a column.
#include <ATen/Context.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <tuple>
#include <type_traits>

#include "adaptive_warp_math.h"
#include "adaptive_warp_checks.h"
#include "cuda/launch.cuh"
#include "index_width.h"

namespace vfi_ops {
namespace {

// Channels per forward thread: the window is read once per block of channels.
constexpr int kChannelBlock = 16;

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

// The taps of pixel p of batch item b: for_each(fn) calls fn(t, offset_t, w_t)
// for t = m * F + n in order, with out_c = sum_t w_t I_c[offset_t]; win and bw
// (the quadrants' blend weights) serve the backward.
// kF > 0 (F = kF): the taps are computed once, into registers.
template <int kF, typename scalar_t, typename index_t>
struct PixelTaps {
  using acc_t = at::opmath_type<scalar_t>;
  static constexpr int kTaps = kF * kF;
  AdaptiveWindow<acc_t, index_t> win;
  acc_t bw[4];
  index_t offset[kTaps];
  acc_t w[kTaps];

  __device__ PixelTaps(const scalar_t* flow, const scalar_t* kernel, const Sizes<index_t>& s, index_t b, index_t p)
      : win(window_at<acc_t>(flow, s, b, p)) {
    adaptive_blend_weights(win, bw);
    const index_t HW = s.H * s.W;
    const scalar_t* k = kernel + b * kTaps * HW + p;
#pragma unroll
    for (int m = 0; m < kF; ++m) {
#pragma unroll
      for (int n = 0; n < kF; ++n) {
        const int t = m * kF + n;
        offset[t] = adaptive_tap_offset(win, m, n, s.H, s.W);
        w[t] = adaptive_tap_weight(win, bw[adaptive_quadrant(m, n, kF)], static_cast<acc_t>(k[t * HW]), m, n);
      }
    }
  }

  template <typename Fn>
  __device__ __forceinline__ void for_each(Fn&& fn) const {
#pragma unroll
    for (int t = 0; t < kTaps; ++t) fn(t, offset[t], w[t]);
  }
};

// kF = 0: any even F (s.F); each for_each computes the taps again.
template <typename scalar_t, typename index_t>
struct PixelTaps<0, scalar_t, index_t> {
  using acc_t = at::opmath_type<scalar_t>;
  AdaptiveWindow<acc_t, index_t> win;
  acc_t bw[4];
  const scalar_t* k;  // the pixel's kernel value of tap 0; tap t at k[t * H * W]
  Sizes<index_t> s;

  __device__ PixelTaps(const scalar_t* flow, const scalar_t* kernel, const Sizes<index_t>& s_, index_t b, index_t p)
      : win(window_at<acc_t>(flow, s_, b, p)), k(kernel + b * s_.F * s_.F * s_.H * s_.W + p), s(s_) {
    adaptive_blend_weights(win, bw);
  }

  template <typename Fn>
  __device__ __forceinline__ void for_each(Fn&& fn) const {
    const index_t HW = s.H * s.W;
    for (int m = 0; m < s.F; ++m) {
      for (int n = 0; n < s.F; ++n) {
        const int t = m * s.F + n;
        fn(t, adaptive_tap_offset(win, m, n, s.H, s.W),
           adaptive_tap_weight(win, bw[adaptive_quadrant(m, n, s.F)], static_cast<acc_t>(k[t * HW]), m, n));
      }
    }
  }
};

// The tap products of one pixel, starting at 0: in registers for kF > 0, in
// the pixel's column of the scratch tensor R [B, F*F, H, W] for kF = 0.
template <int kF, typename acc_t, typename index_t>
struct TapSums {
  acc_t r[kF * kF];
  __device__ TapSums(acc_t*, index_t, int) {
#pragma unroll
    for (int t = 0; t < kF * kF; ++t) r[t] = acc_t(0);
  }
  __device__ __forceinline__ acc_t& operator[](int t) { return r[t]; }
};

template <typename acc_t, typename index_t>
struct TapSums<0, acc_t, index_t> {
  acc_t* r;
  index_t stride;
  __device__ TapSums(acc_t* column, index_t HW, int taps) : r(column), stride(HW) {
    for (int t = 0; t < taps; ++t) r[t * stride] = acc_t(0);
  }
  __device__ __forceinline__ acc_t& operator[](int t) { return r[t * stride]; }
};

template <int kF, typename scalar_t, typename index_t>
__global__ void forward_kernel(const scalar_t* __restrict__ input, const scalar_t* __restrict__ flow,
                               const scalar_t* __restrict__ kernel, scalar_t* __restrict__ out, Sizes<index_t> s,
                               index_t channel_blocks) {
  using acc_t = at::opmath_type<scalar_t>;
  const index_t HW = s.H * s.W;
  VFI_GRID_STRIDE_LOOP(i, s.B * channel_blocks * HW) {
    const index_t p = i % HW, block = i / HW, b = block / channel_blocks;
    const index_t c0 = block % channel_blocks * kChannelBlock;
    const index_t c1 = c0 + kChannelBlock < s.C ? c0 + kChannelBlock : s.C;
    const PixelTaps<kF, scalar_t, index_t> taps(flow, kernel, s, b, p);
    for (index_t c = c0; c < c1; ++c) {
      const scalar_t* plane = input + (b * s.C + c) * HW;
      acc_t sum = acc_t(0);
      taps.for_each([&](int, index_t offset, acc_t w) { sum += w * static_cast<acc_t>(plane[offset]); });
      out[(b * s.C + c) * HW + p] = static_cast<scalar_t>(sum);
    }
  }
}

// Any of grad_input_acc (float for half/bfloat16 inputs: accumulated in float,
// cast after), grad_flow, grad_kernel may be nullptr (not wanted). R: the
// scratch tensor of the generic path when grad_flow or grad_kernel is wanted.
template <int kF, typename scalar_t, typename index_t>
__global__ void backward_kernel(const scalar_t* __restrict__ grad_out, const scalar_t* __restrict__ input,
                                const scalar_t* __restrict__ flow, const scalar_t* __restrict__ kernel,
                                at::opmath_type<scalar_t>* __restrict__ grad_input_acc,
                                at::opmath_type<scalar_t>* __restrict__ R, scalar_t* __restrict__ grad_flow,
                                scalar_t* __restrict__ grad_kernel, Sizes<index_t> s) {
  using acc_t = at::opmath_type<scalar_t>;
  const index_t HW = s.H * s.W;
  const int F = kF > 0 ? kF : s.F, taps_n = F * F;
  const bool need_rest = grad_flow != nullptr || grad_kernel != nullptr;
  VFI_GRID_STRIDE_LOOP(i, s.B * HW) {
    const index_t p = i % HW, b = i / HW;
    const PixelTaps<kF, scalar_t, index_t> taps(flow, kernel, s, b, p);
    TapSums<kF, acc_t, index_t> r(kF > 0 || !need_rest ? nullptr : R + b * taps_n * HW + p, HW,
                                  kF > 0 || !need_rest ? 0 : taps_n);
    for (index_t c = 0; c < s.C; ++c) {
      const index_t plane = (b * s.C + c) * HW;
      const acc_t g = static_cast<acc_t>(grad_out[plane + p]);
      taps.for_each([&](int t, index_t offset, acc_t w) {
        if (grad_input_acc != nullptr && w != acc_t(0)) atomicAdd(grad_input_acc + plane + offset, g * w);
        if (need_rest) r[t] += g * static_cast<acc_t>(input[plane + offset]);
      });
    }
    if (!need_rest) continue;
    acc_t K[4] = {acc_t(0), acc_t(0), acc_t(0), acc_t(0)};
    const index_t first = b * taps_n * HW + p;  // tap 0 of this pixel in kernel and grad_kernel
    for (int m = 0; m < F; ++m) {
      for (int n = 0; n < F; ++n) {
        const int t = m * F + n, q = adaptive_quadrant(m, n, F);
        const acc_t r_t = r[t];
        K[q] += adaptive_quadrant_term(static_cast<acc_t>(kernel[first + t * HW]), r_t);
        if (grad_kernel != nullptr)
          grad_kernel[first + t * HW] = static_cast<scalar_t>(adaptive_kernel_grad(taps.bw[q], r_t));
      }
    }
    if (grad_flow != nullptr) {
      acc_t du, dv;
      adaptive_flow_grad(taps.win, K, du, dv);
      grad_flow[2 * b * HW + p] = static_cast<scalar_t>(du);
      grad_flow[2 * b * HW + HW + p] = static_cast<scalar_t>(dv);
    }
  }
}

// Runs fn(std::integral_constant<int, kF>) with kF = 4 for F = 4, 0 (generic) otherwise.
template <typename Fn>
void with_window_size(int F, Fn&& fn) {
  if (F == 4) {
    fn(std::integral_constant<int, 4>());
  } else {
    fn(std::integral_constant<int, 0>());
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
  const int64_t channel_blocks = (input.size(1) + kChannelBlock - 1) / kChannelBlock;
  const int64_t threads = input.size(0) * channel_blocks * input.size(2) * input.size(3);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "adaptive_warp_cuda", [&] {
    with_index_type(fits_int32({input.numel(), kernel.numel()}), [&](auto index_zero) {
      using index_t = decltype(index_zero);
      with_window_size(F, [&](auto kF) {
        VFI_LAUNCH(grid_size(threads), kThreads, stream, forward_kernel<decltype(kF)::value, scalar_t, index_t>)(
            input.const_data_ptr<scalar_t>(), flow.const_data_ptr<scalar_t>(), kernel.const_data_ptr<scalar_t>(),
            out.mutable_data_ptr<scalar_t>(), sizes_of<index_t>(input, F), static_cast<index_t>(channel_blocks));
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
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
    // The generic path's tap products (F = 4 keeps them in registers).
    at::Tensor R =
        need_rest && F != 4 ? uninitialized(kernel.sizes(), kernel.options().dtype(acc_dtype)) : at::Tensor();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "adaptive_warp_backward_cuda", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      with_index_type(fits_int32({input.numel(), kernel.numel()}), [&](auto index_zero) {
        using index_t = decltype(index_zero);
        with_window_size(F, [&](auto kF) {
          VFI_LAUNCH(grid_size(flow.numel() / 2), kThreads, stream,
                     backward_kernel<decltype(kF)::value, scalar_t, index_t>)(
              grad_output.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(), flow.const_data_ptr<scalar_t>(),
              kernel.const_data_ptr<scalar_t>(), output_mask[0] ? grad_input_acc.mutable_data_ptr<acc_t>() : nullptr,
              R.defined() ? R.mutable_data_ptr<acc_t>() : nullptr,
              output_mask[1] ? grad_flow.mutable_data_ptr<scalar_t>() : nullptr,
              output_mask[2] ? grad_kernel.mutable_data_ptr<scalar_t>() : nullptr, sizes_of<index_t>(input, F));
          C10_CUDA_KERNEL_LAUNCH_CHECK();
        });
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
