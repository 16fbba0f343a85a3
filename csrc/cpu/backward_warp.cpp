// backward_warp: CPU launchers. The per-element math (taps, weights, gradient
// coefficients) is in backward_warp.h / bilinear.h; here a task computes it for
// one output row at a time and applies it channel by channel, along rows, in
// loops the compiler vectorises (with AVX2 gathers where the CPU has them).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros_like.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <limits>
#include <tuple>
#include <vector>

#include "backward_warp.h"
#include "backward_warp_checks.h"
#include "cpu/partition.h"
#include "cpu/simd.h"

namespace vfi_ops {
namespace {

struct WarpSizes {
  int64_t B, C, Hin, Win, H, W;
};

WarpSizes warp_sizes(const at::Tensor& input, const at::Tensor& flow) {
  return {input.size(0), input.size(1), input.size(2), input.size(3), flow.size(2), flow.size(3)};
}

// Plane offsets (into an input plane, or a flow item) fit in 32 bits; pointers to
// the planes themselves are always 64-bit.
bool plane_index_fits_int32(const WarpSizes& s) {
  return std::max(s.Hin * s.Win, 2 * s.H * s.W) <= std::numeric_limits<int32_t>::max();
}

template <typename scalar_t, typename index_t>
struct RowTaps;
template <typename scalar_t, typename index_t>
void fill_row_taps(RowTaps<scalar_t, index_t>& t, const scalar_t* flow_b, const WarpSizes& s, int64_t y,
                   Padding padding);

// The taps of one output row, one array per tap (structure of arrays, so the
// channel loops read them contiguously).
template <typename scalar_t, typename index_t>
struct RowTaps {
  std::array<std::vector<index_t>, 4> offset;
  std::array<std::vector<scalar_t>, 4> w, cx, cy;  // cx, cy only with gradient coefficients

  RowTaps(int64_t W, bool grad_coeffs) {
    for (int k = 0; k < 4; ++k) {
      offset[k].resize(W);
      w[k].resize(W);
      if (grad_coeffs) {
        cx[k].resize(W);
        cy[k].resize(W);
      }
    }
  }

