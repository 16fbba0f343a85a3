// backward_warp: CPU launchers. The per-element math (taps, weights, gradient
// coefficients) is in backward_warp_math.h / bilinear_math.h; here a task computes it for
// one output row at a time (cpu/row_taps.h: vectorised where the CPU has AVX2)
// and applies it pixel by pixel to a few channels at a time. Where the taps are
// vectorised, the float32 forward applies them with AVX2 loops
// (cpu/backward_warp_avx2.cpp), bitwise the scalar loops here.
//
// Layouts: a channels-last input is computed in place (NHWC: a pixel's channels
// are one run, so each tap reads a run) and gives channels-last results; any
// other input is computed as contiguous NCHW planes.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <limits>
#include <tuple>
#include <type_traits>
#include <vector>

#include "backward_warp_math.h"
#include "backward_warp_checks.h"
#include "cpu/backward_warp_avx2.h"
#include "cpu/partition.h"
#include "cpu/prefetch.h"
#include "cpu/row_taps.h"
#include "cpu/simd.h"
#include "index_width.h"
#include "output_layout.h"

namespace vfi_ops {
namespace {

struct WarpSizes {
  int64_t B, C, Hin, Win, H, W;
  bool mask_taps;  // taps_need_masks(input)
};

bool taps_need_masks(const at::Tensor& input);

WarpSizes warp_sizes(const at::Tensor& input, const at::Tensor& flow) {
  return {input.size(0), input.size(1), input.size(2),         input.size(3),
          flow.size(2),  flow.size(3),  taps_need_masks(input)};
}

// Tap offsets index pixels of an input plane (NHWC: times C, in 64 bits), or of
// a flow item; 32 bits are enough for float32 below 2^31 pixels. float64 always
// takes 64-bit offsets, as wide as its values, so that its taps vectorise too.
template <typename scalar_t>
bool narrow_offsets(const WarpSizes& s) {
  return sizeof(scalar_t) == 4 && std::max(s.Hin * s.Win, 2 * s.H * s.W) <= std::numeric_limits<int32_t>::max();
}

// Whether the loops below must mask the values of taps outside the input. Such
// taps have weight 0 and offset 0, so reading pixel 0 of the plane for them is
// harmless unless that pixel is inf or NaN (0 * inf is NaN): only then do the
// loops take their masked variant (tap_values' semantics).
bool taps_need_masks(const at::Tensor& input) {
  if (input.numel() == 0) return false;
  return !at::isfinite(input.select(3, 0).select(2, 0)).all().item<bool>();
}

// The taps of one output row (cpu/row_taps.h).
template <typename scalar_t, typename index_t>
struct RowTaps : RowTapArrays<scalar_t, index_t> {
  int64_t in_row = 0;  // pixels in an input row (set by fill)

  RowTaps(int64_t W, bool grad_coeffs, bool masked) : RowTapArrays<scalar_t, index_t>(W, grad_coeffs, masked) {}

