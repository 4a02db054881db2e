/* locus-requires: prologue.h gemm.c */
/* conv2d, NCHW: y[B, Cout, Ho, Wo] = x[B, Cin, Hh, Ww] ⊛ w[Cout, Cin/groups, kh, kw] + bias[Cout]
 * (PyTorch nn.Conv2d: symmetric zero padding ph/pw, strides sh/sw, no dilation).
 * Ho = (Hh + 2·ph − kh)/sh + 1, Wo = (Ww + 2·pw − kw)/sw + 1.
 *
 * Four paths:
 * - 1×1, stride 1, no padding, groups 1: y_b[Cout, Hh·Ww] = w[Cout, Cin] · x_b[Cin, Hh·Ww], one
 *   batched GEMM straight on the activations (no copy).
 * - depthwise (groups = Cin = Cout): a direct kernel; a GEMM with K = kh·kw would be all overhead.
 * - anything else, implicit GEMM: per image and group, y_g[Cout/G, Ho·Wo] = w_g · col_g with
 *   col_g[(c·kh + ki)·kw + kj][oh·Wo + ow] = x[c, oh·sh − ph + ki, ow·sw − pw + kj], never stored:
 *   the GEMM's B packing (lk__conv_pack_b) reads those pixels straight from a zero-padded copy of
 *   the image, so no bounds checks and no column matrix. An explicit im2col wrote col to memory
 *   and the GEMM then read it back to pack it; with the threads splitting im2col by rows and the
 *   GEMM by columns, half of what each core packed came from the other core's cache. Each thread
 *   takes whole images (or, at batch 1, a share of the output columns) and pads its own copy.
 * - when an image's padded copy would be too large (lk__conv_implicit_ok), the explicit path: one
 *   image and a block of output rows at a time, im2col of the block into the workspace, then per
 *   group one GEMM w_g · col_g with the bias added in the GEMM's store. The block is sized so col
 *   stays near 1 MiB (in L2) while the GEMM reads it. See lk__conv_block_rows. */

static int lk__conv_is_1x1(int kh, int kw, int sh, int sw, int ph, int pw, int groups) {
  return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 && groups == 1;
}

/* Output columns [*lo, *hi) whose input column ow·sw − pw + kj lies inside [0, Ww). */
static void lk__conv_valid_cols(int Ww, int Wo, int sw, int pw, int kj, int *lo, int *hi) {
  long l = kj >= pw ? 0 : (pw - kj + sw - 1) / sw;
  long h = Ww - 1 + pw - kj < 0 ? 0 : (Ww - 1 + pw - kj) / sw + 1;
  *lo = (int)lk_min_l(l, Wo);
  *hi = (int)lk_max_l(lk_min_l(h, Wo), *lo);
}

/* Output rows per im2col block: col [K, rows·Wo] (K = Cin·kh·kw) of about 2^18 floats (1 MiB, one
 * core's L2), but at least 256 columns so the GEMM's N is not all edge (SAG's 3×3 convolutions
 * have K = 1728), and never more than the image. The emitter mirrors this rule
 * (`conv2dWorkspace`, Kernels+Products.swift). */
static long lk__conv_block_rows(long K, long Ho, long Wo) {
  long rows = (1L << 18) / (K * Wo);
  if (rows * Wo < 256) rows = lk_ceil_div(256, Wo);
  return lk_max_l(1, lk_min_l(rows, Ho));
}

/* The implicit path's per-thread copy of one padded image: Cin planes of (Hh + 2·ph) × (Ww + 2·pw)
 * floats, plus LK__CONV_SLACK so the packing may read whole vectors past the last pixel. Up to
 * 2^21 floats (8 MiB per thread); beyond that the explicit path, with its 1 MiB blocks. The
 * emitter mirrors this rule (`conv2dWorkspace`, Kernels+Products.swift). */
#define LK__CONV_SLACK (2 * 32)
static long lk__conv_padded_floats(int Cin, int Hh, int Ww, int ph, int pw) {
  return (long)Cin * (Hh + 2L * ph) * (Ww + 2L * pw) + LK__CONV_SLACK;
}
static int lk__conv_implicit_ok(int Cin, int Hh, int Ww, int ph, int pw) {
  return lk__conv_padded_floats(Cin, Hh, Ww, ph, pw) <= (1L << 21);
}

