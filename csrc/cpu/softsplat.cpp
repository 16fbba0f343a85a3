// softsplat: CPU launchers. The per-element math is in softsplat.h.
//
// Forward, without atomics and deterministic for any number of threads: the
// target rows are split into one band per thread, and each band splats, in
// source order, every contribution that lands in its rows, then normalises
// them. No two tasks write one pixel, and every pixel sums its contributions in
// source order whatever the number of bands, so results are bitwise
// reproducible. So that the work does not grow with the number of threads, a
// first pass notes which target rows each source row reaches (and each batch
// item's metric maximum), and a band visits only the source rows that reach it:
// with real motion a source row reaches a few target rows, so nearly every
// source is visited once.
// Backward: a gather, each source reading its four targets.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <tuple>
#include <vector>

#include "cpu/partition.h"
#include "softsplat.h"
#include "softsplat_checks.h"

namespace vfi_ops {
namespace {

struct Sizes {
  int64_t B, C, H, W;
};

template <typename scalar_t>
struct Args {
  const scalar_t* input;   // [B, C, H, W]
  const scalar_t* flow;    // [B, 2, H, W]
  const scalar_t* metric;  // [B, 1, H, W], or nullptr ("sum", "avg")
  SplatMode mode;
  Sizes s;
};

// One source pixel: its taps, whether it lands, and its metric.
template <typename scalar_t>
struct Source {
  BilinearTaps<scalar_t, int64_t> taps;
  bool lands;
  scalar_t Z;

  Source(const Args<scalar_t>& a, int64_t b, int64_t x, int64_t y) {
    const int64_t HW = a.s.H * a.s.W, p = y * a.s.W + x;
    const scalar_t* f = a.flow + b * 2 * HW;
    taps = splat_taps<scalar_t, int64_t>(x, y, f[p], f[HW + p], a.s.H, a.s.W);
    lands = splat_lands(taps);
    Z = a.metric != nullptr ? a.metric[b * HW + p] : scalar_t(0);
  }

  // The global rows (b * H + row) of the top and bottom taps; only for a source that lands.
  std::array<int64_t, 2> rows(const Args<scalar_t>& a, int64_t b, int64_t x, int64_t y) const {
    const int64_t top = splat_top_row(y, a.flow[(b * 2 + 1) * a.s.H * a.s.W + y * a.s.W + x]);
    return {b * a.s.H + top, b * a.s.H + top + 1};
  }
};

// Whether the source takes part: it lands, and its metric is usable where one is used.
template <typename scalar_t>
bool takes_part(const Source<scalar_t>& src, SplatMode mode) {
  return src.lands && (!splat_uses_metric(mode) ||
                       splat_metric_key(true, src.Z, mode) > -std::numeric_limits<scalar_t>::infinity());
}

// What the sources of one row (b, y) reach: the global target rows [first, last]
// (first > last if none lands) and their largest metric key.
template <typename scalar_t>
struct RowReach {
  int64_t first, last;
  scalar_t key_max;
};

template <typename scalar_t>
std::vector<RowReach<scalar_t>> row_reach(const Args<scalar_t>& a) {
  const Sizes& s = a.s;
  std::vector<RowReach<scalar_t>> reach(s.B * s.H);
  at::parallel_for(0, s.B * s.H, rows_per_task(4 * s.W), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t b = r / s.H, y = r % s.H;
      RowReach<scalar_t> rr{std::numeric_limits<int64_t>::max(), -1, -std::numeric_limits<scalar_t>::infinity()};
      for (int64_t x = 0; x < s.W; ++x) {
        const Source<scalar_t> src(a, b, x, y);
        if (!takes_part(src, a.mode)) continue;
        rr.key_max = std::max(rr.key_max, splat_metric_key(true, src.Z, a.mode));
        const auto rows = src.rows(a, b, x, y);
        rr.first = std::min(rr.first, std::max(rows[0], b * s.H));
        rr.last = std::max(rr.last, std::min(rows[1], (b + 1) * s.H - 1));
      }
      reach[r] = rr;
    }
  });
  return reach;
}

// Splats source (b, x, y) into num and den, only into the global rows [row_begin, row_end).
template <typename scalar_t>
void splat_source(const Args<scalar_t>& a, const scalar_t* M, int64_t b, int64_t x, int64_t y, int64_t row_begin,
                  int64_t row_end, scalar_t* num, scalar_t* den) {
  const Sizes& s = a.s;
  const int64_t HW = s.H * s.W, p = y * s.W + x;
  const Source<scalar_t> src(a, b, x, y);
  const scalar_t z = splat_factor(src.lands, src.Z, M[b], a.mode);
  if (!(z > scalar_t(0))) return;
  const auto rows = src.rows(a, b, x, y);
  // The taps this band writes, compacted.
  int64_t offset[4];
  scalar_t wz[4];
  int n = 0;
  for (int k = 0; k < 4; ++k) {
    const int64_t row = rows[k / 2];
    if (src.taps.mask[k] != scalar_t(0) && row >= row_begin && row < row_end) {
      offset[n] = src.taps.offset[k];
      wz[n++] = src.taps.w[k] * z;
    }
  }
  scalar_t* den_b = den + b * HW;
  for (int k = 0; k < n; ++k) den_b[offset[k]] += wz[k];
  const scalar_t* in = a.input + b * s.C * HW + p;
  scalar_t* num_b = num + b * s.C * HW;
  for (int64_t c = 0; c < s.C; ++c) {
    const scalar_t v = in[c * HW];
    scalar_t* plane = num_b + c * HW;
    for (int k = 0; k < n; ++k) plane[offset[k]] += wz[k] * v;
  }
}

