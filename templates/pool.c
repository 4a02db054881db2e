/* locus-requires: prologue.h */
/* Pooling and reductions: max pooling, global average pooling, mean over one axis. */

/* max(a, b) that returns a NaN operand (torch.max_pool2d propagates NaN). */
static inline float lk__pool_max(float a, float b) { return a > b || a != a ? a : b; }

/* The same choice as lk__pool_max, lane by lane. */
static inline lk_vf lk__pool_vmax(lk_vf a, lk_vf b) { return lk_vselect((a > b) | (a != a), a, b); }

/* The scratch of lk__maxpool_rows, per thread: col, np·sw floats (np = Wo + (kw − 1)/sw, so they
 * cover the L positions below), then, for sw > 1, the sw phases of np floats, *pstride apart,
 * from *phase_at (for sw = 1, col is its own single phase: both 0). Returns the total floats. */
static long lk__maxpool_layout(int kw, int sw, int Wo, long *np, long *phase_at, long *pstride) {
  *np = Wo + (kw - 1) / sw;
  const long ncol = lk_round_up(*np * sw, 16);
  *pstride = sw == 1 ? 0 : lk_round_up(*np, 16);
  *phase_at = sw == 1 ? 0 : ncol;
  return ncol + sw * *pstride;
}

/* Output rows [r0, r1) of the B·C·Ho rows. For each: the max over the window's input rows, along
 * the whole row (contiguous: vectorised), into col, which has pw −inf on the left and −inf up to
 * the last window's right end (L = (Wo − 1)·sw + kw positions); then col split into its sw phases
 * (phase q holds positions q, q + sw, …), where window column kj of outputs ow, ow + 1, … is the
 * contiguous run of phase kj % sw from ow + kj / sw: the max over the kw columns is kw vector loads
 * per LK_VW outputs. CeiT's stem pool ([16, 64, 112, 112], 3×3 stride 2, 2 threads): 38 ms window
 * by window; 5.4–8.6 ms with vectorised rows and scalar columns; 3.6–5.0 ms with the phases (batch
 * 1: 0.69 → 0.30 ms). */
static void lk__maxpool_rows(long r0, long r1, int Hh, int Ww, int kh, int kw, int sh, int sw, int ph, int pw, int Ho,
                             int Wo, const float *restrict x, float *restrict y, float *restrict col) {
  long np, phase_at, pstride;
  lk__maxpool_layout(kw, sw, Wo, &np, &phase_at, &pstride);
  float *phase = col + phase_at;
  const long L = (long)(Wo - 1) * sw + kw;
  const int wv = (int)lk_min_l(Ww, L - pw); /* input columns some window reads */
  for (long i = 0; i < np * sw; ++i) col[i] = -INFINITY; /* the padding; only [pw, pw + wv) changes */
  for (long r = r0; r < r1; ++r) {
    const float *xp = x + r / Ho * Hh * Ww;
    float *c = col + pw, *yr = y + r * Wo;
    int ih0 = (int)(r % Ho) * sh - ph;
    int ki0 = ih0 < 0 ? -ih0 : 0, ki1 = Hh - ih0 < kh ? Hh - ih0 : kh;
    int ow = 0;
    for (int iw = 0; iw < wv; ++iw) c[iw] = -INFINITY;
    for (int ki = ki0; ki < ki1; ++ki) {
      const float *xr = xp + (long)(ih0 + ki) * Ww;
      for (int iw = 0; iw < wv; ++iw) c[iw] = lk__pool_max(c[iw], xr[iw]);
    }
    if (sw > 1)
      for (int q = 0; q < sw; ++q)
        for (long i = 0; i < np; ++i) phase[q * pstride + i] = col[i * sw + q];
    for (; ow + LK_VW <= Wo; ow += LK_VW) {
      lk_vf m = lk_vload(phase + ow);
      for (int kj = 1; kj < kw; ++kj) m = lk__pool_vmax(m, lk_vload(phase + kj % sw * pstride + ow + kj / sw));
      lk_vstore(yr + ow, m);
    }
    for (; ow < Wo; ++ow) {
      float m = phase[ow];
      for (int kj = 1; kj < kw; ++kj) m = lk__pool_max(m, phase[kj % sw * pstride + ow + kj / sw]);
      yr[ow] = m;
    }
  }
}

/* maxpool2d, NCHW: y[B, C, Ho, Wo], Ho = (Hh + 2·ph − kh)/sh + 1 (floor, as PyTorch's default);
 * padding counts as −inf (it never wins). NaN propagates, as torch.max_pool2d. Threads split the
 * output rows; each needs the scratch lk__maxpool_layout describes (out of memory: the naive loop). */
