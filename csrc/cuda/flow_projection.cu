// flow_projection: CUDA launchers. The math is in flow_projection.h.
//
// Forward: one thread per source pixel splats into float (or double)
// accumulators with atomic adds, one thread per pixel turns them into the
// output. Hole filling runs for_each_hole_neighbour with one thread per row,
// then one per column (a scan along a line is sequential; O(H*W) in total).
// Backward: one thread per source pixel gathers from its four targets; no
// atomics, so it is deterministic.
#include <ATen/Context.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <optional>
#include <tuple>
#include <type_traits>

#include "cuda/launch.cuh"
#include "flow_projection.h"
#include "flow_projection_checks.h"

namespace vfi_ops {
namespace {

template <typename index_t>
struct Sizes {
  index_t B, H, W;
};

template <typename index_t>
Sizes<index_t> sizes_of(const at::Tensor& flow) {
  return {static_cast<index_t>(flow.size(0)), static_cast<index_t>(flow.size(2)), static_cast<index_t>(flow.size(3))};
}

template <typename scalar_t, typename acc_t, typename index_t>
__global__ void splat_kernel(const scalar_t* __restrict__ flow, const scalar_t* __restrict__ weight,
                             acc_t* __restrict__ num, acc_t* __restrict__ den, Sizes<index_t> s) {
  const index_t HW = s.H * s.W;
  VFI_GRID_STRIDE_LOOP(i, s.B * HW) {
    const index_t b = i / HW, p = i % HW;
    const acc_t fx = static_cast<acc_t>(flow[2 * b * HW + p]), fy = static_cast<acc_t>(flow[2 * b * HW + HW + p]);
    const acc_t w = weight != nullptr ? static_cast<acc_t>(weight[i]) : acc_t(1);
    const auto fp = projection_footprint<acc_t, index_t>(p % s.W, p / s.W, fx, fy, w, s.H, s.W);
    if (!fp.valid) continue;
    acc_t* num_x = num + 2 * b * HW;
    for (int k = 0; k < 4; ++k) {
      atomicAdd(num_x + fp.offset[k], w * fx);
      atomicAdd(num_x + HW + fp.offset[k], w * fy);
      atomicAdd(den + b * HW + fp.offset[k], w);
    }
  }
}

// num becomes the projected value, in place.
template <typename acc_t, typename index_t>
__global__ void normalize_kernel(acc_t* __restrict__ num, const acc_t* __restrict__ den, Sizes<index_t> s) {
  const index_t HW = s.H * s.W;
  VFI_GRID_STRIDE_LOOP(i, s.B * HW) {
    const index_t b = i / HW, p = i % HW;
    acc_t* o = num + 2 * b * HW + p;
    o[0] = projected_value(o[0], den[i]);
    o[HW] = projected_value(o[HW], den[i]);
  }
}

// One thread per row (b, y) of every batch item.
template <typename den_t, typename index_t, typename Visit>
__global__ void scan_rows_kernel(const den_t* __restrict__ den, Sizes<index_t> s, Visit visit) {
  VFI_GRID_STRIDE_LOOP(row, s.B * s.H) {
    const index_t b = row / s.H, y = row % s.H;
    for_each_hole_neighbour<index_t>(den + b * s.H * s.W, y * s.W, index_t(1), s.W, visit.for_batch(b));
  }
}

// One thread per column (b, x): neighbouring threads read neighbouring pixels.
template <typename den_t, typename index_t, typename Visit>
__global__ void scan_columns_kernel(const den_t* __restrict__ den, Sizes<index_t> s, Visit visit) {
  VFI_GRID_STRIDE_LOOP(col, s.B * s.W) {
    const index_t b = col / s.W, x = col % s.W;
    for_each_hole_neighbour<index_t>(den + b * s.H * s.W, x, s.W, s.H, visit.for_batch(b));
  }
}

template <typename den_t, typename index_t, typename Visit>
void scan_holes(const den_t* den, Sizes<index_t> s, Visit visit, cudaStream_t stream) {
  VFI_LAUNCH(grid_size(s.B * s.H), kThreads, stream, scan_rows_kernel<den_t, index_t, Visit>)(den, s, visit);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  VFI_LAUNCH(grid_size(s.B * s.W), kThreads, stream, scan_columns_kernel<den_t, index_t, Visit>)(den, s, visit);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// cnt [B, H, W]: how many of the four rays from a hole find a non-hole.
template <typename den_t, typename index_t>
at::Tensor count_rays(const at::Tensor& den, Sizes<index_t> s, cudaStream_t stream) {
  at::Tensor cnt = at::zeros({s.B, s.H, s.W}, den.options().dtype(at::kByte));
  scan_holes(den.const_data_ptr<den_t>(), s, CountRays<index_t>{cnt.mutable_data_ptr<uint8_t>(), s.H * s.W}, stream);
  return cnt;
}

// grad: the incoming gradient, routed through hole filling when there is any.
template <typename scalar_t, typename grad_t, typename index_t>
__global__ void gather_grad_kernel(const grad_t* __restrict__ grad, const scalar_t* __restrict__ flow,
                                   const scalar_t* __restrict__ weight, const scalar_t* __restrict__ out,
                                   const at::opmath_type<scalar_t>* __restrict__ den, scalar_t* __restrict__ grad_flow,
                                   scalar_t* __restrict__ grad_weight, Sizes<index_t> s) {
  using acc_t = at::opmath_type<scalar_t>;
  const index_t HW = s.H * s.W;
  VFI_GRID_STRIDE_LOOP(i, s.B * HW) {
    const index_t b = i / HW, p = i % HW;
    const acc_t fx = static_cast<acc_t>(flow[2 * b * HW + p]), fy = static_cast<acc_t>(flow[2 * b * HW + HW + p]);
    const acc_t w = weight != nullptr ? static_cast<acc_t>(weight[i]) : acc_t(1);
    const auto fp = projection_footprint<acc_t, index_t>(p % s.W, p / s.W, fx, fy, w, s.H, s.W);
    acc_t gfx = acc_t(0), gfy = acc_t(0), gw = acc_t(0);
    if (fp.valid) {
      const grad_t* g = grad + 2 * b * HW;
      const scalar_t* o = out + 2 * b * HW;
      projection_source_grad(fp, fx, fy, w, g, g + HW, o, o + HW, den + b * HW, gfx, gfy, gw);
    }
    if (grad_flow != nullptr) {
      grad_flow[2 * b * HW + p] = static_cast<scalar_t>(gfx);
      grad_flow[2 * b * HW + HW + p] = static_cast<scalar_t>(gfy);
    }
    if (grad_weight != nullptr) grad_weight[i] = static_cast<scalar_t>(gw);
  }
}

std::tuple<at::Tensor, at::Tensor> flow_projection_cuda(const at::Tensor& flow_,
                                                        const std::optional<at::Tensor>& weight_, bool fill_holes) {
  const char* op = "flow_projection";
  check_flow_projection_args(op, flow_, weight_);
  // Atomic adds sum the contributions to a pixel in a varying order.
  at::globalContext().alertNotDeterministic("vfi_ops::flow_projection (CUDA)");
  const c10::cuda::CUDAGuard guard(flow_.device());
  const at::Tensor flow = flow_.contiguous();
  const at::Tensor weight = weight_.has_value() ? weight_->contiguous() : at::Tensor();
  const auto acc_dtype = den_dtype(flow.scalar_type());
  const auto B = flow.size(0), H = flow.size(2), W = flow.size(3);
  // The projection is computed in acc (the output itself for float and double).
  at::Tensor acc = at::zeros(flow.sizes(), flow.options().dtype(acc_dtype));
  at::Tensor den = at::zeros({B, 1, H, W}, flow.options().dtype(acc_dtype));
  if (flow.numel() == 0) return {acc.to(flow.scalar_type()), den};
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, flow.scalar_type(), "flow_projection_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    with_index_type(fits_int32({flow.numel()}), [&](auto index_zero) {
      using index_t = decltype(index_zero);
      const Sizes<index_t> s = sizes_of<index_t>(flow);
      const index_t pixels = s.B * s.H * s.W;
      acc_t* num = acc.mutable_data_ptr<acc_t>();
      acc_t* den_p = den.mutable_data_ptr<acc_t>();
      VFI_LAUNCH(grid_size(pixels), kThreads, stream, splat_kernel<scalar_t, acc_t, index_t>)(
          flow.const_data_ptr<scalar_t>(), weight.defined() ? weight.const_data_ptr<scalar_t>() : nullptr, num, den_p,
          s);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      VFI_LAUNCH(grid_size(pixels), kThreads, stream, normalize_kernel<acc_t, index_t>)(num, den_p, s);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      if (fill_holes) {
        const at::Tensor cnt = count_rays<acc_t, index_t>(den, s, stream);
        scan_holes(den_p, s, FillFromNeighbour<acc_t, index_t>{num, cnt.const_data_ptr<uint8_t>(), s.H * s.W},
                   stream);
      }
    });
  });
  return {acc.to(flow.scalar_type()), den};  // no copy for float and double
}