// num becomes the output in the global rows [row_begin, row_end).
template <typename scalar_t>
void normalize_rows(const Sizes& s, SplatMode mode, const scalar_t* den, scalar_t* num, int64_t row_begin,
                    int64_t row_end) {
  if (!splat_normalized(mode)) return;
  for (int64_t r = row_begin; r < row_end; ++r) {
    const int64_t b = r / s.H, y = r % s.H;
    const scalar_t* d = den + r * s.W;
    for (int64_t c = 0; c < s.C; ++c) {
      scalar_t* o = num + ((b * s.C + c) * s.H + y) * s.W;
      for (int64_t x = 0; x < s.W; ++x) o[x] = splat_output(o[x], d[x], mode);
    }
  }
}

template <typename scalar_t>
void forward_kernel(const Args<scalar_t>& a, scalar_t* out, scalar_t* den, scalar_t* metric_max) {
  const Sizes& s = a.s;
  const int64_t R = s.B * s.H;
  const int64_t rows_per_band = (R + at::get_num_threads() - 1) / at::get_num_threads();
  const int64_t bands = (R + rows_per_band - 1) / rows_per_band;
  const bool metric = splat_uses_metric(a.mode);
  std::vector<RowReach<scalar_t>> reach;
  if (bands > 1 || metric) reach = row_reach(a);
  for (int64_t b = 0; b < s.B; ++b) {
    scalar_t m = -std::numeric_limits<scalar_t>::infinity();
    if (metric) {
      for (int64_t y = 0; y < s.H; ++y) m = std::max(m, reach[b * s.H + y].key_max);
    }
    metric_max[b] = metric ? m : scalar_t(0);
  }
  at::parallel_for(0, bands, 1, [&](int64_t first, int64_t last) {
    for (int64_t j = first; j < last; ++j) {
      const int64_t row_begin = j * rows_per_band, row_end = std::min(R, row_begin + rows_per_band);
      for (int64_t r = 0; r < R; ++r) {
        if (bands > 1 && (reach[r].last < row_begin || reach[r].first >= row_end)) continue;
        const int64_t b = r / s.H, y = r % s.H;
        for (int64_t x = 0; x < s.W; ++x) splat_source(a, metric_max, b, x, y, row_begin, row_end, out, den);
      }
      normalize_rows(s, a.mode, den, out, row_begin, row_end);
    }
  });
}

// The gradients of the sources in the global rows [row_begin, row_end); any of
// grad_input, grad_flow, grad_metric may be nullptr (not wanted).
template <typename scalar_t>
void backward_rows(const Args<scalar_t>& a, const scalar_t* M, const scalar_t* grad, const scalar_t* out,
                   const scalar_t* den, scalar_t* grad_input, scalar_t* grad_flow, scalar_t* grad_metric,
                   int64_t row_begin, int64_t row_end) {
  const Sizes& s = a.s;
  const int64_t HW = s.H * s.W;
  for (int64_t r = row_begin; r < row_end; ++r) {
    const int64_t b = r / s.H, y = r % s.H;
    const scalar_t* in_b = a.input + b * s.C * HW;
    const scalar_t* g_b = grad + b * s.C * HW;
    const scalar_t* out_b = out + b * s.C * HW;
    for (int64_t x = 0; x < s.W; ++x) {
      const int64_t p = y * s.W + x;
      const Source<scalar_t> src(a, b, x, y);
      const scalar_t z = splat_factor(src.lands, src.Z, M[b], a.mode);
      scalar_t gx = 0, gy = 0, gz = 0;
      if (z > scalar_t(0)) {
        SplatGrad<scalar_t, int64_t> sg(src.taps, z, a.mode, den + b * HW);
        for (int64_t c = 0; c < s.C; ++c) {
          const scalar_t gi = sg.add_channel(in_b[c * HW + p], g_b + c * HW, out_b + c * HW);
          if (grad_input != nullptr) grad_input[(b * s.C + c) * HW + p] = gi;
        }
        sg.finish(gx, gy, gz);
      } else if (grad_input != nullptr) {
        for (int64_t c = 0; c < s.C; ++c) grad_input[(b * s.C + c) * HW + p] = scalar_t(0);
      }
      if (grad_flow != nullptr) {
        grad_flow[b * 2 * HW + p] = gx;
        grad_flow[(b * 2 + 1) * HW + p] = gy;
      }
      if (grad_metric != nullptr) grad_metric[b * HW + p] = splat_metric_grad(gz, z, M[b], a.mode);
    }
  }
}