  void fill(const scalar_t* flow, const WarpSizes& s, int64_t b, int64_t y, Padding padding) {
    fill_row_taps(*this, flow + b * 2 * s.H * s.W, s, y, padding);
  }
};

template <typename scalar_t, typename index_t>
VFI_CPU_SIMD void fill_row_taps(RowTaps<scalar_t, index_t>& t, const scalar_t* flow_b, const WarpSizes& s, int64_t y,
                                Padding padding) {
  const index_t H = s.H, W = s.W, Hin = s.Hin, Win = s.Win, yi = y;
  index_t *__restrict__ o0 = t.offset[0].data(), *__restrict__ o1 = t.offset[1].data();
  index_t *__restrict__ o2 = t.offset[2].data(), *__restrict__ o3 = t.offset[3].data();
  scalar_t *__restrict__ w0 = t.w[0].data(), *__restrict__ w1 = t.w[1].data();
  scalar_t *__restrict__ w2 = t.w[2].data(), *__restrict__ w3 = t.w[3].data();
  if (t.cx[0].empty()) {
    for (index_t x = 0; x < W; ++x) {
      const auto tap = backward_warp_taps<scalar_t, index_t>(flow_b, x, yi, H, W, Hin, Win, padding);
      o0[x] = tap.offset[0], o1[x] = tap.offset[1], o2[x] = tap.offset[2], o3[x] = tap.offset[3];
      w0[x] = tap.w[0], w1[x] = tap.w[1], w2[x] = tap.w[2], w3[x] = tap.w[3];
    }
    return;
  }
  for (index_t x = 0; x < W; ++x) {
    const auto tap = backward_warp_taps<scalar_t, index_t>(flow_b, x, yi, H, W, Hin, Win, padding);
    scalar_t cx[4], cy[4];
    bilinear_grad_coeffs(tap, cx, cy);
    for (int k = 0; k < 4; ++k) {
      t.offset[k][x] = tap.offset[k];
      t.w[k][x] = tap.w[k];
      t.cx[k][x] = cx[k];
      t.cy[k][x] = cy[k];
    }
  }
}

// out[x] = tap_dot(w, values of the taps): backward_warp_value for a row, with
// the taps in structure-of-arrays form so the loop vectorises.
template <typename scalar_t, typename index_t>
VFI_CPU_SIMD void sample_row(const scalar_t* __restrict__ plane, const RowTaps<scalar_t, index_t>& t,
                             scalar_t* __restrict__ out, int64_t n) {
  const index_t *__restrict__ o0 = t.offset[0].data(), *__restrict__ o1 = t.offset[1].data();
  const index_t *__restrict__ o2 = t.offset[2].data(), *__restrict__ o3 = t.offset[3].data();
  const scalar_t *__restrict__ w0 = t.w[0].data(), *__restrict__ w1 = t.w[1].data();
  const scalar_t *__restrict__ w2 = t.w[2].data(), *__restrict__ w3 = t.w[3].data();
  for (int64_t x = 0; x < n; ++x) {
    const scalar_t w[4] = {w0[x], w1[x], w2[x], w3[x]};
    const scalar_t v[4] = {plane[o0[x]], plane[o1[x]], plane[o2[x]], plane[o3[x]]};
    out[x] = tap_dot(w, v);
  }
}

// gu[x] += g[x] * d(out)/du, gv likewise: backward_warp_flow_grad for a row.
template <typename scalar_t, typename index_t>
VFI_CPU_SIMD void flow_grad_row(const scalar_t* __restrict__ plane, const scalar_t* __restrict__ g,
                                const RowTaps<scalar_t, index_t>& t, scalar_t* __restrict__ gu,
                                scalar_t* __restrict__ gv, int64_t n) {
  const index_t *__restrict__ o0 = t.offset[0].data(), *__restrict__ o1 = t.offset[1].data();
  const index_t *__restrict__ o2 = t.offset[2].data(), *__restrict__ o3 = t.offset[3].data();
  const scalar_t *__restrict__ x0 = t.cx[0].data(), *__restrict__ x1 = t.cx[1].data();
  const scalar_t *__restrict__ x2 = t.cx[2].data(), *__restrict__ x3 = t.cx[3].data();
  const scalar_t *__restrict__ y0 = t.cy[0].data(), *__restrict__ y1 = t.cy[1].data();
  const scalar_t *__restrict__ y2 = t.cy[2].data(), *__restrict__ y3 = t.cy[3].data();
  for (int64_t x = 0; x < n; ++x) {
    const scalar_t v[4] = {plane[o0[x]], plane[o1[x]], plane[o2[x]], plane[o3[x]]};
    const scalar_t cx[4] = {x0[x], x1[x], x2[x], x3[x]};
    const scalar_t cy[4] = {y0[x], y1[x], y2[x], y3[x]};
    gu[x] += g[x] * tap_dot(cx, v);
    gv[x] += g[x] * tap_dot(cy, v);
  }
}

// plane[offset_k[x]] += g[x] * w_k[x]: the input-gradient scatter for a row
// (scalar: two pixels may hit the same element).
template <typename scalar_t, typename index_t>
void scatter_row(scalar_t* plane, const scalar_t* g, const RowTaps<scalar_t, index_t>& t, int64_t n) {
  for (int64_t x = 0; x < n; ++x) {
    for (int k = 0; k < 4; ++k) plane[t.offset[k][x]] += g[x] * t.w[k][x];
  }
}

template <typename scalar_t, typename index_t>
void forward_kernel(const scalar_t* input, const scalar_t* flow, scalar_t* out, const WarpSizes& s, Padding padding) {
  at::parallel_for(0, s.B * s.H, rows_per_task(s.W * std::max<int64_t>(s.C, 1)), [&](int64_t begin, int64_t end) {
    RowTaps<scalar_t, index_t> taps(s.W, false);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / s.H, y = row % s.H;
      taps.fill(flow, s, b, y, padding);
      for (int64_t c = 0; c < s.C; ++c) {
        sample_row(input + (b * s.C + c) * s.Hin * s.Win, taps, out + ((b * s.C + c) * s.H + y) * s.W, s.W);
      }
    }
  });
}

// Input gradient alone: a scatter in which each task owns whole (b, c) planes.
template <typename scalar_t, typename index_t>
void input_grad_kernel(const scalar_t* grad_out, const scalar_t* flow, scalar_t* grad_input, const WarpSizes& s,
                       Padding padding) {
  const int64_t HW = s.H * s.W;
  for_plane_runs(s.B, s.C, [&](int64_t b, int64_t c_begin, int64_t c_end) {
    RowTaps<scalar_t, index_t> taps(s.W, false);
    for (int64_t y = 0; y < s.H; ++y) {
      taps.fill(flow, s, b, y, padding);
      for (int64_t c = c_begin; c < c_end; ++c) {
        scatter_row(grad_input + (b * s.C + c) * s.Hin * s.Win, grad_out + (b * s.C + c) * HW + y * s.W, taps, s.W);
      }
    }
  });
}

// One output row of the backward: the flow gradient of its pixels (a gather over
// channels, owned by the pixel) and, when grad_input is given, the scatter of
// the row's input gradient into it.
template <typename scalar_t, typename index_t>
void backward_row(const scalar_t* grad_out, const scalar_t* input, const scalar_t* flow, scalar_t* grad_input,
                  scalar_t* grad_flow, const WarpSizes& s, Padding padding, int64_t row,
                  RowTaps<scalar_t, index_t>& taps) {
  const int64_t HW = s.H * s.W, b = row / s.H, y = row % s.H;
  taps.fill(flow, s, b, y, padding);
  scalar_t* gu = grad_flow + b * 2 * HW + y * s.W;
  scalar_t* gv = gu + HW;
  std::fill(gu, gu + s.W, scalar_t(0));
  std::fill(gv, gv + s.W, scalar_t(0));
  for (int64_t c = 0; c < s.C; ++c) {
    const scalar_t* g = grad_out + (b * s.C + c) * HW + y * s.W;
    flow_grad_row(input + (b * s.C + c) * s.Hin * s.Win, g, taps, gu, gv, s.W);
    if (grad_input != nullptr) scatter_row(grad_input + (b * s.C + c) * s.Hin * s.Win, g, taps, s.W);
  }
}

// Flow gradient alone: rows are independent.
template <typename scalar_t, typename index_t>
void flow_grad_kernel(const scalar_t* grad_out, const scalar_t* input, const scalar_t* flow, scalar_t* grad_flow,
                      const WarpSizes& s, Padding padding) {
  at::parallel_for(0, s.B * s.H, rows_per_task(s.W * std::max<int64_t>(s.C, 1)), [&](int64_t begin, int64_t end) {
    RowTaps<scalar_t, index_t> taps(s.W, true);
    for (int64_t row = begin; row < end; ++row) {
      backward_row<scalar_t, index_t>(grad_out, input, flow, nullptr, grad_flow, s, padding, row, taps);
    }
  });
}

// Both gradients when there are too few (b, c) planes to share among the
// threads: one pass over the output rows, in bands (see cpu/partition.h).
template <typename scalar_t, typename index_t>
void banded_backward_kernel(const scalar_t* grad_out, const scalar_t* input, const scalar_t* flow,
                            const at::Tensor& grad_input, scalar_t* grad_flow, const WarpSizes& s, Padding padding) {
  for_row_bands<scalar_t>(s.B * s.H, grad_input, [&](int64_t row_begin, int64_t row_end, scalar_t* gi) {
    RowTaps<scalar_t, index_t> taps(s.W, true);
    for (int64_t row = row_begin; row < row_end; ++row) {
      backward_row<scalar_t, index_t>(grad_out, input, flow, gi, grad_flow, s, padding, row, taps);
    }
  });
}

at::Tensor backward_warp_cpu(const at::Tensor& input_, const at::Tensor& flow_, c10::string_view padding_mode) {
  check_backward_warp_args(input_, flow_);
  check_cpu_dtype("backward_warp", input_);
  const Padding padding = parse_warp_padding(padding_mode);
  const at::Tensor input = input_.contiguous();
  const at::Tensor flow = flow_.contiguous();
  const WarpSizes s = warp_sizes(input, flow);
  at::Tensor out = at::empty({s.B, s.C, s.H, s.W}, input.options());
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "backward_warp_cpu", [&] {
    with_index_type(plane_index_fits_int32(s), [&](auto index_zero) {
      forward_kernel<scalar_t, decltype(index_zero)>(input.const_data_ptr<scalar_t>(), flow.const_data_ptr<scalar_t>(),
                                                     out.mutable_data_ptr<scalar_t>(), s, padding);
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> backward_warp_backward_cpu(const at::Tensor& grad_output_, const at::Tensor& input_,
                                                              const at::Tensor& flow_, c10::string_view padding_mode,
                                                              std::array<bool, 2> output_mask) {
  check_backward_warp_backward_args(grad_output_, input_, flow_);
  check_cpu_dtype("backward_warp_backward", input_);
  const Padding padding = parse_warp_padding(padding_mode);
  const at::Tensor grad_output = grad_output_.contiguous();
  const at::Tensor input = input_.contiguous();
  const at::Tensor flow = flow_.contiguous();
  const WarpSizes s = warp_sizes(input, flow);
  // A gradient that was not asked for comes back as an empty tensor.
  at::Tensor grad_input = output_mask[0] ? at::zeros_like(input) : at::empty({0}, input.options());
  at::Tensor grad_flow = output_mask[1] ? at::empty_like(flow) : at::empty({0}, flow.options());
  if (grad_output.numel() == 0) {
    grad_flow.zero_();
    return {grad_input, grad_flow};
  }
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "backward_warp_backward_cpu", [&] {
    with_index_type(plane_index_fits_int32(s), [&](auto index_zero) {
      using index_t = decltype(index_zero);
      if (output_mask[0] && output_mask[1] && too_few_planes(s.B * s.C)) {
        banded_backward_kernel<scalar_t, index_t>(grad_output.const_data_ptr<scalar_t>(),
                                                  input.const_data_ptr<scalar_t>(), flow.const_data_ptr<scalar_t>(),
                                                  grad_input, grad_flow.mutable_data_ptr<scalar_t>(), s, padding);
        return;
      }
      if (output_mask[0]) {
        input_grad_kernel<scalar_t, index_t>(grad_output.const_data_ptr<scalar_t>(), flow.const_data_ptr<scalar_t>(),
                                             grad_input.mutable_data_ptr<scalar_t>(), s, padding);
      }
      if (output_mask[1]) {
        flow_grad_kernel<scalar_t, index_t>(grad_output.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(),
                                            flow.const_data_ptr<scalar_t>(), grad_flow.mutable_data_ptr<scalar_t>(), s,
                                            padding);
      }
    });
  });
  return {grad_input, grad_flow};
}

}  // namespace

TORCH_LIBRARY_IMPL(vfi_ops, CPU, m) {
  m.impl("backward_warp", &backward_warp_cpu);
  m.impl("backward_warp_backward", &backward_warp_backward_cpu);
}

}  // namespace vfi_ops