std::tuple<at::Tensor, at::Tensor> flow_projection_backward_cuda(const at::Tensor& grad_output_,
                                                                 const at::Tensor& flow_,
                                                                 const std::optional<at::Tensor>& weight_,
                                                                 const at::Tensor& output_, const at::Tensor& den_,
                                                                 bool fill_holes, std::array<bool, 2> output_mask) {
  check_flow_projection_backward_args(grad_output_, flow_, weight_, output_, den_);
  const c10::cuda::CUDAGuard guard(flow_.device());
  const bool need_weight = output_mask[1] && weight_.has_value();
  const at::Tensor grad_output = grad_output_.contiguous();
  const at::Tensor flow = flow_.contiguous();
  const at::Tensor weight = weight_.has_value() ? weight_->contiguous() : at::Tensor();
  const at::Tensor output = output_.contiguous();
  const at::Tensor den = den_.contiguous();
  at::Tensor grad_flow = output_mask[0] ? uninitialized(flow.sizes(), flow.options()) : at::empty({0}, flow.options());
  at::Tensor grad_weight = need_weight ? uninitialized(weight.sizes(), weight.options()) : at::empty({0}, flow.options());
  if (flow.numel() == 0 || !(output_mask[0] || need_weight)) return {grad_flow, grad_weight};
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, flow.scalar_type(), "flow_projection_backward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    with_index_type(fits_int32({flow.numel()}), [&](auto index_zero) {
      using index_t = decltype(index_zero);
      const Sizes<index_t> s = sizes_of<index_t>(flow);
      const index_t pixels = s.B * s.H * s.W;
      const acc_t* den_p = den.const_data_ptr<acc_t>();
      auto gather = [&](const auto* grad) {
        using grad_t = std::remove_cv_t<std::remove_pointer_t<decltype(grad)>>;
        VFI_LAUNCH(grid_size(pixels), kThreads, stream, gather_grad_kernel<scalar_t, grad_t, index_t>)(
            grad, flow.const_data_ptr<scalar_t>(), weight.defined() ? weight.const_data_ptr<scalar_t>() : nullptr,
            output.const_data_ptr<scalar_t>(), den_p,
            output_mask[0] ? grad_flow.mutable_data_ptr<scalar_t>() : nullptr,
            need_weight ? grad_weight.mutable_data_ptr<scalar_t>() : nullptr, s);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      };
      if (!fill_holes) {
        gather(grad_output.const_data_ptr<scalar_t>());
        return;
      }
      // The gradient of each filled hole first goes to the pixels it averaged.
      at::Tensor grad = grad_output.to(den.scalar_type(), /*non_blocking=*/false, /*copy=*/true);
      const at::Tensor cnt = count_rays<acc_t, index_t>(den, s, stream);
      scan_holes(den_p, s,
                 FillGradToNeighbour<acc_t, index_t, scalar_t>{grad.mutable_data_ptr<acc_t>(),
                                                               grad_output.const_data_ptr<scalar_t>(),
                                                               cnt.const_data_ptr<uint8_t>(), s.H * s.W},
                 stream);
      gather(grad.const_data_ptr<acc_t>());
    });
  });
  return {grad_flow, grad_weight};
}

}  // namespace

TORCH_LIBRARY_IMPL(VFI_OPS_LIBRARY, VFI_OPS_CUDA_KEY, m) {
  m.impl("flow_projection", &flow_projection_cuda);
  m.impl("flow_projection_backward", &flow_projection_backward_cuda);
}

}  // namespace vfi_ops
