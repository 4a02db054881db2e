/* locus-requires: prologue.h */
/* token_dwconv: depth-wise convolution of tokens read as a channels-last image (DESIGN.md §6,
 * the `token-layout` pass: LeFF/LocalViT's seq2img → depthwise conv → img2seq without the two
 * transposes), then the bias and an activation.
 *
 *   x[B, Hh·Ww, C] = x[b, ih, iw, c],  w[C, 1, kh, kw] (nn.Conv2d, groups = C),  bias[C] or NULL,
 *   y[b, oh·Wo + ow, c] = act(bias[c] + Σ_{ki,kj} w[c, ki, kj] · x[b, oh·sh − ph + ki, ow·sw − pw + kj, c]),
 *   zero padding ph/pw, Ho = (Hh + 2·ph − kh)/sh + 1, Wo = (Ww + 2·pw − kw)/sw + 1.
 *
 * Channels are contiguous, so the kernel is vectorised over C: in the interior a register block
 * of LK_TDW_P = 4 consecutive output pixels × LK_TDW_NV = 2 channel vectors accumulates the kh·kw
 * taps (stride 1 with kw = 3 or 5: a sliding window along each kernel row, every input vector
 * loaded once); border pixels (some taps in the padding) take one-pixel blocks of 8 channel
 * vectors that skip the padded taps; then single vectors, then a scalar channel tail. Each block
 * gets the activation on its accumulators before they are stored. The weights are re-laid once
 * per call to wt[kh·kw + 1, C] (tap-major, the bias as the last row, zeros when NULL), so a tap's
 * weights for consecutive channels are one vector load (w[C, kh·kw] read directly would be a
 * gather per tap). Threads split the B·Ho output rows statically; every output element is summed
 * by one thread in one order on every path (bias, then taps ki-major, kj ascending), so results
 * do not depend on the thread count.
 * 14×14×768, 3×3, 1 thread: 69 µs without activation (43 GFLOP/s), against 718 µs for
 * lk_conv2d's NCHW depthwise kernel; see README.md for the measurements. */

#ifndef LK_TDW_P
#  define LK_TDW_P 4 /* output pixels per register block in the interior */
#endif
#ifndef LK_TDW_NV
#  define LK_TDW_NV 2 /* channel vectors per interior block: P·NV accumulators + NV weights */
#endif
#define LK_TDW_NVB 8 /* channel vectors per one-pixel (border) block, for as many FMA chains */

/* act on n vectors, out of line: the blocks copy their accumulators here, so the accumulators'
 * own address never escapes and they stay in registers through the taps. */
__attribute__((noinline)) static void lk__tdw_act(int act, lk_vf *v, int n) { lk_vact_n(act, v, n); }

/* Channels [c, C) of P consecutive output pixels (y: the first pixel's output), NV vectors at a
 * time while NV vectors fit; returns the first channel not done. Every element gets its bias,
 * then the taps ki ∈ [ki0, ki1), kj ∈ [kj0, kj1) in that order. xo: offset in xb of the input
 * under tap (0, 0) of the first pixel (negative near the top/left border: pointers are only
 * formed for taps inside the image); xrs: floats per input row; xps: floats between consecutive
 * pixels' inputs (sw·C). Inlined with constant P and NV, the P·NV accumulators are registers and
 * independent FMA chains: 8 or more keep both FMA pipes busy through the FMA latency (a one-pixel
 * block with 2 vectors ran 3× slower per pixel than the 4-pixel blocks, and border pixels were a
 * third of a 14×14 image's time). */
