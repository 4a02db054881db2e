/* locus-requires: prologue.h */
/* Pooling and reductions: max pooling, global average pooling, mean over one axis. */

/* max(a, b) that returns a NaN operand (torch.max_pool2d propagates NaN). */
static inline float lk__pool_max(float a, float b) { return a > b || a != a ? a : b; }

/* Output rows [r0, r1) of the B·C·Ho rows: for each, the max over the window's input rows, along the
 * whole row (contiguous: vectorised), then over each window's kw columns of that. col holds Ww
 * floats. CeiT's stem pool ([16, 64, 112, 112], 3×3 stride 2, 2 threads): 38 ms window by window,
 * 8.6 ms this way (1.4 → 0.33 ms at batch 1). */
static void lk__maxpool_rows(long r0, long r1, int Hh, int Ww, int kh, int kw, int sh, int sw, int ph, int pw, int Ho,
                             int Wo, const float *restrict x, float *restrict y, float *restrict col) {
  for (long r = r0; r < r1; ++r) {
    const float *xp = x + r / Ho * Hh * Ww;
    int ih0 = (int)(r % Ho) * sh - ph;
    int ki0 = ih0 < 0 ? -ih0 : 0, ki1 = Hh - ih0 < kh ? Hh - ih0 : kh;
    for (int iw = 0; iw < Ww; ++iw) col[iw] = -INFINITY;
    for (int ki = ki0; ki < ki1; ++ki) {
      const float *xr = xp + (long)(ih0 + ki) * Ww;
      for (int iw = 0; iw < Ww; ++iw) col[iw] = lk__pool_max(col[iw], xr[iw]);
    }
    for (int ow = 0; ow < Wo; ++ow) {
      int iw0 = ow * sw - pw, kj0 = iw0 < 0 ? -iw0 : 0, kj1 = Ww - iw0 < kw ? Ww - iw0 : kw;
      float m = -INFINITY;
      for (int kj = kj0; kj < kj1; ++kj) m = lk__pool_max(m, col[iw0 + kj]);
      y[r * Wo + ow] = m;
    }
  }
}

/* maxpool2d, NCHW: y[B, C, Ho, Wo], Ho = (Hh + 2·ph − kh)/sh + 1 (floor, as PyTorch's default);
 * padding counts as −inf (it never wins). NaN propagates, as torch.max_pool2d. Threads split the
 * output rows; each needs Ww floats of scratch (out of memory: the naive loop). */
void lk_maxpool2d(int B, int C, int Hh, int Ww, int kh, int kw, int sh, int sw, int ph, int pw,
                  const float *x, float *y) {
  int Ho = (Hh + 2 * ph - kh) / sh + 1, Wo = (Ww + 2 * pw - kw) / sw + 1;
  long rows = (long)B * C * Ho;
  if (rows <= 0 || Wo <= 0) return;
  LK_OMP(parallel if(rows * Wo * kh * kw >= LK_PAR_MIN))
  {
    long r0, r1;
    float *col = lk_scratch_alloc((size_t)Ww);
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
 * on the thread count. Work is split over outer and over 64-wide column chunks of inner, so a
 * mean over the tokens of one sample ([1, N, C] → [1, C]) still uses every thread. */
#define LK_MEAN_CHUNK 64
void lk_mean_axis(long outer, long L, long inner, const float *x, float *y) {
  if (inner == 1) {
    LK_OMP(parallel for schedule(static) if(outer * L >= LK_PAR_MIN))
    for (long o = 0; o < outer; ++o) y[o] = lk_sum(x + o * L, L) / (float)L;
    return;
  }
  {
    long chunks = lk_ceil_div(inner, LK_MEAN_CHUNK), tasks = outer * chunks;
    LK_OMP(parallel for schedule(static) if(outer * L * inner >= LK_PAR_MIN))
    for (long t = 0; t < tasks; ++t) {
      long o = t / chunks, i0 = t % chunks * LK_MEAN_CHUNK, n = lk_min_l(LK_MEAN_CHUNK, inner - i0);
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
