/* locus-requires: prologue.h */
/* Pooling and reductions: max pooling, global average pooling, mean over one axis. */

/* maxpool2d, NCHW: y[B, C, Ho, Wo], Ho = (Hh + 2·ph − kh)/sh + 1 (floor, as PyTorch's default);
 * padding counts as −inf (it never wins). NaN propagates, as torch.max_pool2d. */
void lk_maxpool2d(int B, int C, int Hh, int Ww, int kh, int kw, int sh, int sw, int ph, int pw,
                  const float *x, float *y) {
  int Ho = (Hh + 2 * ph - kh) / sh + 1, Wo = (Ww + 2 * pw - kw) / sw + 1;
  long planes = (long)B * C;
  LK_OMP(parallel for schedule(static) if(planes * Ho * Wo * kh * kw >= LK_PAR_MIN))
  for (long p = 0; p < planes; ++p) {
    const float *xp = x + p * Hh * Ww;
    float *yp = y + p * Ho * Wo;
    for (int oh = 0; oh < Ho; ++oh)
      for (int ow = 0; ow < Wo; ++ow) {
        long arg;
        yp[(long)oh * Wo + ow] = lk_maxpool_window(xp, Hh, Ww, oh, ow, kh, kw, sh, sw, ph, pw, &arg);
      }
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
            if (ih >= 0 && ih < Hh && iw >= 0 && iw < Ww && x[(p * Hh + ih) * Ww + iw] > m)
              m = x[(p * Hh + ih) * Ww + iw];
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
