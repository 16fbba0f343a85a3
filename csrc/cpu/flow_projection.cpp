// flow_projection: CPU launchers. The per-element math is in flow_projection_math.h.
//
// The forward splat is split by target rows: each task owns a band of output
// rows and applies, in source order, every contribution that lands in it. No
// two tasks write one pixel, and every pixel sums its contributions in the same
// order whatever the number of threads, so results are bitwise reproducible.
// The backward is a gather (each source reads its four targets) and each hole
// filling pass is one scan per row and per column.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <algorithm>
#include <optional>
#include <tuple>
#include <vector>

#include "cpu/partition.h"
#include "flow_projection_math.h"
#include "flow_projection_checks.h"
#include "flow_projection_weights.h"

namespace vfi_ops {
namespace {

struct Sizes {
  int64_t B, H, W;
};

// Runs for_each_hole_neighbour with `visit` along every row, then along every
// column, of each batch item. Row tasks only write their row and column tasks
// their column.
template <typename Visit>
void scan_holes(const Known<int64_t>& known, const Sizes& s, const Visit& visit) {
  at::parallel_for(0, s.B * s.H, rows_per_task(s.W), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / s.H, y = row % s.H;
      for_each_hole_neighbour<int64_t>(known.for_batch(b), y * s.W, int64_t(1), s.W, visit.for_batch(b));
    }
  });
  at::parallel_for(0, s.B * s.W, rows_per_task(s.H), [&](int64_t begin, int64_t end) {
    for (int64_t col = begin; col < end; ++col) {
      const int64_t b = col / s.W, x = col % s.W;
      for_each_hole_neighbour<int64_t>(known.for_batch(b), x, s.W, s.H, visit.for_batch(b));
    }
  });
}

// The two fill passes' ray counts (see flow_projection_math.h) and what each knows.
struct FillPasses {
  std::vector<uint8_t> cnt1, cnt2;
  Known<int64_t> known1, known2;

  FillPasses(const double* den, const Sizes& s) : cnt1(s.B * s.H * s.W, 0), cnt2(s.B * s.H * s.W, 0) {
    const int64_t HW = s.H * s.W;
    known1 = {den, nullptr, HW};
    scan_holes(known1, s, CountRays<int64_t>{cnt1.data(), HW});
    known2 = {den, cnt1.data(), HW};
    scan_holes(known2, s, CountRays<int64_t>{cnt2.data(), HW});
  }
};

// Accumulates num and den for the target rows [row_begin, row_end) of the
// flattened (b, y) range.
template <typename scalar_t>
void splat_rows(const scalar_t* flow, const scalar_t* weight, const double* scale, double* num, double* den,
                const Sizes& s, int64_t row_begin, int64_t row_end) {
  const int64_t HW = s.H * s.W;
  for (int64_t b = row_begin / s.H; b * s.H < row_end; ++b) {
    const int64_t lo = std::max<int64_t>(row_begin - b * s.H, 0), hi = std::min<int64_t>(row_end - b * s.H, s.H);
    const scalar_t* fx = flow + b * 2 * HW;
    const scalar_t* fy = fx + HW;
    const scalar_t* wb = weight != nullptr ? weight + b * HW : nullptr;
    const double sb = scale != nullptr ? scale[b] : 1.0;
    double* num_x = num + b * 2 * HW;
    double* num_y = num_x + HW;
    double* den_b = den + b * HW;
    for (int64_t y = 0; y < s.H; ++y) {
      for (int64_t x = 0; x < s.W; ++x) {
        const int64_t p = y * s.W + x;
        const scalar_t w = wb != nullptr ? wb[p] : scalar_t(1);
        const auto fp = projection_footprint<scalar_t, int64_t>(x, y, fx[p], fy[p], projection_weight_ok(w), s.H, s.W);
        if (!fp.valid | (fp.bottom < lo) | (fp.top >= hi)) continue;
        const double ws = static_cast<double>(w) * sb;
        const double wx = ws * static_cast<double>(fx[p]), wy = ws * static_cast<double>(fy[p]);
        for (int k = 0; k < 4; ++k) {
          const int64_t row = k < 2 ? fp.top : fp.bottom;
          if ((row < lo) | (row >= hi)) continue;
          num_x[fp.offset[k]] += wx;
          num_y[fp.offset[k]] += wy;
          den_b[fp.offset[k]] += ws;
        }
      }
    }
  }
}

