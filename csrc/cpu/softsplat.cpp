// softsplat: CPU launchers. The per-element math is in softsplat_math.h.
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
#include "cpu/row_taps.h"
#include "softsplat_math.h"
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

// One row (b, y) of sources: where its data are, and the taps of its sources,
// splat_taps of each, computed for the whole row at once into the caller's
// buffers (cpu/row_taps.h: vectorised where the CPU has AVX2, bitwise the
// same). Offsets within a plane are index_t (see with_plane_index); planes
// are addressed in 64 bits.
template <typename scalar_t, typename index_t>
struct SourceRow {
  const scalar_t *fx, *fy, *Z;  // Z: nullptr without a metric
  int64_t b;
  index_t y, H, W;
  const RowTapArrays<scalar_t, index_t>& t;

  // taps: buffers of at least W pixels, with masks (and the gradient
  // coefficients where the caller wants grad_coeffs).
  SourceRow(const Args<scalar_t>& a, int64_t r, RowTapArrays<scalar_t, index_t>& taps)
      : b(r / a.s.H), y(r % a.s.H), H(a.s.H), W(a.s.W), t(taps) {
    const int64_t HW = a.s.H * a.s.W;
    fx = a.flow + b * 2 * HW + y * a.s.W;
    fy = fx + HW;
    Z = a.metric != nullptr ? a.metric + b * HW + y * a.s.W : nullptr;
    taps.fill(fx, fy, y, W, H, W, Padding::Zeros);  // splat_taps(x, y, fx[x], fy[x], H, W) for every x
  }

  // The offsets, weights and masks of splat_taps for source x. The position in
  // the cell (ax, ay, dx, dy) is not kept, and is 0 here: the backward takes
  // the gradient coefficients from grad_coeffs (SplatGrad::finish(cx, cy, ...)).
  // Valid until the buffers are filled for another row.
  BilinearTaps<scalar_t, index_t> taps(index_t x) const {
    BilinearTaps<scalar_t, index_t> out{};
    for (int k = 0; k < 4; ++k) {
      out.offset[k] = t.offset[k][x];
      out.w[k] = t.w[k][x];
      out.mask[k] = t.mask[k][x];
    }
    return out;
  }
  // bilinear_grad_coeffs of source x's taps.
  void grad_coeffs(index_t x, scalar_t cx[4], scalar_t cy[4]) const {
    for (int k = 0; k < 4; ++k) cx[k] = t.cx[k][x], cy[k] = t.cy[k][x];
  }
  scalar_t metric(index_t x) const { return Z != nullptr ? Z[x] : scalar_t(0); }
  // The row of the top taps of source x; only for a source that lands.
  index_t top_row(index_t x) const { return splat_top_row(y, fy[x]); }
};

// What the sources of one row (b, y) reach: the rows [first, last] of item b
// (first > last if none lands) and their largest metric key.
template <typename scalar_t>
struct RowReach {
  int64_t first, last;
  scalar_t key_max;
};

template <typename scalar_t, typename index_t>
std::vector<RowReach<scalar_t>> row_reach(const Args<scalar_t>& a) {
  const Sizes& s = a.s;
  const bool metric = splat_uses_metric(a.mode);
  std::vector<RowReach<scalar_t>> reach(s.B * s.H);
  at::parallel_for(0, s.B * s.H, rows_per_task(4 * s.W), [&](int64_t begin, int64_t end) {
    RowTapArrays<scalar_t, index_t> taps(s.W, false, true);
    for (int64_t r = begin; r < end; ++r) {
      const SourceRow<scalar_t, index_t> row(a, r, taps);
      RowReach<scalar_t> rr{std::numeric_limits<int64_t>::max(), -1, -std::numeric_limits<scalar_t>::infinity()};
      for (index_t x = 0; x < row.W; ++x) {
        const bool lands = splat_lands(row.taps(x));
        const scalar_t key = splat_metric_key(lands, row.metric(x), a.mode);
        if (!lands || (metric && key == -std::numeric_limits<scalar_t>::infinity())) continue;  // takes no part
        rr.key_max = std::max(rr.key_max, key);
        const int64_t top = row.top_row(x);
        rr.first = std::min<int64_t>(rr.first, std::max<int64_t>(top, 0));
        rr.last = std::max<int64_t>(rr.last, std::min<int64_t>(top + 1, s.H - 1));
      }
      reach[r] = rr;
    }
  });
  return reach;
}