__attribute__((always_inline)) static inline int lk__tdw_chunks(const int P, const int NV, int c, int C, int kw, int ki0,
                                                                int ki1, int kj0, int kj1, const float *restrict xb,
                                                                long xo, long xrs, long xps, const float *restrict wt,
                                                                int kk, int act, float *restrict y) {
  for (; c + NV * LK_VW <= C; c += NV * LK_VW) {
    lk_vf acc[LK_TDW_P][LK_TDW_NVB];
    for (int v = 0; v < NV; ++v) {
      lk_vf b = lk_vload(wt + (long)kk * C + c + v * LK_VW);
      for (int p = 0; p < P; ++p) acc[p][v] = b;
    }
    for (int ki = ki0; ki < ki1; ++ki)
      for (int kj = kj0; kj < kj1; ++kj) {
        const float *wp = wt + (long)(ki * kw + kj) * C + c;
        const float *xp = xb + (xo + ki * xrs + (long)kj * C + c);
        for (int v = 0; v < NV; ++v) {
          lk_vf wv = lk_vload(wp + v * LK_VW);
          for (int p = 0; p < P; ++p) acc[p][v] += wv * lk_vload(xp + p * xps + v * LK_VW);
        }
      }
    if (act != LK_ACT_NONE) {
      lk_vf t[LK_TDW_P * LK_TDW_NVB];
      for (int p = 0; p < P; ++p)
        for (int v = 0; v < NV; ++v) t[p * NV + v] = acc[p][v];
      lk__tdw_act(act, t, P * NV);
      for (int p = 0; p < P; ++p)
        for (int v = 0; v < NV; ++v) acc[p][v] = t[p * NV + v];
    }
    for (int p = 0; p < P; ++p)
      for (int v = 0; v < NV; ++v) lk_vstore(y + (long)p * C + c + v * LK_VW, acc[p][v]);
  }
  return c;
}

/* lk__tdw_chunks for stride 1 and a constant kernel width KW with every kj inside the image (the
 * interior): along a kernel row, output pixel p's tap kj reads input pixel p + kj, so the
 * P + KW − 1 inputs are loaded once each and feed up to KW accumulators (with KW weights in
 * registers): 0.75 loads per FMA instead of 1.25 for KW = 3, P = 4. Each accumulator still gets
 * its taps kj in ascending order, ki-major: the same sums, rounding for rounding, as the generic
 * block. Registers: P·NV accumulators + KW weights + 1 input (≤ 14 of 16 for KW = 5; KW ≤ 5). */
__attribute__((always_inline)) static inline int lk__tdw_chunks_s1(const int P, const int NV, const int KW, int c, int C,
                                                                   int ki0, int ki1, const float *restrict xb, long xo,
                                                                   long xrs, const float *restrict wt, int kk, int act,
                                                                   float *restrict y) {
  for (; c + NV * LK_VW <= C; c += NV * LK_VW) {
    lk_vf acc[LK_TDW_P][LK_TDW_NV];
    for (int v = 0; v < NV; ++v) {
      lk_vf b = lk_vload(wt + (long)kk * C + c + v * LK_VW);
      for (int p = 0; p < P; ++p) acc[p][v] = b;
    }
    for (int ki = ki0; ki < ki1; ++ki) {
      const float *xr = xb + (xo + ki * xrs + c);
      for (int v = 0; v < NV; ++v) {
        lk_vf wv[5];
        for (int kj = 0; kj < KW; ++kj) wv[kj] = lk_vload(wt + (long)(ki * KW + kj) * C + c + v * LK_VW);
        for (int q = 0; q < P + KW - 1; ++q) {
          lk_vf xv = lk_vload(xr + (long)q * C + v * LK_VW);
          for (int kj = KW - 1; kj >= 0; --kj) /* p = q − kj ascending: the oldest sums first */
            if (q - kj >= 0 && q - kj < P) acc[q - kj][v] += wv[kj] * xv;
        }
      }
    }
    if (act != LK_ACT_NONE) {
      lk_vf t[LK_TDW_P * LK_TDW_NV];
      for (int p = 0; p < P; ++p)
        for (int v = 0; v < NV; ++v) t[p * NV + v] = acc[p][v];
      lk__tdw_act(act, t, P * NV);
      for (int p = 0; p < P; ++p)
        for (int v = 0; v < NV; ++v) acc[p][v] = t[p * NV + v];
    }
    for (int p = 0; p < P; ++p)
      for (int v = 0; v < NV; ++v) lk_vstore(y + (long)p * C + c + v * LK_VW, acc[p][v]);
  }
  return c;
}