// num becomes the projected (and, with fill_holes, filled) flow, in place.
template <typename scalar_t>
void forward_kernel(const scalar_t* flow, const scalar_t* weight, const double* scale, double* num, double* den,
                    const Sizes& s, bool fill_holes) {
  const int64_t HW = s.H * s.W;
  // One band of target rows per thread: each band reads every source of its
  // batch items but writes only its own rows.
  const int64_t threads = at::get_num_threads();
  at::parallel_for(0, s.B * s.H, (s.B * s.H + threads - 1) / threads,
                   [&](int64_t begin, int64_t end) { splat_rows(flow, weight, scale, num, den, s, begin, end); });
  at::parallel_for(0, s.B * HW, 16384, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / HW, p = i % HW;
      double* o = num + b * 2 * HW + p;
      o[0] = projected_value(o[0], den[i]);
      o[HW] = projected_value(o[HW], den[i]);
    }
  });
  if (!fill_holes) return;
  const FillPasses passes(den, s);
  scan_holes(passes.known1, s, FillFromNeighbour{num, passes.cnt1.data(), HW});
  scan_holes(passes.known2, s, FillFromNeighbour{num, passes.cnt2.data(), HW});
}

// grad: the incoming gradient, already routed through hole filling.
template <typename scalar_t, typename grad_t>
void backward_kernel(const grad_t* grad, const scalar_t* flow, const scalar_t* weight, const double* scale,
                     const scalar_t* out, const double* den, scalar_t* grad_flow, scalar_t* grad_weight,
                     const Sizes& s) {
  const int64_t HW = s.H * s.W;
  at::parallel_for(0, s.B * HW, 8192, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / HW, p = i % HW, x = p % s.W, y = p / s.W;
      const scalar_t fx = flow[b * 2 * HW + p], fy = flow[b * 2 * HW + HW + p];
      const scalar_t w = weight != nullptr ? weight[i] : scalar_t(1);
      const auto fp = projection_footprint<scalar_t, int64_t>(x, y, fx, fy, projection_weight_ok(w), s.H, s.W);
      double gfx = 0, gfy = 0, gw = 0;
      if (fp.valid) {
        const grad_t* g = grad + b * 2 * HW;
        const scalar_t* o = out + b * 2 * HW;
        projection_source_grad(fp, fx, fy, w, scale != nullptr ? scale[b] : 1.0, g, g + HW, o, o + HW, den + b * HW,
                               gfx, gfy, gw);
      }
      if (grad_flow != nullptr) {
        grad_flow[b * 2 * HW + p] = static_cast<scalar_t>(gfx);
        grad_flow[b * 2 * HW + HW + p] = static_cast<scalar_t>(gfy);
      }
      if (grad_weight != nullptr) grad_weight[i] = static_cast<scalar_t>(gw);
    }
  });
}

std::tuple<at::Tensor, at::Tensor> flow_projection_cpu(const at::Tensor& flow_,
                                                       const std::optional<at::Tensor>& weight_, bool fill_holes) {
  const char* op = "flow_projection";
  check_flow_projection_args(op, flow_, weight_);
  check_cpu_dtype(op, flow_);
  const at::Tensor flow = flow_.contiguous();
  const at::Tensor weight = weight_.has_value() ? weight_->contiguous() : at::Tensor();
  const Sizes s{flow.size(0), flow.size(2), flow.size(3)};
  // The projection is computed in num (the output itself for float64).
  at::Tensor num = at::zeros(flow.sizes(), flow.options().dtype(at::kDouble));
  at::Tensor den = at::zeros({s.B, 1, s.H, s.W}, flow.options().dtype(at::kDouble));
  if (num.numel() == 0) return {num.to(flow.scalar_type()), den};
  const at::Tensor scale = weight.defined() ? projection_weight_scales(weight) : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(flow.scalar_type(), "flow_projection_cpu", [&] {
    forward_kernel<scalar_t>(flow.const_data_ptr<scalar_t>(),
                             weight.defined() ? weight.const_data_ptr<scalar_t>() : nullptr,
                             scale.defined() ? scale.const_data_ptr<double>() : nullptr, num.mutable_data_ptr<double>(),
                             den.mutable_data_ptr<double>(), s, fill_holes);
  });
  return {num.to(flow.scalar_type()), den};
}