// Splats the sources of row r into num and den; with kBanded, only into the rows
// [row_begin, row_end) of item b (the others belong to other bands). taps:
// row buffers with masks.
template <typename scalar_t, typename index_t, bool kBanded>
void splat_row(const Args<scalar_t>& a, const scalar_t* M, int64_t r, int64_t row_begin, int64_t row_end, scalar_t* num,
               scalar_t* den, RowTapArrays<scalar_t, index_t>& taps) {
  const Sizes& s = a.s;
  const SourceRow<scalar_t, index_t> row(a, r, taps);
  const int64_t HW = s.H * s.W;
  const scalar_t Mb = M[row.b];
  const scalar_t* in = a.input + row.b * s.C * HW + row.y * s.W;
  scalar_t* den_b = den + row.b * HW;
  scalar_t* num_b = num + row.b * s.C * HW;
  for (index_t x = 0; x < row.W; ++x) {
    const auto t = row.taps(x);
    const scalar_t z = splat_factor(splat_lands(t), row.metric(x), Mb, a.mode);
    if (!(z > scalar_t(0))) continue;
    bool keep[4];
    for (int k = 0; k < 4; ++k) keep[k] = t.mask[k] != scalar_t(0);
    if (kBanded) {
      const int64_t top = row.top_row(x);
      const bool top_in = top >= row_begin && top < row_end, bottom_in = top + 1 >= row_begin && top + 1 < row_end;
      keep[0] &= top_in, keep[1] &= top_in, keep[2] &= bottom_in, keep[3] &= bottom_in;
    }
    // The kept taps, in tap order. A tap not kept adds nothing, not even 0 * v
    // to another pixel: an infinite source value would make that NaN.
    int kept = 0;
    index_t o[4];
    scalar_t wz[4];
    for (int k = 0; k < 4; ++k) {
      if (!keep[k]) continue;
      o[kept] = t.offset[k];
      wz[kept] = t.w[k] * z;
      ++kept;
    }
    for (int j = 0; j < kept; ++j) den_b[o[j]] += wz[j];
    for (int64_t c = 0; c < s.C; ++c) {
      const scalar_t v = in[c * HW + x];
      scalar_t* plane = num_b + c * HW;
      for (int j = 0; j < kept; ++j) plane[o[j]] += wz[j] * v;
    }
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

template <typename scalar_t, typename index_t>
void forward_kernel(const Args<scalar_t>& a, scalar_t* out, scalar_t* den, scalar_t* metric_max) {
  const Sizes& s = a.s;
  const int64_t R = s.B * s.H;
  const int64_t rows_per_band = (R + at::get_num_threads() - 1) / at::get_num_threads();
  const int64_t bands = (R + rows_per_band - 1) / rows_per_band;
  const bool metric = splat_uses_metric(a.mode);
  std::vector<RowReach<scalar_t>> reach;
  if (bands > 1 || metric) reach = row_reach<scalar_t, index_t>(a);
  for (int64_t b = 0; b < s.B; ++b) {
    scalar_t m = -std::numeric_limits<scalar_t>::infinity();
    if (metric) {
      for (int64_t y = 0; y < s.H; ++y) m = std::max(m, reach[b * s.H + y].key_max);
    }
    metric_max[b] = metric ? m : scalar_t(0);
  }
  if (bands == 1) {
    RowTapArrays<scalar_t, index_t> taps(s.W, false, true);
    for (int64_t r = 0; r < R; ++r) splat_row<scalar_t, index_t, false>(a, metric_max, r, 0, s.H, out, den, taps);
    normalize_rows(s, a.mode, den, out, 0, R);
    return;
  }
  at::parallel_for(0, bands, 1, [&](int64_t first, int64_t last) {
    RowTapArrays<scalar_t, index_t> taps(s.W, false, true);
    for (int64_t j = first; j < last; ++j) {
      const int64_t band_begin = j * rows_per_band, band_end = std::min(R, band_begin + rows_per_band);
      for (int64_t r = 0; r < R; ++r) {
        // The band's rows of item b, in that item's row numbers.
        const int64_t item_row = r / s.H * s.H;
        const int64_t row_begin = std::max<int64_t>(band_begin - item_row, 0);
        const int64_t row_end = std::min<int64_t>(band_end - item_row, s.H);
        if (reach[r].last < row_begin || reach[r].first >= row_end) continue;
        splat_row<scalar_t, index_t, true>(a, metric_max, r, row_begin, row_end, out, den, taps);
      }
      normalize_rows(s, a.mode, den, out, band_begin, band_end);
    }
  });
}

// The gradients of the sources in the global rows [row_begin, row_end); any of
// grad_input, grad_flow, grad_metric may be nullptr (not wanted).
template <typename scalar_t, typename index_t>
void backward_rows(const Args<scalar_t>& a, const scalar_t* M, const scalar_t* grad, const scalar_t* out,
                   const scalar_t* den, scalar_t* grad_input, scalar_t* grad_flow, scalar_t* grad_metric,
                   int64_t row_begin, int64_t row_end) {
  const Sizes& s = a.s;
  const int64_t HW = s.H * s.W;
  RowTapArrays<scalar_t, index_t> taps(s.W, true, true);
  for (int64_t r = row_begin; r < row_end; ++r) {
    const SourceRow<scalar_t, index_t> row(a, r, taps);
    const int64_t b = row.b, p0 = row.y * s.W;  // p0: the row's first pixel in its plane
    const scalar_t Mb = M[b];
    const scalar_t* in_b = a.input + b * s.C * HW;
    const scalar_t* g_b = grad + b * s.C * HW;
    const scalar_t* out_b = out + b * s.C * HW;
    for (index_t x = 0; x < row.W; ++x) {
      const int64_t p = p0 + x;
      const auto t = row.taps(x);
      const scalar_t Z = row.metric(x);
      const scalar_t z = splat_factor(splat_lands(t), Z, Mb, a.mode);
      scalar_t gx = 0, gy = 0, gz = 0;
      if (z > scalar_t(0)) {
        SplatGrad<scalar_t, index_t> sg(t, z, a.mode, den + b * HW);
        for (int64_t c = 0; c < s.C; ++c) {
          const scalar_t gi = sg.add_channel(in_b[c * HW + p], g_b + c * HW, out_b + c * HW);
          if (grad_input != nullptr) grad_input[(b * s.C + c) * HW + p] = gi;
        }
        scalar_t cx[4], cy[4];
        row.grad_coeffs(x, cx, cy);
        sg.finish(cx, cy, gx, gy, gz);
      } else if (grad_input != nullptr) {
        for (int64_t c = 0; c < s.C; ++c) grad_input[(b * s.C + c) * HW + p] = scalar_t(0);
      }
      if (grad_flow != nullptr) {
        grad_flow[b * 2 * HW + p] = gx;
        grad_flow[(b * 2 + 1) * HW + p] = gy;
      }
      if (grad_metric != nullptr) grad_metric[b * HW + p] = splat_metric_grad(gz, z, Mb, a.mode);
    }
  }
}

// Calls fn(int32_t{0}) for float32 if a plane's offsets fit in 32 bits, else
// fn(int64_t{0}). (float64 takes offsets as wide as its values, so that its
// taps vectorise too: cpu/row_taps.h.)
template <typename scalar_t, typename Fn>
void with_plane_index(const Sizes& s, Fn&& fn) {
  if (sizeof(scalar_t) == 4 && s.H * s.W <= std::numeric_limits<int32_t>::max() / 2) {
    fn(int32_t{0});
  } else {
    fn(int64_t{0});
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
    const Args<scalar_t> a = args_of<scalar_t>(input, flow, metric, mode);
    with_plane_index<scalar_t>(a.s, [&](auto index_zero) {
      forward_kernel<scalar_t, decltype(index_zero)>(a, out.mutable_data_ptr<scalar_t>(),
                                                     den.mutable_data_ptr<scalar_t>(),
                                                     metric_max.mutable_data_ptr<scalar_t>());
    });
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
    with_plane_index<scalar_t>(a.s, [&](auto index_zero) {
      using index_t = decltype(index_zero);
      at::parallel_for(0, B * H, rows_per_task(W * (input.size(1) + 1) * 4), [&](int64_t begin, int64_t end) {
        backward_rows<scalar_t, index_t>(a, metric_max.const_data_ptr<scalar_t>(),
                                         grad_output.const_data_ptr<scalar_t>(), output.const_data_ptr<scalar_t>(),
                                         den.const_data_ptr<scalar_t>(),
                                         output_mask[0] ? grad_input.mutable_data_ptr<scalar_t>() : nullptr,
                                         output_mask[1] ? grad_flow.mutable_data_ptr<scalar_t>() : nullptr,
                                         need_metric ? grad_metric.mutable_data_ptr<scalar_t>() : nullptr, begin, end);
      });
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