/* All C channels of P output pixels: wide vector blocks, then single vectors, then the scalar
 * tail (C % LK_VW channels, same tap order). */
__attribute__((always_inline)) static inline void lk__tdw_pixels(const int P, int C, int kw, int ki0, int ki1, int kj0,
                                                                 int kj1, const float *restrict xb, long xo, long xrs,
                                                                 long xps, const float *restrict wt, int kk, int act,
                                                                 float *restrict y) {
  int c = 0;
  if (P == 1) {
    c = lk__tdw_chunks(1, LK_TDW_NVB, c, C, kw, ki0, ki1, kj0, kj1, xb, xo, xrs, xps, wt, kk, act, y);
    c = lk__tdw_chunks(1, LK_TDW_NVB / 2, c, C, kw, ki0, ki1, kj0, kj1, xb, xo, xrs, xps, wt, kk, act, y);
    c = lk__tdw_chunks(1, 2, c, C, kw, ki0, ki1, kj0, kj1, xb, xo, xrs, xps, wt, kk, act, y);
  } else if (xps == C && kj0 == 0 && kj1 == kw && kw == 3) {
    c = lk__tdw_chunks_s1(P, LK_TDW_NV, 3, c, C, ki0, ki1, xb, xo, xrs, wt, kk, act, y);
  } else if (xps == C && kj0 == 0 && kj1 == kw && kw == 5) {
    c = lk__tdw_chunks_s1(P, LK_TDW_NV, 5, c, C, ki0, ki1, xb, xo, xrs, wt, kk, act, y);
  } else {
    c = lk__tdw_chunks(P, LK_TDW_NV, c, C, kw, ki0, ki1, kj0, kj1, xb, xo, xrs, xps, wt, kk, act, y);
  }
  c = lk__tdw_chunks(P, 1, c, C, kw, ki0, ki1, kj0, kj1, xb, xo, xrs, xps, wt, kk, act, y);
  for (; c < C; ++c)
    for (int p = 0; p < P; ++p) {
      float s = wt[(long)kk * C + c];
      for (int ki = ki0; ki < ki1; ++ki)
        for (int kj = kj0; kj < kj1; ++kj)
          s += wt[(long)(ki * kw + kj) * C + c] * xb[xo + ki * xrs + (long)kj * C + p * xps + c];
      y[(long)p * C + c] = lk_apply_act(act, s);
    }
}

/* wt[kk, C] = w[C, kk] (tap-major: a tap's weights for consecutive channels are one vector load).
 * Written row by row (reads strided by kk, from L1): 2× faster than channel by channel, 1.4 µs for
 * 768 channels × 3×3. */
static void lk__tdw_taps_major(const float *w, int C, int kk, float *wt) {
  for (int t = 0; t < kk; ++t)
    for (int c = 0; c < C; ++c) wt[(long)t * C + c] = w[(long)c * kk + t];
}

