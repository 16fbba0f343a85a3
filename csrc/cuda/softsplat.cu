// softsplat: CUDA launchers. The math is in softsplat_math.h.
//
// Forward: for "linear" and "soft", one thread per source writes its metric key
// and at::amax takes each batch item's maximum. Then one thread per source splats
// into float (or double) accumulators with atomic adds, and one thread per
// output element normalises (and converts float16/bfloat16 back).
// Backward: one thread per source gathers from its four targets; no atomics, so
// it is deterministic.
#include <ATen/Context.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/amax.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <optional>
#include <tuple>

#include "cuda/launch.cuh"
#include "softsplat_math.h"
#include "softsplat_checks.h"
#include "index_width.h"

namespace vfi_ops {
namespace {

template <typename index_t>
struct Sizes {
  index_t B, C, H, W;
};

template <typename index_t>
Sizes<index_t> sizes_of(const at::Tensor& input) {
  return {static_cast<index_t>(input.size(0)), static_cast<index_t>(input.size(1)), static_cast<index_t>(input.size(2)),
          static_cast<index_t>(input.size(3))};
}

// The taps of source i (= b * H * W + p) of flow [B, 2, H, W].
template <typename acc_t, typename scalar_t, typename index_t>
__device__ __forceinline__ BilinearTaps<acc_t, index_t> source_taps(const scalar_t* flow, index_t i,
                                                                    const Sizes<index_t>& s) {
  const index_t HW = s.H * s.W, b = i / HW, p = i % HW;
  return splat_taps<acc_t, index_t>(p % s.W, p / s.W, static_cast<acc_t>(flow[2 * b * HW + p]),
                                    static_cast<acc_t>(flow[2 * b * HW + HW + p]), s.H, s.W);
}

template <typename scalar_t, typename acc_t, typename index_t>
__global__ void metric_key_kernel(const scalar_t* __restrict__ flow, const scalar_t* __restrict__ metric,
                                  acc_t* __restrict__ key, Sizes<index_t> s, SplatMode mode) {
  VFI_GRID_STRIDE_LOOP(i, s.B * s.H * s.W) {
    const auto taps = source_taps<acc_t>(flow, i, s);
    key[i] = splat_metric_key(splat_lands(taps), static_cast<acc_t>(metric[i]), mode);
  }
}

// metric and metric_max are nullptr for "sum" and "avg".
template <typename scalar_t, typename acc_t, typename index_t>
__global__ void splat_kernel(const scalar_t* __restrict__ input, const scalar_t* __restrict__ flow,
                             const scalar_t* __restrict__ metric, const acc_t* __restrict__ metric_max,
                             acc_t* __restrict__ num, acc_t* __restrict__ den, Sizes<index_t> s, SplatMode mode) {
  const index_t HW = s.H * s.W;
  VFI_GRID_STRIDE_LOOP(i, s.B * HW) {
    const index_t b = i / HW, p = i % HW;
    const auto taps = source_taps<acc_t>(flow, i, s);
    const acc_t Z = metric != nullptr ? static_cast<acc_t>(metric[i]) : acc_t(0);
    const acc_t M = metric_max != nullptr ? metric_max[b] : acc_t(0);
    const acc_t z = splat_factor(splat_lands(taps), Z, M, mode);
    if (!(z > acc_t(0))) continue;
    acc_t wz[4];
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      wz[k] = taps.w[k] * z;
      if (taps.mask[k] != acc_t(0)) atomicAdd(den + b * HW + taps.offset[k], wz[k]);
    }
    for (index_t c = 0; c < s.C; ++c) {
      const index_t plane = (b * s.C + c) * HW;
      const acc_t v = static_cast<acc_t>(input[plane + p]);
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        if (taps.mask[k] != acc_t(0)) atomicAdd(num + plane + taps.offset[k], wz[k] * v);
      }
    }
  }
}

// out = num, normalised; out may be num itself (float, double), so no __restrict__.
template <typename scalar_t, typename acc_t, typename index_t>
__global__ void normalize_kernel(const acc_t* num, const acc_t* __restrict__ den, scalar_t* out, Sizes<index_t> s,
                                 SplatMode mode) {
  const index_t HW = s.H * s.W;
  VFI_GRID_STRIDE_LOOP(i, s.B * s.C * HW) {
    const index_t b = i / (s.C * HW), p = i % HW;
    out[i] = static_cast<scalar_t>(splat_output(num[i], den[b * HW + p], mode));
  }
}