std::tuple<at::Tensor, at::Tensor> flow_projection_backward_cpu(const at::Tensor& grad_output_, const at::Tensor& flow_,
                                                                const std::optional<at::Tensor>& weight_,
                                                                const at::Tensor& output_, const at::Tensor& den_,
                                                                bool fill_holes, std::array<bool, 2> output_mask) {
  check_flow_projection_backward_args(grad_output_, flow_, weight_, output_, den_);
  check_cpu_dtype("flow_projection_backward", flow_);
  const bool need_weight = output_mask[1] && weight_.has_value();
  const at::Tensor flow = flow_.contiguous();
  const at::Tensor weight = weight_.has_value() ? weight_->contiguous() : at::Tensor();
  const at::Tensor output = output_.contiguous();
  const at::Tensor den = den_.contiguous();
  const Sizes s{flow.size(0), flow.size(2), flow.size(3)};
  at::Tensor grad_flow = output_mask[0] ? at::empty(flow.sizes(), flow.options()) : at::empty({0}, flow.options());
  at::Tensor grad_weight = need_weight ? at::empty(weight.sizes(), weight.options()) : at::empty({0}, flow.options());
  if (flow.numel() == 0 || !(output_mask[0] || need_weight)) return {grad_flow, grad_weight};
  const at::Tensor scale = weight.defined() ? projection_weight_scales(weight) : at::Tensor();
  const at::Tensor grad_output = grad_output_.contiguous();
  const double* den_p = den.const_data_ptr<double>();
  AT_DISPATCH_FLOATING_TYPES(flow.scalar_type(), "flow_projection_backward_cpu", [&] {
    auto gather = [&](const auto* grad) {
      backward_kernel<scalar_t>(
          grad, flow.const_data_ptr<scalar_t>(), weight.defined() ? weight.const_data_ptr<scalar_t>() : nullptr,
          scale.defined() ? scale.const_data_ptr<double>() : nullptr, output.const_data_ptr<scalar_t>(), den_p,
          output_mask[0] ? grad_flow.mutable_data_ptr<scalar_t>() : nullptr,
          need_weight ? grad_weight.mutable_data_ptr<scalar_t>() : nullptr, s);
    };
    if (!fill_holes) {
      gather(grad_output.const_data_ptr<scalar_t>());
      return;
    }
    // The gradient of each filled hole first goes to the pixels it averaged,
    // the second pass's first; the sources then read it from there.
    at::Tensor grad = grad_output.to(at::kDouble, /*non_blocking=*/false, /*copy=*/true);
    const FillPasses passes(den_p, s);
    double* g = grad.mutable_data_ptr<double>();
    scan_holes(passes.known2, s, FillGradToNeighbour{g, passes.cnt2.data(), s.H * s.W});
    scan_holes(passes.known1, s, FillGradToNeighbour{g, passes.cnt1.data(), s.H * s.W});
    gather(grad.const_data_ptr<double>());
  });
  return {grad_flow, grad_weight};
}

}  // namespace

TORCH_LIBRARY_IMPL(vfi_ops, CPU, m) {
  m.impl("flow_projection", &flow_projection_cpu);
  m.impl("flow_projection_backward", &flow_projection_backward_cpu);
}

}  // namespace vfi_ops