/* Floats of the explicit path's column block (lk__conv_block_rows output rows of one image). */
static long lk__conv_col_floats(int Cin, int kh, int kw, long Ho, long Wo) {
  long K = (long)Cin * kh * kw;
  return K * lk__conv_block_rows(K, Ho, Wo) * Wo;
}

/* Floats of `ws` lk_conv2d needs (0 for the 1×1, depthwise and implicit paths): one block of the
 * explicit path, whatever B. */
size_t lk_conv2d_workspace_floats(int B, int Cin, int Hh, int Ww, int Cout, int kh, int kw, int sh,
                                  int sw, int ph, int pw, int groups) {
  long Ho = (Hh + 2L * ph - kh) / sh + 1, Wo = (Ww + 2L * pw - kw) / sw + 1;
  (void)B;
  if (lk__conv_is_1x1(kh, kw, sh, sw, ph, pw, groups)) return 0;
  if (groups == Cin && groups == Cout && groups > 1) return 0;
  if (Ho <= 0 || Wo <= 0 || lk__conv_implicit_ok(Cin, Hh, Ww, ph, pw)) return 0;
  return (size_t)lk__conv_col_floats(Cin, kh, kw, Ho, Wo);
}

/* Output rows [oh0, oh1) of one image x [Cin, Hh, Ww]: col[(c·kh + ki)·kw + kj][(oh − oh0)·Wo + ow] =
 * x[c, oh·sh − ph + ki, ow·sw − pw + kj] or 0. Since c runs over all Cin, the rows of group g are the
 * contiguous block for c in g's channels. */
static void lk__conv_im2col(int Cin, int Hh, int Ww, int kh, int kw, int sh, int sw, int ph, int pw, int oh0, int oh1,
                            int Wo, const float *restrict x, float *restrict col) {
  long rows = (long)Cin * kh * kw, n = (long)(oh1 - oh0) * Wo;
  LK_OMP(parallel for schedule(static) if(rows * n >= LK_PAR_MIN))
  for (long r = 0; r < rows; ++r) {
    int kj = (int)(r % kw), ki = (int)(r / kw % kh);
    const float *xc = x + r / ((long)kh * kw) * Hh * Ww; /* plane c */
    float *d = col + r * n;
    int lo, hi;
    lk__conv_valid_cols(Ww, Wo, sw, pw, kj, &lo, &hi);
    for (int oh = oh0; oh < oh1; ++oh, d += Wo) {
      int ih = oh * sh - ph + ki;
      if (ih < 0 || ih >= Hh) { memset(d, 0, (size_t)Wo * sizeof(float)); continue; }
      const float *xr = xc + (long)ih * Ww;
      for (int ow = 0; ow < lo; ++ow) d[ow] = 0.0f;
      if (sw == 1) memcpy(d + lo, xr + lo - pw + kj, (size_t)(hi - lo) * sizeof(float));
      else for (int ow = lo; ow < hi; ++ow) d[ow] = xr[(long)ow * sw - pw + kj];
      for (int ow = hi; ow < Wo; ++ow) d[ow] = 0.0f;
    }
  }
}

/* ---- Implicit GEMM ----------------------------------------------------------------------------- */

/* What lk__conv_pack_b needs besides the GEMM's arguments; g->B is the padded image of the group's
 * first channel. */
typedef struct { int kh, kw, sh, sw, Wo; long Wp, plane; } lk__conv_geom;

/* lk__gemm_pack_b's layout for B[k0:k0+kc, j0:j0+nc] of the implicit column matrix: B(k, j) is
 * the padded image at channel c, row oh·sh + ki, column ow·sw + kj, for k = (c·kh + ki)·kw + kj and
 * j = oh·Wo + ow. A panel of NR outputs inside one output row reads, per k, NR pixels of one input
 * row: contiguous for stride 1 (whole-vector copies), every other one for stride 2 (two vectors
 * and an even-lane shuffle per 8). A panel that wraps to the next row (or a short last one) goes
 * pixel by pixel through per-column offsets. The padding makes every read in bounds, except the
 * stride-2 path's last lane + 1, which LK__CONV_SLACK covers. */
