// flow_projection: CUDA launchers. The math is in flow_projection_math.h.
//
// Forward: one thread per source pixel splats into double accumulators with
// atomic adds, one thread per pixel turns them into the output. Each hole
// filling pass runs for_each_hole_neighbour with one thread per row, then one
// per column (a scan along a line is sequential; O(H*W) in total).
// Backward: one thread per source pixel gathers from its four targets; no
// atomics, so it is deterministic.
// The per-item weight scales (flow_projection_weights.h) take two launches: a
// zero fill and largest_weight_kernel; the splat and gather threads compute
// the scale 2^-e from the item's largest usable weight themselves.
#include <ATen/Context.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>
#include <torch/library.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <optional>
#include <tuple>
#include <type_traits>

#include "cuda/launch.cuh"
#include "flow_projection_math.h"
#include "flow_projection_checks.h"
#include "index_width.h"

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

// Threads per batch item of largest_weight_kernel: each takes the maximum of
// its share of the item's pixels, then makes one atomic maximum.
constexpr int64_t kLargestWeightThreads = 32 * kThreads;

// largest[b] = the bits of the largest usable (positive, finite) weight of item
// b, as float64, or 0; non-negative float64 values order as their bits. largest
// starts at 0. Threads: B * kLargestWeightThreads.
template <typename scalar_t, typename index_t>
__global__ void largest_weight_kernel(const scalar_t* __restrict__ weight, unsigned long long* __restrict__ largest,
                                      Sizes<index_t> s) {
  const index_t HW = s.H * s.W, per_item = static_cast<index_t>(kLargestWeightThreads);
  VFI_GRID_STRIDE_LOOP(t, s.B * per_item) {
    const index_t b = t / per_item;
    double m = 0.0;
    for (index_t p = t % per_item; p < HW; p += per_item) {
      const double w = static_cast<double>(weight[b * HW + p]);
      m = w > m && w <= DBL_MAX ? w : m;  // NaN and inf are not usable
    }
    unsigned long long bits;
    memcpy(&bits, &m, sizeof(bits));
    if (bits != 0) atomicMax(largest + b, bits);
  }
}

// The scale of projection_weight_scales from the bits of the largest usable
// weight: 2^-e with largest = f 2^e, f in [0.5, 1) (e = 0 for 0), e >= -1021.
__device__ __forceinline__ double weight_scale(unsigned long long largest_bits) {
  double largest;
  memcpy(&largest, &largest_bits, sizeof(largest));
  int e = 0;
  (void)std::frexp(largest, &e);
  return std::ldexp(1.0, -(e < -1021 ? -1021 : e));
}

// largest: [B] bits of each item's largest usable weight (largest_weight_kernel), or null (no weight).
template <typename scalar_t, typename index_t>
__global__ void splat_kernel(const scalar_t* __restrict__ flow, const scalar_t* __restrict__ weight,
                             const unsigned long long* __restrict__ largest, double* __restrict__ num,
                             double* __restrict__ den, Sizes<index_t> s) {
  using pos_t = at::opmath_type<scalar_t>;
  const index_t HW = s.H * s.W;
  VFI_GRID_STRIDE_LOOP(i, s.B * HW) {
    const index_t b = i / HW, p = i % HW;
    const pos_t fx = static_cast<pos_t>(flow[2 * b * HW + p]), fy = static_cast<pos_t>(flow[2 * b * HW + HW + p]);
    const pos_t w = weight != nullptr ? static_cast<pos_t>(weight[i]) : pos_t(1);
    const auto fp = projection_footprint<pos_t, index_t>(p % s.W, p / s.W, fx, fy, projection_weight_ok(w), s.H, s.W);
    if (!fp.valid) continue;
    const double ws = static_cast<double>(w) * (largest != nullptr ? weight_scale(largest[b]) : 1.0);
    double* num_x = num + 2 * b * HW;
    for (int k = 0; k < 4; ++k) {
      atomicAdd(num_x + fp.offset[k], ws * static_cast<double>(fx));
      atomicAdd(num_x + HW + fp.offset[k], ws * static_cast<double>(fy));
      atomicAdd(den + b * HW + fp.offset[k], ws);
    }
  }
}

// num becomes the projected value, in place.
template <typename index_t>
__global__ void normalize_kernel(double* __restrict__ num, const double* __restrict__ den, Sizes<index_t> s) {
  const index_t HW = s.H * s.W;
  VFI_GRID_STRIDE_LOOP(i, s.B * HW) {
    const index_t b = i / HW, p = i % HW;
    double* o = num + 2 * b * HW + p;
    o[0] = projected_value(o[0], den[i]);
    o[HW] = projected_value(o[HW], den[i]);
  }
}