/* Output rows [r0, r1) of the B·Ho rows. */
static void lk__tdw_rows(long r0, long r1, int Hh, int Ww, int C, int kh, int kw, int sh, int sw, int ph,
                         int pw, int Ho, int Wo, const float *restrict x, const float *restrict wt, int act,
                         float *restrict y) {
  const int kk = kh * kw;
  const long xrs = (long)Ww * C, xps = (long)sw * C;
  /* Output columns whose taps are all inside the image: ow·sw − pw ≥ 0 and ow·sw − pw + kw ≤ Ww. */
  int owa = (int)lk_min_l(lk_ceil_div(pw, sw), Wo);
  int owb = Ww + pw - kw < 0 ? owa : (int)lk_max_l(lk_min_l((Ww + pw - kw) / sw + 1, Wo), owa);
  for (long r = r0; r < r1; ++r) {
    int b = (int)(r / Ho), oh = (int)(r % Ho), ih0 = oh * sh - ph;
    int ki0 = (int)lk_max_l(0, -ih0), ki1 = (int)lk_min_l(kh, Hh - ih0);
    const float *xb = x + (long)b * Hh * xrs;
    float *yr = y + r * Wo * C;
    for (int ow = 0; ow < Wo;) {
      long xo = (long)ih0 * xrs + (long)(ow * sw - pw) * C;
      if (ow >= owa && ow + LK_TDW_P <= owb) {
        lk__tdw_pixels(LK_TDW_P, C, kw, ki0, ki1, 0, kw, xb, xo, xrs, xps, wt, kk, act, yr + (long)ow * C);
        ow += LK_TDW_P;
      } else {
        int iw0 = ow * sw - pw;
        int kj0 = (int)lk_max_l(0, -iw0), kj1 = (int)lk_min_l(kw, Ww - iw0); /* empty: bias only */
        lk__tdw_pixels(1, C, kw, ki0, ki1, kj0, kj1, xb, xo, xrs, xps, wt, kk, act, yr + (long)ow * C);
        ow += 1;
      }
    }
  }
}

/* Reference: the definition, one output at a time, accumulated in double; the activation in
 * double (libm). */
void lk_token_dwconv_naive(int B, int Hh, int Ww, int C, int kh, int kw, int sh, int sw, int ph, int pw,
                           const float *x, const float *w, const float *bias, int act, float *y) {
  int Ho = (Hh + 2 * ph - kh) / sh + 1, Wo = (Ww + 2 * pw - kw) / sw + 1;
  for (int b = 0; b < B; ++b)
    for (int oh = 0; oh < Ho; ++oh)
      for (int ow = 0; ow < Wo; ++ow)
        for (int c = 0; c < C; ++c) {
          double s = bias ? bias[c] : 0.0;
          for (int ki = 0; ki < kh; ++ki)
            for (int kj = 0; kj < kw; ++kj) {
              int ih = oh * sh - ph + ki, iw = ow * sw - pw + kj;
              if (ih < 0 || ih >= Hh || iw < 0 || iw >= Ww) continue;
              s += (double)x[(((long)b * Hh + ih) * Ww + iw) * C + c] * w[((long)c * kh + ki) * kw + kj];
            }
          y[(((long)b * Ho + oh) * Wo + ow) * C + c] = (float)lk_apply_act_ref(act, s);
        }
}

/* bias may be NULL; act is an LK_ACT_* code. y must not overlap x. Scratch: (kh·kw + 1)·C floats
 * for the re-laid weights, allocated for the call (out of memory: the naive loop, correct and
 * slow). Parallel (B·Ho rows over the threads) from B·Ho·Wo·C·kh·kw ≥ 8·LK_PAR_MIN multiply-adds. */
void lk_token_dwconv(int B, int Hh, int Ww, int C, int kh, int kw, int sh, int sw, int ph, int pw,
                     const float *x, const float *w, const float *bias, int act, float *y) {
  int Ho = (Hh + 2 * ph - kh) / sh + 1, Wo = (Ww + 2 * pw - kw) / sw + 1, kk = kh * kw;
  long rows = (long)B * Ho;
  float *wt;
  if (B <= 0 || C <= 0 || Ho <= 0 || Wo <= 0) return;
  wt = lk_scratch_alloc((size_t)(kk + 1) * C);
  if (!wt) {
    lk_token_dwconv_naive(B, Hh, Ww, C, kh, kw, sh, sw, ph, pw, x, w, bias, act, y);
    return;
  }
  lk__tdw_taps_major(w, C, kk, wt);
  for (int c = 0; c < C; ++c) wt[(long)kk * C + c] = bias ? bias[c] : 0.0f;
  LK_OMP(parallel if((double)rows * Wo * C * kk >= 8.0 * LK_PAR_MIN))
  {
    long r0, r1;
    lk_split(rows, lk_team_size(), lk_thread_id(), &r0, &r1);
    lk__tdw_rows(r0, r1, Hh, Ww, C, kh, kw, sh, sw, ph, pw, Ho, Wo, x, wt, act, y);
  }
  lk_scratch_free(wt);
}