static void lk__conv_pack_b(const lk__gemm_args *g, int k0, int kc, int j0, int nc, float *bp) {
  const lk__conv_geom *q = (const lk__conv_geom *)g->pack_ctx;
  long koff[LK_GEMM_KC], joff[LK_GEMM_NR];
  for (int k = 0; k < kc; ++k) {
    int kk = k0 + k, kj = kk % q->kw, ki = kk / q->kw % q->kh;
    koff[k] = kk / (q->kw * q->kh) * q->plane + ki * q->Wp + kj;
  }
  for (int p0 = 0; p0 < nc; p0 += LK_GEMM_NR) {
    int nr = (int)lk_min_l(LK_GEMM_NR, nc - p0), n = j0 + p0, oh = n / q->Wo, ow = n % q->Wo;
    float *d = bp + (long)p0 * kc;
    if (nr == LK_GEMM_NR && ow + LK_GEMM_NR <= q->Wo) {
      const float *s0 = g->B + (long)oh * q->sh * q->Wp + (long)ow * q->sw;
      if (q->sw == 1) {
        for (int k = 0; k < kc; ++k)
          for (int v = 0; v < LK_GEMM_NV; ++v) lk_vstore(d + k * LK_GEMM_NR + v * LK_VW, lk_vload(s0 + koff[k] + v * LK_VW));
      } else if (q->sw == 2) {
        for (int k = 0; k < kc; ++k)
          for (int j = 0; j < LK_GEMM_NR; j += 8) {
            lk_v8 a, b, e;
            memcpy(&a, s0 + koff[k] + 2 * j, sizeof a);
            memcpy(&b, s0 + koff[k] + 2 * j + 8, sizeof b);
            e = __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14);
            memcpy(d + k * LK_GEMM_NR + j, &e, sizeof e);
          }
      } else {
        for (int k = 0; k < kc; ++k)
          for (int j = 0; j < LK_GEMM_NR; ++j) d[k * LK_GEMM_NR + j] = s0[koff[k] + (long)j * q->sw];
      }
    } else {
      for (int j = 0; j < nr; ++j)
        joff[j] = (long)((n + j) / q->Wo) * q->sh * q->Wp + (long)((n + j) % q->Wo) * q->sw;
      for (int k = 0; k < kc; ++k) {
        for (int j = 0; j < nr; ++j) d[k * LK_GEMM_NR + j] = g->B[koff[k] + joff[j]];
        for (int j = nr; j < LK_GEMM_NR; ++j) d[k * LK_GEMM_NR + j] = 0.0f;
      }
    }
  }
}

/* pad[c, ph + i, pw + j] = x[c, i, j] for the Cin planes of one image, zeros around and in the
 * slack after the last plane. */
static void lk__conv_pad_image(int Cin, int Hh, int Ww, int ph, int pw, const float *restrict x, float *restrict pad) {
  long Wp = Ww + 2L * pw, plane = (Hh + 2L * ph) * Wp;
  for (int c = 0; c < Cin; ++c) {
    float *p = pad + c * plane;
    const float *xc = x + (long)c * Hh * Ww;
    memset(p, 0, (size_t)(ph * Wp) * sizeof(float));
    for (int i = 0; i < Hh; ++i) {
      float *r = p + (ph + i) * Wp;
      for (int j = 0; j < pw; ++j) r[j] = r[pw + Ww + j] = 0.0f;
      memcpy(r + pw, xc + (long)i * Ww, (size_t)Ww * sizeof(float));
    }
    memset(p + (ph + Hh) * Wp, 0, (size_t)(ph * Wp) * sizeof(float));
  }
  memset(pad + Cin * plane, 0, LK__CONV_SLACK * sizeof(float));
}

/* The implicit path. Jobs are (image, group, share of the output columns): as many shares per
 * matrix as it takes for the jobs to divide evenly among the threads (at batch 1 on 2 threads,
 * halves of each image). A thread pads an image when its jobs reach it; results do not depend
 * on the thread count (each output is one GEMM element, summed in the same order). */