  void fill(const scalar_t* flow, const WarpSizes& s, int64_t b, int64_t y, Padding padding) {
    in_row = s.Win;
    const scalar_t* u = flow + (b * 2 * s.H + y) * s.W;
    RowTapArrays<scalar_t, index_t>::fill(u, u + s.H * s.W, y, s.W, s.Hin, s.Win, padding);
  }
};

// The gathers below read four scattered taps per value. GCC's vector code for
// such loops fills the lanes one load at a time and is slower than plain
// scalar code on this machine, so they are not vectorised.
#if defined(__GNUC__) && !defined(__clang__)
#define VFI_SCALAR_LOOP __attribute__((optimize("no-tree-vectorize")))
#else
#define VFI_SCALAR_LOOP
#endif

// Every loop below asks for the input (and the input gradient it scatters into)
// a few rows below each pixel's bottom taps to be brought into L2 early
// (cpu/prefetch.h): 1080p RGB forward+backward, the benchmarks' flow, one thread,
// NCHW 105 -> 80 ms, NHWC 100 -> 77 ms.

// Channels handled per pass over a row: few enough streams for the prefetchers,
// and the taps of a pixel read once per pass.
constexpr int64_t kChannelBlock = 4;

// Calls fn(std::integral_constant<int, CB>) with CB = C for 1 to 4 channels, else 0.
template <typename Fn>
void with_channel_count(int64_t C, Fn&& fn) {
  switch (C) {
    case 1:
      fn(std::integral_constant<int, 1>{});
      break;
    case 2:
      fn(std::integral_constant<int, 2>{});
      break;
    case 3:
      fn(std::integral_constant<int, 3>{});
      break;
    case 4:
      fn(std::integral_constant<int, 4>{});
      break;
    default:
      fn(std::integral_constant<int, 0>{});
      break;
  }
}

// Calls fn(c_begin, std::integral_constant<int, n>) for blocks of at most kChannelBlock channels.
template <typename Fn>
void for_channel_blocks(int64_t C, Fn&& fn) {
  int64_t c = 0;
  for (; c + kChannelBlock <= C; c += kChannelBlock) fn(c, std::integral_constant<int, kChannelBlock>{});
  if (c < C) with_channel_count(C - c, [&](auto cb) { fn(c, cb); });  // 1 to 3 left
}

// Sets the values of taps outside the input to 0 (the masked variants).
template <bool kMasked, typename scalar_t, typename index_t>
inline void mask_tap_values(const RowTaps<scalar_t, index_t>& t, int64_t x, scalar_t v[4]) {
  if constexpr (kMasked) {
    for (int k = 0; k < 4; ++k) v[k] = t.mask[k][x] != scalar_t(0) ? v[k] : scalar_t(0);
  }
}

// ------------------------------------------------------------------ NCHW

// out[c][x] = backward_warp_value for n pixels of a row and CB channel planes
// (input planes `in_plane` apart, output rows `out_plane` apart).
template <int CB, bool kMasked, typename scalar_t, typename index_t>
VFI_CPU_SIMD VFI_SCALAR_LOOP void sample_row_nchw(const scalar_t* __restrict__ in, int64_t in_plane,
                                                  const RowTaps<scalar_t, index_t>& t, scalar_t* __restrict__ out,
                                                  int64_t out_plane, int64_t n) {
  for (int64_t x = 0; x < n; ++x) {
    const index_t o[4] = {t.offset[0][x], t.offset[1][x], t.offset[2][x], t.offset[3][x]};
    const scalar_t w[4] = {t.w[0][x], t.w[1][x], t.w[2][x], t.w[3][x]};
    for (int c = 0; c < CB; ++c) {
      const scalar_t* plane = in + c * in_plane;
      prefetch_below(plane + o[2], t.in_row);
      scalar_t v[4] = {plane[o[0]], plane[o[1]], plane[o[2]], plane[o[3]]};
      mask_tap_values<kMasked>(t, x, v);
      out[c * out_plane + x] = tap_dot(w, v);
    }
  }
}

// The backward of n pixels of a row for CB channel planes: the flow gradient
// (gu[x] += sum over the channels of g * d(out)/du, gv likewise) and, with
// grad_in, the scatter of the input gradient (grad_in[c][offset_k] += g * w_k).
template <int CB, bool kMasked, typename scalar_t, typename index_t>
VFI_CPU_SIMD VFI_SCALAR_LOOP void backward_row_nchw(const scalar_t* __restrict__ g, int64_t g_plane,
                                                    const scalar_t* __restrict__ in, scalar_t* grad_in,
                                                    int64_t in_plane, const RowTaps<scalar_t, index_t>& t,
                                                    scalar_t* __restrict__ gu, scalar_t* __restrict__ gv, int64_t n) {
  for (int64_t x = 0; x < n; ++x) {
    const index_t o[4] = {t.offset[0][x], t.offset[1][x], t.offset[2][x], t.offset[3][x]};
    const scalar_t cx[4] = {t.cx[0][x], t.cx[1][x], t.cx[2][x], t.cx[3][x]};
    const scalar_t cy[4] = {t.cy[0][x], t.cy[1][x], t.cy[2][x], t.cy[3][x]};
    scalar_t u_acc = gu[x], v_acc = gv[x];
    for (int c = 0; c < CB; ++c) {
      const scalar_t* plane = in + c * in_plane;
      prefetch_below(plane + o[2], t.in_row);
      if (grad_in != nullptr) prefetch_below(grad_in + c * in_plane + o[2], t.in_row, true);
      scalar_t v[4] = {plane[o[0]], plane[o[1]], plane[o[2]], plane[o[3]]};
      mask_tap_values<kMasked>(t, x, v);
      const scalar_t gc = g[c * g_plane + x];
      u_acc += gc * tap_dot(cx, v);
      v_acc += gc * tap_dot(cy, v);
      if (grad_in != nullptr) {
        scalar_t* gplane = grad_in + c * in_plane;
        for (int k = 0; k < 4; ++k) gplane[o[k]] += gc * t.w[k][x];
      }
    }
    gu[x] = u_acc, gv[x] = v_acc;
  }
}

// The input-gradient scatter alone, for CB channel planes.
template <int CB, typename scalar_t, typename index_t>
VFI_CPU_SIMD VFI_SCALAR_LOOP void scatter_row_nchw(const scalar_t* __restrict__ g, int64_t g_plane, scalar_t* grad_in,
                                                   int64_t in_plane, const RowTaps<scalar_t, index_t>& t, int64_t n) {
  for (int64_t x = 0; x < n; ++x) {
    const index_t o[4] = {t.offset[0][x], t.offset[1][x], t.offset[2][x], t.offset[3][x]};
    const scalar_t w[4] = {t.w[0][x], t.w[1][x], t.w[2][x], t.w[3][x]};
    for (int c = 0; c < CB; ++c) {
      const scalar_t gc = g[c * g_plane + x];
      scalar_t* gplane = grad_in + c * in_plane;
      prefetch_below(gplane + o[2], t.in_row, true);
      for (int k = 0; k < 4; ++k) gplane[o[k]] += gc * w[k];
    }
  }
}

// ------------------------------------------------------------------ NHWC

// out[x][c] = backward_warp_value for n pixels of a row, all C channels (CB:
// C known at compile time, or 0: any C, in a loop along the channels' run).
template <int CB, bool kMasked, typename scalar_t, typename index_t>
VFI_CPU_SIMD void sample_row_nhwc(const scalar_t* __restrict__ in, int64_t C, const RowTaps<scalar_t, index_t>& t,
                                  scalar_t* __restrict__ out, int64_t n) {
  const int64_t channels = CB > 0 ? CB : C;
  for (int64_t x = 0; x < n; ++x) {
    const scalar_t* __restrict__ p0 = in + int64_t(t.offset[0][x]) * channels;
    const scalar_t* __restrict__ p1 = in + int64_t(t.offset[1][x]) * channels;
    const scalar_t* __restrict__ p2 = in + int64_t(t.offset[2][x]) * channels;
    const scalar_t* __restrict__ p3 = in + int64_t(t.offset[3][x]) * channels;
    prefetch_below(p2, t.in_row * channels);
    const scalar_t w[4] = {t.w[0][x], t.w[1][x], t.w[2][x], t.w[3][x]};
    scalar_t* __restrict__ o = out + x * channels;
    for (int64_t c = 0; c < channels; ++c) {
      scalar_t v[4] = {p0[c], p1[c], p2[c], p3[c]};
      mask_tap_values<kMasked>(t, x, v);
      o[c] = tap_dot(w, v);
    }
  }
}

// The backward of n pixels of a row, all C channels: the flow gradient and,
// with grad_in, the scatter of the input gradient (channels in order, as NCHW).
template <int CB, bool kMasked, typename scalar_t, typename index_t>
VFI_CPU_SIMD void backward_row_nhwc(const scalar_t* __restrict__ g, const scalar_t* __restrict__ in, scalar_t* grad_in,
                                    int64_t C, const RowTaps<scalar_t, index_t>& t, scalar_t* __restrict__ gu,
                                    scalar_t* __restrict__ gv, int64_t n) {
  const int64_t channels = CB > 0 ? CB : C;
  for (int64_t x = 0; x < n; ++x) {
    const index_t o[4] = {t.offset[0][x], t.offset[1][x], t.offset[2][x], t.offset[3][x]};
    const scalar_t cx[4] = {t.cx[0][x], t.cx[1][x], t.cx[2][x], t.cx[3][x]};
    const scalar_t cy[4] = {t.cy[0][x], t.cy[1][x], t.cy[2][x], t.cy[3][x]};
    const scalar_t w[4] = {t.w[0][x], t.w[1][x], t.w[2][x], t.w[3][x]};
    const scalar_t* __restrict__ gx = g + x * channels;
    prefetch_below(in + int64_t(o[2]) * channels, t.in_row * channels);
    if (grad_in != nullptr) prefetch_below(grad_in + int64_t(o[2]) * channels, t.in_row * channels, true);
    scalar_t u_acc = 0, v_acc = 0;
    for (int64_t c = 0; c < channels; ++c) {
      scalar_t v[4] = {in[int64_t(o[0]) * channels + c], in[int64_t(o[1]) * channels + c],
                       in[int64_t(o[2]) * channels + c], in[int64_t(o[3]) * channels + c]};
      mask_tap_values<kMasked>(t, x, v);
      u_acc += gx[c] * tap_dot(cx, v);
      v_acc += gx[c] * tap_dot(cy, v);
    }
    gu[x] = u_acc, gv[x] = v_acc;
    if (grad_in == nullptr) continue;
    for (int k = 0; k < 4; ++k) {
      scalar_t* gk = grad_in + int64_t(o[k]) * channels;
      for (int64_t c = 0; c < channels; ++c) gk[c] += gx[c] * w[k];
    }
  }
}

// Calls fn(std::true_type{}) if masked, else fn(std::false_type{}).
template <typename Fn>
void with_masking(bool masked, Fn&& fn) {
  if (masked) {
    fn(std::true_type{});
  } else {
    fn(std::false_type{});
  }
}

// ------------------------------------------------------------------ kernels

// Whether the forward's rows run the AVX2 sampling loops (cpu/backward_warp_avx2.h):
// float32 with 32-bit offsets where the taps are vectorised, NCHW or NHWC with 3
// or 4 channels, and no masks needed.
template <typename scalar_t, typename index_t>
bool forward_in_avx2(const WarpSizes& s, bool nhwc) {
#ifdef VFI_ROW_TAPS_AVX2
  return std::is_same_v<scalar_t, float> && std::is_same_v<index_t, int32_t> && !s.mask_taps &&
         row_taps_take_vector_path<scalar_t, index_t>(s.W, true) && (!nhwc || s.C == 3 || s.C == 4);
#else
  return false;
#endif
}

// Output row (b, y) by the AVX2 loops.
template <typename scalar_t, typename index_t>
void sample_row_avx2(const scalar_t* in_b, const RowTaps<scalar_t, index_t>& taps, scalar_t* out, const WarpSizes& s,
                     int64_t b, int64_t y, bool nhwc) {
#ifdef VFI_ROW_TAPS_AVX2
  if constexpr (std::is_same_v<scalar_t, float> && std::is_same_v<index_t, int32_t>) {
    const int64_t in_plane = s.Hin * s.Win, out_plane = s.H * s.W;
    const auto W_in = static_cast<int32_t>(s.Win), n = static_cast<int32_t>(s.W);
    if (nhwc) {
      sample_row_nhwc_avx2(in_b, s.C, taps.out, W_in, out + (b * s.H + y) * s.W * s.C, n);
      return;
    }
    for_channel_blocks(s.C, [&](int64_t c, auto cb) {
      sample_row_nchw_avx2(in_b + c * in_plane, in_plane, decltype(cb)::value, taps.out, W_in,
                           out + (b * s.C + c) * out_plane + y * s.W, out_plane, n);
    });
  }
#endif
}

// Output row (b, y) by the scalar loops.
template <typename scalar_t, typename index_t>
void sample_row_scalar(const scalar_t* in_b, const RowTaps<scalar_t, index_t>& taps, scalar_t* out, const WarpSizes& s,
                       int64_t b, int64_t y, bool nhwc) {
  const int64_t in_plane = s.Hin * s.Win, out_plane = s.H * s.W;
  with_masking(taps.masked, [&](auto m) {
    if (nhwc) {
      with_channel_count(s.C, [&](auto cb) {
        sample_row_nhwc<decltype(cb)::value, decltype(m)::value>(in_b, s.C, taps, out + (b * s.H + y) * s.W * s.C, s.W);
      });
      return;
    }
    for_channel_blocks(s.C, [&](int64_t c, auto cb) {
      sample_row_nchw<decltype(cb)::value, decltype(m)::value>(
          in_b + c * in_plane, in_plane, taps, out + (b * s.C + c) * out_plane + y * s.W, out_plane, s.W);
    });
  });
}

template <typename scalar_t, typename index_t>
void forward_kernel(const scalar_t* input, const scalar_t* flow, scalar_t* out, const WarpSizes& s, Padding padding,
                    bool nhwc) {
  const bool avx2 = forward_in_avx2<scalar_t, index_t>(s, nhwc);
  at::parallel_for(0, s.B * s.H, rows_per_task(s.W * std::max<int64_t>(s.C, 1)), [&](int64_t begin, int64_t end) {
    RowTaps<scalar_t, index_t> taps(s.W, false, s.mask_taps);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / s.H, y = row % s.H;
      taps.fill(flow, s, b, y, padding);
      const scalar_t* in_b = input + b * s.C * s.Hin * s.Win;
      if (avx2) {
        sample_row_avx2(in_b, taps, out, s, b, y, nhwc);
      } else {
        sample_row_scalar(in_b, taps, out, s, b, y, nhwc);
      }
    }
  });
}

// One output row of the backward: the flow gradient of its pixels (gathered
// over the channels, owned by the pixel) and, when grad_input is given, the
// scatter of the row's input gradient into it.
template <typename scalar_t, typename index_t>
void backward_row(const scalar_t* grad_out, const scalar_t* input, const scalar_t* flow, scalar_t* grad_input,
                  scalar_t* grad_flow, const WarpSizes& s, Padding padding, bool nhwc, int64_t row,
                  RowTaps<scalar_t, index_t>& taps) {
  const int64_t in_plane = s.Hin * s.Win, out_plane = s.H * s.W, b = row / s.H, y = row % s.H;
  taps.fill(flow, s, b, y, padding);
  scalar_t* gu = grad_flow + b * 2 * out_plane + y * s.W;
  scalar_t* gv = gu + out_plane;
  const scalar_t* in_b = input + b * s.C * in_plane;
  scalar_t* gi_b = grad_input != nullptr ? grad_input + b * s.C * in_plane : nullptr;
  with_masking(taps.masked, [&](auto m) {
    if (nhwc) {
      with_channel_count(s.C, [&](auto cb) {
        backward_row_nhwc<decltype(cb)::value, decltype(m)::value>(grad_out + row * s.W * s.C, in_b, gi_b, s.C, taps,
                                                                   gu, gv, s.W);
      });
      return;
    }
    std::fill(gu, gu + s.W, scalar_t(0));
    std::fill(gv, gv + s.W, scalar_t(0));
    for_channel_blocks(s.C, [&](int64_t c, auto cb) {
      backward_row_nchw<decltype(cb)::value, decltype(m)::value>(
          grad_out + (b * s.C + c) * out_plane + y * s.W, out_plane, in_b + c * in_plane,
          gi_b != nullptr ? gi_b + c * in_plane : nullptr, in_plane, taps, gu, gv, s.W);
    });
  });
}

// Flow gradient alone: rows are independent.
template <typename scalar_t, typename index_t>
void flow_grad_kernel(const scalar_t* grad_out, const scalar_t* input, const scalar_t* flow, scalar_t* grad_flow,
                      const WarpSizes& s, Padding padding, bool nhwc) {
  at::parallel_for(0, s.B * s.H, rows_per_task(s.W * std::max<int64_t>(s.C, 1)), [&](int64_t begin, int64_t end) {
    RowTaps<scalar_t, index_t> taps(s.W, true, s.mask_taps);
    for (int64_t row = begin; row < end; ++row) {
      backward_row<scalar_t, index_t>(grad_out, input, flow, nullptr, grad_flow, s, padding, nhwc, row, taps);
    }
  });
}

// Input gradient alone (NCHW): a scatter in which each task owns whole (b, c) planes.
template <typename scalar_t, typename index_t>
void input_grad_kernel(const scalar_t* grad_out, const scalar_t* flow, scalar_t* grad_input, const WarpSizes& s,
                       Padding padding) {
  const int64_t in_plane = s.Hin * s.Win, out_plane = s.H * s.W;
  for_plane_runs(s.B, s.C, [&](int64_t b, int64_t c_begin, int64_t c_end) {
    RowTaps<scalar_t, index_t> taps(s.W, false, s.mask_taps);
    for (int64_t y = 0; y < s.H; ++y) {
      taps.fill(flow, s, b, y, padding);
      for_channel_blocks(c_end - c_begin, [&](int64_t c, auto cb) {
        const int64_t bc = b * s.C + c_begin + c;
        scatter_row_nchw<decltype(cb)::value>(grad_out + bc * out_plane + y * s.W, out_plane,
                                              grad_input + bc * in_plane, in_plane, taps, s.W);
      });
    }
  });
}

// Both gradients in one pass over the output rows: in bands that scatter into
// copies of the input gradient where there are too few units of ownership
// (NCHW: planes, NHWC: batch items) to share among the threads (see
// cpu/partition.h), else by whole batch items.
template <typename scalar_t, typename index_t>
void one_pass_backward_kernel(const scalar_t* grad_out, const scalar_t* input, const scalar_t* flow,
                              const at::Tensor& grad_input, scalar_t* grad_flow, const WarpSizes& s, Padding padding,
                              bool nhwc) {
  if (too_few_planes(nhwc ? s.B : s.B * s.C)) {
    for_row_bands<scalar_t>(
        s.B * s.H, grad_input, s.W * std::max<int64_t>(s.C, 1), [&](int64_t row_begin, int64_t row_end, scalar_t* gi) {
          RowTaps<scalar_t, index_t> taps(s.W, true, s.mask_taps);
          for (int64_t row = row_begin; row < row_end; ++row) {
            backward_row<scalar_t, index_t>(grad_out, input, flow, gi, grad_flow, s, padding, nhwc, row, taps);
          }
        });
    return;
  }
  scalar_t* gi = grad_input.mutable_data_ptr<scalar_t>();
  at::parallel_for(0, s.B, 1, [&](int64_t begin, int64_t end) {
    RowTaps<scalar_t, index_t> taps(s.W, true, s.mask_taps);
    for (int64_t row = begin * s.H; row < end * s.H; ++row) {
      backward_row<scalar_t, index_t>(grad_out, input, flow, gi, grad_flow, s, padding, nhwc, row, taps);
    }
  });
}

// Which kernels run: one pass for both gradients where the input gradient is
// scattered in bands or by batch items (and for the NHWC input gradient alone,
// whose flow gradient then goes to a scratch tensor); else the input gradient by
// (b, c) planes and the flow gradient by rows.
template <typename scalar_t, typename index_t>
void backward_kernels(const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& flow,
                      at::Tensor& grad_input, at::Tensor& grad_flow, const WarpSizes& s, Padding padding, bool nhwc,
                      std::array<bool, 2> output_mask) {
  const scalar_t* g = grad_output.const_data_ptr<scalar_t>();
  const scalar_t* in = input.const_data_ptr<scalar_t>();
  const scalar_t* f = flow.const_data_ptr<scalar_t>();
  if (output_mask[0] && (nhwc || (output_mask[1] && too_few_planes(s.B * s.C)))) {
    at::Tensor flow_grad = output_mask[1] ? grad_flow : at::empty(flow.sizes(), flow.options());
    one_pass_backward_kernel<scalar_t, index_t>(g, in, f, grad_input, flow_grad.mutable_data_ptr<scalar_t>(), s,
                                                padding, nhwc);
    return;
  }
  if (output_mask[0]) {
    input_grad_kernel<scalar_t, index_t>(g, f, grad_input.mutable_data_ptr<scalar_t>(), s, padding);
  }
  if (output_mask[1]) {
    flow_grad_kernel<scalar_t, index_t>(g, in, f, grad_flow.mutable_data_ptr<scalar_t>(), s, padding, nhwc);
  }
}

at::Tensor backward_warp_cpu(const at::Tensor& input_, const at::Tensor& flow_, c10::string_view padding_mode) {
  check_backward_warp_args(input_, flow_);
  check_cpu_dtype("backward_warp", input_);
  const Padding padding = parse_warp_padding(padding_mode);
  const bool nhwc = computes_channels_last(input_);
  const at::Tensor input = nhwc ? input_ : input_.contiguous();
  const at::Tensor flow = flow_.contiguous();
  const WarpSizes s = warp_sizes(input, flow);
  at::Tensor out = at::empty({s.B, s.C, s.H, s.W}, input.options().memory_format(output_memory_format(input_)));
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "backward_warp_cpu", [&] {
    with_index_type(narrow_offsets<scalar_t>(s), [&](auto index_zero) {
      forward_kernel<scalar_t, decltype(index_zero)>(input.const_data_ptr<scalar_t>(), flow.const_data_ptr<scalar_t>(),
                                                     out.mutable_data_ptr<scalar_t>(), s, padding, nhwc);
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
  const bool nhwc = computes_channels_last(input_);
  const at::MemoryFormat layout = output_memory_format(input_);
  const at::Tensor grad_output = grad_output_.contiguous(layout);
  const at::Tensor input = input_.contiguous(layout);
  const at::Tensor flow = flow_.contiguous();
  const WarpSizes s = warp_sizes(input, flow);
  // A gradient that was not asked for comes back as an empty tensor.
  // (at::zeros would drop the options' memory format.)
  at::Tensor grad_input = output_mask[0] ? at::empty(input.sizes(), input.options().memory_format(layout)).zero_()
                                         : at::empty({0}, input.options());
  at::Tensor grad_flow = output_mask[1] ? at::empty(flow.sizes(), flow.options()) : at::empty({0}, flow.options());
  if (grad_output.numel() == 0) {
    grad_flow.zero_();
    return {grad_input, grad_flow};
  }
  if (!output_mask[0] && !output_mask[1]) return {grad_input, grad_flow};
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "backward_warp_backward_cpu", [&] {
    with_index_type(narrow_offsets<scalar_t>(s), [&](auto index_zero) {
      backward_kernels<scalar_t, decltype(index_zero)>(grad_output, input, flow, grad_input, grad_flow, s, padding,
                                                       nhwc, output_mask);
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
