/*
 * Voxel-driven FDK back-projection — the native twin of backprojectCircular and backprojectGeneral
 * in src/recon/kernels.ts (same projection matrices, same padded projection layouts, same bilinear
 * interpolation), which stay the oracle.
 *
 * Circular orbit, untilted detector (DESIGN.md "Performance notes"):
 *   proj: [view][nu+2][nv+2], zero-padded by one pixel, v fastest ("transposed");
 *   out : [z][y][x] (the volume itself), out = out + scale·Σ_views.
 * The volume is walked in small (y, x) tiles of voxel columns; a tile's columns accumulate in a
 * private [column][z] buffer that stays in L1/L2 while every view passes over it, then the tile is
 * added to `out` once. For one column and one view, iu and the distance weight are constant and iv
 * advances linearly in z, so the z loop reads two detector columns front to back; a tile touches a
 * narrow band of detector columns, which stays in L2 while the tile's columns reuse it.
 *
 * The z loop comes in variants picked at run time from what the CPU supports (one binary runs on
 * every x86-64): gather-free window loops (AVX-512 and AVX2, the defaults), gather loops, and
 * plain C. Float lanes carry iv relative to a per-vector integer base (kept in double), so the
 * fractional weight keeps float precision even on 4000-row detectors. Every index is clamped to
 * the padded column, so no rounding can ever read outside the projection.
 *
 * General geometry (tilted detector): see nr_backproject_general below.
 */
#include "backproject.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define NR_X86 1
#endif

#define MAT_STRIDE 13

/* Per (column, view) set-up: detector column i (padded), weights, and the valid z range. */
typedef struct {
  const float *c0; /* padded detector column i */
  float w0, w1;    /* weight·(1 − fu), weight·fu */
  double A, B;     /* padded iv at z index k: A + k·B */
  int k0, k1;      /* z range (exclusive end) that lands on the padded detector */
} col_setup;

/* Returns 0 when the column misses the detector for this view. Mirrors kernels.ts exactly. */
static int setup_column(const bp_args *a, const double *m, const float *view_base, double x, double y,
                        col_setup *cs) {
  const int nu = a->nu, nv = a->nv, nz = a->nz;
  const double W = m[8] * x + m[9] * y + m[11];
  const double inv = 1.0 / W;
  const double up = (m[0] * x + m[1] * y + m[3]) * inv + 1.0;
  if (!(up >= 0.0 && up < nu + 1)) return 0;
  const double B = m[6] * a->sz * inv;
  const double A = (m[4] * x + m[5] * y + m[6] * a->oz + m[7]) * inv + 1.0;
  long k0 = 0, k1 = nz;
  if (B > 0) {
    double lo = ceil(-A / B), hi = ceil((nv + 1 - A) / B);
    if (lo > k0) k0 = (long)fmin(lo, (double)nz);
    if (hi < k1) k1 = (long)fmax(hi, 0.0);
  } else if (B < 0) {
    double lo = floor((nv + 1 - A) / B) + 1, hi = floor(-A / B) + 1;
    if (lo > k0) k0 = (long)fmin(lo, (double)nz);
    if (hi < k1) k1 = (long)fmax(hi, 0.0);
  } else if (!(A >= 0 && A < nv + 1)) {
    return 0;
  }
  while (k0 < k1 && !(A + k0 * B >= 0 && A + k0 * B < nv + 1)) k0++;
  while (k1 > k0 && !(A + (k1 - 1) * B >= 0 && A + (k1 - 1) * B < nv + 1)) k1--;
  if (k0 >= k1) return 0;
  const int i = (int)up;
  const double fu = up - i;
  double wt = 1.0;
  if (a->fdk) {
    const double r = m[12] * inv;
    wt = r * r;
  }
  cs->c0 = view_base + (size_t)i * (size_t)(nv + 2);
  cs->w1 = (float)(wt * fu);
  cs->w0 = (float)(wt - wt * fu);
  cs->A = A;
  cs->B = B;
  cs->k0 = (int)k0;
  cs->k1 = (int)k1;
  return 1;
}

/* ---- z loops: acc[k] += bilinear(c0, c1 = c0 + nvp; A + k·B), k in [k0, k1) ---- */

static void zloop_scalar(const col_setup *cs, int nvp, float *acc) {
  const float *c0 = cs->c0, *c1 = cs->c0 + nvp;
  const float w0 = cs->w0, w1 = cs->w1;
  const int jmax = nvp - 2;
  for (int k = cs->k0; k < cs->k1; k++) {
    const double vp = cs->A + k * cs->B;
    int j = (int)vp;
    const float fv = (float)(vp - j);
    if (j > jmax) j = jmax;
    const float lo = w0 * c0[j] + w1 * c1[j];
    const float hi = w0 * c0[j + 1] + w1 * c1[j + 1];
    acc[k] += lo + fv * (hi - lo);
  }
}

