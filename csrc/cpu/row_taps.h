// Where a row of output pixels samples its input, for the CPU launchers: the
// bilinear taps of each pixel (bilinear_math.h; backward_warp, and the splats of a
// forward warp) and DAIN's adaptive windows (adaptive_warp_math.h), computed for a
// whole row at once and stored as structures of arrays, which the launchers'
// loops then apply channel by channel.
//
// The headers of the math stay the definition: the *_scalar loops below call
// them pixel by pixel. Where the CPU has AVX2 (as ATen's CPU capability
// dispatch says; cpu/row_taps_vec.h, cpu/row_taps_avx2.cpp), row_taps and
// adaptive_row_windows run a vectorised mirror of the same operations instead,
// whose results are bitwise those of the scalar loops (tests/test_row_taps.py).
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "adaptive_warp_math.h"
#include "bilinear_math.h"

// GCC on x86-64 compiles the vectorised routines for AVX2 (cpu/row_taps_avx2.cpp).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(_WIN32)
#define VFI_ROW_TAPS_AVX2 1
#endif

namespace vfi_ops {

// Where row_taps writes: element x of each array is pixel x's.
template <typename scalar_t, typename index_t>
struct RowTapsOut {
  index_t* offset[4] = {};  // bilinear_taps' offset[k]
  scalar_t* w[4] = {};      // its w[k]
  scalar_t* cx[4] = {};     // bilinear_grad_coeffs' cx[k], cy[k] (nullptr: not wanted)
  scalar_t* cy[4] = {};
  scalar_t* mask[4] = {};  // bilinear_taps' mask[k] (nullptr: not wanted)
};

// Where adaptive_row_windows writes: element x of each array is pixel x's
// window (adaptive_window; valid as 1 or 0) and its blend weights
// (adaptive_blend_weights).
template <typename scalar_t, typename index_t>
struct RowWindowsOut {
  index_t *top, *left, *self;
  scalar_t *a, *b, *valid;
  scalar_t* bw[4];
};

// The definitions, pixel by pixel. Pixels x = 0..n-1 of row y sample at
// (x + u[x], y + v[x]) in an H x W plane.
template <typename scalar_t, typename index_t>
void row_taps_scalar(const scalar_t* u, const scalar_t* v, index_t y, index_t n, index_t H, index_t W, Padding padding,
                     const RowTapsOut<scalar_t, index_t>& out) {
  for (index_t x = 0; x < n; ++x) {
    const auto t = bilinear_taps<scalar_t, index_t>(static_cast<scalar_t>(x) + u[x], static_cast<scalar_t>(y) + v[x], H,
                                                    W, padding);
    for (int k = 0; k < 4; ++k) {
      out.offset[k][x] = t.offset[k];
      out.w[k][x] = t.w[k];
      if (out.mask[k] != nullptr) out.mask[k][x] = t.mask[k];
    }
    if (out.cx[0] != nullptr) {
      scalar_t cx[4], cy[4];
      bilinear_grad_coeffs(t, cx, cy);
      for (int k = 0; k < 4; ++k) out.cx[k][x] = cx[k], out.cy[k][x] = cy[k];
    }
  }
}

// Pixels x = 0..W-1 of row y of an H x W image, flows u[x], v[x], windows of F x F.
template <typename scalar_t, typename index_t>
void adaptive_row_windows_scalar(const scalar_t* u, const scalar_t* v, index_t y, index_t H, index_t W, int F,
                                 const RowWindowsOut<scalar_t, index_t>& out) {
  for (index_t x = 0; x < W; ++x) {
    const auto win = adaptive_window<scalar_t, index_t>(x, y, u[x], v[x], H, W, F);
    scalar_t bw[4];
    adaptive_blend_weights(win, bw);
    out.top[x] = win.top, out.left[x] = win.left, out.self[x] = win.self;
    out.a[x] = win.a, out.b[x] = win.b, out.valid[x] = win.valid ? scalar_t(1) : scalar_t(0);
    for (int q = 0; q < 4; ++q) out.bw[q][x] = bw[q];
  }
}

#ifdef VFI_ROW_TAPS_AVX2
// The vectorised routines, for offsets as wide as the scalar type (int32 with
// float32, int64 with float64) and rows whose column indices are all exact in it.
void row_taps_avx2(const float* u, const float* v, int32_t y, int32_t n, int32_t H, int32_t W, Padding padding,
                   const RowTapsOut<float, int32_t>& out);
void row_taps_avx2(const double* u, const double* v, int64_t y, int64_t n, int64_t H, int64_t W, Padding padding,
                   const RowTapsOut<double, int64_t>& out);
void adaptive_row_windows_avx2(const float* u, const float* v, int32_t y, int32_t H, int32_t W, int F,
                               const RowWindowsOut<float, int32_t>& out);
void adaptive_row_windows_avx2(const double* u, const double* v, int64_t y, int64_t H, int64_t W, int F,
                               const RowWindowsOut<double, int64_t>& out);
#endif

// The instruction set the vectorised routines run with on this machine: "AVX2",
// or "none" (not compiled in, or ATen's CPU capability is below AVX2, as with
// ATEN_CPU_CAPABILITY=default): then the scalar loops run.
const char* row_taps_isa();
bool row_taps_vectorised_here();

template <typename scalar_t, typename index_t>
constexpr bool row_taps_vector_types() {
#ifdef VFI_ROW_TAPS_AVX2
  return (std::is_same_v<scalar_t, float> && std::is_same_v<index_t, int32_t>) ||
         (std::is_same_v<scalar_t, double> && std::is_same_v<index_t, int64_t>);
#else
  return false;
#endif
}

// Whether a row of n pixels runs vectorised (if `vectorised` is asked for).
template <typename scalar_t, typename index_t>
bool row_taps_take_vector_path(int64_t n, bool vectorised) {
  return row_taps_vector_types<scalar_t, index_t>() && vectorised && row_taps_vectorised_here() &&
         n <= (int64_t(1) << std::numeric_limits<scalar_t>::digits);
}

// The taps of a row (see row_taps_scalar): vectorised where the machine and the
// types allow, bitwise the same either way. `vectorised` = false forces the
// scalar loop (the tests compare the two).
template <typename scalar_t, typename index_t>
void row_taps(const scalar_t* u, const scalar_t* v, index_t y, index_t n, index_t H, index_t W, Padding padding,
              const RowTapsOut<scalar_t, index_t>& out, bool vectorised = true) {
#ifdef VFI_ROW_TAPS_AVX2
  if constexpr (row_taps_vector_types<scalar_t, index_t>()) {
    if (row_taps_take_vector_path<scalar_t, index_t>(n, vectorised)) {
      row_taps_avx2(u, v, y, n, H, W, padding, out);
      return;
    }
  }
#endif
  row_taps_scalar(u, v, y, n, H, W, padding, out);
}

// Row buffers for row_taps: one array per tap (structure of arrays), each as
// long as a row, which the CPU launchers fill once per row and then read
// pixel by pixel. cx, cy (the gradient coefficients) and mask are only
// allocated, and filled, where asked for.
template <typename scalar_t, typename index_t>
struct RowTapArrays {
  std::array<std::vector<index_t>, 4> offset;
  std::array<std::vector<scalar_t>, 4> w, cx, cy, mask;
  RowTapsOut<scalar_t, index_t> out;
  bool masked;

