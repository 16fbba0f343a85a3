// corr_lookup: CPU launchers. The math is in corr_lookup.h. A task owns output
// rows; per pixel it computes the (2r+2)^2 products of its window once (dot
// products over the channels, channels-last so that they vectorise), then the
// (2r+1)^2 samples from them. The backward spreads the incoming gradient over
// the window (G), gathers the fmap1 and coords gradients per pixel and
// scatters G * fmap1 into the fmap2 gradient: row bands with their own copies
// (cpu/partition.h), summed in a fixed order. Nothing of size (H W)^2 exists.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <tuple>
#include <vector>

#include "corr_lookup_math.h"
#include "corr_lookup_checks.h"
#include "cpu/partition.h"
#include "cpu/simd.h"

namespace vfi_ops {
namespace {

struct Sizes {
  int64_t B, C, H, W, H2, W2, r;
  int64_t side() const { return 2 * r + 1; }
  int64_t window() const { return 2 * r + 2; }
};

// sum_c a[c] * b[c] in eight interleaved partial sums, added in a fixed order
// (the same bits with and without vector instructions).
template <typename scalar_t>
VFI_CPU_SIMD scalar_t dot(const scalar_t* __restrict__ a, const scalar_t* __restrict__ b, int64_t C) {
  scalar_t acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t c = 0;
  for (; c + 8 <= C; c += 8) {
    for (int l = 0; l < 8; ++l) acc[l] += a[c + l] * b[c + l];
  }
  scalar_t tail = 0;
  for (; c < C; ++c) tail += a[c] * b[c];
  return (((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))) + tail;
}

// out[c] += s * a[c].
template <typename scalar_t>
VFI_CPU_SIMD void axpy(scalar_t* __restrict__ out, scalar_t s, const scalar_t* __restrict__ a, int64_t C) {
  for (int64_t c = 0; c < C; ++c) out[c] += s * a[c];
}

// The products D of pixel (b, y, x)'s window: D[m * window + n] for fmap2
// pixel (X - r + n, Y - r + m), 0 outside. f1 and f2 are channels-last.
template <typename scalar_t>
void window_products(const scalar_t* f1p, const scalar_t* f2, const LookupWindow<scalar_t, int64_t>& win, int64_t b,
                     const Sizes& s, scalar_t* D) {
  const int64_t nw = s.window();
  for (int64_t m = 0; m < nw; ++m) {
    const int64_t v = win.Y - s.r + m;
    for (int64_t n = 0; n < nw; ++n) {
      const int64_t u = win.X - s.r + n;
      D[m * nw + n] = lookup_inside(u, v, s.H2, s.W2) ? dot(f1p, f2 + ((b * s.H2 + v) * s.W2 + u) * s.C, s.C) : 0;
    }
  }
}

// The four products of sample (i, j) (0-based: offsets i - r, j - r) from D.
template <typename scalar_t>
void sample_products(const scalar_t* D, int64_t nw, int64_t i, int64_t j, scalar_t d[4]) {
  d[0] = D[j * nw + i];
  d[1] = D[j * nw + i + 1];
  d[2] = D[(j + 1) * nw + i];
  d[3] = D[(j + 1) * nw + i + 1];
}

template <typename scalar_t>
void forward_kernel(const scalar_t* f1, const scalar_t* f2, const scalar_t* coords, scalar_t* out, const Sizes& s) {
  const int64_t HW = s.H * s.W, n = s.side(), nw = s.window(), K = n * n;
  at::parallel_for(
      0, s.B * s.H, rows_per_task(s.W * nw * nw * std::max<int64_t>(s.C, 1)), [&](int64_t begin, int64_t end) {
        std::vector<scalar_t> D(nw * nw);
        for (int64_t row = begin; row < end; ++row) {
          const int64_t b = row / s.H, y = row % s.H;
          for (int64_t x = 0; x < s.W; ++x) {
            const int64_t p = y * s.W + x;
            scalar_t* o = out + b * K * HW + p;
            const auto win =
                lookup_window<scalar_t, int64_t>(coords[b * 2 * HW + p], coords[b * 2 * HW + HW + p], s.H2, s.W2, s.r);
            if (!win.valid) {
              for (int64_t k = 0; k < K; ++k) o[k * HW] = 0;
              continue;
            }
            window_products(f1 + ((b * s.H + y) * s.W + x) * s.C, f2, win, b, s, D.data());
            scalar_t w[4], d[4];
            lookup_weights(win.a, win.b, w);
            for (int64_t j = 0; j < n; ++j) {
              for (int64_t i = 0; i < n; ++i) {
                sample_products(D.data(), nw, i, j, d);
                o[(j * n + i) * HW] = lookup_blend(w, d);
              }
            }
          }
        }
      });
}

// Rows [begin, end) of the backward; grad_f1, grad_f2 channels-last (or null),
// grad_coords NCHW (or null).
template <typename scalar_t>
void backward_rows(int64_t begin, int64_t end, const scalar_t* g, const scalar_t* f1, const scalar_t* f2,
                   const scalar_t* coords, scalar_t* grad_f1, scalar_t* grad_f2, scalar_t* grad_coords,
                   const Sizes& s) {
  const int64_t HW = s.H * s.W, n = s.side(), nw = s.window(), K = n * n;
  std::vector<scalar_t> D(nw * nw), G(nw * nw);
  for (int64_t row = begin; row < end; ++row) {
    const int64_t b = row / s.H, y = row % s.H;
    for (int64_t x = 0; x < s.W; ++x) {
      const int64_t p = y * s.W + x;
      const auto win =
          lookup_window<scalar_t, int64_t>(coords[b * 2 * HW + p], coords[b * 2 * HW + HW + p], s.H2, s.W2, s.r);
      if (!win.valid) continue;  // every gradient of the pixel stays 0
      const scalar_t* gp = g + b * K * HW + p;
      const scalar_t* f1p = f1 + ((b * s.H + y) * s.W + x) * s.C;
      scalar_t w[4], d[4];
      lookup_weights(win.a, win.b, w);
      if (grad_coords != nullptr) {
        window_products(f1p, f2, win, b, s, D.data());
        scalar_t gx = 0, gy = 0;
        for (int64_t j = 0; j < n; ++j) {
          for (int64_t i = 0; i < n; ++i) {
            sample_products(D.data(), nw, i, j, d);
            lookup_coords_grad(win.a, win.b, d, gp[(j * n + i) * HW], gx, gy);
          }
        }
        grad_coords[b * 2 * HW + p] = gx;
        grad_coords[b * 2 * HW + HW + p] = gy;
      }
      if (grad_f1 == nullptr && grad_f2 == nullptr) continue;
      std::fill(G.begin(), G.end(), scalar_t(0));
      for (int64_t j = 0; j < n; ++j) {
        for (int64_t i = 0; i < n; ++i) {
          const scalar_t gk = gp[(j * n + i) * HW];
          G[j * nw + i] += w[0] * gk;
          G[j * nw + i + 1] += w[1] * gk;
          G[(j + 1) * nw + i] += w[2] * gk;
          G[(j + 1) * nw + i + 1] += w[3] * gk;
        }
      }
      for (int64_t m = 0; m < nw; ++m) {
        const int64_t v = win.Y - s.r + m;
        for (int64_t nn = 0; nn < nw; ++nn) {
          const int64_t u = win.X - s.r + nn;
          if (!lookup_inside(u, v, s.H2, s.W2)) continue;
          const int64_t q = ((b * s.H2 + v) * s.W2 + u) * s.C;
          if (grad_f1 != nullptr) axpy(grad_f1 + ((b * s.H + y) * s.W + x) * s.C, G[m * nw + nn], f2 + q, s.C);
          if (grad_f2 != nullptr) axpy(grad_f2 + q, G[m * nw + nn], f1p, s.C);
        }
      }
    }
  }
}

// [B, C, h, w] as a contiguous channels-last buffer ([B, h, w, C] in memory).
at::Tensor channels_last_buffer(const at::Tensor& t) { return t.permute({0, 2, 3, 1}).contiguous(); }

Sizes lookup_sizes(const at::Tensor& fmap1, const at::Tensor& fmap2, int64_t radius) {
  return {fmap1.size(0), fmap1.size(1), fmap1.size(2), fmap1.size(3), fmap2.size(2), fmap2.size(3), radius};
}

at::Tensor corr_lookup_cpu(const at::Tensor& fmap1_, const at::Tensor& fmap2_, const at::Tensor& coords_,
                           int64_t radius) {
  check_corr_lookup_args(fmap1_, fmap2_, coords_, radius);
  check_cpu_dtype("corr_lookup", fmap1_);
  const Sizes s = lookup_sizes(fmap1_, fmap2_, radius);
  at::Tensor out = at::empty({s.B, s.side() * s.side(), s.H, s.W}, fmap1_.options());
  if (out.numel() == 0) return out;
  const at::Tensor f1 = channels_last_buffer(fmap1_), f2 = channels_last_buffer(fmap2_);
  const at::Tensor coords = coords_.contiguous();
  AT_DISPATCH_FLOATING_TYPES(f1.scalar_type(), "corr_lookup_cpu", [&] {
    forward_kernel<scalar_t>(f1.const_data_ptr<scalar_t>(), f2.const_data_ptr<scalar_t>(),
                             coords.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(), s);
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> corr_lookup_backward_cpu(const at::Tensor& grad_output_,
                                                                        const at::Tensor& fmap1_,
                                                                        const at::Tensor& fmap2_,
                                                                        const at::Tensor& coords_, int64_t radius,
                                                                        std::array<bool, 3> output_mask) {
  check_corr_lookup_backward_args(grad_output_, fmap1_, fmap2_, coords_, radius);
  check_cpu_dtype("corr_lookup_backward", fmap1_);
  const Sizes s = lookup_sizes(fmap1_, fmap2_, radius);
  const auto opts = fmap1_.options();
  // Channels-last buffers for the fmap gradients, returned in NCHW.
  at::Tensor g1 = output_mask[0] ? at::zeros({s.B, s.H, s.W, s.C}, opts) : at::Tensor();
  at::Tensor g2 = output_mask[1] ? at::zeros({s.B, s.H2, s.W2, s.C}, opts) : at::Tensor();
  at::Tensor gc = output_mask[2] ? at::zeros(coords_.sizes(), opts) : at::empty({0}, opts);
  if (grad_output_.numel() > 0 && (output_mask[0] || output_mask[1] || output_mask[2])) {
    const at::Tensor grad_output = grad_output_.contiguous();
    const at::Tensor f1 = channels_last_buffer(fmap1_), f2 = channels_last_buffer(fmap2_);
    const at::Tensor coords = coords_.contiguous();
    AT_DISPATCH_FLOATING_TYPES(f1.scalar_type(), "corr_lookup_backward_cpu", [&] {
      const scalar_t* g = grad_output.const_data_ptr<scalar_t>();
      const scalar_t *p1 = f1.const_data_ptr<scalar_t>(), *p2 = f2.const_data_ptr<scalar_t>();
      const scalar_t* pc = coords.const_data_ptr<scalar_t>();
      scalar_t* gf1 = output_mask[0] ? g1.mutable_data_ptr<scalar_t>() : nullptr;
      scalar_t* gcd = output_mask[2] ? gc.mutable_data_ptr<scalar_t>() : nullptr;
      const int64_t nw = s.window(), work = s.W * nw * nw * std::max<int64_t>(s.C, 1) * 3;
      if (output_mask[1]) {
        for_row_bands<scalar_t>(s.B * s.H, g2, work, [&](int64_t begin, int64_t end, scalar_t* gf2) {
          backward_rows<scalar_t>(begin, end, g, p1, p2, pc, gf1, gf2, gcd, s);
        });
      } else {
        at::parallel_for(0, s.B * s.H, rows_per_task(work), [&](int64_t begin, int64_t end) {
          backward_rows<scalar_t>(begin, end, g, p1, p2, pc, gf1, nullptr, gcd, s);
        });
      }
    });
  }
  const auto nchw = [&](const at::Tensor& t) {
    return t.defined() ? t.permute({0, 3, 1, 2}).contiguous() : at::empty({0}, opts);
  };
  return {nchw(g1), nchw(g2), gc};
}

}  // namespace

TORCH_LIBRARY_IMPL(vfi_ops, CPU, m) {
  m.impl("corr_lookup", &corr_lookup_cpu);
  m.impl("corr_lookup_backward", &corr_lookup_backward_cpu);
}

}  // namespace vfi_ops