#ifdef NR_X86
__attribute__((target("avx2,fma"))) static void zloop_avx2(const col_setup *cs, int nvp, float *acc) {
  const float *c0 = cs->c0, *c1 = cs->c0 + nvp;
  const __m256 w0 = _mm256_set1_ps(cs->w0), w1 = _mm256_set1_ps(cs->w1);
  const __m256 step = _mm256_mul_ps(_mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_ps((float)cs->B));
  const __m256i jmax = _mm256_set1_epi32(nvp - 2), zero = _mm256_setzero_si256();
  const double A = cs->A, B = cs->B;
  int k = cs->k0;
  for (; k < cs->k1; k += 8) {
    const int n = cs->k1 - k;
    const double base = A + k * B;
    const double fb = floor(base);
    const __m256 off = _mm256_add_ps(_mm256_set1_ps((float)(base - fb)), step);
    const __m256 fl = _mm256_floor_ps(off); /* off < 0 when B < 0 */
    const __m256i jo = _mm256_cvttps_epi32(fl);
    const __m256 fv = _mm256_sub_ps(off, fl);
    __m256i j = _mm256_add_epi32(jo, _mm256_set1_epi32((int)fb));
    j = _mm256_min_epi32(_mm256_max_epi32(j, zero), jmax);
    const __m256 a0 = _mm256_i32gather_ps(c0, j, 4), b0 = _mm256_i32gather_ps(c0 + 1, j, 4);
    const __m256 a1 = _mm256_i32gather_ps(c1, j, 4), b1 = _mm256_i32gather_ps(c1 + 1, j, 4);
    const __m256 lo = _mm256_fmadd_ps(w1, a1, _mm256_mul_ps(w0, a0));
    const __m256 hi = _mm256_fmadd_ps(w1, b1, _mm256_mul_ps(w0, b0));
    const __m256 val = _mm256_fmadd_ps(fv, _mm256_sub_ps(hi, lo), lo);
    if (n >= 8) {
      _mm256_storeu_ps(acc + k, _mm256_add_ps(_mm256_loadu_ps(acc + k), val));
    } else {
      const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
      const __m256 cur = _mm256_maskload_ps(acc + k, mask);
      _mm256_maskstore_ps(acc + k, mask, _mm256_add_ps(cur, val));
    }
  }
}

/* AVX2 version of the gather-free loop (see zloop_avx512_window below): 8 lanes, a 16-row window
 * in two registers, rows picked with vpermps from each and blended; 4-lane windows when
 * 1.8 ≤ |B| < 4.4, gathers beyond. */
__attribute__((target("avx2,fma"))) static inline __m256 fetch16(__m256 lo, __m256 hi, __m256i idx) {
  const __m256 a = _mm256_permutevar8x32_ps(lo, idx), b = _mm256_permutevar8x32_ps(hi, idx);
  return _mm256_blendv_ps(a, b, _mm256_castsi256_ps(_mm256_cmpgt_epi32(idx, _mm256_set1_epi32(7))));
}

__attribute__((target("avx2,fma"))) static inline __m256i row_mask(int avail) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(avail), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Blended (w0·c0 + w1·c1) rows [w, w + 16), zero past the padded column end. */
__attribute__((target("avx2,fma"))) static inline void window16(const float *c0, const float *c1, int w, int nvp, __m256 w0,
                                                               __m256 w1, __m256 *lo, __m256 *hi) {
  const __m256i m0 = row_mask(nvp - w), m1 = row_mask(nvp - w - 8);
  *lo = _mm256_fmadd_ps(w1, _mm256_maskload_ps(c1 + w, m0), _mm256_mul_ps(w0, _mm256_maskload_ps(c0 + w, m0)));
  *hi = _mm256_fmadd_ps(w1, _mm256_maskload_ps(c1 + w + 8, m1), _mm256_mul_ps(w0, _mm256_maskload_ps(c0 + w + 8, m1)));
}

