// backward_warp's float32 forward sampling loops in AVX2 (see
// cpu/backward_warp_avx2.h). Every function here carries the AVX2 target
// itself (no pragma for the whole file): nothing shared with other files is
// compiled for AVX2. FMA is not enabled, so no multiply and add are fused and
// the results are bitwise those of the scalar loops.
//
// Where all four taps of a pixel are inside the input, they are two pairs of
// neighbours: offset0 and offset0 + 1, and the same one row down. The loops
// read each pair with one 8-byte load (NCHW: eight pixels' pairs are then
// shuffled into the vectors of left and right values; NHWC: a pair of pixels
// is one run of 2C floats, read as two 4-float loads, two output pixels to a
// vector), half the loads of four single taps, which is what bounds the scalar
// loops. Groups of pixels with a tap outside take gathers (NCHW) or the scalar
// formula (NHWC).
#include "cpu/backward_warp_avx2.h"

#include "cpu/prefetch.h"

#ifdef VFI_ROW_TAPS_AVX2

#include <immintrin.h>

#define VFI_AVX2 __attribute__((target("avx2")))

namespace vfi_ops {
namespace {

constexpr int32_t kLanes = 8;

VFI_AVX2 inline __m256i load_offsets(const int32_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// Whether all four taps of the 8 pixels from x on are inside the input. A tap
// outside has offset 0, so this holds exactly when, in every lane, offset1 =
// offset0 + 1, offset2 = offset0 + W and offset3 = offset0 + W + 1 (each of
// these is at least 1). (Lanes wrap past 2^31 - 1 instead of overflowing; a
// wrapped sum is negative and matches no offset.)
VFI_AVX2 inline bool all_taps_inside(const RowTapsOut<float, int32_t>& t, int32_t x, __m256i o0, int32_t W) {
  const __m256i one = _mm256_set1_epi32(1), w = _mm256_set1_epi32(W);
  const __m256i below = _mm256_add_epi32(o0, w);
  __m256i same = _mm256_cmpeq_epi32(load_offsets(t.offset[1] + x), _mm256_add_epi32(o0, one));
  same = _mm256_and_si256(same, _mm256_cmpeq_epi32(load_offsets(t.offset[2] + x), below));
  same = _mm256_and_si256(same, _mm256_cmpeq_epi32(load_offsets(t.offset[3] + x), _mm256_add_epi32(below, one)));
  return _mm256_movemask_epi8(same) == -1;
}

// ((w0 v0 + w1 v1) + w2 v2) + w3 v3: tap_dot's order.
VFI_AVX2 inline __m256 dot8(const __m256 w[4], __m256 v0, __m256 v1, __m256 v2, __m256 v3) {
  __m256 r = _mm256_add_ps(_mm256_mul_ps(w[0], v0), _mm256_mul_ps(w[1], v1));
  r = _mm256_add_ps(r, _mm256_mul_ps(w[2], v2));
  return _mm256_add_ps(r, _mm256_mul_ps(w[3], v3));
}

// The pair p[o], p[o + 1] in the low half of a vector.
VFI_AVX2 inline __m128 load_pair(const float* p) {
  return _mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

// The pairs p[o[i]], p[o[i] + 1] of 8 lanes i: left[i] = p[o[i]], right[i] = p[o[i] + 1].
VFI_AVX2 inline void load_pairs(const float* p, const int32_t* o, __m256& left, __m256& right) {
  const __m128 a = _mm_loadh_pi(load_pair(p + o[0]), reinterpret_cast<const __m64*>(p + o[1]));  // l0 r0 l1 r1
  const __m128 b = _mm_loadh_pi(load_pair(p + o[2]), reinterpret_cast<const __m64*>(p + o[3]));  // l2 r2 l3 r3
  const __m128 c = _mm_loadh_pi(load_pair(p + o[4]), reinterpret_cast<const __m64*>(p + o[5]));
  const __m128 d = _mm_loadh_pi(load_pair(p + o[6]), reinterpret_cast<const __m64*>(p + o[7]));
  const __m256 ac = _mm256_insertf128_ps(_mm256_castps128_ps256(a), c, 1);  // l0 r0 l1 r1 | l4 r4 l5 r5
  const __m256 bd = _mm256_insertf128_ps(_mm256_castps128_ps256(b), d, 1);  // l2 r2 l3 r3 | l6 r6 l7 r7
  left = _mm256_shuffle_ps(ac, bd, _MM_SHUFFLE(2, 0, 2, 0));
  right = _mm256_shuffle_ps(ac, bd, _MM_SHUFFLE(3, 1, 3, 1));
}

// The scalar loops' formula for one value (tails and groups with a tap outside).
VFI_AVX2 inline float dot1(const RowTapsOut<float, int32_t>& t, int32_t x, float v0, float v1, float v2, float v3) {
  const float w[4] = {t.w[0][x], t.w[1][x], t.w[2][x], t.w[3][x]}, v[4] = {v0, v1, v2, v3};
  return tap_dot(w, v);
}

// NHWC, two pixels whose taps are all inside, in lanes 0-3 and 4-7: the left
// and right taps of one tap row, the left ones starting at a and b. A tap's
// C <= 4 channels are one run of 4 floats (for C = 3 the right tap's run is
// loaded from one float earlier and shifted, so that no load passes the pair's
// end).
template <int C>
VFI_AVX2 inline void load_taps2(const float* a, const float* b, __m256& left, __m256& right) {
  left = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(a)), _mm_loadu_ps(b), 1);
  if constexpr (C == 4) {
    right = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(a + 4)), _mm_loadu_ps(b + 4), 1);
  } else {
    const __m256 v = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(a + 2)), _mm_loadu_ps(b + 2), 1);
    right = _mm256_shuffle_ps(v, v, _MM_SHUFFLE(3, 3, 2, 1));
  }
}