template <typename scalar_t>
Args<scalar_t> args_of(const at::Tensor& input, const at::Tensor& flow, const at::Tensor& metric, SplatMode mode) {
  return {input.const_data_ptr<scalar_t>(), flow.const_data_ptr<scalar_t>(),
          metric.defined() ? metric.const_data_ptr<scalar_t>() : nullptr, mode,
          Sizes{input.size(0), input.size(1), input.size(2), input.size(3)}};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> softsplat_cpu(const at::Tensor& input_, const at::Tensor& flow_,
                                                             const std::optional<at::Tensor>& metric_,
                                                             c10::string_view mode_name) {
  const char* op = "softsplat";
  const SplatMode mode = check_softsplat_args(op, input_, flow_, metric_, mode_name);
  check_cpu_dtype(op, input_);
  const at::Tensor input = input_.contiguous();
  const at::Tensor flow = flow_.contiguous();
  const at::Tensor metric = metric_.has_value() ? metric_->contiguous() : at::Tensor();
  const int64_t B = input.size(0), H = input.size(2), W = input.size(3);
  at::Tensor out = at::zeros(input.sizes(), input.options());
  at::Tensor den = at::zeros({B, 1, H, W}, input.options());
  at::Tensor metric_max = at::zeros({B}, input.options());
  if (B * H * W == 0) return {out, den, metric_max};
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "softsplat_cpu", [&] {
    forward_kernel<scalar_t>(args_of<scalar_t>(input, flow, metric, mode), out.mutable_data_ptr<scalar_t>(),
                             den.mutable_data_ptr<scalar_t>(), metric_max.mutable_data_ptr<scalar_t>());
  });
  return {out, den, metric_max};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> softsplat_backward_cpu(
    const at::Tensor& grad_output_, const at::Tensor& input_, const at::Tensor& flow_,
    const std::optional<at::Tensor>& metric_, c10::string_view mode_name, const at::Tensor& output_,
    const at::Tensor& den_, const at::Tensor& metric_max_, std::array<bool, 3> output_mask) {
  const char* op = "softsplat_backward";
  const SplatMode mode =
      check_softsplat_backward_args(grad_output_, input_, flow_, metric_, mode_name, output_, den_, metric_max_);
  check_cpu_dtype(op, input_);
  const bool need_metric = output_mask[2] && metric_.has_value();
  const at::Tensor input = input_.contiguous();
  const at::Tensor flow = flow_.contiguous();
  const at::Tensor metric = metric_.has_value() ? metric_->contiguous() : at::Tensor();
  const auto empty = [&] { return at::empty({0}, input.options()); };
  at::Tensor grad_input = output_mask[0] ? at::empty(input.sizes(), input.options()) : empty();
  at::Tensor grad_flow = output_mask[1] ? at::empty(flow.sizes(), flow.options()) : empty();
  at::Tensor grad_metric = need_metric ? at::empty(metric.sizes(), metric.options()) : empty();
  const int64_t B = input.size(0), H = input.size(2), W = input.size(3);
  if (B * H * W == 0 || !(output_mask[0] || output_mask[1] || need_metric)) return {grad_input, grad_flow, grad_metric};
  const at::Tensor grad_output = grad_output_.contiguous();
  const at::Tensor output = output_.contiguous();
  const at::Tensor den = den_.contiguous();
  const at::Tensor metric_max = metric_max_.contiguous();
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "softsplat_backward_cpu", [&] {
    const Args<scalar_t> a = args_of<scalar_t>(input, flow, metric, mode);
    at::parallel_for(0, B * H, rows_per_task(W * (input.size(1) + 1) * 4), [&](int64_t begin, int64_t end) {
      backward_rows(a, metric_max.const_data_ptr<scalar_t>(), grad_output.const_data_ptr<scalar_t>(),
                    output.const_data_ptr<scalar_t>(), den.const_data_ptr<scalar_t>(),
                    output_mask[0] ? grad_input.mutable_data_ptr<scalar_t>() : nullptr,
                    output_mask[1] ? grad_flow.mutable_data_ptr<scalar_t>() : nullptr,
                    need_metric ? grad_metric.mutable_data_ptr<scalar_t>() : nullptr, begin, end);
    });
  });
  return {grad_input, grad_flow, grad_metric};
}

}  // namespace

TORCH_LIBRARY_IMPL(vfi_ops, CPU, m) {
  m.impl("softsplat", &softsplat_cpu);
  m.impl("softsplat_backward", &softsplat_backward_cpu);
}

}  // namespace vfi_ops