__attribute__((target("avx2,fma"))) static void zloop_avx2_window(const col_setup *cs, int nvp, float *acc) {
  const double A = cs->A, B = cs->B, aB = fabs(B);
  if (aB * 3 >= 13.2) {
    zloop_avx2(cs, nvp, acc);
    return;
  }
  const float *c0 = cs->c0, *c1 = cs->c0 + nvp;
  const __m256 w0 = _mm256_set1_ps(cs->w0), w1 = _mm256_set1_ps(cs->w1);
  const __m256i one = _mm256_set1_epi32(1), zero = _mm256_setzero_si256(), lim = _mm256_set1_epi32(14);
  const int split = aB * 7 >= 13.2; /* two windows of 4 lanes each */
  const int G = split ? 4 : 8;
  float lane[8];
  for (int t = 0; t < 8; t++) {
    const int tg = t % G;
    lane[t] = (float)((B >= 0 ? tg : G - 1 - tg) * aB);
  }
  const __m256 step = _mm256_loadu_ps(lane);
  const __m256 hiHalf = _mm256_castsi256_ps(_mm256_setr_epi32(0, 0, 0, 0, -1, -1, -1, -1));
  for (int k = cs->k0; k < cs->k1; k += 8) {
    const int n = cs->k1 - k;
    __m256 val;
    if (!split) {
      const double base = B >= 0 ? A + k * B : A + (k + 7) * B;
      const double fb = floor(base);
      const int w = fb < 0 ? 0 : (int)fb;
      const __m256 off = _mm256_add_ps(_mm256_set1_ps((float)(base - fb)), step);
      const __m256i jo = _mm256_cvttps_epi32(off);
      const __m256 fv = _mm256_sub_ps(off, _mm256_cvtepi32_ps(jo));
      __m256i idx = _mm256_add_epi32(jo, _mm256_set1_epi32((int)fb - w));
      idx = _mm256_min_epi32(_mm256_max_epi32(idx, zero), lim);
      __m256 wl, wh;
      window16(c0, c1, w, nvp, w0, w1, &wl, &wh);
      const __m256 lo = fetch16(wl, wh, idx), hi = fetch16(wl, wh, _mm256_add_epi32(idx, one));
      val = _mm256_fmadd_ps(fv, _mm256_sub_ps(hi, lo), lo);
    } else {
      const double b1 = B >= 0 ? A + k * B : A + (k + 3) * B;
      const double b2 = B >= 0 ? A + (k + 4) * B : A + (k + 7) * B;
      const double f1 = floor(b1), f2 = floor(b2);
      const int wa = f1 < 0 ? 0 : (int)f1, wb = f2 < 0 ? 0 : (int)f2;
      const __m256 fr = _mm256_blendv_ps(_mm256_set1_ps((float)(b1 - f1)), _mm256_set1_ps((float)(b2 - f2)), hiHalf);
      const __m256 off = _mm256_add_ps(fr, step);
      const __m256i jo = _mm256_cvttps_epi32(off);
      const __m256 fv = _mm256_sub_ps(off, _mm256_cvtepi32_ps(jo));
      const __m256i sh = _mm256_setr_epi32((int)f1 - wa, (int)f1 - wa, (int)f1 - wa, (int)f1 - wa, (int)f2 - wb, (int)f2 - wb,
                                           (int)f2 - wb, (int)f2 - wb);
      __m256i idx = _mm256_add_epi32(jo, sh);
      idx = _mm256_min_epi32(_mm256_max_epi32(idx, zero), lim);
      const __m256i idx1 = _mm256_add_epi32(idx, one);
      __m256 al, ah, bl, bh;
      window16(c0, c1, wa, nvp, w0, w1, &al, &ah);
      window16(c0, c1, wb, nvp, w0, w1, &bl, &bh);
      const __m256 lo = _mm256_blendv_ps(fetch16(al, ah, idx), fetch16(bl, bh, idx), hiHalf);
      const __m256 hi = _mm256_blendv_ps(fetch16(al, ah, idx1), fetch16(bl, bh, idx1), hiHalf);
      val = _mm256_fmadd_ps(fv, _mm256_sub_ps(hi, lo), lo);
    }
    if (n >= 8) {
      _mm256_storeu_ps(acc + k, _mm256_add_ps(_mm256_loadu_ps(acc + k), val));
    } else {
      const __m256i mask = row_mask(n);
      _mm256_maskstore_ps(acc + k, mask, _mm256_add_ps(_mm256_maskload_ps(acc + k, mask), val));
    }
  }
}

#define AVX512_TARGET __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma")))

AVX512_TARGET static void zloop_avx512(const col_setup *cs, int nvp, float *acc) {
  const float *c0 = cs->c0, *c1 = cs->c0 + nvp;
  const __m512 w0 = _mm512_set1_ps(cs->w0), w1 = _mm512_set1_ps(cs->w1);
  const __m512 step = _mm512_mul_ps(_mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                    _mm512_set1_ps((float)cs->B));
  const __m512i jmax = _mm512_set1_epi32(nvp - 2), zero = _mm512_setzero_si512();
  const double A = cs->A, B = cs->B;
  for (int k = cs->k0; k < cs->k1; k += 16) {
    const int n = cs->k1 - k;
    const __mmask16 mk = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
    const double base = A + k * B;
    const double fb = floor(base);
    const __m512 off = _mm512_add_ps(_mm512_set1_ps((float)(base - fb)), step);
    const __m512 fl = _mm512_roundscale_ps(off, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); /* off < 0 when B < 0 */
    const __m512i jo = _mm512_cvttps_epi32(fl);
    const __m512 fv = _mm512_sub_ps(off, fl);
    __m512i j = _mm512_add_epi32(jo, _mm512_set1_epi32((int)fb));
    j = _mm512_min_epi32(_mm512_max_epi32(j, zero), jmax);
    const __m512 a0 = _mm512_i32gather_ps(j, c0, 4), b0 = _mm512_i32gather_ps(j, c0 + 1, 4);
    const __m512 a1 = _mm512_i32gather_ps(j, c1, 4), b1 = _mm512_i32gather_ps(j, c1 + 1, 4);
    const __m512 lo = _mm512_fmadd_ps(w1, a1, _mm512_mul_ps(w0, a0));
    const __m512 hi = _mm512_fmadd_ps(w1, b1, _mm512_mul_ps(w0, b0));
    const __m512 val = _mm512_fmadd_ps(fv, _mm512_sub_ps(hi, lo), lo);
    const __m512 cur = _mm512_maskz_loadu_ps(mk, acc + k);
    _mm512_mask_storeu_ps(acc + k, mk, _mm512_add_ps(cur, val));
  }
}