template <int C>
VFI_AVX2 void sample_row_nhwc(const float* in, const RowTapsOut<float, int32_t>& t, int32_t W_in, float* out,
                              int32_t n) {
  const int64_t down = int64_t(W_in) * C;
  for (int32_t x = 0; x < n; x += kLanes) {
    const int32_t end = x + kLanes <= n ? x + kLanes : n;
    if (end - x == kLanes && all_taps_inside(t, x, load_offsets(t.offset[0] + x), W_in)) {
      prefetch_below(in + int64_t(t.offset[0][x]) * C, down);
      prefetch_below(in + int64_t(t.offset[1][end - 1]) * C + C - 1, down);
      const __m256 wv[4] = {_mm256_loadu_ps(t.w[0] + x), _mm256_loadu_ps(t.w[1] + x), _mm256_loadu_ps(t.w[2] + x),
                            _mm256_loadu_ps(t.w[3] + x)};
      for (int32_t i = x; i < end; i += 2) {  // pixels i and i + 1: lanes 0-3 and 4-7
        const __m256i lanes = _mm256_setr_epi32(i - x, i - x, i - x, i - x, i - x + 1, i - x + 1, i - x + 1, i - x + 1);
        const __m256 w[4] = {_mm256_permutevar8x32_ps(wv[0], lanes), _mm256_permutevar8x32_ps(wv[1], lanes),
                             _mm256_permutevar8x32_ps(wv[2], lanes), _mm256_permutevar8x32_ps(wv[3], lanes)};
        const float* a = in + int64_t(t.offset[0][i]) * C;
        const float* b = in + int64_t(t.offset[0][i + 1]) * C;
        __m256 v0, v1, v2, v3;
        load_taps2<C>(a, b, v0, v1);
        load_taps2<C>(a + down, b + down, v2, v3);
        const __m256 r = dot8(w, v0, v1, v2, v3);
        float* o = out + int64_t(i) * C;
        if constexpr (C == 4) {
          _mm256_storeu_ps(o, r);
          continue;
        }
        const __m128 hi = _mm256_extractf128_ps(r, 1);
        _mm_storeu_ps(o, _mm256_castps256_ps128(r));  // (its 4th float is pixel i + 1's, stored next)
        if (i + 2 < n) {
          _mm_storeu_ps(o + 3, hi);  // (likewise pixel i + 2's)
        } else {
          _mm_storel_pi(reinterpret_cast<__m64*>(o + 3), hi);
          _mm_store_ss(o + 5, _mm_movehl_ps(hi, hi));
        }
      }
      continue;
    }
    for (int32_t i = x; i < end; ++i) {  // taps outside point at pixel 0 with weight 0
      const float* p[4];
      for (int k = 0; k < 4; ++k) p[k] = in + int64_t(t.offset[k][i]) * C;
      for (int c = 0; c < C; ++c) out[int64_t(i) * C + c] = dot1(t, i, p[0][c], p[1][c], p[2][c], p[3][c]);
    }
  }
}

}  // namespace

