// backward_warp: CUDA launchers, one thread per output pixel (grid-stride),
// which loops over the channels. The math is in backward_warp_math.h.
//
// Layouts: NCHW, or NHWC for a channels-last input (output_memory_format), as
// the CPU kernels compute; NHWC in place, with the tap offsets (pixels) scaled
// to elements, so a channels-last input is neither converted nor its output
// converted back. The flow is always read as [B, 2, H, W].
#include <ATen/Context.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros_like.h>
#include <torch/library.h>

#include <tuple>

#include "backward_warp_math.h"
#include "backward_warp_checks.h"
#include "cuda/launch.cuh"
#include "index_width.h"
#include "output_layout.h"

namespace vfi_ops {
namespace {

template <typename index_t>
struct WarpSizes {
  index_t B, C, Hin, Win, H, W;
  bool nhwc;  // input, output (and their gradients) [B, H, W, C] in memory

  // Where channel c of batch item b starts in the input: the tap offsets of
  // at() (NHWC: scaled to elements) are added to it.
  __device__ __forceinline__ index_t input_plane(index_t b, index_t c) const {
    return nhwc ? b * Hin * Win * C + c : (b * C + c) * Hin * Win;
  }
  // Output element (b, c) of pixel p.
  __device__ __forceinline__ index_t output_at(index_t b, index_t c, index_t p) const {
    return nhwc ? (b * H * W + p) * C + c : (b * C + c) * H * W + p;
  }
  // The taps as offsets within input_plane's layout.
  template <typename acc_t>
  __device__ __forceinline__ BilinearTaps<acc_t, index_t> in_layout(BilinearTaps<acc_t, index_t> taps) const {
    if (nhwc) {
#pragma unroll
      for (int k = 0; k < 4; ++k) taps.offset[k] *= C;
    }
    return taps;
  }
};

template <typename index_t>
WarpSizes<index_t> warp_sizes(const at::Tensor& input, const at::Tensor& flow, bool nhwc) {
  return {static_cast<index_t>(input.size(0)),
          static_cast<index_t>(input.size(1)),
          static_cast<index_t>(input.size(2)),
          static_cast<index_t>(input.size(3)),
          static_cast<index_t>(flow.size(2)),
          static_cast<index_t>(flow.size(3)),
          nhwc};
}

template <typename scalar_t, typename index_t>
__global__ void forward_kernel(const scalar_t* __restrict__ input, const scalar_t* __restrict__ flow,
                               scalar_t* __restrict__ out, WarpSizes<index_t> s, Padding padding) {
  using acc_t = at::opmath_type<scalar_t>;
  const index_t HW = s.H * s.W;
  VFI_GRID_STRIDE_LOOP(i, s.B * HW) {
    const index_t x = i % s.W, y = (i / s.W) % s.H, b = i / HW;
    const auto taps =
        s.in_layout(backward_warp_taps<acc_t, index_t>(flow + b * 2 * HW, x, y, s.H, s.W, s.Hin, s.Win, padding));
    for (index_t c = 0; c < s.C; ++c) {
      out[s.output_at(b, c, y * s.W + x)] =
          static_cast<scalar_t>(backward_warp_value(taps, input + s.input_plane(b, c)));
    }
  }
}

// grad_input_acc is float for half/bfloat16 inputs (accumulated in float, cast after).
template <typename scalar_t, typename index_t>
__global__ void backward_kernel(const scalar_t* __restrict__ grad_out, const scalar_t* __restrict__ input,
                                const scalar_t* __restrict__ flow,
                                at::opmath_type<scalar_t>* __restrict__ grad_input_acc,
                                scalar_t* __restrict__ grad_flow, WarpSizes<index_t> s, Padding padding) {
  using acc_t = at::opmath_type<scalar_t>;
  const index_t HW = s.H * s.W;
  VFI_GRID_STRIDE_LOOP(i, s.B * HW) {
    const index_t x = i % s.W, y = (i / s.W) % s.H, b = i / HW;
    const index_t p = y * s.W + x;
    const auto taps =
        s.in_layout(backward_warp_taps<acc_t, index_t>(flow + b * 2 * HW, x, y, s.H, s.W, s.Hin, s.Win, padding));
    acc_t cx[4], cy[4];
    bilinear_grad_coeffs(taps, cx, cy);
    acc_t gu = acc_t(0), gv = acc_t(0);
    for (index_t c = 0; c < s.C; ++c) {
      const index_t plane = s.input_plane(b, c);
      const acc_t g = static_cast<acc_t>(grad_out[s.output_at(b, c, p)]);
      if (grad_input_acc != nullptr) {
#pragma unroll
        for (int k = 0; k < 4; ++k) {
          if (taps.mask[k] != acc_t(0)) atomicAdd(grad_input_acc + plane + taps.offset[k], g * taps.w[k]);
        }
      }
      if (grad_flow != nullptr) backward_warp_flow_grad(taps, cx, cy, input + plane, g, gu, gv);
    }
    if (grad_flow != nullptr) {
      grad_flow[b * 2 * HW + p] = static_cast<scalar_t>(gu);
      grad_flow[b * 2 * HW + HW + p] = static_cast<scalar_t>(gv);
    }
  }
}

at::Tensor backward_warp_cuda(const at::Tensor& input_, const at::Tensor& flow_, c10::string_view padding_mode) {
  check_backward_warp_args(input_, flow_);
  const Padding padding = parse_warp_padding(padding_mode);
  const c10::cuda::CUDAGuard guard(input_.device());
  const at::MemoryFormat layout = output_memory_format(input_);
  const bool nhwc = layout == at::MemoryFormat::ChannelsLast;
  const at::Tensor input = input_.contiguous(layout);
  const at::Tensor flow = flow_.contiguous();
  at::Tensor out =
      uninitialized({input.size(0), input.size(1), flow.size(2), flow.size(3)}, input.options().memory_format(layout));
  if (out.numel() == 0) return out;
  const int64_t pixels = flow.size(0) * flow.size(2) * flow.size(3);
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "backward_warp_cuda", [&] {
    auto launch = [&](auto index_zero) {
      using index_t = decltype(index_zero);
      VFI_LAUNCH(grid_size(pixels), kThreads, stream, forward_kernel<scalar_t, index_t>)(
          input.const_data_ptr<scalar_t>(), flow.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(),
          warp_sizes<index_t>(input, flow, nhwc), padding);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    };
    with_index_type(fits_int32({input.numel(), flow.numel(), out.numel()}), launch);
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> backward_warp_backward_cuda(const at::Tensor& grad_output_, const at::Tensor& input_,
                                                               const at::Tensor& flow_, c10::string_view padding_mode,
                                                               std::array<bool, 2> output_mask) {
  check_backward_warp_backward_args(grad_output_, input_, flow_);
  const Padding padding = parse_warp_padding(padding_mode);
  if (output_mask[0]) {
    // The input gradient is scattered with atomic adds, whose order varies.
    at::globalContext().alertNotDeterministic("vfi_ops::backward_warp_backward (CUDA, gradient to input)");
  }
  const c10::cuda::CUDAGuard guard(input_.device());
  const at::MemoryFormat layout = output_memory_format(input_);
  const bool nhwc = layout == at::MemoryFormat::ChannelsLast;
  const at::Tensor grad_output = grad_output_.contiguous(layout);
  const at::Tensor input = input_.contiguous(layout);
  const at::Tensor flow = flow_.contiguous();
  const bool reduced = input.scalar_type() == at::kHalf || input.scalar_type() == at::kBFloat16;
  at::Tensor grad_input_acc =
      output_mask[0]
          ? at::empty(input.sizes(),
                      input.options().dtype(reduced ? at::kFloat : input.scalar_type()).memory_format(layout))
                .zero_()
          : at::Tensor();
  at::Tensor grad_flow = output_mask[1] ? at::zeros_like(flow) : at::empty({0}, flow.options());
  const int64_t pixels = flow.size(0) * flow.size(2) * flow.size(3);
  if (grad_output.numel() > 0 && (output_mask[0] || output_mask[1])) {
    const auto stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "backward_warp_backward_cuda", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      auto launch = [&](auto index_zero) {
        using index_t = decltype(index_zero);
        VFI_LAUNCH(grid_size(pixels), kThreads, stream, backward_kernel<scalar_t, index_t>)(
            grad_output.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(), flow.const_data_ptr<scalar_t>(),
            output_mask[0] ? grad_input_acc.mutable_data_ptr<acc_t>() : nullptr,
            output_mask[1] ? grad_flow.mutable_data_ptr<scalar_t>() : nullptr, warp_sizes<index_t>(input, flow, nhwc),
            padding);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      };
      with_index_type(fits_int32({input.numel(), flow.numel(), grad_output.numel()}), launch);
    });
  }
  at::Tensor grad_input = !output_mask[0] ? at::empty({0}, input.options())
                          : reduced       ? grad_input_acc.to(input.scalar_type())
                                          : grad_input_acc;
  return {grad_input, grad_flow};
}

}  // namespace

TORCH_LIBRARY_IMPL(VFI_OPS_LIBRARY, VFI_OPS_CUDA_KEY, m) {
  m.impl("backward_warp", &backward_warp_cuda);
  m.impl("backward_warp_backward", &backward_warp_backward_cuda);
}

}  // namespace vfi_ops