static void lk__conv_implicit(int B, int Cin, int Hh, int Ww, int Cout, int kh, int kw, int sh, int sw, int ph, int pw,
                              int G, int Ho, int Wo, const float *x, const float *w, const float *bias, float *y) {
  int cig = Cin / G, cog = Cout / G, kg = cig * kh * kw, HWo = Ho * Wo;
  lk__conv_geom q = {.kh = kh, .kw = kw, .sh = sh, .sw = sw, .Wo = Wo, .Wp = Ww + 2L * pw, .plane = (Hh + 2L * ph) * (Ww + 2L * pw)};
  lk__gemm_args g0 = {.M = cog, .N = HWo, .K = kg, .rsa = kg, .csa = 1, .rsc = HWo, .act = LK_ACT_NONE,
                      .pack_b = lk__conv_pack_b, .pack_ctx = &q};
  long products = (long)B * G, jobs, tiles = lk_ceil_div(HWo, LK_GEMM_NR), padded = lk__conv_padded_floats(Cin, Hh, Ww, ph, pw);
  double fmas = (double)B * Cout * HWo * kg;
  int threads = fmas < LK_GEMM_PAR_MIN ? 1 : lk_max_threads(), per = lk__gemm_shares(products, threads);
  size_t scratch;
  jobs = products * per;
  scratch = (size_t)lk_round_up(padded, 16) + lk__gemm_scratch_floats(&g0, cog, lk_ceil_div(tiles, per) * LK_GEMM_NR);

  LK_OMP(parallel num_threads(threads) if(threads > 1))
  {
    long j0, j1, have = -1;
    float *pad = lk_scratch_alloc(scratch), *ws = pad ? pad + lk_round_up(padded, 16) : NULL;
    lk_split(jobs, lk_team_size(), lk_thread_id(), &j0, &j1);
    for (long j = j0; j < j1; ++j) {
      long p = j / per, b = p / G, gi = p % G, lo, hi;
      float *yg = y + (b * Cout + gi * cog) * HWo;
      lk_split(tiles, per, (int)(j % per), &lo, &hi);
      lo = lk_min_l(lo * LK_GEMM_NR, HWo); hi = lk_min_l(hi * LK_GEMM_NR, HWo);
      if (!pad) { /* out of memory: fail loudly, with NaN, rather than leave garbage in y */
        for (long i = 0; i < cog; ++i)
          for (long n = lo; n < hi; ++n) yg[i * HWo + n] = NAN;
        continue;
      }
      if (have != b) lk__conv_pad_image(Cin, Hh, Ww, ph, pw, x + b * Cin * Hh * Ww, pad), have = b;
      if (lo < hi) {
        lk__gemm_args g = g0;
        g.A = w + gi * cog * kg; g.B = pad + gi * cig * q.plane; g.C = yg; g.bias_m = bias ? bias + gi * cog : NULL;
        lk__gemm_rect(&g, 1, 0, 0, 0, 0, cog, (int)lo, (int)hi, ws);
      }
    }
    lk_scratch_free(pad);
  }
}

/* Stride-1 depthwise convolution of small planes (the locality blocks' 3×3 over 7×7…56×56 token
 * grids) goes through a zero-padded copy of each plane, so that every output row is whole vectors
 * of LK_VW columns with no bounds logic: a row of 7 would otherwise be a 7-long scalar loop per
 * tap (1.8 GFLOP/s at localvit_fmnist's training shape). lk__dw_fits says whether a plane's copy
 * fits the stack buffer; lk__dw_pad makes the copy; lk__dw_plane convolves it. The training
 * kernels (grad.c) use all three for the input gradient (a convolution of the padded dy with the
 * flipped taps) and the first two for the weight gradient. Padding taps are multiplied by the
 * zeros, not skipped: an inf or NaN weight gives NaN along the border, where the direct path
 * below would leave those outputs finite. */
#define LK__DW_PAD_FLOATS 8192 /* 32 KiB: a 56×56 plane, padding 1, is 59 rows (one extra) of ≤ 66 floats */
#define LK__DW_MAX_TAPS 64