/* Same, with each lane fetching the pair (p[j], p[j+1]) as one 64-bit gather element: half the
 * gathered elements of zloop_avx512, at the price of two permutes to separate the pairs. */
AVX512_TARGET static void zloop_avx512_pairs(const col_setup *cs, int nvp, float *acc) {
  const float *c0 = cs->c0, *c1 = cs->c0 + nvp;
  const __m512 w0 = _mm512_set1_ps(cs->w0), w1 = _mm512_set1_ps(cs->w1);
  const __m512 step = _mm512_mul_ps(_mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                    _mm512_set1_ps((float)cs->B));
  const __m512i jmax = _mm512_set1_epi32(nvp - 2), zero = _mm512_setzero_si512();
  /* even floats of (lo8 ‖ hi8) = p[j] of lanes 0..15, odd floats = p[j+1] */
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const double A = cs->A, B = cs->B;
  for (int k = cs->k0; k < cs->k1; k += 16) {
    const int n = cs->k1 - k;
    const __mmask16 mk = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
    const double base = A + k * B;
    const double fb = floor(base);
    const __m512 off = _mm512_add_ps(_mm512_set1_ps((float)(base - fb)), step);
    const __m512 fl = _mm512_roundscale_ps(off, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); /* off < 0 when B < 0 */
    const __m512i jo = _mm512_cvttps_epi32(fl);
    const __m512 fv = _mm512_sub_ps(off, fl);
    __m512i j = _mm512_add_epi32(jo, _mm512_set1_epi32((int)fb));
    j = _mm512_min_epi32(_mm512_max_epi32(j, zero), jmax);
    const __m256i jl = _mm512_castsi512_si256(j), jh = _mm512_extracti64x4_epi64(j, 1);
    const __m512 p0l = _mm512_castsi512_ps(_mm512_i32gather_epi64(jl, (const void *)c0, 4));
    const __m512 p0h = _mm512_castsi512_ps(_mm512_i32gather_epi64(jh, (const void *)c0, 4));
    const __m512 p1l = _mm512_castsi512_ps(_mm512_i32gather_epi64(jl, (const void *)c1, 4));
    const __m512 p1h = _mm512_castsi512_ps(_mm512_i32gather_epi64(jh, (const void *)c1, 4));
    const __m512 a0 = _mm512_permutex2var_ps(p0l, even, p0h), b0 = _mm512_permutex2var_ps(p0l, odd, p0h);
    const __m512 a1 = _mm512_permutex2var_ps(p1l, even, p1h), b1 = _mm512_permutex2var_ps(p1l, odd, p1h);
    const __m512 lo = _mm512_fmadd_ps(w1, a1, _mm512_mul_ps(w0, a0));
    const __m512 hi = _mm512_fmadd_ps(w1, b1, _mm512_mul_ps(w0, b0));
    const __m512 val = _mm512_fmadd_ps(fv, _mm512_sub_ps(hi, lo), lo);
    const __m512 cur = _mm512_maskz_loadu_ps(mk, acc + k);
    _mm512_mask_storeu_ps(acc + k, mk, _mm512_add_ps(cur, val));
  }
}

/* Gather-free AVX-512 loop. Within 16 consecutive z the detector rows touched span 15·|B| + 2
 * rows; when that fits in 32, one window of 32 rows of both detector columns is loaded with plain
 * (masked) vector loads, blended across u once (lo = w0·c0 + w1·c1, bilinear is separable), and
 * each lane picks rows j and j + 1 out of the two-register window with vpermt2ps. For
 * 2 ≤ |B| < 4.2 each half of the 16 lanes gets its own window; steeper columns use the gathers.
 * Lane offsets are measured from the lowest lane row (the first lane when B > 0, the last when
 * B < 0), so they are never negative. */
