// correlation: CUDA launchers (grid-stride; the math is in correlation.h).
//
// Forward: one thread per output element (b, ch, yo, xo), a loop over the
// channels. Neighbouring threads take neighbouring xo, so each channel's reads
// coalesce; per output element 2*C input elements are read (the input1 pixel
// is shared by the (2d+1)^2 channels of (yo, xo) and the input2 pixels by
// neighbouring displacements, through L1/L2) and one is written.
// Backward: gathers, one thread per input element (b, c, y, x) looping over the
// output channels: no atomics, deterministic. Per gradient element
// (2d+1)^2 incoming-gradient and (2d+1)^2 input elements are read, one written.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <array>
#include <tuple>

#include "correlation_math.h"
#include "correlation_checks.h"
#include "index_width.h"
#include "cuda/launch.cuh"

namespace vfi_ops {
namespace {

template <typename scalar_t, typename index_t>
__global__ void forward_kernel(const scalar_t* __restrict__ in1, const scalar_t* __restrict__ in2,
                               scalar_t* __restrict__ out, CorrelationSizes<index_t> s) {
  using acc_t = at::opmath_type<scalar_t>;
  const index_t K = s.channels(), out_plane = s.Ho * s.Wo, in_item = s.C * s.H * s.W;
  VFI_GRID_STRIDE_LOOP(i, s.B * K * out_plane) {
    const index_t xo = i % s.Wo, yo = (i / s.Wo) % s.Ho, ch = (i / out_plane) % K, b = i / (K * out_plane);
    out[i] = static_cast<scalar_t>(correlation_value<acc_t>(s, in1 + b * in_item, in2 + b * in_item, ch, yo, xo));
  }
}

// One thread per element of input1 (which == 0) or input2 (which == 1).
template <typename scalar_t, typename index_t>
__global__ void backward_kernel(const scalar_t* __restrict__ g, const scalar_t* __restrict__ other,
                                scalar_t* __restrict__ grad, CorrelationSizes<index_t> s, int which) {
  using acc_t = at::opmath_type<scalar_t>;
  const index_t HW = s.H * s.W, out_item = s.channels() * s.Ho * s.Wo;
  VFI_GRID_STRIDE_LOOP(i, s.B * s.C * HW) {
    const index_t x = i % s.W, y = (i / s.W) % s.H, bc = i / HW, b = bc / s.C;
    const scalar_t* g_b = g + b * out_item;
    const scalar_t* plane = other + bc * HW;
    const acc_t v = which == 0 ? correlation_grad_input1<acc_t>(s, g_b, plane, y, x)
                               : correlation_grad_input2<acc_t>(s, g_b, plane, y, x);
    grad[i] = static_cast<scalar_t>(v);
  }
}

bool narrow_enough(const CorrelationSizes<int64_t>& s, int64_t out_numel, int64_t in_numel) {
  // The displacement arithmetic reaches at most a few times the input sizes.
  return fits_int32({out_numel, in_numel, 4 * (s.H + s.W + s.d * s.dilation + s.stride)});
}

at::Tensor correlation_cuda(const at::Tensor& input1_, const at::Tensor& input2_, int64_t max_displacement,
                            int64_t stride, int64_t dilation) {
  check_correlation_args(input1_, input2_, max_displacement, stride, dilation);
  const c10::cuda::CUDAGuard guard(input1_.device());
  const auto s = correlation_sizes(input1_, max_displacement, stride, dilation);
  const at::Tensor input1 = input1_.contiguous();
  const at::Tensor input2 = input2_.contiguous();
  at::Tensor out = uninitialized({s.B, s.channels(), s.Ho, s.Wo}, input1.options());
  if (out.numel() == 0) return out;
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input1.scalar_type(), "correlation_cuda", [&] {
    auto launch = [&](auto index_zero) {
      using index_t = decltype(index_zero);
      VFI_LAUNCH(grid_size(out.numel()), kThreads, stream, forward_kernel<scalar_t, index_t>)(
          input1.const_data_ptr<scalar_t>(), input2.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(),
          narrow_sizes<index_t>(s));
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    };
    with_index_type(narrow_enough(s, out.numel(), input1.numel()), launch);
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> correlation_backward_cuda(const at::Tensor& grad_output_, const at::Tensor& input1_,
                                                             const at::Tensor& input2_, int64_t max_displacement,
                                                             int64_t stride, int64_t dilation,
                                                             std::array<bool, 2> output_mask) {
  check_correlation_backward_args(grad_output_, input1_, input2_, max_displacement, stride, dilation);
  const c10::cuda::CUDAGuard guard(input1_.device());
  const auto s = correlation_sizes(input1_, max_displacement, stride, dilation);
  const at::Tensor grad_output = grad_output_.contiguous();
  const at::Tensor input1 = input1_.contiguous();
  const at::Tensor input2 = input2_.contiguous();
  at::Tensor grads[2];
  const at::Tensor* others[2] = {&input2, &input1};
  for (int which = 0; which < 2; ++which) {
    if (!output_mask[which]) {
      grads[which] = at::empty({0}, input1.options());
      continue;
    }
    if (grad_output.numel() == 0) {
      grads[which] = at::zeros(input1.sizes(), input1.options());
      continue;
    }
    grads[which] = uninitialized(input1.sizes(), input1.options());
    if (grads[which].numel() == 0) continue;
    const auto stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input1.scalar_type(), "correlation_backward_cuda", [&] {
      auto launch = [&](auto index_zero) {
        using index_t = decltype(index_zero);
        VFI_LAUNCH(grid_size(input1.numel()), kThreads, stream, backward_kernel<scalar_t, index_t>)(
            grad_output.const_data_ptr<scalar_t>(), others[which]->const_data_ptr<scalar_t>(),
            grads[which].mutable_data_ptr<scalar_t>(), narrow_sizes<index_t>(s), which);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      };
      with_index_type(narrow_enough(s, grad_output.numel(), input1.numel()), launch);
    });
  }
  return {grads[0], grads[1]};
}

}  // namespace

TORCH_LIBRARY_IMPL(VFI_OPS_LIBRARY, VFI_OPS_CUDA_KEY, m) {
  m.impl("correlation", &correlation_cuda);
  m.impl("correlation_backward", &correlation_backward_cuda);
}

}  // namespace vfi_ops
