// The vectorised routines of cpu/row_taps.h (cpu/row_taps_vec.h) compiled for
// AVX2 and FMA, as ATen compiles its AVX2 kernels: with CPU_CAPABILITY=AVX2,
// which selects at::vec's AVX2 specialisations. They run only where ATen's
// own CPU capability is AVX2 or above (row_taps_vectorised_here, row_taps.cpp).
//
// Why a TU of its own rather than target_clones (cpu/simd.h): an extension is
// compiled outside ATen's capability dispatch, so no CPU_CAPABILITY macro is
// set and at::vec::Vectorized is its generic version (arrays, memcpy, loops).
// An x86-64-v3 clone of that is not AVX2 code: the taps of a 1080p row ran
// 3-5x slower than the plain scalar loop, and 4x faster with AVX2's at::vec.
//
// The build has one set of flags for every file, so the target is set here by
// a pragma. Everything this TU needs from outside at::vec is included before
// it, compiled for the baseline instruction set, so that no inline function
// shared with other TUs is emitted here in AVX2 code (setup.py also links this
// object last, so the linker keeps other TUs' copies of anything shared).
#include "cpu/row_taps.h"

#ifdef VFI_ROW_TAPS_AVX2

#include <ATen/NumericUtils.h>
#include <ATen/native/Math.h>
#include <c10/macros/Macros.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Exception.h>
#include <c10/util/Half.h>
#include <c10/util/TypeCast.h>
#include <c10/util/complex.h>
#include <c10/util/irange.h>

#include <algorithm>
#include <array>
#include <bitset>
#include <cmath>
#include <cstring>
#include <functional>
#include <ostream>

#pragma GCC target("avx2,fma")
// The pragma does not define the instruction-set macros for the preprocessor;
// at::vec's AVX2 code needs SLEEF's AVX2 declarations, which are behind them.
#ifndef __AVX__
#define __AVX__ 1
#endif
#ifndef __AVX2__
#define __AVX2__ 1
#endif
#ifndef __FMA__
#define __FMA__ 1
#endif
#define CPU_CAPABILITY AVX2
#define CPU_CAPABILITY_AVX2

#include "cpu/row_taps_vec.h"

namespace vfi_ops {

void row_taps_avx2(const float* u, const float* v, int32_t y, int32_t n, int32_t H, int32_t W, Padding padding,
                   const RowTapsOut<float, int32_t>& out) {
  AVX2::row_taps_vec(u, v, y, n, H, W, padding, out);
}

void row_taps_avx2(const double* u, const double* v, int64_t y, int64_t n, int64_t H, int64_t W, Padding padding,
                   const RowTapsOut<double, int64_t>& out) {
  AVX2::row_taps_vec(u, v, y, n, H, W, padding, out);
}

void adaptive_row_windows_avx2(const float* u, const float* v, int32_t y, int32_t H, int32_t W, int F,
                               const RowWindowsOut<float, int32_t>& out) {
  AVX2::adaptive_row_windows_vec(u, v, y, H, W, F, out);
}

void adaptive_row_windows_avx2(const double* u, const double* v, int64_t y, int64_t H, int64_t W, int F,
                               const RowWindowsOut<double, int64_t>& out) {
  AVX2::adaptive_row_windows_vec(u, v, y, H, W, F, out);
}

}  // namespace vfi_ops

#endif  // VFI_ROW_TAPS_AVX2