AVX512_TARGET static inline __m512 window_lo(const float *c0, const float *c1, int w, int nvp, __m512 w0, __m512 w1,
                                             __m512 *hi) {
  /* rows [w, w + 32) of both columns, zero beyond the padded column end */
  const int avail = nvp - w;
  const __mmask16 m0 = avail >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (avail > 0 ? avail : 0)) - 1);
  const int avail2 = avail - 16;
  const __mmask16 m1 = avail2 >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (avail2 > 0 ? avail2 : 0)) - 1);
  const __m512 a0 = _mm512_maskz_loadu_ps(m0, c0 + w), a1 = _mm512_maskz_loadu_ps(m0, c1 + w);
  const __m512 b0 = _mm512_maskz_loadu_ps(m1, c0 + w + 16), b1 = _mm512_maskz_loadu_ps(m1, c1 + w + 16);
  *hi = _mm512_fmadd_ps(w1, b1, _mm512_mul_ps(w0, b0));
  return _mm512_fmadd_ps(w1, a1, _mm512_mul_ps(w0, a0));
}

AVX512_TARGET static void zloop_avx512_window(const col_setup *cs, int nvp, float *acc) {
  const double A = cs->A, B = cs->B, aB = fabs(B);
  if (aB * 7 >= 29.5) {
    zloop_avx512_pairs(cs, nvp, acc);
    return;
  }
  const float *c0 = cs->c0, *c1 = cs->c0 + nvp;
  const __m512 w0 = _mm512_set1_ps(cs->w0), w1 = _mm512_set1_ps(cs->w1);
  const __m512i one = _mm512_set1_epi32(1), zero = _mm512_setzero_si512(), lim = _mm512_set1_epi32(30);
  const int split = aB * 15 >= 29.5; /* two windows of 8 lanes each */
  const int G = split ? 8 : 16;
  /* lane t offset from the group's lowest row: t·|B| (B ≥ 0) or (G − 1 − t)·|B| (B < 0) */
  float lane[16];
  for (int t = 0; t < 16; t++) {
    const int tg = t % G;
    lane[t] = (float)((B >= 0 ? tg : G - 1 - tg) * aB);
  }
  const __m512 step = _mm512_loadu_ps(lane);
  for (int k = cs->k0; k < cs->k1; k += 16) {
    const int n = cs->k1 - k;
    const __mmask16 mk = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
    __m512 val;
    if (!split) {
      const double base = B >= 0 ? A + k * B : A + (k + 15) * B;
      const double fb = floor(base);
      const int w = fb < 0 ? 0 : (int)fb;
      const __m512 off = _mm512_add_ps(_mm512_set1_ps((float)(base - fb)), step);
      const __m512i jo = _mm512_cvttps_epi32(off);
      const __m512 fv = _mm512_sub_ps(off, _mm512_cvtepi32_ps(jo));
      __m512i idx = _mm512_add_epi32(jo, _mm512_set1_epi32((int)fb - w));
      idx = _mm512_min_epi32(_mm512_max_epi32(idx, zero), lim);
      __m512 hiw;
      const __m512 low = window_lo(c0, c1, w, nvp, w0, w1, &hiw);
      const __m512 lo = _mm512_permutex2var_ps(low, idx, hiw);
      const __m512 hi = _mm512_permutex2var_ps(low, _mm512_add_epi32(idx, one), hiw);
      val = _mm512_fmadd_ps(fv, _mm512_sub_ps(hi, lo), lo);
    } else {
      /* lanes 0–7 and 8–15 each from their own window */
      const double b1 = B >= 0 ? A + k * B : A + (k + 7) * B;
      const double b2 = B >= 0 ? A + (k + 8) * B : A + (k + 15) * B;
      const double f1 = floor(b1), f2 = floor(b2);
      const int wa = f1 < 0 ? 0 : (int)f1, wb = f2 < 0 ? 0 : (int)f2;
      const __m512 fr = _mm512_mask_blend_ps((__mmask16)0xFF00, _mm512_set1_ps((float)(b1 - f1)), _mm512_set1_ps((float)(b2 - f2)));
      const __m512 off = _mm512_add_ps(fr, step);
      const __m512i jo = _mm512_cvttps_epi32(off);
      const __m512 fv = _mm512_sub_ps(off, _mm512_cvtepi32_ps(jo));
      const __m512i sh = _mm512_mask_blend_epi32((__mmask16)0xFF00, _mm512_set1_epi32((int)f1 - wa), _mm512_set1_epi32((int)f2 - wb));
      __m512i idx = _mm512_add_epi32(jo, sh);
      idx = _mm512_min_epi32(_mm512_max_epi32(idx, zero), lim);
      const __m512i idx1 = _mm512_add_epi32(idx, one);
      __m512 ha, hb;
      const __m512 la = window_lo(c0, c1, wa, nvp, w0, w1, &ha);
      const __m512 lb = window_lo(c0, c1, wb, nvp, w0, w1, &hb);
      const __m512 lo = _mm512_mask_blend_ps((__mmask16)0xFF00, _mm512_permutex2var_ps(la, idx, ha), _mm512_permutex2var_ps(lb, idx, hb));
      const __m512 hi = _mm512_mask_blend_ps((__mmask16)0xFF00, _mm512_permutex2var_ps(la, idx1, ha), _mm512_permutex2var_ps(lb, idx1, hb));
      val = _mm512_fmadd_ps(fv, _mm512_sub_ps(hi, lo), lo);
    }
    const __m512 cur = _mm512_maskz_loadu_ps(mk, acc + k);
    _mm512_mask_storeu_ps(acc + k, mk, _mm512_add_ps(cur, val));
  }
}
#endif