VFI_AVX2 void sample_row_nchw_avx2(const float* in, int64_t in_plane, int64_t C, const RowTapsOut<float, int32_t>& t,
                                   int32_t W_in, float* out, int64_t out_plane, int32_t n) {
  alignas(32) int32_t o[kLanes];
  int32_t x = 0;
  for (; x + kLanes <= n; x += kLanes) {
    const __m256i o0 = load_offsets(t.offset[0] + x);
    const __m256 w[4] = {_mm256_loadu_ps(t.w[0] + x), _mm256_loadu_ps(t.w[1] + x), _mm256_loadu_ps(t.w[2] + x),
                         _mm256_loadu_ps(t.w[3] + x)};
    if (all_taps_inside(t, x, o0, W_in)) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(o), o0);
      for (int64_t c = 0; c < C; ++c) {
        const float* p = in + c * in_plane;
        prefetch_below(p + o[0], W_in);
        prefetch_below(p + o[kLanes - 1] + 1, W_in);
        __m256 v0, v1, v2, v3;
        load_pairs(p, o, v0, v1);
        load_pairs(p + W_in, o, v2, v3);
        _mm256_storeu_ps(out + c * out_plane + x, dot8(w, v0, v1, v2, v3));
      }
    } else {
      // Taps outside point at pixel 0 with weight 0, as in the scalar loops.
      const __m256i o1 = load_offsets(t.offset[1] + x), o2 = load_offsets(t.offset[2] + x),
                    o3 = load_offsets(t.offset[3] + x);
      for (int64_t c = 0; c < C; ++c) {
        const float* p = in + c * in_plane;
        const __m256 r = dot8(w, _mm256_i32gather_ps(p, o0, 4), _mm256_i32gather_ps(p, o1, 4),
                              _mm256_i32gather_ps(p, o2, 4), _mm256_i32gather_ps(p, o3, 4));
        _mm256_storeu_ps(out + c * out_plane + x, r);
      }
    }
  }
  for (; x < n; ++x) {
    for (int64_t c = 0; c < C; ++c) {
      const float* p = in + c * in_plane;
      out[c * out_plane + x] = dot1(t, x, p[t.offset[0][x]], p[t.offset[1][x]], p[t.offset[2][x]], p[t.offset[3][x]]);
    }
  }
}

VFI_AVX2 void sample_row_nhwc_avx2(const float* in, int64_t C, const RowTapsOut<float, int32_t>& t, int32_t W_in,
                                   float* out, int32_t n) {
  if (C == 4) {
    sample_row_nhwc<4>(in, t, W_in, out, n);
  } else {
    sample_row_nhwc<3>(in, t, W_in, out, n);
  }
}

}  // namespace vfi_ops

#endif  // VFI_ROW_TAPS_AVX2
