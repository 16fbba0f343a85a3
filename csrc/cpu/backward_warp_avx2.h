// backward_warp's forward sampling loops for float32 written with AVX2
// intrinsics (cpu/backward_warp_avx2.cpp), for x86-64 GCC builds; they run
// where the vectorised row taps do (row_taps_vectorised_here: ATen's CPU
// capability is AVX2 or above).
//
// They apply taps that cpu/row_taps.h computed (offsets and weights of a row;
// no masks: the caller keeps them for inputs whose pixel 0 is not finite) and
// give bitwise the values of backward_warp.cpp's scalar loops: each sample is
// ((w0 v0 + w1 v1) + w2 v2) + w3 v3 in float32, rounded after every operation
// (tap_dot as written, no fused multiply-add), a tap outside reading pixel 0
// with weight 0. (Where two NaNs meet, which one's sign and payload survive
// may differ.)
#pragma once

#include <cstdint>

#include "cpu/row_taps.h"

namespace vfi_ops {

#ifdef VFI_ROW_TAPS_AVX2
// NCHW: out[c * out_plane + x] for channels c < C and pixels x < n of a row,
// from C input planes in_plane apart, each W_in pixels wide.
void sample_row_nchw_avx2(const float* in, int64_t in_plane, int64_t C, const RowTapsOut<float, int32_t>& taps,
                          int32_t W_in, float* out, int64_t out_plane, int32_t n);

// NHWC with C = 3 or 4 channels: out[x * C + c] for pixels x < n of a row, from
// an input of W_in pixels a row.
void sample_row_nhwc_avx2(const float* in, int64_t C, const RowTapsOut<float, int32_t>& taps, int32_t W_in, float* out,
                          int32_t n);
#endif

}  // namespace vfi_ops