typedef void (*zloop_fn)(const col_setup *, int, float *);

/* 0: plain x86-64 (or not x86), 1: AVX2 + FMA, 2: AVX-512 F/VL/DQ. */
static int isa_level(void) {
#ifdef NR_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) return 2;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
#endif
  return 0;
}

static int is_avx512(int v) { return v == NR_VARIANT_AVX512 || v == NR_VARIANT_AVX512_PAIRS || v == NR_VARIANT_AVX512_WINDOW; }
static int is_avx2(int v) { return v == NR_VARIANT_AVX2 || v == NR_VARIANT_AVX2_WINDOW; }

int nr_best_variant(void) {
  const int level = isa_level();
  return level == 2 ? NR_VARIANT_AVX512_WINDOW : level == 1 ? NR_VARIANT_AVX2_WINDOW : NR_VARIANT_SCALAR;
}

int nr_variant_supported(int v) {
  if (v == NR_VARIANT_SCALAR) return 1;
#ifdef NR_X86
  if (is_avx2(v)) return isa_level() >= 1;
  if (is_avx512(v)) return isa_level() >= 2;
#endif
  return 0;
}

const char *nr_variant_name(int v) {
  switch (v) {
    case NR_VARIANT_SCALAR: return "scalar";
    case NR_VARIANT_AVX2: return "avx2";
    case NR_VARIANT_AVX512: return "avx512";
    case NR_VARIANT_AVX512_PAIRS: return "avx512-pairs";
    case NR_VARIANT_AVX512_WINDOW: return "avx512-window";
    case NR_VARIANT_AVX2_WINDOW: return "avx2-window";
    default: return "unknown";
  }
}

static zloop_fn pick(int variant) {
#ifdef NR_X86
  switch (variant) {
    case NR_VARIANT_AVX2: return zloop_avx2;
    case NR_VARIANT_AVX512: return zloop_avx512;
    case NR_VARIANT_AVX512_PAIRS: return zloop_avx512_pairs;
    case NR_VARIANT_AVX512_WINDOW: return zloop_avx512_window;
    case NR_VARIANT_AVX2_WINDOW: return zloop_avx2_window;
    default: break;
  }
#else
  (void)variant;
#endif
  return zloop_scalar;
}

/* ---- General geometry (any detector tilt): x innermost over the 'vu' layout [view][nv+2][nu+2] ----
 * Along a row of voxels the numerators and the denominator of iu = U/W, iv = V/W advance by
 * constant steps. A group of 16 voxels is taken relative to its first voxel in double precision:
 *   up(t) = up0 + t·a/(W0 + t·dW),  a = dU − (U0/W0)·dW   (likewise v with b),
 * so the per-lane float arithmetic only carries small offsets and keeps ~1e-6 pixel accuracy. */

static void general_row_scalar(const float *pv, int nup, int nu, int nv, double U, double V, double W, double dU,
                               double dV, double dW, double wnum, int fdk, float scale, float *out, int nx) {
  for (int ix = 0; ix < nx; ix++, U += dU, V += dV, W += dW) {
    const double inv = 1.0 / W;
    const double up = U * inv + 1.0, vp = V * inv + 1.0;
    if (!(up >= 0 && up < nu + 1 && vp >= 0 && vp < nv + 1)) continue;
    const int i = (int)up, j = (int)vp;
    const double fu = up - i, fv = vp - j;
    const float *p = pv + (size_t)j * nup + i;
    double val = (1 - fv) * (p[0] + fu * (p[1] - p[0])) + fv * (p[nup] + fu * (p[nup + 1] - p[nup]));
    if (fdk) {
      const double r = wnum * inv;
      val *= r * r;
    }
    out[ix] += (float)(val * scale);
  }
}