/* ---- Gradients (training graphs, DESIGN.md §7) --------------------------------------------------
 * Of a token_dwconv without activation, y = conv(x, w) (+ bias, whose gradient is a reduce_sum):
 *   dx[b, ih, iw, c] = Σ_{oh, ow, ki, kj: oh·sh − ph + ki = ih, ow·sw − pw + kj = iw} w[c, ki, kj]·dy[b, oh, ow, c]
 *   dw[c, 0, ki, kj] = Σ_b Σ_{oh, ow} dy[b, oh, ow, c]·x[b, oh·sh − ph + ki, ow·sw − pw + kj, c]  (inside the image) */

/* References: the definitions, summed in double. */
void lk_token_dwconv_grad_input_naive(int B, int Hh, int Ww, int C, int kh, int kw, int sh, int sw, int ph, int pw,
                                      const float *dy, const float *w, float *dx) {
  int Ho = (Hh + 2 * ph - kh) / sh + 1, Wo = (Ww + 2 * pw - kw) / sw + 1;
  for (int b = 0; b < B; ++b)
    for (int ih = 0; ih < Hh; ++ih)
      for (int iw = 0; iw < Ww; ++iw)
        for (int c = 0; c < C; ++c) {
          double s = 0.0;
          for (int ki = 0; ki < kh; ++ki)
            for (int kj = 0; kj < kw; ++kj) {
              int oy = ih + ph - ki, ox = iw + pw - kj;
              if (oy < 0 || ox < 0 || oy % sh || ox % sw || oy / sh >= Ho || ox / sw >= Wo) continue;
              s += (double)w[((long)c * kh + ki) * kw + kj] * dy[(((long)b * Ho + oy / sh) * Wo + ox / sw) * C + c];
            }
          dx[(((long)b * Hh + ih) * Ww + iw) * C + c] = (float)s;
        }
}

void lk_token_dwconv_grad_weight_naive(int B, int Hh, int Ww, int C, int kh, int kw, int sh, int sw, int ph, int pw,
                                       const float *dy, const float *x, float *dw) {
  int Ho = (Hh + 2 * ph - kh) / sh + 1, Wo = (Ww + 2 * pw - kw) / sw + 1;
  for (int c = 0; c < C; ++c)
    for (int ki = 0; ki < kh; ++ki)
      for (int kj = 0; kj < kw; ++kj) {
        double s = 0.0;
        for (int b = 0; b < B; ++b)
          for (int oh = 0; oh < Ho; ++oh)
            for (int ow = 0; ow < Wo; ++ow) {
              int ih = oh * sh - ph + ki, iw = ow * sw - pw + kj;
              if (ih < 0 || ih >= Hh || iw < 0 || iw >= Ww) continue;
              s += (double)dy[(((long)b * Ho + oh) * Wo + ow) * C + c] * x[(((long)b * Hh + ih) * Ww + iw) * C + c];
            }
        dw[((long)c * kh + ki) * kw + kj] = (float)s;
      }
}

/* Image b's dx, scattered output pixel by output pixel (taps ki-major), vectorised over the
 * channels; wt[kh·kw, C] holds the taps tap-major. */