/* Row stride of a padded copy of a plane Ww wide with pw zero columns each side, for a kw-wide
 * kernel: room for the last whole vector of an output row (Wo = Ww + 2·pw − kw + 1 columns) at
 * the widest tap offset. */
static long lk__dw_row(int Ww, int kw, int pw) {
  long Wo = (long)Ww + 2L * pw - kw + 1;
  return (Wo - 1) / LK_VW * LK_VW + LK_VW + kw - 1;
}

static int lk__dw_fits(int Hh, int Ww, int kh, int kw, int ph, int pw) {
  return kh * kw <= LK__DW_MAX_TAPS && ph < kh && pw < kw && Ww + 2L * pw >= kw && Hh + 2L * ph >= kh &&
         (Hh + 2L * ph + 1) * lk__dw_row(Ww, kw, pw) <= LK__DW_PAD_FLOATS;
}

/* pad[(ph + i)·row + pw + j] = x[i·Ww + j], zeros around, to the end of each row, and one more
 * zero row below (read by lk__dw_plane's second row of an odd last pair). pad holds
 * LK_VW floats more than lk__dw_fits allows. Whole vectors only (a row is a few floats, shorter
 * than a memcpy call): everything zeroed, then each row copied, its last partial vector read
 * whole while that stays inside the plane and masked, its spill zeros landing in the next row's
 * padding or in data written after it. */
static void lk__dw_pad(int Hh, int Ww, int ph, int pw, long row, const float *restrict x, float *restrict pad) {
  long n = (Hh + 2L * ph + 1) * row, plane = (long)Hh * Ww;
  for (long i = 0; i < n; i += LK_VW) lk_vstore(pad + i, lk_vzero());
  for (int i = 0; i < Hh; ++i) {
    float *d = pad + (ph + i) * row + pw;
    const float *r = x + (long)i * Ww;
    /* Every vector masked, full ones too: a plain vector copy loop becomes a memcpy call. */
    for (int j = 0; j < Ww; j += LK_VW) {
      if (j + LK_VW <= Ww || (long)i * Ww + j + LK_VW <= plane) {
        lk_vstore(d + j, lk_vselect(lk_vbelow(j, Ww), lk_vload(r + j), lk_vzero()));
      } else {
        for (int k = j; k < Ww; ++k) d[k] = r[k];
      }
    }
  }
}

/* y[oh, ow] = b0 + Σ_{ki, kj} w[ki·kw + kj] · pad[(oh + ki)·row + ow + kj] for the Ho × Wo outputs,
 * taps in that order (bias first). Two output rows at a time: two independent multiply-add chains
 * (one chain of kh·kw dependent FMAs per vector was latency-bound); for an odd Ho the second row of
 * the last pair reads lk__dw_pad's extra zero row and is not stored. Lanes past Wo are computed on
 * padding and not stored. Inlined into lk__dw_plane with kh, kw constant for 3×3, so the taps stay
 * in registers. */
__attribute__((always_inline)) static inline void lk__dw_plane_k(int Ho, int Wo, int kh, int kw, long row,
                                                                 const float *restrict pad, const float *restrict w,
                                                                 float b0, float *restrict y) {
  lk_vf wv[LK__DW_MAX_TAPS];
  for (int t = 0; t < kh * kw; ++t) wv[t] = lk_vset1(w[t]);
  for (int oh = 0; oh < Ho; oh += 2) {
    for (int o = 0; o < Wo; o += LK_VW) {
      lk_vf acc[2] = {lk_vset1(b0), lk_vset1(b0)};
      for (int ki = 0; ki < kh; ++ki) {
        const float *pr = pad + (oh + ki) * row + o;
        for (int kj = 0; kj < kw; ++kj) {
          acc[0] += wv[ki * kw + kj] * lk_vload(pr + kj);
          acc[1] += wv[ki * kw + kj] * lk_vload(pr + row + kj);
        }
      }
      for (int r = 0; r < 2 && oh + r < Ho; ++r) {
        float *yr = y + (long)(oh + r) * Wo;
        /* A tail may spill past its row when everything it lands on is written after it: the
         * next pairs (r = 1), or a row of one vector (o = 0), whose second row comes next. */
        if (o + LK_VW <= Wo || ((r == 1 || o == 0) && (long)(oh + r) * Wo + o + LK_VW <= (long)Ho * Wo)) {
          lk_vstore(yr + o, acc[r]);
        } else {
          float tail[LK_VW];
          lk_vstore(tail, acc[r]);
          for (int i = 0; i < Wo - o; ++i) yr[o + i] = tail[i];
        }
      }
    }
  }
}