void lk_maxpool2d(int B, int C, int Hh, int Ww, int kh, int kw, int sh, int sw, int ph, int pw,
                  const float *x, float *y) {
  int Ho = (Hh + 2 * ph - kh) / sh + 1, Wo = (Ww + 2 * pw - kw) / sw + 1;
  long rows = (long)B * C * Ho;
  if (rows <= 0 || Wo <= 0) return;
  LK_OMP(parallel if(rows * Wo * kh * kw >= LK_PAR_MIN))
  {
    long r0, r1, np, phase_at, pstride;
    float *col = lk_scratch_alloc((size_t)lk__maxpool_layout(kw, sw, Wo, &np, &phase_at, &pstride));
    lk_split(rows, lk_team_size(), lk_thread_id(), &r0, &r1);
    if (col) lk__maxpool_rows(r0, r1, Hh, Ww, kh, kw, sh, sw, ph, pw, Ho, Wo, x, y, col);
    else
      for (long r = r0; r < r1; ++r)
        for (int ow = 0; ow < Wo; ++ow) {
          long arg;
          y[r * Wo + ow] = lk_maxpool_window(x + r / Ho * Hh * Ww, Hh, Ww, (int)(r % Ho), ow, kh, kw, sh, sw, ph, pw, &arg);
        }
    lk_scratch_free(col);
  }
}

/* mean over one axis: x viewed as [outer, L, inner] → y[outer, inner] = (Σ_l x[o, l, i]) / L.
 * The emitter folds the axes before the reduced one into outer and those after it into inner.
 * Sums run over l in order (for inner = 1 in lk_sum's fixed lanes), so the result does not depend
 * on the thread count. A task is one o and a column chunk of inner as wide as the threads allow
 * (all of inner, up to LK_MEAN_CHUNK, once there are as many o as threads; a mean over the tokens
 * of one sample, [1, N, C] → [1, C], still uses every thread), so it reads whole rows: 64-wide
 * chunks (256 B of each 3 KB row) made LocalViT's squeeze-excite mean over 16 × 196 × 768 1.3-1.5×
 * slower than whole rows (2 threads, both in one process, alternating). */
#define LK_MEAN_CHUNK 1024
void lk_mean_axis(long outer, long L, long inner, const float *x, float *y) {
  if (inner == 1) {
    LK_OMP(parallel for schedule(static) if(outer * L >= LK_PAR_MIN))
    for (long o = 0; o < outer; ++o) y[o] = lk_sum(x + o * L, L) / (float)L;
    return;
  }
  {
    const long threads = lk_max_threads(), parts = outer >= threads ? 1 : lk_ceil_div(threads, outer);
    const long width = lk_min_l(LK_MEAN_CHUNK, lk_round_up(lk_ceil_div(inner, parts), 16));
    const long chunks = lk_ceil_div(inner, width), tasks = outer * chunks;
    LK_OMP(parallel for schedule(static) if(outer * L * inner >= LK_PAR_MIN))
    for (long t = 0; t < tasks; ++t) {
      long o = t / chunks, i0 = t % chunks * width, n = lk_min_l(width, inner - i0);
      float acc[LK_MEAN_CHUNK];
      const float *xo = x + o * L * inner + i0;
      for (long i = 0; i < n; ++i) acc[i] = 0.0f;
      for (long l = 0; l < L; ++l)
        for (long i = 0; i < n; ++i) acc[i] += xo[l * inner + i];
      for (long i = 0; i < n; ++i) y[o * inner + i0 + i] = acc[i] / (float)L;
    }
  }
}

/* Global average pooling: x [B, C, HW] → y [B, C]. */
void lk_global_avgpool(int B, int C, long HW, const float *x, float *y) {
  lk_mean_axis((long)B * C, HW, 1, x, y);
}

/* References. */
void lk_maxpool2d_naive(int B, int C, int Hh, int Ww, int kh, int kw, int sh, int sw, int ph, int pw,
                        const float *x, float *y) {
  int Ho = (Hh + 2 * ph - kh) / sh + 1, Wo = (Ww + 2 * pw - kw) / sw + 1;
  for (long p = 0; p < (long)B * C; ++p)
    for (int oh = 0; oh < Ho; ++oh)
      for (int ow = 0; ow < Wo; ++ow) {
        float m = -INFINITY;
        for (int ki = 0; ki < kh; ++ki)
          for (int kj = 0; kj < kw; ++kj) {
            int ih = oh * sh - ph + ki, iw = ow * sw - pw + kj;
            float v = ih >= 0 && ih < Hh && iw >= 0 && iw < Ww ? x[(p * Hh + ih) * Ww + iw] : -INFINITY;
            if (v > m || isnan(v)) m = v; /* PyTorch's rule: a NaN wins */
          }
        y[(p * Ho + oh) * Wo + ow] = m;
      }
}

void lk_mean_axis_naive(long outer, long L, long inner, const float *x, float *y) {
  for (long o = 0; o < outer; ++o)
    for (long i = 0; i < inner; ++i) {
      double s = 0.0;
      for (long l = 0; l < L; ++l) s += x[(o * L + l) * inner + i];
      y[o * inner + i] = (float)(s / L);
    }
}
