// adacof: CUDA launchers. The math is in adacof.h.
//
// Forward: one thread per output element (b, c, y, x). Backward: the input
// gradient is scattered by one thread per output element with atomic adds (into
// a float buffer for float16/bfloat16); the weight and offset gradients by one
// thread per (b, tap, y, x), summing over the channels and owning its values.
#include <ATen/Context.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <tuple>

#include "adacof_math.h"
#include "adacof_checks.h"
#include "index_width.h"
#include "cuda/launch.cuh"

namespace vfi_ops {
namespace {

template <typename index_t>
struct Sizes {
  index_t B, C, H, W, Hin, Win;
  int F, dilation;
  bool truncate;
};

template <typename index_t>
Sizes<index_t> sizes_of(const at::Tensor& input, const at::Tensor& weight, int F, int64_t dilation, bool truncate) {
  return {static_cast<index_t>(input.size(0)),
          static_cast<index_t>(input.size(1)),
          static_cast<index_t>(weight.size(2)),
          static_cast<index_t>(weight.size(3)),
          static_cast<index_t>(input.size(2)),
          static_cast<index_t>(input.size(3)),
          F,
          static_cast<int>(dilation),
          truncate};
}

// Tap t of pixel p of batch item b; `at` its index in the [B, F*F, H, W] tensors.
template <typename acc_t, typename index_t, typename scalar_t>
__device__ AdacofTap<acc_t, index_t> tap_at(const scalar_t* offset_y, const scalar_t* offset_x, const Sizes<index_t>& s,
                                            index_t at, index_t p, index_t t) {
  return adacof_tap<acc_t, index_t>(p / s.W, p % s.W, int(t / s.F), int(t % s.F), s.dilation,
                                    static_cast<acc_t>(offset_y[at]), static_cast<acc_t>(offset_x[at]), s.Hin, s.Win,
                                    s.truncate);
}

template <typename scalar_t, typename index_t>
__global__ void forward_kernel(const scalar_t* __restrict__ input, const scalar_t* __restrict__ weight,
                               const scalar_t* __restrict__ offset_y, const scalar_t* __restrict__ offset_x,
                               scalar_t* __restrict__ out, Sizes<index_t> s) {
  using acc_t = at::opmath_type<scalar_t>;
  const index_t HW = s.H * s.W, taps = index_t(s.F) * s.F;
  VFI_GRID_STRIDE_LOOP(i, s.B * s.C * HW) {
    const index_t p = i % HW, bc = i / HW, b = bc / s.C;
    const scalar_t* plane = input + bc * s.Hin * s.Win;
    acc_t sum = acc_t(0);
    for (index_t t = 0; t < taps; ++t) {
      const index_t at = (b * taps + t) * HW + p;
      sum += static_cast<acc_t>(weight[at]) * adacof_sample(tap_at<acc_t>(offset_y, offset_x, s, at, p, t), plane);
    }
    out[i] = static_cast<scalar_t>(sum);
  }
}

template <typename scalar_t, typename index_t>
__global__ void input_grad_kernel(const scalar_t* __restrict__ grad_out, const scalar_t* __restrict__ weight,
                                  const scalar_t* __restrict__ offset_y, const scalar_t* __restrict__ offset_x,
                                  at::opmath_type<scalar_t>* __restrict__ grad_input_acc, Sizes<index_t> s) {
  using acc_t = at::opmath_type<scalar_t>;
  const index_t HW = s.H * s.W, taps = index_t(s.F) * s.F;
  VFI_GRID_STRIDE_LOOP(i, s.B * s.C * HW) {
    const index_t p = i % HW, bc = i / HW, b = bc / s.C;
    acc_t* plane = grad_input_acc + bc * s.Hin * s.Win;
    const acc_t g = static_cast<acc_t>(grad_out[i]);
    for (index_t t = 0; t < taps; ++t) {
      const index_t at = (b * taps + t) * HW + p;
      const auto tap = tap_at<acc_t>(offset_y, offset_x, s, at, p, t);
      acc_t tw[4];
      adacof_tap_weights(tap, tw);
      const acc_t gw = g * static_cast<acc_t>(weight[at]);
      const index_t offsets[4] = {tap.o00, tap.o01, tap.o10, tap.o11};
      for (int k = 0; k < 4; ++k) {
        if (tw[k] != acc_t(0)) atomicAdd(plane + offsets[k], gw * tw[k]);
      }
    }
  }
}

template <typename scalar_t, typename index_t>
__global__ void param_grad_kernel(const scalar_t* __restrict__ grad_out, const scalar_t* __restrict__ input,
                                  const scalar_t* __restrict__ weight, const scalar_t* __restrict__ offset_y,
                                  const scalar_t* __restrict__ offset_x, scalar_t* __restrict__ grad_w,
                                  scalar_t* __restrict__ grad_oy, scalar_t* __restrict__ grad_ox, Sizes<index_t> s) {
  using acc_t = at::opmath_type<scalar_t>;
  const index_t HW = s.H * s.W, taps = index_t(s.F) * s.F;
  VFI_GRID_STRIDE_LOOP(i, s.B * taps * HW) {
    const index_t p = i % HW, bt = i / HW, b = bt / taps, t = bt % taps;
    const auto tap = tap_at<acc_t>(offset_y, offset_x, s, i, p, t);
    acc_t S = acc_t(0), dY = acc_t(0), dX = acc_t(0);
    for (index_t c = 0; c < s.C; ++c) {
      const index_t bc = b * s.C + c;
      adacof_sample_grads(tap, input + bc * s.Hin * s.Win, static_cast<acc_t>(grad_out[bc * HW + p]), S, dY, dX);
    }
    const acc_t w = static_cast<acc_t>(weight[i]);
    if (grad_w != nullptr) grad_w[i] = static_cast<scalar_t>(S);
    if (grad_oy != nullptr) grad_oy[i] = static_cast<scalar_t>(w * dY);
    if (grad_ox != nullptr) grad_ox[i] = static_cast<scalar_t>(w * dX);
  }
}

at::Tensor adacof_cuda(const at::Tensor& input_, const at::Tensor& weight_, const at::Tensor& offset_y_,
                       const at::Tensor& offset_x_, int64_t dilation, bool truncate_offsets) {
  const int F = check_adacof_args("adacof", input_, weight_, offset_y_, offset_x_, dilation);
  const c10::cuda::CUDAGuard guard(input_.device());
  const at::Tensor input = input_.contiguous();
  const at::Tensor weight = weight_.contiguous();
  const at::Tensor offset_y = offset_y_.contiguous();
  const at::Tensor offset_x = offset_x_.contiguous();
  at::Tensor out = uninitialized({input.size(0), input.size(1), weight.size(2), weight.size(3)}, input.options());
  if (out.numel() == 0) return out;
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "adacof_cuda", [&] {
    with_index_type(fits_int32({input.numel(), weight.numel(), out.numel()}), [&](auto index_zero) {
      using index_t = decltype(index_zero);
      VFI_LAUNCH(grid_size(out.numel()), kThreads, stream, forward_kernel<scalar_t, index_t>)(
          input.const_data_ptr<scalar_t>(), weight.const_data_ptr<scalar_t>(), offset_y.const_data_ptr<scalar_t>(),
          offset_x.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(),
          sizes_of<index_t>(input, weight, F, dilation, truncate_offsets));
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> adacof_backward_cuda(
    const at::Tensor& grad_output_, const at::Tensor& input_, const at::Tensor& weight_, const at::Tensor& offset_y_,
    const at::Tensor& offset_x_, int64_t dilation, bool truncate_offsets, std::array<bool, 4> output_mask) {
  const int F = check_adacof_backward_args(grad_output_, input_, weight_, offset_y_, offset_x_, dilation);
  if (output_mask[0]) {
    // The input gradient is scattered with atomic adds, whose order varies.
    at::globalContext().alertNotDeterministic("vfi_ops::adacof_backward (CUDA, gradient to input)");
  }
  const c10::cuda::CUDAGuard guard(input_.device());
  const at::Tensor grad_output = grad_output_.contiguous();
  const at::Tensor input = input_.contiguous();
  const at::Tensor weight = weight_.contiguous();
  const at::Tensor offset_y = offset_y_.contiguous();
  const at::Tensor offset_x = offset_x_.contiguous();
  const auto acc_dtype = at::toOpMathType(input.scalar_type());
  at::Tensor grad_input_acc =
      output_mask[0] ? at::zeros(input.sizes(), input.options().dtype(acc_dtype)) : at::Tensor();
  // Zeros: with no channels the weight and offsets get zero gradients.
  auto make = [&](bool needed, const at::Tensor& like) {
    return needed ? at::zeros(like.sizes(), like.options()) : at::empty({0}, like.options());
  };
  at::Tensor grad_weight = make(output_mask[1], weight);
  at::Tensor grad_offset_y = make(output_mask[2], offset_y);
  at::Tensor grad_offset_x = make(output_mask[3], offset_x);
  const bool need_params = output_mask[1] || output_mask[2] || output_mask[3];
  if (grad_output.numel() > 0) {
    const auto stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "adacof_backward_cuda", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      with_index_type(fits_int32({input.numel(), weight.numel(), grad_output.numel()}), [&](auto index_zero) {
        using index_t = decltype(index_zero);
        const Sizes<index_t> s = sizes_of<index_t>(input, weight, F, dilation, truncate_offsets);
        if (output_mask[0]) {
          VFI_LAUNCH(grid_size(grad_output.numel()), kThreads, stream, input_grad_kernel<scalar_t, index_t>)(
              grad_output.const_data_ptr<scalar_t>(), weight.const_data_ptr<scalar_t>(),
              offset_y.const_data_ptr<scalar_t>(), offset_x.const_data_ptr<scalar_t>(),
              grad_input_acc.mutable_data_ptr<acc_t>(), s);
          C10_CUDA_KERNEL_LAUNCH_CHECK();
        }
        if (need_params) {
          VFI_LAUNCH(grid_size(weight.numel()), kThreads, stream, param_grad_kernel<scalar_t, index_t>)(
              grad_output.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
              weight.const_data_ptr<scalar_t>(), offset_y.const_data_ptr<scalar_t>(),
              offset_x.const_data_ptr<scalar_t>(), output_mask[1] ? grad_weight.mutable_data_ptr<scalar_t>() : nullptr,
              output_mask[2] ? grad_offset_y.mutable_data_ptr<scalar_t>() : nullptr,
              output_mask[3] ? grad_offset_x.mutable_data_ptr<scalar_t>() : nullptr, s);
          C10_CUDA_KERNEL_LAUNCH_CHECK();
        }
      });
    });
  }
  at::Tensor grad_input = output_mask[0] ? grad_input_acc.to(input.scalar_type()) : at::empty({0}, input.options());
  return {grad_input, grad_weight, grad_offset_y, grad_offset_x};
}

}  // namespace

TORCH_LIBRARY_IMPL(VFI_OPS_LIBRARY, VFI_OPS_CUDA_KEY, m) {
  m.impl("adacof", &adacof_cuda);
  m.impl("adacof_backward", &adacof_backward_cuda);
}

}  // namespace vfi_ops