static void lk__dw_plane(int Ho, int Wo, int kh, int kw, long row, const float *restrict pad, const float *restrict w,
                         float b0, float *restrict y) {
  if (kh == 3 && kw == 3) lk__dw_plane_k(Ho, Wo, 3, 3, row, pad, w, b0, y);
  else lk__dw_plane_k(Ho, Wo, kh, kw, row, pad, w, b0, y);
}

/* Depthwise: every (b, c) plane is independent; each output row accumulates kh·kw shifted input
 * rows (vectorised over the row for stride 1), taps in a fixed order. Stride 1 on planes that fit
 * takes the padded path above. */
static void lk__conv_depthwise(int B, int C, int Hh, int Ww, int kh, int kw, int sh, int sw, int ph,
                               int pw, int Ho, int Wo, const float *restrict x, const float *restrict w,
                               const float *bias, float *restrict y) {
  long planes = (long)B * C;
  int padded = sh == 1 && sw == 1 && lk__dw_fits(Hh, Ww, kh, kw, ph, pw);
  LK_OMP(parallel for schedule(static) if(planes * Ho * Wo * kh * kw >= LK_PAR_MIN))
  for (long p = 0; p < planes; ++p) {
    int c = (int)(p % C);
    const float *xp = x + p * Hh * Ww, *wc = w + (long)c * kh * kw;
    float *yp = y + p * Ho * Wo;
    float b0 = bias ? bias[c] : 0.0f;
    if (padded) {
      float pad[LK__DW_PAD_FLOATS + LK_VW];
      long row = lk__dw_row(Ww, kw, pw);
      lk__dw_pad(Hh, Ww, ph, pw, row, xp, pad);
      lk__dw_plane(Ho, Wo, kh, kw, row, pad, wc, b0, yp);
      continue;
    }
    for (int oh = 0; oh < Ho; ++oh) {
      float *yr = yp + (long)oh * Wo;
      for (int ow = 0; ow < Wo; ++ow) yr[ow] = b0;
      for (int ki = 0; ki < kh; ++ki) {
        int ih = oh * sh - ph + ki;
        if (ih < 0 || ih >= Hh) continue;
        for (int kj = 0; kj < kw; ++kj) {
          const float *xr = xp + (long)ih * Ww;
          float wv = wc[ki * kw + kj];
          int lo, hi;
          lk__conv_valid_cols(Ww, Wo, sw, pw, kj, &lo, &hi);
          if (sw == 1) {
            const float *xs = xr - pw + kj + lo; /* in bounds: lo is the first valid column */
            float *ys = yr + lo;
            for (int o = 0; o < hi - lo; ++o) ys[o] += wv * xs[o];
          } else {
            for (int ow = lo; ow < hi; ++ow) yr[ow] += wv * xr[(long)ow * sw - pw + kj];
          }
        }
      }
    }
  }
}

/* The explicit path (im2col in blocks); col: lk_conv2d_workspace_floats as if the implicit path
 * did not apply, or NULL to allocate it here. */
