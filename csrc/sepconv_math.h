// sepconv: the per-element math, shared by the CPU and CUDA kernels (SepConv,
// Niklaus et al., ICCV 2017: separable local convolution).
//
//   out[b, c, y, x] = sum_{i<K} vertical[b, i, y, x] * P_i(y, x),
//   P_i(y, x)       = sum_{j<K} input[b, c, y+i, x+j] * horizontal[b, j, y, x],
//
// the input padded by the caller ([B, C, H+K-1, W+K-1]). Each row's horizontal
// pass P_i is computed once (K multiply-adds), then weighed by the vertical
// kernel: K^2 + K multiply-adds per output value, reading the input along rows.
//
// Gradients, with g = grad_output[b, c, y, x]:
//   dL/dvertical[i]   = sum_c g * P_i,
//   dL/dhorizontal[j] = sum_c g * Q_j,  Q_j(y, x) = sum_{i<K} vertical[i] * input[y+i, x+j],
//   dL/dinput[Y, X]   = sum_{i, j} g[Y-i, X-j] * vertical[i, Y-i, X-j] * horizontal[j, Y-i, X-j]
// (over the output pixels inside the output): a gather, so every backend owns
// each element it writes (no atomics, deterministic).
//
// The functions work on a span of n neighbouring output pixels of one row, so
// that the CPU kernels loop along rows (vectorised) and a CUDA thread passes
// n = 1; both sum in the same order. `ks` is the stride between kernel
// channels (H * W), `rs` the input's row stride (W + K - 1).
#pragma once

#include "common.h"

namespace vfi_ops {

// acc[x] = P(x) = sum_{j<K} row[x+j] * h[j*ks + x] for x < n (row: the input row
// y+i from column x0; h: horizontal[b, 0, y, x0]).
template <typename acc_t, typename scalar_t, typename index_t>
VFI_HOST_DEVICE void sepconv_horizontal_pass(const scalar_t* __restrict__ row, const scalar_t* __restrict__ h,
                                             index_t ks, int K, index_t n, acc_t* __restrict__ acc) {
  for (index_t x = 0; x < n; ++x) acc[x] = acc_t(0);
  for (int j = 0; j < K; ++j) {
    const scalar_t* __restrict__ hj = h + j * ks;
    const scalar_t* __restrict__ r = row + j;
    for (index_t x = 0; x < n; ++x) acc[x] += static_cast<acc_t>(r[x]) * static_cast<acc_t>(hj[x]);
  }
}

// acc[x] = Q_j(x) = sum_{i<K} v[i*ks + x] * in[i*rs + j + x] for x < n (in:
// input[b, c, y, x0]; v: vertical[b, 0, y, x0]).
template <typename acc_t, typename scalar_t, typename index_t>
VFI_HOST_DEVICE void sepconv_vertical_pass(const scalar_t* __restrict__ in, index_t rs, const scalar_t* __restrict__ v,
                                           index_t ks, int K, int j, index_t n, acc_t* __restrict__ acc) {
  for (index_t x = 0; x < n; ++x) acc[x] = acc_t(0);
  for (int i = 0; i < K; ++i) {
    const scalar_t* __restrict__ vi = v + i * ks;
    const scalar_t* __restrict__ r = in + i * rs + j;
    for (index_t x = 0; x < n; ++x) acc[x] += static_cast<acc_t>(vi[x]) * static_cast<acc_t>(r[x]);
  }
}

// out[x] = sum_{i<K} v[i*ks + x] * P_i(x) for x < n (tmp: scratch of n).
template <typename acc_t, typename scalar_t, typename index_t>
VFI_HOST_DEVICE void sepconv_forward_span(const scalar_t* __restrict__ in, index_t rs, const scalar_t* __restrict__ v,
                                          const scalar_t* __restrict__ h, index_t ks, int K, index_t n,
                                          acc_t* __restrict__ tmp, acc_t* __restrict__ out) {
  for (index_t x = 0; x < n; ++x) out[x] = acc_t(0);
  for (int i = 0; i < K; ++i) {
    sepconv_horizontal_pass(in + i * rs, h, ks, K, n, tmp);
    const scalar_t* __restrict__ vi = v + i * ks;
    for (index_t x = 0; x < n; ++x) out[x] += static_cast<acc_t>(vi[x]) * tmp[x];
  }
}

// grad[x] += g[x] * pass[x]: one channel's term of a kernel gradient.
template <typename grad_t, typename acc_t, typename scalar_t, typename index_t>
VFI_HOST_DEVICE void sepconv_kernel_grad_term(const scalar_t* __restrict__ g, const acc_t* __restrict__ pass, index_t n,
                                              grad_t* __restrict__ grad) {
  for (index_t x = 0; x < n; ++x) grad[x] += static_cast<acc_t>(g[x]) * pass[x];
}

// The terms of kernel row i (output row y = Y - i) of the input gradient of row
// Y, columns X0 .. X0+n-1: acc[X - X0] += sum_j g[X-j] * v[X-j] * h[j*ks + X-j]
// over the output columns X - j inside [0, W) (g, v, h: grad_output[b, c, y, 0],
// vertical[b, i, y, 0], horizontal[b, 0, y, 0]).
template <typename acc_t, typename scalar_t, typename index_t>
VFI_HOST_DEVICE void sepconv_input_grad_row(const scalar_t* __restrict__ g, const scalar_t* __restrict__ v,
                                            const scalar_t* __restrict__ h, index_t ks, int K, index_t W, index_t X0,
                                            index_t n, acc_t* __restrict__ acc) {
  for (int j = 0; j < K; ++j) {
    const index_t jj = j;
    const index_t lo = X0 > jj ? X0 : jj;                  // X - j >= 0
    const index_t hi = X0 + n < W + jj ? X0 + n : W + jj;  // X - j < W
    const scalar_t* __restrict__ hj = h + j * ks;
    for (index_t X = lo; X < hi; ++X) {
      const index_t x = X - jj;
      acc[X - X0] += static_cast<acc_t>(g[x]) * static_cast<acc_t>(v[x]) * static_cast<acc_t>(hj[x]);
    }
  }
}

}  // namespace vfi_ops