  RowTapArrays(int64_t n, bool grad_coeffs, bool masked) : masked(masked) {
    for (int k = 0; k < 4; ++k) {
      offset[k].resize(n);
      w[k].resize(n);
      out.offset[k] = offset[k].data();
      out.w[k] = w[k].data();
      if (masked) {
        mask[k].resize(n);
        out.mask[k] = mask[k].data();
      }
      if (grad_coeffs) {
        cx[k].resize(n);
        cy[k].resize(n);
        out.cx[k] = cx[k].data();
        out.cy[k] = cy[k].data();
      }
    }
  }

  // The taps of pixels x = 0..n-1 of row y, sampling at (x + u[x], y + v[x]) in
  // an H x W plane (row_taps).
  void fill(const scalar_t* u, const scalar_t* v, index_t y, index_t n, index_t H, index_t W, Padding padding) {
    row_taps<scalar_t, index_t>(u, v, y, n, H, W, padding, out);
  }
};

// The adaptive windows of a row (see adaptive_row_windows_scalar), likewise.
template <typename scalar_t, typename index_t>
void adaptive_row_windows(const scalar_t* u, const scalar_t* v, index_t y, index_t H, index_t W, int F,
                          const RowWindowsOut<scalar_t, index_t>& out, bool vectorised = true) {
#ifdef VFI_ROW_TAPS_AVX2
  if constexpr (row_taps_vector_types<scalar_t, index_t>()) {
    if (row_taps_take_vector_path<scalar_t, index_t>(W, vectorised)) {
      adaptive_row_windows_avx2(u, v, y, H, W, F, out);
      return;
    }
  }
#endif
  adaptive_row_windows_scalar(u, v, y, H, W, F, out);
}

}  // namespace vfi_ops