static void lk__tdw_scatter(int Hh, int Ww, int C, int kh, int kw, int sh, int sw, int ph, int pw, int Ho, int Wo,
                            const float *restrict dy, const float *restrict wt, float *restrict dx) {
  memset(dx, 0, (size_t)Hh * Ww * C * sizeof(float));
  for (int oh = 0; oh < Ho; ++oh)
    for (int ow = 0; ow < Wo; ++ow) {
      const float *g = dy + ((long)oh * Wo + ow) * C;
      for (int ki = 0; ki < kh; ++ki)
        for (int kj = 0; kj < kw; ++kj) {
          int ih = oh * sh - ph + ki, iw = ow * sw - pw + kj;
          const float *wk = wt + (long)(ki * kw + kj) * C;
          float *d;
          if (ih < 0 || ih >= Hh || iw < 0 || iw >= Ww) continue; /* before d: no pointer outside dx */
          d = dx + ((long)ih * Ww + iw) * C;
          for (int c = 0; c < C; ++c) d[c] += wk[c] * g[c];
        }
    }
}

/* dx[B, Hh·Ww, C]. At stride 1 with ph < kh and pw < kw, dx is the convolution of dy with the taps
 * flipped and padding (kh − 1 − ph, kw − 1 − pw), whose output is exactly Hh × Ww: the forward
 * kernel computes it (its register blocks, its threading). Otherwise each image is scattered by
 * one thread. Scratch: kh·kw·C floats (out of memory: the naive loop). dx must not overlap dy. */
void lk_token_dwconv_grad_input(int B, int Hh, int Ww, int C, int kh, int kw, int sh, int sw, int ph, int pw,
                                const float *dy, const float *w, float *dx) {
  int Ho = (Hh + 2 * ph - kh) / sh + 1, Wo = (Ww + 2 * pw - kw) / sw + 1, kk = kh * kw;
  int flip = sh == 1 && sw == 1 && ph < kh && pw < kw;
  float *wt;
  if (B <= 0 || C <= 0 || Hh <= 0 || Ww <= 0) return;
  wt = lk_scratch_alloc((size_t)kk * C);
  if (!wt) {
    lk_token_dwconv_grad_input_naive(B, Hh, Ww, C, kh, kw, sh, sw, ph, pw, dy, w, dx);
    return;
  }
  if (flip) {
    for (int c = 0; c < C; ++c) /* [C, 1, kh, kw] with (ki, kj) → (kh − 1 − ki, kw − 1 − kj) */
      for (int t = 0; t < kk; ++t) wt[(long)c * kk + t] = w[(long)c * kk + kk - 1 - t];
    lk_token_dwconv(B, Ho, Wo, C, kh, kw, 1, 1, kh - 1 - ph, kw - 1 - pw, dy, wt, NULL, LK_ACT_NONE, dx);
  } else {
    lk__tdw_taps_major(w, C, kk, wt);
    LK_OMP(parallel for schedule(static) if((double)B * Ho * Wo * C * kk >= 8.0 * LK_PAR_MIN))
    for (int b = 0; b < B; ++b)
      lk__tdw_scatter(Hh, Ww, C, kh, kw, sh, sw, ph, pw, Ho, Wo, dy + (long)b * Ho * Wo * C, wt,
                      dx + (long)b * Hh * Ww * C);
  }
  lk_scratch_free(wt);
}

/* part[kh·kw, C] = image b's terms of dw, tap by tap: for a block of NV channel vectors, NV
 * accumulators over the tap's output pixels (rows, then columns, in order). */