#ifdef NR_X86
AVX512_TARGET static void general_row_avx512(const float *pv, int nup, int nu, int nv, double U, double V, double W,
                                             double dU, double dV, double dW, double wnum, int fdk, float scale,
                                             float *out, int nx) {
  const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const __m512 dWf = _mm512_set1_ps((float)dW);
  const __m512i nupv = _mm512_set1_epi32(nup);
  for (int g = 0; g < nx; g += 16) {
    const int n = nx - g;
    const __mmask16 lanes = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
    const double U0 = U + g * dU, V0 = V + g * dV, W0 = W + g * dW;
    const double inv0 = 1.0 / W0, uu = U0 * inv0, vv = V0 * inv0;
    const double up0 = uu + 1.0, vp0 = vv + 1.0;
    const double ib = floor(up0), jb = floor(vp0);
    /* Far outside the detector (or behind the source): nothing in this group can hit it. */
    if (!(fabs(ib) < 1e8 && fabs(jb) < 1e8)) continue;
    const __m512 r = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(iota, dWf, _mm512_set1_ps((float)W0)));
    const __m512 tr = _mm512_mul_ps(iota, r);
    const __m512 xu = _mm512_fmadd_ps(tr, _mm512_set1_ps((float)(dU - uu * dW)), _mm512_set1_ps((float)(up0 - ib)));
    const __m512 xv = _mm512_fmadd_ps(tr, _mm512_set1_ps((float)(dV - vv * dW)), _mm512_set1_ps((float)(vp0 - jb)));
    /* up = ib + xu ∈ [0, nu + 1) and vp = jb + xv ∈ [0, nv + 1) */
    __mmask16 ok = lanes;
    ok &= _mm512_cmp_ps_mask(xu, _mm512_set1_ps((float)(-ib)), _CMP_GE_OQ);
    ok &= _mm512_cmp_ps_mask(xu, _mm512_set1_ps((float)(nu + 1 - ib)), _CMP_LT_OQ);
    ok &= _mm512_cmp_ps_mask(xv, _mm512_set1_ps((float)(-jb)), _CMP_GE_OQ);
    ok &= _mm512_cmp_ps_mask(xv, _mm512_set1_ps((float)(nv + 1 - jb)), _CMP_LT_OQ);
    if (!ok) continue;
    const __m512 flu = _mm512_roundscale_ps(xu, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __m512 flv = _mm512_roundscale_ps(xv, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __m512 fu = _mm512_sub_ps(xu, flu), fv = _mm512_sub_ps(xv, flv);
    __m512i col = _mm512_add_epi32(_mm512_cvttps_epi32(flu), _mm512_set1_epi32((int)ib));
    __m512i row = _mm512_add_epi32(_mm512_cvttps_epi32(flv), _mm512_set1_epi32((int)jb));
    /* Clamp to the padded image (only masked-off lanes can be outside), then flat index. */
    col = _mm512_min_epi32(_mm512_max_epi32(col, _mm512_setzero_si512()), _mm512_set1_epi32(nu));
    row = _mm512_min_epi32(_mm512_max_epi32(row, _mm512_setzero_si512()), _mm512_set1_epi32(nv));
    const __m512i idx = _mm512_add_epi32(_mm512_mullo_epi32(row, nupv), col);
    const __m256i il = _mm512_castsi512_si256(idx), ih = _mm512_extracti64x4_epi64(idx, 1);
    const __m256i il1 = _mm256_add_epi32(il, _mm256_set1_epi32(nup)), ih1 = _mm256_add_epi32(ih, _mm256_set1_epi32(nup));
    const __mmask8 kl = (__mmask8)(ok & 0xFF), kh = (__mmask8)(ok >> 8);
    const __m512i z = _mm512_setzero_si512();
    const __m512 r0l = _mm512_castsi512_ps(_mm512_mask_i32gather_epi64(z, kl, il, (const void *)pv, 4));
    const __m512 r0h = _mm512_castsi512_ps(_mm512_mask_i32gather_epi64(z, kh, ih, (const void *)pv, 4));
    const __m512 r1l = _mm512_castsi512_ps(_mm512_mask_i32gather_epi64(z, kl, il1, (const void *)pv, 4));
    const __m512 r1h = _mm512_castsi512_ps(_mm512_mask_i32gather_epi64(z, kh, ih1, (const void *)pv, 4));
    const __m512 p00 = _mm512_permutex2var_ps(r0l, even, r0h), p01 = _mm512_permutex2var_ps(r0l, odd, r0h);
    const __m512 p10 = _mm512_permutex2var_ps(r1l, even, r1h), p11 = _mm512_permutex2var_ps(r1l, odd, r1h);
    const __m512 lo = _mm512_fmadd_ps(fu, _mm512_sub_ps(p01, p00), p00);
    const __m512 hi = _mm512_fmadd_ps(fu, _mm512_sub_ps(p11, p10), p10);
    __m512 val = _mm512_fmadd_ps(fv, _mm512_sub_ps(hi, lo), lo);
    if (fdk) {
      const __m512 rr = _mm512_mul_ps(_mm512_set1_ps((float)wnum), r);
      val = _mm512_mul_ps(val, _mm512_mul_ps(rr, rr));
    }
    val = _mm512_mul_ps(val, _mm512_set1_ps(scale));
    float *o = out + g;
    _mm512_mask_storeu_ps(o, ok, _mm512_add_ps(_mm512_maskz_loadu_ps(ok, o), val));
  }
}
#endif

int nr_backproject_general(const bp_args *a) {
  const int ny = a->ny, nx = a->nx, nup = a->nu + 2;
  const size_t view_size = (size_t)nup * (size_t)(a->nv + 2);
  int variant = a->variant == NR_VARIANT_AUTO ? nr_best_variant() : a->variant;
  if (!nr_variant_supported(variant)) return -2;
  typedef void (*row_fn)(const float *, int, int, int, double, double, double, double, double, double, double, int,
                         float, float *, int);
  row_fn row = general_row_scalar;
#ifdef NR_X86
  if (is_avx512(variant)) row = general_row_avx512;
#endif
  for (int view = a->view_start; view < a->view_end; view++) {
    const double *m = a->mats + (size_t)view * MAT_STRIDE;
    const float *pv = a->proj + (size_t)view * view_size;
    const double dU = m[0] * a->sx, dV = m[4] * a->sx, dW = m[8] * a->sx;
    for (int iz = a->z_start; iz < a->z_end; iz++) {
      const double z = a->oz + iz * a->sz;
      for (int iy = 0; iy < ny; iy++) {
        const double y = a->oy + iy * a->sy;
        const double U = m[0] * a->ox + m[1] * y + m[2] * z + m[3];
        const double V = m[4] * a->ox + m[5] * y + m[6] * z + m[7];
        const double W = m[8] * a->ox + m[9] * y + m[10] * z + m[11];
        row(pv, nup, a->nu, a->nv, U, V, W, dU, dV, dW, m[12], a->fdk, a->scale, a->out + ((size_t)iz * ny + iy) * nx, nx);
      }
    }
  }
  return 0;
}

int nr_backproject_circular(const bp_args *a) {
  const int nz = a->nz, ny = a->ny, nx = a->nx, nvp = a->nv + 2;
  const size_t view_size = (size_t)(a->nu + 2) * (size_t)nvp;
  const int ty = a->tile_y > 0 ? a->tile_y : 16, tx = a->tile_x > 0 ? a->tile_x : 16;
  const int vblock = a->view_block > 0 ? a->view_block : 1;
  int variant = a->variant == NR_VARIANT_AUTO ? nr_best_variant() : a->variant;
  if (!nr_variant_supported(variant)) return -2;
  const zloop_fn zloop = pick(variant);
  /* Column stride padded to 16 floats, plus 16 slack floats so masked tails stay in bounds. */
  const size_t cstride = ((size_t)nz + 15) & ~(size_t)15;
  float *acc = (float *)aligned_alloc(64, ((size_t)ty * tx * cstride + 16) * sizeof(float));
  if (!acc) return -1;
  const size_t nxy = (size_t)nx * ny;
  for (int y0 = a->y_start; y0 < a->y_end; y0 += ty) {
    const int y1 = y0 + ty < a->y_end ? y0 + ty : a->y_end;
    for (int x0 = a->x_start; x0 < a->x_end; x0 += tx) {
      const int x1 = x0 + tx < a->x_end ? x0 + tx : a->x_end;
      const int cw = x1 - x0;
      memset(acc, 0, (size_t)(y1 - y0) * cw * cstride * sizeof(float));
      for (int v0 = a->view_start; v0 < a->view_end; v0 += vblock) {
        const int v1 = v0 + vblock < a->view_end ? v0 + vblock : a->view_end;
        for (int iy = y0; iy < y1; iy++) {
          const double y = a->oy + iy * a->sy;
          for (int ix = x0; ix < x1; ix++) {
            float *col = acc + ((size_t)(iy - y0) * cw + (ix - x0)) * cstride;
            const double x = a->ox + ix * a->sx;
            for (int view = v0; view < v1; view++) {
              col_setup cs;
              if (!setup_column(a, a->mats + (size_t)view * MAT_STRIDE, a->proj + (size_t)view * view_size, x, y, &cs)) continue;
              zloop(&cs, nvp, col);
            }
          }
        }
      }
      /* Add the tile into the [z][y][x] volume: x-runs of cw floats per (z, y). */
      const float s = a->scale;
      for (int iz = 0; iz < nz; iz++) {
        for (int iy = y0; iy < y1; iy++) {
          float *o = a->out + (size_t)iz * nxy + (size_t)iy * nx + x0;
          const float *c = acc + (size_t)(iy - y0) * cw * cstride + iz;
          for (int ix = 0; ix < cw; ix++) o[ix] += s * c[(size_t)ix * cstride];
        }
      }
    }
  }
  free(acc);
  return 0;
}
