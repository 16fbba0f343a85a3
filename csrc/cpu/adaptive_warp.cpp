// adaptive_warp: CPU launchers. The per-element math is in adaptive_warp_math.h; here
// a task computes the windows of one output row (cpu/row_taps.h; then the F*F
// tap offsets and weights of each pixel, one array per tap) and applies them
// channel by channel in loops along the row that the compiler vectorises.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <limits>
#include <tuple>
#include <vector>

#include "adaptive_warp_math.h"
#include "adaptive_warp_checks.h"
#include "cpu/partition.h"
#include "cpu/row_taps.h"
#include "cpu/simd.h"
#include "index_width.h"

namespace vfi_ops {
namespace {

struct Sizes {
  int64_t B, C, H, W;
  int F;
  int64_t taps() const { return int64_t(F) * F; }
};

template <typename scalar_t, typename index_t>
struct RowWindows;
template <typename scalar_t, typename index_t>
void fill_row_windows(RowWindows<scalar_t, index_t>& r, const scalar_t* u, const scalar_t* v, const scalar_t* k,
                      const Sizes& s, int64_t y);

// The windows of one output row, as structures of arrays: per pixel x its
// window (top, left, ..., blend weights bw_q), and per tap t = F*m + n and pixel
// x the tap's offset[t * W + x] and weight[t * W + x].
template <typename scalar_t, typename index_t>
struct RowWindows {
  std::vector<index_t> top, left, self;
  std::vector<scalar_t> a, b, valid;  // valid: 1 or 0
  std::array<std::vector<scalar_t>, 4> bw;
  std::vector<index_t> offset;
  std::vector<scalar_t> weight;

  explicit RowWindows(const Sizes& s)
      : top(s.W), left(s.W), self(s.W), a(s.W), b(s.W), valid(s.W), offset(s.taps() * s.W), weight(s.taps() * s.W) {
    for (auto& v : bw) v.resize(s.W);
  }

  AdaptiveWindow<scalar_t, index_t> window(int64_t x) const {
    return {top[x], left[x], self[x], a[x], b[x], valid[x] != scalar_t(0)};
  }