__attribute__((always_inline)) static inline int lk__tdw_dw_chunks(const int NV, int c, int C, int Hh, int Ww,
                                                                   int sh, int sw, int ph, int pw, int Ho, int Wo,
                                                                   int ki, int kj, const float *restrict dy,
                                                                   const float *restrict x, float *restrict part) {
  for (; c + NV * LK_VW <= C; c += NV * LK_VW) {
    lk_vf acc[4];
    for (int v = 0; v < NV; ++v) acc[v] = lk_vzero();
    for (int oh = 0; oh < Ho; ++oh) {
      int ih = oh * sh - ph + ki;
      if (ih < 0 || ih >= Hh) continue;
      for (int ow = 0; ow < Wo; ++ow) {
        int iw = ow * sw - pw + kj;
        const float *g, *xi;
        if (iw < 0 || iw >= Ww) continue; /* before xi: no pointer outside x */
        g = dy + ((long)oh * Wo + ow) * C + c;
        xi = x + ((long)ih * Ww + iw) * C + c;
        for (int v = 0; v < NV; ++v) acc[v] += lk_vload(g + v * LK_VW) * lk_vload(xi + v * LK_VW);
      }
    }
    for (int v = 0; v < NV; ++v) lk_vstore(part + c + v * LK_VW, acc[v]);
  }
  return c;
}

static void lk__tdw_dw_image(int Hh, int Ww, int C, int kh, int kw, int sh, int sw, int ph, int pw, int Ho, int Wo,
                             const float *restrict dy, const float *restrict x, float *restrict part) {
  for (int ki = 0; ki < kh; ++ki)
    for (int kj = 0; kj < kw; ++kj) {
      float *pt = part + (long)(ki * kw + kj) * C;
      int c = lk__tdw_dw_chunks(4, 0, C, Hh, Ww, sh, sw, ph, pw, Ho, Wo, ki, kj, dy, x, pt);
      c = lk__tdw_dw_chunks(1, c, C, Hh, Ww, sh, sw, ph, pw, Ho, Wo, ki, kj, dy, x, pt);
      for (; c < C; ++c) {
        float s = 0.0f;
        for (int oh = 0; oh < Ho; ++oh) {
          int ih = oh * sh - ph + ki;
          if (ih < 0 || ih >= Hh) continue;
          for (int ow = 0; ow < Wo; ++ow) {
            int iw = ow * sw - pw + kj;
            if (iw >= 0 && iw < Ww) s += dy[((long)oh * Wo + ow) * C + c] * x[((long)ih * Ww + iw) * C + c];
          }
        }
        pt[c] = s;
      }
    }
}

/* dw[C, 1, kh, kw] summed over the batch: each image's terms in float (one thread per image, at
 * most Ho·Wo terms per sum), then the images added in order in double, so the result does not
 * depend on the thread count. Scratch: B·kh·kw·C floats (out of memory: the naive loop). */
void lk_token_dwconv_grad_weight(int B, int Hh, int Ww, int C, int kh, int kw, int sh, int sw, int ph, int pw,
                                 const float *dy, const float *x, float *dw) {
  int Ho = (Hh + 2 * ph - kh) / sh + 1, Wo = (Ww + 2 * pw - kw) / sw + 1, kk = kh * kw;
  long per = (long)kk * C;
  float *part;
  if (C <= 0 || kk <= 0) return;
  part = B > 0 ? lk_scratch_alloc((size_t)B * per) : NULL;
  if (!part) {
    lk_token_dwconv_grad_weight_naive(B, Hh, Ww, C, kh, kw, sh, sw, ph, pw, dy, x, dw);
    return;
  }
  LK_OMP(parallel for schedule(static) if((double)B * Ho * Wo * C * kk >= 8.0 * LK_PAR_MIN))
  for (int b = 0; b < B; ++b)
    lk__tdw_dw_image(Hh, Ww, C, kh, kw, sh, sw, ph, pw, Ho, Wo, dy + (long)b * Ho * Wo * C,
                     x + (long)b * Hh * Ww * C, part + b * per);
  LK_OMP(parallel for schedule(static) if((long)B * per >= LK_PAR_MIN))
  for (long i = 0; i < per; ++i) { /* i = tap·C + c → dw[c·kk + tap] */
    double s = 0.0;
    for (int b = 0; b < B; ++b) s += part[b * per + i];
    dw[(i % C) * kk + i / C] = (float)s;
  }
  lk_scratch_free(part);
}