static void lk__conv_explicit(int B, int Cin, int Hh, int Ww, int Cout, int kh, int kw, int sh, int sw, int ph, int pw,
                              int G, int Ho, int Wo, const float *x, const float *w, const float *bias, float *y,
                              float *ws) {
  long HWi = (long)Hh * Ww, HWo = (long)Ho * Wo;
  int cog = Cout / G;
  long kg = (long)Cin / G * kh * kw; /* GEMM K of one group */
  int block = (int)lk__conv_block_rows((long)Cin * kh * kw, Ho, Wo);
  float *col = ws ? ws : lk_scratch_alloc((size_t)lk__conv_col_floats(Cin, kh, kw, Ho, Wo));
  if (!col) { /* out of memory: fail loudly, with NaN, rather than leave garbage in y */
    for (long i = 0; i < (long)B * Cout * HWo; ++i) y[i] = NAN;
    return;
  }
  for (int b = 0; b < B; ++b)
    for (int oh0 = 0; oh0 < Ho; oh0 += block) {
      int oh1 = (int)lk_min_l(oh0 + block, Ho), n = (oh1 - oh0) * Wo;
      float *yb = y + (long)b * Cout * HWo + (long)oh0 * Wo;
      lk__conv_im2col(Cin, Hh, Ww, kh, kw, sh, sw, ph, pw, oh0, oh1, Wo, x + (long)b * Cin * HWi, col);
      for (int g = 0; g < G; ++g)
        lk_gemm_ex(1, cog, n, (int)kg, w + g * cog * kg, 0, kg, 1, col + g * kg * n, 0, n, 1, yb + g * cog * HWo, 0, HWo,
                   0.0f, bias ? bias + g * cog : NULL, NULL);
    }
  if (!ws) lk_scratch_free(col);
}

/* ws: lk_conv2d_workspace_floats(...) floats, or NULL to allocate them for this call.
 * bias may be NULL. y must not overlap x. */
void lk_conv2d(int B, int Cin, int Hh, int Ww, int Cout, int kh, int kw, int sh, int sw, int ph, int pw,
               int groups, const float *x, const float *w, const float *bias, float *y, float *ws) {
  int Ho = (Hh + 2 * ph - kh) / sh + 1, Wo = (Ww + 2 * pw - kw) / sw + 1;
  long HWi = (long)Hh * Ww;
  if (B <= 0 || Ho <= 0 || Wo <= 0) return;
  if (lk__conv_is_1x1(kh, kw, sh, sw, ph, pw, groups)) {
    lk_gemm_ex(B, Cout, (int)HWi, Cin, w, 0, Cin, 1, x, Cin * HWi, HWi, 1, y, Cout * HWi, HWi, 0.0f, bias, NULL);
    return;
  }
  if (groups == Cin && groups == Cout && groups > 1) {
    lk__conv_depthwise(B, Cin, Hh, Ww, kh, kw, sh, sw, ph, pw, Ho, Wo, x, w, bias, y);
    return;
  }
  if (lk__conv_implicit_ok(Cin, Hh, Ww, ph, pw))
    lk__conv_implicit(B, Cin, Hh, Ww, Cout, kh, kw, sh, sw, ph, pw, groups, Ho, Wo, x, w, bias, y);
  else
    lk__conv_explicit(B, Cin, Hh, Ww, Cout, kh, kw, sh, sw, ph, pw, groups, Ho, Wo, x, w, bias, y, ws);
}

/* Reference: the definition, one output at a time, accumulated in double. */
void lk_conv2d_naive(int B, int Cin, int Hh, int Ww, int Cout, int kh, int kw, int sh, int sw, int ph,
                     int pw, int groups, const float *x, const float *w, const float *bias, float *y) {
  int Ho = (Hh + 2 * ph - kh) / sh + 1, Wo = (Ww + 2 * pw - kw) / sw + 1;
  int cig = Cin / groups, cog = Cout / groups;
  for (int b = 0; b < B; ++b)
    for (int co = 0; co < Cout; ++co)
      for (int oh = 0; oh < Ho; ++oh)
        for (int ow = 0; ow < Wo; ++ow) {
          double s = bias ? bias[co] : 0.0;
          int g = co / cog;
          for (int ci = 0; ci < cig; ++ci)
            for (int ki = 0; ki < kh; ++ki)
              for (int kj = 0; kj < kw; ++kj) {
                int ih = oh * sh - ph + ki, iw = ow * sw - pw + kj;
                if (ih < 0 || ih >= Hh || iw < 0 || iw >= Ww) continue;
                s += (double)x[(((long)b * Cin + g * cig + ci) * Hh + ih) * Ww + iw] *
                     w[(((long)co * cig + ci) * kh + ki) * kw + kj];
              }
          y[(((long)b * Cout + co) * Ho + oh) * Wo + ow] = (float)s;
        }
}