// One thread per row (b, y) of every batch item.
template <typename index_t, typename Visit>
__global__ void scan_rows_kernel(Known<index_t> known, Sizes<index_t> s, Visit visit) {
  VFI_GRID_STRIDE_LOOP(row, s.B * s.H) {
    const index_t b = row / s.H, y = row % s.H;
    for_each_hole_neighbour<index_t>(known.for_batch(b), y * s.W, index_t(1), s.W, visit.for_batch(b));
  }
}

// One thread per column (b, x): neighbouring threads read neighbouring pixels.
template <typename index_t, typename Visit>
__global__ void scan_columns_kernel(Known<index_t> known, Sizes<index_t> s, Visit visit) {
  VFI_GRID_STRIDE_LOOP(col, s.B * s.W) {
    const index_t b = col / s.W, x = col % s.W;
    for_each_hole_neighbour<index_t>(known.for_batch(b), x, s.W, s.H, visit.for_batch(b));
  }
}

template <typename index_t, typename Visit>
void scan_holes(const Known<index_t>& known, Sizes<index_t> s, Visit visit, cudaStream_t stream) {
  VFI_LAUNCH(grid_size(s.B * s.H), kThreads, stream, scan_rows_kernel<index_t, Visit>)(known, s, visit);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  VFI_LAUNCH(grid_size(s.B * s.W), kThreads, stream, scan_columns_kernel<index_t, Visit>)(known, s, visit);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// The two fill passes' ray counts (see flow_projection_math.h) and what each knows.
template <typename index_t>
struct FillPasses {
  at::Tensor cnt1, cnt2;  // [B, H, W] uint8
  Known<index_t> known1, known2;

  FillPasses(const at::Tensor& den, Sizes<index_t> s, cudaStream_t stream)
      : cnt1(at::zeros({s.B, s.H, s.W}, den.options().dtype(at::kByte))), cnt2(at::zeros_like(cnt1)) {
    const index_t HW = s.H * s.W;
    known1 = {den.const_data_ptr<double>(), nullptr, HW};
    scan_holes(known1, s, CountRays<index_t>{cnt1.mutable_data_ptr<uint8_t>(), HW}, stream);
    known2 = {den.const_data_ptr<double>(), cnt1.const_data_ptr<uint8_t>(), HW};
    scan_holes(known2, s, CountRays<index_t>{cnt2.mutable_data_ptr<uint8_t>(), HW}, stream);
  }
};

// grad: the incoming gradient, routed through hole filling when there is any.
template <typename scalar_t, typename grad_t, typename index_t>
__global__ void gather_grad_kernel(const grad_t* __restrict__ grad, const scalar_t* __restrict__ flow,
                                   const scalar_t* __restrict__ weight, const unsigned long long* __restrict__ largest,
                                   const scalar_t* __restrict__ out, const double* __restrict__ den,
                                   scalar_t* __restrict__ grad_flow, scalar_t* __restrict__ grad_weight,
                                   Sizes<index_t> s) {
  using pos_t = at::opmath_type<scalar_t>;
  const index_t HW = s.H * s.W;
  VFI_GRID_STRIDE_LOOP(i, s.B * HW) {
    const index_t b = i / HW, p = i % HW;
    const pos_t fx = static_cast<pos_t>(flow[2 * b * HW + p]), fy = static_cast<pos_t>(flow[2 * b * HW + HW + p]);
    const pos_t w = weight != nullptr ? static_cast<pos_t>(weight[i]) : pos_t(1);
    const auto fp = projection_footprint<pos_t, index_t>(p % s.W, p / s.W, fx, fy, projection_weight_ok(w), s.H, s.W);
    double gfx = 0.0, gfy = 0.0, gw = 0.0;
    if (fp.valid) {
      const grad_t* g = grad + 2 * b * HW;
      const scalar_t* o = out + 2 * b * HW;
      projection_source_grad(fp, fx, fy, w, largest != nullptr ? weight_scale(largest[b]) : 1.0, g, g + HW, o, o + HW,
                             den + b * HW, gfx, gfy, gw);
    }
    if (grad_flow != nullptr) {
      grad_flow[2 * b * HW + p] = static_cast<scalar_t>(gfx);
      grad_flow[2 * b * HW + HW + p] = static_cast<scalar_t>(gfy);
    }
    if (grad_weight != nullptr) grad_weight[i] = static_cast<scalar_t>(gw);
  }
}

// [B] zeros for largest_weight_kernel (int64: the unsigned 64-bit dtype is
// missing from older torch releases), or undefined without a weight.
at::Tensor largest_weight_buffer(const at::Tensor& weight) {
  return weight.defined() ? at::zeros({weight.size(0)}, weight.options().dtype(at::kLong)) : at::Tensor();
}

// Runs largest_weight_kernel into `largest` (from largest_weight_buffer); null without a weight.
template <typename scalar_t, typename index_t>
const unsigned long long* find_largest_weights(const at::Tensor& weight, const at::Tensor& largest, Sizes<index_t> s,
                                               cudaStream_t stream) {
  if (!weight.defined()) return nullptr;
  auto* largest_p = reinterpret_cast<unsigned long long*>(largest.mutable_data_ptr<int64_t>());
  VFI_LAUNCH(grid_size(s.B * kLargestWeightThreads), kThreads, stream, largest_weight_kernel<scalar_t, index_t>)(
      weight.const_data_ptr<scalar_t>(), largest_p, s);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return largest_p;
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
  const auto B = flow.size(0), H = flow.size(2), W = flow.size(3);
  // The projection is computed in num (the output itself for float64).
  at::Tensor num = at::zeros(flow.sizes(), flow.options().dtype(at::kDouble));
  at::Tensor den = at::zeros({B, 1, H, W}, flow.options().dtype(at::kDouble));
  if (flow.numel() == 0) return {num.to(flow.scalar_type()), den};
  const at::Tensor largest = largest_weight_buffer(weight);
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, flow.scalar_type(), "flow_projection_cuda", [&] {
    with_index_type(fits_int32({flow.numel()}), [&](auto index_zero) {
      using index_t = decltype(index_zero);
      const Sizes<index_t> s = sizes_of<index_t>(flow);
      const index_t pixels = s.B * s.H * s.W;
      double* num_p = num.mutable_data_ptr<double>();
      double* den_p = den.mutable_data_ptr<double>();
      const unsigned long long* largest_p = find_largest_weights<scalar_t>(weight, largest, s, stream);
      VFI_LAUNCH(grid_size(pixels), kThreads, stream, splat_kernel<scalar_t, index_t>)(
          flow.const_data_ptr<scalar_t>(), weight.defined() ? weight.const_data_ptr<scalar_t>() : nullptr, largest_p,
          num_p, den_p, s);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      VFI_LAUNCH(grid_size(pixels), kThreads, stream, normalize_kernel<index_t>)(num_p, den_p, s);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      if (fill_holes) {
        const FillPasses<index_t> passes(den, s, stream);
        const int64_t HW = s.H * s.W;
        scan_holes(passes.known1, s, FillFromNeighbour{num_p, passes.cnt1.template const_data_ptr<uint8_t>(), HW},
                   stream);
        scan_holes(passes.known2, s, FillFromNeighbour{num_p, passes.cnt2.template const_data_ptr<uint8_t>(), HW},
                   stream);
      }
    });
  });
  return {num.to(flow.scalar_type()), den};  // no copy for float64
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
  at::Tensor grad_weight =
      need_weight ? uninitialized(weight.sizes(), weight.options()) : at::empty({0}, flow.options());
  if (flow.numel() == 0 || !(output_mask[0] || need_weight)) return {grad_flow, grad_weight};
  const at::Tensor largest = largest_weight_buffer(weight);
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, flow.scalar_type(), "flow_projection_backward_cuda", [&] {
    with_index_type(fits_int32({flow.numel()}), [&](auto index_zero) {
      using index_t = decltype(index_zero);
      const Sizes<index_t> s = sizes_of<index_t>(flow);
      const index_t pixels = s.B * s.H * s.W;
      const unsigned long long* largest_p = find_largest_weights<scalar_t>(weight, largest, s, stream);
      auto gather = [&](const auto* grad) {
        using grad_t = std::remove_cv_t<std::remove_pointer_t<decltype(grad)>>;
        VFI_LAUNCH(grid_size(pixels), kThreads, stream, gather_grad_kernel<scalar_t, grad_t, index_t>)(
            grad, flow.const_data_ptr<scalar_t>(), weight.defined() ? weight.const_data_ptr<scalar_t>() : nullptr,
            largest_p, output.const_data_ptr<scalar_t>(), den.const_data_ptr<double>(),
            output_mask[0] ? grad_flow.mutable_data_ptr<scalar_t>() : nullptr,
            need_weight ? grad_weight.mutable_data_ptr<scalar_t>() : nullptr, s);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      };
      if (!fill_holes) {
        gather(grad_output.const_data_ptr<scalar_t>());
        return;
      }
      // The gradient of each filled hole first goes to the pixels it averaged,
      // the second pass's first; the sources then read it from there.
      at::Tensor grad = grad_output.to(at::kDouble, /*non_blocking=*/false, /*copy=*/true);
      const FillPasses<index_t> passes(den, s, stream);
      double* g = grad.mutable_data_ptr<double>();
      const int64_t HW = s.H * s.W;
      scan_holes(passes.known2, s, FillGradToNeighbour{g, passes.cnt2.template const_data_ptr<uint8_t>(), HW}, stream);
      scan_holes(passes.known1, s, FillGradToNeighbour{g, passes.cnt1.template const_data_ptr<uint8_t>(), HW}, stream);
      gather(grad.const_data_ptr<double>());
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