  void fill(const scalar_t* flow, const scalar_t* kernel, const Sizes& s, int64_t b_, int64_t y) {
    const int64_t HW = s.H * s.W;
    const scalar_t* u = flow + b_ * 2 * HW + y * s.W;
    fill_row_windows(*this, u, u + HW, kernel + b_ * s.taps() * HW + y * s.W, s, y);
  }
};

// The windows of the row's pixels (cpu/row_taps.h: vectorised where the CPU
// has AVX2), then per tap along the row, so that the tap loops vectorise.
template <typename scalar_t, typename index_t>
VFI_CPU_SIMD void fill_row_windows(RowWindows<scalar_t, index_t>& r, const scalar_t* u, const scalar_t* v,
                                   const scalar_t* k, const Sizes& s, int64_t y) {
  const index_t H = s.H, W = s.W, yi = y;
  RowWindowsOut<scalar_t, index_t> out{r.top.data(),
                                       r.left.data(),
                                       r.self.data(),
                                       r.a.data(),
                                       r.b.data(),
                                       r.valid.data(),
                                       {r.bw[0].data(), r.bw[1].data(), r.bw[2].data(), r.bw[3].data()}};
  adaptive_row_windows<scalar_t, index_t>(u, v, yi, H, W, s.F, out);
  const int64_t HW = s.H * s.W;
  for (int m = 0; m < s.F; ++m) {
    for (int n = 0; n < s.F; ++n) {
      const int64_t t = int64_t(m) * s.F + n;
      const scalar_t* __restrict__ kt = k + t * HW;
      const scalar_t* __restrict__ bw_q = r.bw[adaptive_quadrant(m, n, s.F)].data();
      index_t* __restrict__ offset = r.offset.data() + t * W;
      scalar_t* __restrict__ weight = r.weight.data() + t * W;
      const index_t* __restrict__ top = r.top.data(), * __restrict__ left = r.left.data();
      const index_t* __restrict__ self = r.self.data();
      const scalar_t* __restrict__ valid = r.valid.data();
      for (index_t x = 0; x < W; ++x) {
        // Only the fields the taps need.
        const AdaptiveWindow<scalar_t, index_t> win{top[x], left[x], self[x], 0, 0, valid[x] != scalar_t(0)};
        offset[x] = adaptive_tap_offset(win, m, n, H, W);
        weight[x] = adaptive_tap_weight(win, bw_q[x], kt[x], m, n);
      }
    }
  }
}

// out[x] = sum_t weight_t[x] * plane[offset_t[x]]: one output row of one channel.
template <typename scalar_t, typename index_t>
VFI_CPU_SIMD void weighted_taps_row(const scalar_t* __restrict__ plane, const index_t* __restrict__ offset,
                                    const scalar_t* __restrict__ weight, int64_t taps, int64_t W,
                                    scalar_t* __restrict__ out) {
  for (int64_t x = 0; x < W; ++x) out[x] = weight[x] * plane[offset[x]];
  for (int64_t t = 1; t < taps; ++t) {
    const index_t* __restrict__ o = offset + t * W;
    const scalar_t* __restrict__ w = weight + t * W;
    for (int64_t x = 0; x < W; ++x) out[x] += w[x] * plane[o[x]];
  }
}

// R_t[x] += g[x] * plane[offset_t[x]]: the backward's one read of the window.
template <typename scalar_t, typename index_t>
VFI_CPU_SIMD void tap_products_row(const scalar_t* __restrict__ plane, const scalar_t* __restrict__ g,
                                   const index_t* __restrict__ offset, int64_t taps, int64_t W,
                                   scalar_t* __restrict__ R) {
  for (int64_t t = 0; t < taps; ++t) {
    const index_t* __restrict__ o = offset + t * W;
    scalar_t* __restrict__ r = R + t * W;
    for (int64_t x = 0; x < W; ++x) r[x] += g[x] * plane[o[x]];
  }
}

// plane[offset_t[x]] += g[x] * weight_t[x]: the input-gradient scatter of one
// row of one channel (scalar: two pixels may hit the same element).
template <typename scalar_t, typename index_t>
void scatter_taps_row(scalar_t* plane, const scalar_t* g, const RowWindows<scalar_t, index_t>& win, int64_t taps,
                      int64_t W) {
  for (int64_t t = 0; t < taps; ++t) {
    const index_t* o = win.offset.data() + t * W;
    const scalar_t* w = win.weight.data() + t * W;
    for (int64_t x = 0; x < W; ++x) plane[o[x]] += g[x] * w[x];
  }
}

// Kernel and flow gradients of one row from the tap products R, with the
// row's windows (K: scratch for the per-quadrant sums, 4 * W).
template <typename scalar_t, typename index_t>
VFI_CPU_SIMD void finish_row(const scalar_t* __restrict__ R, const RowWindows<scalar_t, index_t>& r,
                             const scalar_t* __restrict__ kernel_row, scalar_t* __restrict__ K,
                             scalar_t* __restrict__ grad_flow_row, scalar_t* __restrict__ grad_kernel_row,
                             const Sizes& s) {
  const int64_t HW = s.H * s.W, W = s.W;
  std::fill(K, K + 4 * W, scalar_t(0));
  for (int m = 0; m < s.F; ++m) {
    for (int n = 0; n < s.F; ++n) {
      const int64_t t = int64_t(m) * s.F + n;
      const int q = adaptive_quadrant(m, n, s.F);
      const scalar_t* __restrict__ rt = R + t * W;
      const scalar_t* __restrict__ kt = kernel_row + t * HW;
      const scalar_t* __restrict__ bw = r.bw[q].data();
      scalar_t* __restrict__ Kq = K + q * W;
      for (int64_t x = 0; x < W; ++x) Kq[x] += adaptive_quadrant_term(kt[x], rt[x]);
      if (grad_kernel_row != nullptr) {
        scalar_t* __restrict__ gk = grad_kernel_row + t * HW;
        for (int64_t x = 0; x < W; ++x) gk[x] = adaptive_kernel_grad(bw[x], rt[x]);
      }
    }
  }
  if (grad_flow_row == nullptr) return;
  for (int64_t x = 0; x < W; ++x) {
    const scalar_t Kx[4] = {K[x], K[W + x], K[2 * W + x], K[3 * W + x]};
    adaptive_flow_grad(r.window(x), Kx, grad_flow_row[x], grad_flow_row[HW + x]);
  }
}

// One output row of the backward: kernel and flow gradients of its pixels and,
// when grad_input is given, the scatter of its input gradient into it.
template <typename scalar_t, typename index_t>
void backward_row(const scalar_t* grad_out, const scalar_t* input, const scalar_t* flow, const scalar_t* kernel,
                  scalar_t* grad_input, scalar_t* grad_flow, scalar_t* grad_kernel, const Sizes& s, int64_t row,
                  RowWindows<scalar_t, index_t>& win, std::vector<scalar_t>& R) {
  // R holds the tap products (taps * W), then the quadrant sums (4 * W).
  const int64_t HW = s.H * s.W, b = row / s.H, y = row % s.H;
  win.fill(flow, kernel, s, b, y);
  std::fill(R.begin(), R.begin() + s.taps() * s.W, scalar_t(0));
  for (int64_t c = 0; c < s.C; ++c) {
    const scalar_t* g = grad_out + (b * s.C + c) * HW + y * s.W;
    tap_products_row(input + (b * s.C + c) * HW, g, win.offset.data(), s.taps(), s.W, R.data());
    if (grad_input != nullptr) scatter_taps_row(grad_input + (b * s.C + c) * HW, g, win, s.taps(), s.W);
  }
  const int64_t row_offset = y * s.W;
  finish_row<scalar_t, index_t>(R.data(), win, kernel + b * s.taps() * HW + row_offset, R.data() + s.taps() * s.W,
                                grad_flow != nullptr ? grad_flow + b * 2 * HW + row_offset : nullptr,
                                grad_kernel != nullptr ? grad_kernel + b * s.taps() * HW + row_offset : nullptr, s);
}

template <typename scalar_t, typename index_t>
void forward_kernel(const scalar_t* input, const scalar_t* flow, const scalar_t* kernel, scalar_t* out,
                    const Sizes& s) {
  const int64_t HW = s.H * s.W;
  at::parallel_for(0, s.B * s.H, rows_per_task(s.W * s.taps() * std::max<int64_t>(s.C, 1)),
                   [&](int64_t begin, int64_t end) {
                     RowWindows<scalar_t, index_t> win(s);
                     for (int64_t row = begin; row < end; ++row) {
                       const int64_t b = row / s.H, y = row % s.H;
                       win.fill(flow, kernel, s, b, y);
                       for (int64_t c = 0; c < s.C; ++c) {
                         weighted_taps_row(input + (b * s.C + c) * HW, win.offset.data(), win.weight.data(), s.taps(),
                                           s.W, out + (b * s.C + c) * HW + y * s.W);
                       }
                     }
                   });
}

template <typename scalar_t, typename index_t>
void backward_kernel(const scalar_t* grad_out, const scalar_t* input, const scalar_t* flow, const scalar_t* kernel,
                     const at::Tensor& grad_input, scalar_t* grad_flow, scalar_t* grad_kernel, const Sizes& s) {
  const int64_t HW = s.H * s.W;
  const bool need_input = grad_input.defined(), need_rest = grad_flow != nullptr || grad_kernel != nullptr;
  if (need_input && need_rest && too_few_planes(s.B * s.C)) {
    for_row_bands<scalar_t>(s.B * s.H, grad_input, s.W * s.taps() * std::max<int64_t>(s.C, 1),
                            [&](int64_t row_begin, int64_t row_end, scalar_t* gi) {
                              RowWindows<scalar_t, index_t> win(s);
                              std::vector<scalar_t> R((s.taps() + 4) * s.W);
                              for (int64_t row = row_begin; row < row_end; ++row) {
                                backward_row(grad_out, input, flow, kernel, gi, grad_flow, grad_kernel, s, row, win, R);
                              }
                            });
    return;
  }
  if (need_input) {
    scalar_t* gi = grad_input.mutable_data_ptr<scalar_t>();
    for_plane_runs(s.B, s.C, [&](int64_t b, int64_t c_begin, int64_t c_end) {
      RowWindows<scalar_t, index_t> win(s);
      for (int64_t y = 0; y < s.H; ++y) {
        win.fill(flow, kernel, s, b, y);
        for (int64_t c = c_begin; c < c_end; ++c) {
          scatter_taps_row(gi + (b * s.C + c) * HW, grad_out + (b * s.C + c) * HW + y * s.W, win, s.taps(), s.W);
        }
      }
    });
  }
  if (need_rest) {
    at::parallel_for(0, s.B * s.H, rows_per_task(s.W * s.taps() * std::max<int64_t>(s.C, 1)),
                     [&](int64_t begin, int64_t end) {
                       RowWindows<scalar_t, index_t> win(s);
                       std::vector<scalar_t> R((s.taps() + 4) * s.W);
                       for (int64_t row = begin; row < end; ++row) {
                         backward_row<scalar_t, index_t>(grad_out, input, flow, kernel, nullptr, grad_flow, grad_kernel,
                                                         s, row, win, R);
                       }
                     });
  }
}

// Tap offsets are within one plane; pointers to the planes are always 64-bit.
// float64 takes 64-bit offsets, as wide as its values, so that its windows
// vectorise too (cpu/row_taps.h).
template <typename scalar_t>
bool narrow_offsets(const Sizes& s) {
  return sizeof(scalar_t) == 4 && s.H * s.W <= std::numeric_limits<int32_t>::max();
}

at::Tensor adaptive_warp_cpu(const at::Tensor& input_, const at::Tensor& flow_, const at::Tensor& kernel_) {
  const int F = check_adaptive_warp_args("adaptive_warp", input_, flow_, kernel_);
  check_cpu_dtype("adaptive_warp", input_);
  const at::Tensor input = input_.contiguous();
  const at::Tensor flow = flow_.contiguous();
  const at::Tensor kernel = kernel_.contiguous();
  const Sizes s{input.size(0), input.size(1), input.size(2), input.size(3), F};
  at::Tensor out = at::empty(input.sizes(), input.options());
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "adaptive_warp_cpu", [&] {
    with_index_type(narrow_offsets<scalar_t>(s), [&](auto index_zero) {
      forward_kernel<scalar_t, decltype(index_zero)>(input.const_data_ptr<scalar_t>(), flow.const_data_ptr<scalar_t>(),
                                                     kernel.const_data_ptr<scalar_t>(),
                                                     out.mutable_data_ptr<scalar_t>(), s);
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> adaptive_warp_backward_cpu(const at::Tensor& grad_output_,
                                                                          const at::Tensor& input_,
                                                                          const at::Tensor& flow_,
                                                                          const at::Tensor& kernel_,
                                                                          std::array<bool, 3> output_mask) {
  const int F = check_adaptive_warp_backward_args(grad_output_, input_, flow_, kernel_);
  check_cpu_dtype("adaptive_warp_backward", input_);
  const at::Tensor grad_output = grad_output_.contiguous();
  const at::Tensor input = input_.contiguous();
  const at::Tensor flow = flow_.contiguous();
  const at::Tensor kernel = kernel_.contiguous();
  const Sizes s{input.size(0), input.size(1), input.size(2), input.size(3), F};
  // A gradient that was not asked for comes back as an empty tensor. With no
  // channels, flow and kernel get zero gradients.
  auto make = [&](bool needed, const at::Tensor& like) {
    return needed ? at::zeros_like(like) : at::empty({0}, like.options());
  };
  at::Tensor grad_input = make(output_mask[0], input);
  at::Tensor grad_flow = make(output_mask[1], flow);
  at::Tensor grad_kernel = make(output_mask[2], kernel);
  if (grad_output.numel() == 0 || !(output_mask[0] || output_mask[1] || output_mask[2])) {
    return {grad_input, grad_flow, grad_kernel};
  }
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "adaptive_warp_backward_cpu", [&] {
    with_index_type(narrow_offsets<scalar_t>(s), [&](auto index_zero) {
      backward_kernel<scalar_t, decltype(index_zero)>(
          grad_output.const_data_ptr<scalar_t>(), input.const_data_ptr<scalar_t>(), flow.const_data_ptr<scalar_t>(),
          kernel.const_data_ptr<scalar_t>(), output_mask[0] ? grad_input : at::Tensor(),
          output_mask[1] ? grad_flow.mutable_data_ptr<scalar_t>() : nullptr,
          output_mask[2] ? grad_kernel.mutable_data_ptr<scalar_t>() : nullptr, s);
    });
  });
  return {grad_input, grad_flow, grad_kernel};
}

}  // namespace

TORCH_LIBRARY_IMPL(vfi_ops, CPU, m) {
  m.impl("adaptive_warp", &adaptive_warp_cpu);
  m.impl("adaptive_warp_backward", &adaptive_warp_backward_cpu);
}

}  // namespace vfi_ops