// Any of grad_input, grad_flow, grad_metric may be nullptr (not wanted); metric
// and metric_max are nullptr for "sum" and "avg".
template <typename scalar_t, typename index_t>
__global__ void backward_kernel(const scalar_t* __restrict__ grad, const scalar_t* __restrict__ input,
                                const scalar_t* __restrict__ flow, const scalar_t* __restrict__ metric,
                                const scalar_t* __restrict__ out, const at::opmath_type<scalar_t>* __restrict__ den,
                                const at::opmath_type<scalar_t>* __restrict__ metric_max,
                                scalar_t* __restrict__ grad_input, scalar_t* __restrict__ grad_flow,
                                scalar_t* __restrict__ grad_metric, Sizes<index_t> s, SplatMode mode) {
  using acc_t = at::opmath_type<scalar_t>;
  const index_t HW = s.H * s.W;
  VFI_GRID_STRIDE_LOOP(i, s.B * HW) {
    const index_t b = i / HW, p = i % HW;
    const auto taps = source_taps<acc_t>(flow, i, s);
    const acc_t Z = metric != nullptr ? static_cast<acc_t>(metric[i]) : acc_t(0);
    const acc_t M = metric_max != nullptr ? metric_max[b] : acc_t(0);
    const acc_t z = splat_factor(splat_lands(taps), Z, M, mode);
    acc_t gx = acc_t(0), gy = acc_t(0), gz = acc_t(0);
    if (z > acc_t(0)) {
      SplatGrad<acc_t, index_t> sg(taps, z, mode, den + b * HW);
      for (index_t c = 0; c < s.C; ++c) {
        const index_t plane = (b * s.C + c) * HW;
        const acc_t gi = sg.add_channel(static_cast<acc_t>(input[plane + p]), grad + plane, out + plane);
        if (grad_input != nullptr) grad_input[plane + p] = static_cast<scalar_t>(gi);
      }
      sg.finish(gx, gy, gz);
    } else if (grad_input != nullptr) {
      for (index_t c = 0; c < s.C; ++c) grad_input[(b * s.C + c) * HW + p] = scalar_t(0);
    }
    if (grad_flow != nullptr) {
      grad_flow[2 * b * HW + p] = static_cast<scalar_t>(gx);
      grad_flow[2 * b * HW + HW + p] = static_cast<scalar_t>(gy);
    }
    if (grad_metric != nullptr) grad_metric[i] = static_cast<scalar_t>(splat_metric_grad(gz, z, M, mode));
  }
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> softsplat_cuda(const at::Tensor& input_, const at::Tensor& flow_,
                                                              const std::optional<at::Tensor>& metric_,
                                                              c10::string_view mode_name) {
  const SplatMode mode = check_softsplat_args("softsplat", input_, flow_, metric_, mode_name);
  // Atomic adds sum the contributions to a pixel in a varying order.
  at::globalContext().alertNotDeterministic("vfi_ops::softsplat (CUDA)");
  const c10::cuda::CUDAGuard guard(input_.device());
  const at::Tensor input = input_.contiguous();
  const at::Tensor flow = flow_.contiguous();
  const at::Tensor metric = metric_.has_value() ? metric_->contiguous() : at::Tensor();
  const auto acc_options = input.options().dtype(splat_acc_dtype(input.scalar_type()));
  const bool reduced = acc_options.dtype() != input.dtype();
  const int64_t B = input.size(0), H = input.size(2), W = input.size(3);
  // The splat accumulates in num (the output itself for float and double).
  at::Tensor num = at::zeros(input.sizes(), acc_options);
  at::Tensor den = at::zeros({B, 1, H, W}, acc_options);
  at::Tensor metric_max = at::zeros({B}, acc_options);
  if (B * H * W == 0) return {num.to(input.scalar_type()), den, metric_max};
  at::Tensor out = reduced ? uninitialized(input.sizes(), input.options()) : num;
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "softsplat_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    with_index_type(fits_int32({input.numel(), flow.numel()}), [&](auto index_zero) {
      using index_t = decltype(index_zero);
      const Sizes<index_t> s = sizes_of<index_t>(input);
      const index_t pixels = s.B * s.H * s.W;
      const scalar_t* metric_p = metric.defined() ? metric.const_data_ptr<scalar_t>() : nullptr;
      if (splat_uses_metric(mode)) {
        at::Tensor key = uninitialized({B, H * W}, acc_options);
        VFI_LAUNCH(grid_size(pixels), kThreads, stream, metric_key_kernel<scalar_t, acc_t, index_t>)(
            flow.const_data_ptr<scalar_t>(), metric_p, key.mutable_data_ptr<acc_t>(), s, mode);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
        metric_max = at::amax(key, 1);
      }
      VFI_LAUNCH(grid_size(pixels), kThreads, stream, splat_kernel<scalar_t, acc_t, index_t>)(
          input.const_data_ptr<scalar_t>(), flow.const_data_ptr<scalar_t>(), metric_p,
          splat_uses_metric(mode) ? metric_max.const_data_ptr<acc_t>() : nullptr, num.mutable_data_ptr<acc_t>(),
          den.mutable_data_ptr<acc_t>(), s, mode);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      if ((splat_normalized(mode) || reduced) && num.numel() > 0) {
        VFI_LAUNCH(grid_size(num.numel()), kThreads, stream, normalize_kernel<scalar_t, acc_t, index_t>)(
            num.const_data_ptr<acc_t>(), den.const_data_ptr<acc_t>(), out.mutable_data_ptr<scalar_t>(), s, mode);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      }
    });
  });
  return {out, den, metric_max};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> softsplat_backward_cuda(
    const at::Tensor& grad_output_, const at::Tensor& input_, const at::Tensor& flow_,
    const std::optional<at::Tensor>& metric_, c10::string_view mode_name, const at::Tensor& output_,
    const at::Tensor& den_, const at::Tensor& metric_max_, std::array<bool, 3> output_mask) {
  const SplatMode mode =
      check_softsplat_backward_args(grad_output_, input_, flow_, metric_, mode_name, output_, den_, metric_max_);
  const c10::cuda::CUDAGuard guard(input_.device());
  const bool need_metric = output_mask[2] && metric_.has_value();
  const at::Tensor input = input_.contiguous();
  const at::Tensor flow = flow_.contiguous();
  const at::Tensor metric = metric_.has_value() ? metric_->contiguous() : at::Tensor();
  const auto empty = [&] { return at::empty({0}, input.options()); };
  at::Tensor grad_input = output_mask[0] ? uninitialized(input.sizes(), input.options()) : empty();
  at::Tensor grad_flow = output_mask[1] ? uninitialized(flow.sizes(), flow.options()) : empty();
  at::Tensor grad_metric = need_metric ? uninitialized(metric.sizes(), metric.options()) : empty();
  const int64_t pixels = input.size(0) * input.size(2) * input.size(3);
  if (pixels == 0 || !(output_mask[0] || output_mask[1] || need_metric)) return {grad_input, grad_flow, grad_metric};
  const at::Tensor grad_output = grad_output_.contiguous();
  const at::Tensor output = output_.contiguous();
  const at::Tensor den = den_.contiguous();
  const at::Tensor metric_max = metric_max_.contiguous();
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "softsplat_backward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    with_index_type(fits_int32({input.numel(), flow.numel()}), [&](auto index_zero) {
      using index_t = decltype(index_zero);
      const bool uses_metric = splat_uses_metric(mode);
      VFI_LAUNCH(grid_size(pixels), kThreads, stream, backward_kernel<scalar_t, index_t>)(
          grad_output.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(), flow.const_data_ptr<scalar_t>(),
          uses_metric ? metric.const_data_ptr<scalar_t>() : nullptr, output.const_data_ptr<scalar_t>(),
          den.const_data_ptr<acc_t>(), uses_metric ? metric_max.const_data_ptr<acc_t>() : nullptr,
          output_mask[0] ? grad_input.mutable_data_ptr<scalar_t>() : nullptr,
          output_mask[1] ? grad_flow.mutable_data_ptr<scalar_t>() : nullptr,
          need_metric ? grad_metric.mutable_data_ptr<scalar_t>() : nullptr, sizes_of<index_t>(input), mode);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
  return {grad_input, grad_flow, grad_metric};
}

}  // namespace

TORCH_LIBRARY_IMPL(VFI_OPS_LIBRARY, VFI_OPS_CUDA_KEY, m) {
  m.impl("softsplat", &softsplat_cuda);
  m.impl("softsplat_backward", &softsplat_backward_cuda);
}

}  // namespace vfi_ops
