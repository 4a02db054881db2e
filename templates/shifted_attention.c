/* locus-requires: prologue.h gemm.c conv.c norm.c layout.c attention.c */
/* Locally-SAG's shifted local attention (stage 1, block 0), fused: for every location, the
 * embeddings of the T shifted variants of the image, + position, LayerNorm, K/V projection, and
 * the softmax over the T variants, without ever building a (B, T, N, C) or (T, N, 2·Hk·D) tensor.
 * (The fast kernel calls nothing outside this file; the other files named above are for the naive
 * reference, which is the unfused sequence built from their naive kernels.)
 *
 * Definition (shapes in the legend of prologue.h; N = Ho·Wo, Kc = Ci·kh·kw, KV = 2·Hk·D):
 *   variant t of image b: roll  (mode LK_SHIFT_ROLL, shifts[t] = {dy, dx, _, _}):
 *                              V_t[y][x] = img[(y − dy) mod Hh][(x − dx) mod Ww],  Hh × Ww;
 *                         pad   (mode LK_SHIFT_PAD, shifts[t] = {l, r, top, bottom}):
 *                              V_t[y][x] = img[(y − top) mod Hh][(x − l) mod Ww],
 *                              (Hh + top + bottom) × (Ww + l + r)  (F.pad mode='circular');
 *   e_t   = conv2d(V_t, cw[t], cb[t], stride sh/sw, zero padding ph/pw) as tokens [N, C];
 *   e_t   = LayerNorm(e_t + pos[t]) over C (biased variance, eps, affine ln_w / ln_b);
 *   k_t   = e_t · Wkv[0:Hk·D]ᵀ + bkv[0:Hk·D],  v_t = e_t · Wkv[Hk·D:KV]ᵀ + bkv[Hk·D:KV];
 *   out[b, n, h·D + d] = Σ_t softmax_t(scale · q[b, n, h] · k_t[n, g]) · v_t[n, g][d],
 *                        g = h / (H / Hk).
 *
 * How: work is split into tasks (image b, tile of LK_SLA_PANELS·NR consecutive tokens). A task
 * keeps everything *transposed*, tokens along the vector lanes: a panel is NR tokens (16 with
 * AVX2) and every intermediate is stored as [rows][NR] per panel. Then
 *   - the products have the weights as the left operand, read in place (cw[t] is [C, Kc] and Wkv
 *     is [KV, C], rows contiguous: nothing to pack), and the right operand is already in the
 *     NR-wide panel layout a register-blocked micro-kernel wants (MR×NR = 6×16 AVX2, as gemm.c);
 *   - the gather of the patches (im2col) writes that layout directly, with the shift and the zero
 *     padding folded into the source index: no shifted image is ever copied;
 *   - LayerNorm, the scores and the online softmax are vertical vector operations over NR tokens
 *     (no horizontal sums), and the per-variant e and v panels are dropped right after the update.
 * Per variant and panel: im2col [Kc][NR] → e = cw[t]·patches + cb[t] [C][NR] → + pos (8×8
 * register transposes) → LayerNorm → v = Wv·e + bv → scores → online softmax update of the H
 * running (max, sum, Σ p·v) accumulators. The scores (see lk__sla_path) normally use the K
 * projection folded into the queries once per tile, q̃_h = Wk_gᵀ·q_h, so that k is never
 * computed. q is transposed into the panel layout once per tile and the result transposed back
 * once per tile.
 *
 * Deterministic: each output element is computed by one thread in a fixed order that does not
 * depend on the thread count. Scratch: per thread, allocated inside the call
 * (lk_shifted_local_attention_scratch_floats() floats each, 64-byte aligned); out of memory fills
 * the affected rows of out with NaN and returns −2. */

#if defined(LOCUS_TARGET_AVX512)
#  define LK_SLA_MR 8
#else
#  define LK_SLA_MR 6
#endif
#define LK_SLA_NV 2                        /* vectors per panel row */
#define LK_SLA_NR (LK_SLA_NV * LK_VW)      /* tokens per panel: 16 AVX2, 32 AVX-512, 8 generic */
#ifndef LK_SLA_PANELS
#  define LK_SLA_PANELS 2                  /* panels per task (tile of 32 tokens with AVX2) */
#endif

/* Geometry shared by the fast kernel and the reference. */
typedef struct {
  int B, Ci, Hh, Ww, T, mode, C, kh, kw, sh, sw, ph, pw, H, Hk, D;
  const int *shifts;
  int Ho, Wo, N, Kc;
} lk__sla_geom;

/* Variant t's image size (Hv × Wv) and the offsets (oy, ox) of V_t[y][x] = img[(y − oy) mod Hh]
 * [(x − ox) mod Ww]. */
static void lk__sla_variant(const lk__sla_geom *g, int t, int *Hv, int *Wv, int *oy, int *ox) {
  const int *s = g->shifts + 4 * t;
  if (g->mode == LK_SHIFT_ROLL) { *Hv = g->Hh; *Wv = g->Ww; *oy = s[0]; *ox = s[1]; }
  else { *Hv = g->Hh + s[2] + s[3]; *Wv = g->Ww + s[0] + s[1]; *oy = s[2]; *ox = s[0]; }
}

/* Checks the arguments and fills the derived sizes; 0 when valid, −1 otherwise (sizes ≤ 0, H not
 * a multiple of Hk, unknown mode, or variants whose conv outputs differ in size). */
static int lk__sla_setup(lk__sla_geom *g) {
  if (g->B < 0 || g->Ci <= 0 || g->Hh <= 0 || g->Ww <= 0 || g->T <= 0 || g->C <= 0 || g->kh <= 0 ||
      g->kw <= 0 || g->sh <= 0 || g->sw <= 0 || g->ph < 0 || g->pw < 0 || g->H <= 0 || g->Hk <= 0 ||
      g->D <= 0 || g->H % g->Hk != 0 || !g->shifts || (g->mode != LK_SHIFT_ROLL && g->mode != LK_SHIFT_PAD))
    return -1;
  for (int t = 0; t < g->T; ++t) {
    int Hv, Wv, oy, ox, Ho, Wo;
    lk__sla_variant(g, t, &Hv, &Wv, &oy, &ox);
    if (Hv <= 0 || Wv <= 0 || Hv + 2 * g->ph < g->kh || Wv + 2 * g->pw < g->kw) return -1;
    Ho = (Hv + 2 * g->ph - g->kh) / g->sh + 1;
    Wo = (Wv + 2 * g->pw - g->kw) / g->sw + 1;
    if (t == 0) { g->Ho = Ho; g->Wo = Wo; }
    else if (Ho != g->Ho || Wo != g->Wo) return -1;
  }
  g->N = g->Ho * g->Wo;
  g->Kc = g->Ci * g->kh * g->kw;
  return 0;
}

/* How the scores are computed (multiply-adds per token, in units of C):
 *   LK__SLA_VONLY (T = 1): no scores at all (a softmax over one variant is 1): only v is projected;
 *   LK__SLA_FOLD: the K projection folded into the queries once per tile, q̃_h = Wk_gᵀ·q_h [C] and
 *     q_h·bk_g, then score_t = q̃_h·e_t + q_h·bk_g: H·D once + T·H per variant, instead of
 *     T·Hk·D for projecting k (Locally-SAG CIFAR: 264 instead of 864, ImageNet: 232 vs 1920);
 *   LK__SLA_KV: project k and v (2·Hk·D rows), score = q·k; when that is cheaper (few variants
 *     and many query heads per kv head). */
enum { LK__SLA_VONLY, LK__SLA_FOLD, LK__SLA_KV };
static int lk__sla_path(int T, int H, int Hk, int D) {
  if (T == 1) return LK__SLA_VONLY;
  return (long)H * D + (long)T * H <= (long)T * Hk * D ? LK__SLA_FOLD : LK__SLA_KV;
}

static long lk__sla_mod(long a, long m) { long r = a % m; return r < 0 ? r + m : r; }

/* Per-thread scratch (floats; each part rounded to 16 so every part is 64-byte aligned):
 *   patch [P][Kc][NR], e [P][Cr][NR], kv [P][KVr][NR] (v, or k then v), qt and acc [P][H·D][NR],
 *   ml [P][2·H][NR] (running max, running sum), qf [P][H][Cr][NR] and qb [P][H][NR] (LK__SLA_FOLD
 *   only), sc [2][H][NR] (scores, then softmax factors), and the gather tables (kh + kw)·NR ints.
 * Cr, KVr: C and the projected rows rounded up to MR (the micro-kernel writes whole row blocks). */
typedef struct { float *patch, *e, *kv, *qt, *acc, *ml, *qf, *qb, *sc; int *rowoff, *coloff; } lk__sla_scratch;

static long lk__sla_kvrows(int path, int Hk, int D) { return (path == LK__SLA_KV ? 2L : 1L) * Hk * D; }

static size_t lk__sla_parts(const lk__sla_geom *g, lk__sla_scratch *s, float *base) {
  const long P = LK_SLA_PANELS, NR = LK_SLA_NR;
  int path = lk__sla_path(g->T, g->H, g->Hk, g->D), fold = path == LK__SLA_FOLD;
  long Cr = lk_round_up(g->C, LK_SLA_MR), KVr = lk_round_up(lk__sla_kvrows(path, g->Hk, g->D), LK_SLA_MR);
  long HD = (long)g->H * g->D, sz[10], off = 0;
  float **dst[9];
  sz[0] = P * g->Kc * NR; sz[1] = P * Cr * NR; sz[2] = P * KVr * NR; sz[3] = P * HD * NR; sz[4] = P * HD * NR;
  sz[5] = P * 2 * g->H * NR; sz[6] = fold ? P * g->H * Cr * NR : 0; sz[7] = fold ? P * g->H * NR : 0;
  sz[8] = 2L * g->H * NR; sz[9] = ((long)g->kh + g->kw) * NR;
  dst[0] = &s->patch; dst[1] = &s->e; dst[2] = &s->kv; dst[3] = &s->qt; dst[4] = &s->acc; dst[5] = &s->ml;
  dst[6] = &s->qf; dst[7] = &s->qb; dst[8] = &s->sc;
  for (int i = 0; i < 10; ++i) {
    if (base && i < 9) *dst[i] = base + off;
    if (base && i == 9) { s->rowoff = (int *)(void *)(base + off); s->coloff = s->rowoff + (long)g->kh * NR; }
    off += lk_round_up(sz[i], 16); /* ints: sizeof(int) == sizeof(float) on every supported target */
  }
  return (size_t)off;
}

/* c[MR][NR] = bias[i] + Σ_k ar[i][k·ks] · bp[k][0:NR]: one register tile, MR weight rows (any
 * element stride ks) against one panel of NR tokens. Per k: NV vector loads, MR broadcasts and
 * MR·NV FMAs into MR·NV accumulators (AVX2: 12 + 2 + 1 = 15 ymm). */
static inline void lk__sla_tile(int K, const float *const *ar, long ks, const float *restrict bp,
                                const float *bias, float *restrict c) {
  lk_vf acc[LK_SLA_MR][LK_SLA_NV];
  for (int i = 0; i < LK_SLA_MR; ++i)
    for (int v = 0; v < LK_SLA_NV; ++v) acc[i][v] = lk_vset1(bias[i]);
  for (long k = 0; k < K; ++k) {
    lk_vf b[LK_SLA_NV];
    for (int v = 0; v < LK_SLA_NV; ++v) b[v] = lk_vload(bp + k * LK_SLA_NR + v * LK_VW);
    for (int i = 0; i < LK_SLA_MR; ++i) {
      lk_vf a = lk_vset1(ar[i][k * ks]);
      for (int v = 0; v < LK_SLA_NV; ++v) acc[i][v] += a * b[v];
    }
  }
  for (int i = 0; i < LK_SLA_MR; ++i)
    for (int v = 0; v < LK_SLA_NV; ++v) lk_vstore(c + (long)i * LK_SLA_NR + v * LK_VW, acc[i][v]);
}

/* out_p[M][NR] = W·in_p + bias for panels p < np: W(i, k) = W[i·rs + k·ks] (M × K), in_p [K][NR] at
 * in + p·in_ps, out_p at out + p·out_ps with rows up to M rounded up to MR written (the extra rows
 * repeat row M − 1: finite, never read). bias [M] or NULL. Weight rows outer, panels inner: the MR
 * rows of W stay in L1 while the panels stream. */
static void lk__sla_product(int M, int K, const float *W, long rs, long ks, const float *bias, const float *in,
                            long in_ps, float *out, long out_ps, int np) {
  for (int i0 = 0; i0 < M; i0 += LK_SLA_MR) {
    const float *ar[LK_SLA_MR];
    float bi[LK_SLA_MR];
    for (int i = 0; i < LK_SLA_MR; ++i) {
      int r = (int)lk_min_l(i0 + i, M - 1);
      ar[i] = W + r * rs;
      bi[i] = bias ? bias[r] : 0.0f;
    }
    for (int p = 0; p < np; ++p)
      lk__sla_tile(K, ar, ks, in + p * in_ps, bi, out + p * out_ps + (long)i0 * LK_SLA_NR);
  }
}

/* a mod m for a within a few periods of [0, m) (the loop runs at most a handful of times). */
static inline int lk__sla_wrap(int a, int m) {
  while (a < 0) a += m;
  while (a >= m) a -= m;
  return a;
}

/* Patches of one panel, transposed: d[(ci·kh + ki)·kw + kj][j] = V_t[b, ci, y, x] with
 * y = oh·sh − ph + ki, x = ow·sw − pw + kj for token n0 + j = oh·Wo + ow (zero outside the variant
 * image, i.e. the conv's zero padding, and for the nv ≤ j < NR tokens past the end). The shift is
 * only index arithmetic on img: tables of source row offsets (per ki) and columns (per kj), −1 when
 * outside. A (ki, kj) whose NR sources are one contiguous run of a row (same row, consecutive
 * columns: most of them for stride 1) is a plain copy; the others are gathered. oy, ox must be
 * reduced mod Hh, Ww by the caller. */
static void lk__sla_im2col(const lk__sla_geom *g, const float *img_b, int Hv, int Wv, int oy, int ox,
                           int n0, int nv, const lk__sla_scratch *s, float *d) {
  const int NR = LK_SLA_NR;
  int *ro = s->rowoff, *co = s->coloff, oh = n0 / g->Wo, ow = n0 % g->Wo;
  unsigned long long rowrun = 0, colrun = 0; /* bit ki / kj: the table is one run (first 64 taps) */
  for (int j = 0; j < NR; ++j) {
    int y0 = oh * g->sh - g->ph, x0 = ow * g->sw - g->pw;
    for (int ki = 0; ki < g->kh; ++ki) {
      int y = y0 + ki;
      ro[ki * NR + j] = j < nv && y >= 0 && y < Hv ? lk__sla_wrap(y - oy, g->Hh) * g->Ww : -1;
    }
    for (int kj = 0; kj < g->kw; ++kj) {
      int x = x0 + kj;
      co[kj * NR + j] = j < nv && x >= 0 && x < Wv ? lk__sla_wrap(x - ox, g->Ww) : -1;
    }
    if (++ow == g->Wo) { ow = 0; ++oh; }
  }
  for (int ki = 0; ki < g->kh && ki < 64; ++ki) {
    int ok = ro[ki * NR] >= 0;
    for (int j = 1; j < NR; ++j) ok &= ro[ki * NR + j] == ro[ki * NR];
    rowrun |= (unsigned long long)ok << ki;
  }
  for (int kj = 0; kj < g->kw && kj < 64; ++kj) {
    int ok = co[kj * NR] >= 0;
    for (int j = 1; j < NR; ++j) ok &= co[kj * NR + j] == co[kj * NR] + j;
    colrun |= (unsigned long long)ok << kj;
  }
  for (int ci = 0; ci < g->Ci; ++ci) {
    const float *plane = img_b + (long)ci * g->Hh * g->Ww;
    for (int ki = 0; ki < g->kh; ++ki) {
      const int *r = ro + ki * NR;
      for (int kj = 0; kj < g->kw; ++kj) {
        const int *c = co + kj * NR;
        float *dk = d + ((long)(ci * g->kh + ki) * g->kw + kj) * NR;
        if (ki < 64 && kj < 64 && (rowrun >> ki & colrun >> kj & 1))
          memcpy(dk, plane + r[0] + c[0], (size_t)NR * sizeof(float));
        else
          for (int j = 0; j < NR; ++j) dk[j] = (r[j] | c[j]) >= 0 ? plane[r[j] + c[j]] : 0.0f;
      }
    }
  }
}

/* x[c][j] += pos[j·C + c] for c < C, j < nv (pos at the panel's first token; NULL: nothing to add),
 * and sum[j] = Σ_c x[c][j] afterwards (LayerNorm's first pass, fused). Full panels go 8×8 through
 * register transposes (lk_transpose8, shared with gemm.c's B packing). */
static void lk__sla_add_pos(float *x, const float *pos, const float *next, int C, int nv, float *sum) {
  lk_v8 acc[LK_SLA_NR / 8];
  int c0 = 0;
  memset(acc, 0, sizeof acc);
  if (nv == LK_SLA_NR && pos)
    for (; c0 + 8 <= C; c0 += 8)
      for (int j0 = 0; j0 < LK_SLA_NR; j0 += 8) {
        lk_v8 r[8], o[8];
        for (int i = 0; i < 8; ++i) memcpy(&r[i], pos + (long)(j0 + i) * C + c0, sizeof r[i]);
        if (next && c0 % 16 == 0)
          for (int i = 0; i < 8; ++i) __builtin_prefetch(next + (long)(j0 + i) * C + c0, 0, 3);
        lk_transpose8(r, o);
        for (int i = 0; i < 8; ++i) {
          float *xr = x + (long)(c0 + i) * LK_SLA_NR + j0;
          memcpy(&r[i], xr, sizeof r[i]);
          r[i] += o[i];
          memcpy(xr, &r[i], sizeof r[i]);
        }
        acc[j0 / 8] += ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
      }
  memcpy(sum, acc, sizeof acc);
  for (; c0 < C; ++c0) {
    float *xr = x + (long)c0 * LK_SLA_NR;
    if (pos)
      for (int j = 0; j < nv; ++j) xr[j] += pos[(long)j * C + c0];
    for (int j = 0; j < LK_SLA_NR; ++j) sum[j] += xr[j];
  }
}

/* LayerNorm of the NR tokens of a panel x[C][NR] over C, in place, given sum[j] = Σ_c x[c][j]:
 * norm.c's corrected two-pass algorithm, one lane per token (all NV vectors of the panel in one
 * loop, with two accumulators each, so the sums are not add-latency bound). */
static void lk__sla_layernorm(float *x, int C, const float *w, const float *b, float eps, const float *sum) {
  const long NR = LK_SLA_NR;
  lk_vf m[LK_SLA_NV], dl[LK_SLA_NV], rs[LK_SLA_NV], s0[LK_SLA_NV], s1[LK_SLA_NV], q0[LK_SLA_NV], q1[LK_SLA_NV];
  int c = 0;
  for (int v = 0; v < LK_SLA_NV; ++v) {
    m[v] = lk_vload(sum + v * LK_VW) / (float)C;
    s0[v] = s1[v] = q0[v] = q1[v] = lk_vzero();
  }
  for (; c + 2 <= C; c += 2)
    for (int v = 0; v < LK_SLA_NV; ++v) {
      lk_vf d0 = lk_vload(x + c * NR + v * LK_VW) - m[v], d1 = lk_vload(x + (c + 1) * NR + v * LK_VW) - m[v];
      s0[v] += d0; s1[v] += d1;
      q0[v] += d0 * d0; q1[v] += d1 * d1;
    }
  for (int v = 0; v < LK_SLA_NV; ++v) {
    lk_vf var;
    if (c < C) { lk_vf d0 = lk_vload(x + c * NR + v * LK_VW) - m[v]; s0[v] += d0; q0[v] += d0 * d0; }
    dl[v] = (s0[v] + s1[v]) / (float)C;
    var = (q0[v] + q1[v]) / (float)C - dl[v] * dl[v];
    for (int l = 0; l < LK_VW; ++l) rs[v][l] = 1.0f / sqrtf((var[l] > 0.0f ? var[l] : 0.0f) + eps);
  }
  for (c = 0; c < C; ++c) {
    float wc = w ? w[c] : 1.0f, bc = b ? b[c] : 0.0f;
    for (int v = 0; v < LK_SLA_NV; ++v) {
      float *xp = x + c * NR + v * LK_VW;
      lk_vstore(xp, (lk_vload(xp) - m[v] - dl[v]) * (rs[v] * wc) + bc); /* (x − m) − δ, as norm.c */
    }
  }
}

/* sc[h][NR] = scale · q_h · k_g (LK__SLA_KV): qt [H·D][NR], kt [Hk·D][NR]. */
static void lk__sla_scores_qk(int H, int Hk, int D, float scale, const float *qt, const float *kt, float *sc) {
  const long NR = LK_SLA_NR;
  for (int h = 0; h < H; ++h) {
    const float *qh = qt + (long)h * D * NR, *kh = kt + (long)(h / (H / Hk)) * D * NR;
    lk_vf s[2][LK_SLA_NV];
    int d = 0;
    for (int v = 0; v < LK_SLA_NV; ++v) s[0][v] = s[1][v] = lk_vzero();
    for (; d + 2 <= D; d += 2)
      for (int v = 0; v < LK_SLA_NV; ++v) {
        s[0][v] += lk_vload(qh + d * NR + v * LK_VW) * lk_vload(kh + d * NR + v * LK_VW);
        s[1][v] += lk_vload(qh + (d + 1) * NR + v * LK_VW) * lk_vload(kh + (d + 1) * NR + v * LK_VW);
      }
    for (int v = 0; v < LK_SLA_NV; ++v) {
      if (d < D) s[0][v] += lk_vload(qh + d * NR + v * LK_VW) * lk_vload(kh + d * NR + v * LK_VW);
      lk_vstore(sc + h * NR + v * LK_VW, (s[0][v] + s[1][v]) * scale);
    }
  }
}

/* sc[h][NR] = scale · (q̃_h · e + qb_h) (LK__SLA_FOLD): qf [H][Cr][NR], e [C][NR], qb [H][NR].
 * Four heads at a time share each load of e (4·NV independent accumulators). */
static void lk__sla_scores_fold(int H, int C, long Cr, float scale, const float *qf, const float *qb, const float *e,
                                float *sc) {
  const long NR = LK_SLA_NR;
  for (int h0 = 0; h0 < H; h0 += 4) {
    int hn = (int)lk_min_l(4, H - h0);
    lk_vf s[4][LK_SLA_NV];
    for (int i = 0; i < 4; ++i)
      for (int v = 0; v < LK_SLA_NV; ++v) s[i][v] = lk_vzero();
    if (hn == 4) {
      for (int c = 0; c < C; ++c)
        for (int v = 0; v < LK_SLA_NV; ++v) {
          lk_vf ev = lk_vload(e + c * NR + v * LK_VW);
          for (int i = 0; i < 4; ++i) s[i][v] += lk_vload(qf + ((h0 + i) * Cr + c) * NR + v * LK_VW) * ev;
        }
    } else {
      for (int c = 0; c < C; ++c)
        for (int v = 0; v < LK_SLA_NV; ++v) {
          lk_vf ev = lk_vload(e + c * NR + v * LK_VW);
          for (int i = 0; i < hn; ++i) s[i][v] += lk_vload(qf + ((h0 + i) * Cr + c) * NR + v * LK_VW) * ev;
        }
    }
    for (int i = 0; i < hn; ++i)
      for (int v = 0; v < LK_SLA_NV; ++v)
        lk_vstore(sc + (h0 + i) * NR + v * LK_VW, (s[i][v] + lk_vload(qb + (h0 + i) * NR + v * LK_VW)) * scale);
  }
}

/* One variant's online-softmax update of a panel, all heads: running max mx and sum sm [H][NR],
 * acc [H·D][NR] += weights · v_g (vt [Hk·D][NR]). sc holds the scores (ignored when first or when
 * there is no score, sc == NULL: weight 1), sc + H·NR the rescale factors. */
static void lk__sla_update(int first, int H, int Hk, int D, float *sc, const float *vt, float *acc, float *mx,
                           float *sm) {
  const long NR = LK_SLA_NR;
  int group = H / Hk;
  if (first) {
    for (int h = 0; h < H; ++h) {
      memcpy(acc + (long)h * D * NR, vt + (long)(h / group) * D * NR, (size_t)(D * NR) * sizeof(float));
      for (int j = 0; j < NR; ++j) { mx[h * NR + j] = sc ? sc[h * NR + j] : 0.0f; sm[h * NR + j] = 1.0f; }
    }
    return;
  }
  /* The 2·H·NV exponentials first (independent: they overlap), then the streaming updates. */
  for (int h = 0; h < H; ++h)
    for (int v = 0; v < LK_SLA_NV; ++v) {
      long o = h * NR + v * LK_VW;
      lk_vf s = lk_vload(sc + o), m0 = lk_vload(mx + o), m1 = lk_vmax(m0, s);
      lk_vf alpha = lk_vexp(m0 - m1), p = lk_vexp(s - m1);
      lk_vstore(mx + o, m1);
      lk_vstore(sm + o, lk_vload(sm + o) * alpha + p);
      lk_vstore(sc + o, p);
      lk_vstore(sc + H * NR + o, alpha);
    }
  for (int h = 0; h < H; ++h) {
    const float *vh = vt + (long)(h / group) * D * NR;
    float *ah = acc + (long)h * D * NR;
    lk_vf p[LK_SLA_NV], alpha[LK_SLA_NV];
    for (int v = 0; v < LK_SLA_NV; ++v) {
      p[v] = lk_vload(sc + h * NR + v * LK_VW);
      alpha[v] = lk_vload(sc + (H + h) * NR + v * LK_VW);
    }
    for (int d = 0; d < D; ++d)
      for (int v = 0; v < LK_SLA_NV; ++v) {
        float *a = ah + d * NR + v * LK_VW;
        lk_vstore(a, lk_vload(a) * alpha[v] + p[v] * lk_vload(vh + d * NR + v * LK_VW));
      }
  }
}

/* Starts fetching n floats at p into the caches. The rows of pos a panel needs (12 KiB per 16
 * tokens at C = 192, contiguous, in a 14 MB tensor at CIFAR's shape) are read as 8×8 blocks down 16
 * rows at once, a pattern the hardware prefetcher does not follow: variant 0's rows are fetched
 * here at the start of a tile, every later variant's by lk__sla_add_pos while it reads the
 * previous one (3-5% faster at CIFAR's shape than without prefetching). */
static void lk__sla_prefetch(const float *p, long n) {
  for (long i = 0; i < n; i += 16) __builtin_prefetch(p + i, 0, 3);
}

/* Per-thread scratch of lk_shifted_local_attention, in floats (allocated inside the call). */
size_t lk_shifted_local_attention_scratch_floats(int T, int Ci, int kh, int kw, int C, int H, int Hk, int D) {
  lk__sla_geom g;
  memset(&g, 0, sizeof g);
  g.T = T; g.Ci = Ci; g.kh = kh; g.kw = kw; g.C = C; g.H = H; g.Hk = Hk; g.D = D; g.Kc = Ci * kh * kw;
  return lk__sla_parts(&g, NULL, NULL);
}

/* Arguments, in order:
 *   B, Ci, Hh, Ww        img [B, Ci, Hh, Ww] (NCHW, dense)
 *   T, mode, shifts      T variants; mode LK_SHIFT_ROLL or LK_SHIFT_PAD; shifts int [T][4]:
 *                        roll {dy, dx, 0, 0} (torch.roll semantics), pad {l, r, top, bottom}
 *                        (F.pad circular; one-sided in the model, any non-negative pads work);
 *                        shifts[0] is normally {0,0,0,0} (any value is honoured)
 *   C, kh, kw, sh, sw, ph, pw   the variants' convs: cw[t] [C, Ci, kh, kw], cb[t] [C] (cb or any
 *                        cb[t] may be NULL: no bias), stride, symmetric zero padding; every variant
 *                        must give the same Ho × Wo, N = Ho·Wo
 *   H, Hk, D             query heads, kv heads (H % Hk == 0), head dim
 *   img, q               q [B, N, H·D] dense (already projected)
 *   cw, cb               arrays of T pointers
 *   pos                  [T, N, C] (per-variant position embedding; NULL: none)
 *   ln_w, ln_b, eps      LayerNorm over C ([C] each; NULL: no affine)
 *   wkv, bkv             [2·Hk·D, C] (rows 0..Hk·D−1 are K, the rest V; head j of each is rows
 *                        j·D..j·D+D−1), [2·Hk·D] (NULL: no bias)
 *   scale                score scale, usually 1/√D
 *   out                  [B, N, H·D] dense; must not overlap the inputs
 * Returns 0; −1 (out untouched) for invalid sizes or variants of different output sizes; −2 when
 * scratch could not be allocated (the affected rows of out are NaN). */
int lk_shifted_local_attention(int B, int Ci, int Hh, int Ww, int T, int mode, const int *shifts, int C,
                               int kh, int kw, int sh, int sw, int ph, int pw, int H, int Hk, int D,
                               const float *img, const float *q, const float *const *cw,
                               const float *const *cb, const float *pos, const float *ln_w,
                               const float *ln_b, float eps, const float *wkv, const float *bkv,
                               float scale, float *out) {
  lk__sla_geom g;
  long tiles, tasks, HD = (long)H * D, HkD = (long)Hk * D, NR = LK_SLA_NR, TM = (long)LK_SLA_PANELS * LK_SLA_NR;
  int err = 0, path;
  g.B = B; g.Ci = Ci; g.Hh = Hh; g.Ww = Ww; g.T = T; g.mode = mode; g.shifts = shifts; g.C = C;
  g.kh = kh; g.kw = kw; g.sh = sh; g.sw = sw; g.ph = ph; g.pw = pw; g.H = H; g.Hk = Hk; g.D = D;
  if (lk__sla_setup(&g)) return -1;
  if (B == 0) return 0;
  path = lk__sla_path(T, H, Hk, D);
  tiles = lk_ceil_div(g.N, TM);
  tasks = (long)B * tiles;
  /* Work ≈ the conv and V products: B·T·N·(Kc + Hk·D)·C multiply-adds. */
  LK_OMP(parallel reduction(|:err) if(tasks > 1 && (double)B * T * g.N * (g.Kc + HkD) * C >= LK_GEMM_PAR_MIN))
  {
    lk__sla_scratch s;
    long t0, t1;
    size_t floats = lk__sla_parts(&g, &s, NULL);
    float *ws = lk_scratch_alloc(floats);
    long Cr = lk_round_up(C, LK_SLA_MR), KVr = lk_round_up(lk__sla_kvrows(path, Hk, D), LK_SLA_MR);
    /* the V rows of Wkv and bkv, and where v sits in the projected panel */
    const float *wv = wkv + HkD * C, *bv = bkv ? bkv + HkD : NULL;
    long voff = path == LK__SLA_KV ? HkD * NR : 0;
    if (ws) {
      memset(ws, 0, floats * sizeof(float)); /* no uninitialised reads anywhere, even of pad lanes */
      lk__sla_parts(&g, &s, ws);
    }
    lk_split(tasks, lk_team_size(), lk_thread_id(), &t0, &t1);
    for (long task = t0; task < t1; ++task) {
      int b = (int)(task / tiles), n0 = (int)(task % tiles * TM);
      int ntok = (int)lk_min_l(TM, g.N - n0), np = (int)lk_ceil_div(ntok, NR);
      const float *img_b = img + (long)b * Ci * Hh * Ww;
      float *ob = out + ((long)b * g.N + n0) * HD;
      if (!ws) {
        for (long i = 0; i < ntok * HD; ++i) ob[i] = NAN;
        err |= 2;
        continue;
      }
      /* q of the tile into the panel layout, qt[p][hd][j]; lanes past the end are 0. */
      for (int p = 0; p < np; ++p) {
        float *qp = s.qt + p * HD * NR;
        int nv = (int)lk_min_l(NR, ntok - p * NR);
        const float *qr = q + ((long)b * g.N + n0 + p * NR) * HD;
        for (int j = 0; j < nv; ++j)
          for (long i = 0; i < HD; ++i) qp[i * NR + j] = qr[j * HD + i];
        for (int j = nv; j < NR; ++j)
          for (long i = 0; i < HD; ++i) qp[i * NR + j] = 0.0f;
      }
      if (pos) lk__sla_prefetch(pos + (long)n0 * C, (long)ntok * C);
      if (path == LK__SLA_FOLD)
        for (int h = 0; h < H; ++h) {
          /* q̃_h[c] = Σ_d Wk[gD + d, c]·q_h[d]: the product with W(c, d) = wkv[(gD + d)·C + c] */
          long g0 = (long)(h / (H / Hk)) * D;
          lk__sla_product(C, D, wkv + g0 * C, 1, C, NULL, s.qt + h * D * NR, HD * NR, s.qf + h * Cr * NR, H * Cr * NR, np);
          for (int p = 0; p < np; ++p) {
            const float *qh = s.qt + p * HD * NR + h * D * NR;
            for (int v = 0; v < LK_SLA_NV; ++v) {
              lk_vf a = lk_vzero();
              if (bkv)
                for (int d = 0; d < D; ++d) a += lk_vload(qh + d * NR + v * LK_VW) * bkv[g0 + d];
              lk_vstore(s.qb + (p * H + h) * NR + v * LK_VW, a);
            }
          }
        }
      for (int t = 0; t < T; ++t) {
        int Hv, Wv, oy, ox;
        lk__sla_variant(&g, t, &Hv, &Wv, &oy, &ox);
        oy = (int)lk__sla_mod(oy, Hh);
        ox = (int)lk__sla_mod(ox, Ww);
        for (int p = 0; p < np; ++p)
          lk__sla_im2col(&g, img_b, Hv, Wv, oy, ox, n0 + p * (int)NR, (int)lk_min_l(NR, ntok - p * NR), &s,
                         s.patch + p * g.Kc * NR);
        lk__sla_product(C, g.Kc, cw[t], g.Kc, 1, cb ? cb[t] : NULL, s.patch, g.Kc * NR, s.e, Cr * NR, np);
        for (int p = 0; p < np; ++p) {
          float *ep = s.e + p * Cr * NR;
          lk__sla_add_pos(ep, pos ? pos + ((long)t * g.N + n0 + p * NR) * C : NULL,
                          pos && t + 1 < T ? pos + ((long)(t + 1) * g.N + n0 + p * NR) * C : NULL, C,
                          (int)lk_min_l(NR, ntok - p * NR), s.sc);
          lk__sla_layernorm(ep, C, ln_w, ln_b, eps, s.sc);
        }
        if (path == LK__SLA_KV) lk__sla_product((int)(2 * HkD), C, wkv, C, 1, bkv, s.e, Cr * NR, s.kv, KVr * NR, np);
        else lk__sla_product((int)HkD, C, wv, C, 1, bv, s.e, Cr * NR, s.kv, KVr * NR, np);
        for (int p = 0; p < np; ++p) {
          const float *kvp = s.kv + p * KVr * NR;
          float *sc = path == LK__SLA_VONLY ? NULL : s.sc;
          if (path == LK__SLA_KV) lk__sla_scores_qk(H, Hk, D, scale, s.qt + p * HD * NR, kvp, s.sc);
          if (path == LK__SLA_FOLD)
            lk__sla_scores_fold(H, C, Cr, scale, s.qf + p * H * Cr * NR, s.qb + p * H * NR, s.e + p * Cr * NR, s.sc);
          lk__sla_update(t == 0, H, Hk, D, sc, kvp + voff, s.acc + p * HD * NR, s.ml + p * 2 * H * NR,
                         s.ml + (p * 2 + 1) * H * NR);
        }
      }
      /* out = acc / sum, back to tokens-major. */
      for (int p = 0; p < np; ++p) {
        const float *ap = s.acc + p * HD * NR, *sm = s.ml + (p * 2 + 1) * H * NR;
        int nv = (int)lk_min_l(NR, ntok - p * NR);
        float *orow = ob + p * NR * HD;
        for (int j = 0; j < nv; ++j)
          for (int h = 0; h < H; ++h) {
            float l = sm[h * NR + j];
            for (int d = 0; d < D; ++d) orow[j * HD + h * D + d] = ap[((long)h * D + d) * NR + j] / l;
          }
      }
    }
    lk_scratch_free(ws);
  }
  return err ? -2 : 0;
}

/* Reference, the unfused sequence straight from the definition: materialise each variant
 * (lk_roll_naive / lk_circular_pad_naive), naive conv, + pos, naive LayerNorm, naive GEMMs for k
 * and v into [B, T, N, Hk·D], then lk_local_attention_naive (explicit softmax over T, in double).
 * Same arguments and return values as the fast kernel. The naive kernels of the other files are
 * declared here because prologue.h only declares the fast ones. */
void lk_roll_naive(long P, int Hh, int Ww, int dy, int dx, const float *x, float *y);
void lk_circular_pad_naive(long P, int Hh, int Ww, int top, int bottom, int left, int right, const float *x, float *y);
void lk_conv2d_naive(int B, int Cin, int Hh, int Ww, int Cout, int kh, int kw, int sh, int sw, int ph,
                     int pw, int groups, const float *x, const float *w, const float *bias, float *y);
void lk_layernorm_naive(long rows, int C, const float *x, const float *w, const float *b, float eps, float *y);
void lk_gemm_ex_naive(int batch, int M, int N, int K, const float *A, long bsa, long rsa, long csa,
                      const float *B, long bsb, long rsb, long csb, float *C, long bsc, long rsc,
                      float beta, const float *bias_m, const float *bias_n);
void lk_local_attention_naive(int B, int T, int N, int H, int Hk, int D, const float *q, const float *k,
                              const float *v, float *out, float scale);

int lk_shifted_local_attention_naive(int B, int Ci, int Hh, int Ww, int T, int mode, const int *shifts, int C,
                                     int kh, int kw, int sh, int sw, int ph, int pw, int H, int Hk, int D,
                                     const float *img, const float *q, const float *const *cw,
                                     const float *const *cb, const float *pos, const float *ln_w,
                                     const float *ln_b, float eps, const float *wkv, const float *bkv,
                                     float scale, float *out) {
  lk__sla_geom g;
  long maxv = 0, N, HkD = (long)Hk * D, rows;
  float *var, *y, *e, *k, *v;
  g.B = B; g.Ci = Ci; g.Hh = Hh; g.Ww = Ww; g.T = T; g.mode = mode; g.shifts = shifts; g.C = C;
  g.kh = kh; g.kw = kw; g.sh = sh; g.sw = sw; g.ph = ph; g.pw = pw; g.H = H; g.Hk = Hk; g.D = D;
  if (lk__sla_setup(&g)) return -1;
  if (B == 0) return 0;
  N = g.N;
  rows = (long)B * T * N;
  for (int t = 0; t < T; ++t) {
    int Hv, Wv, oy, ox;
    lk__sla_variant(&g, t, &Hv, &Wv, &oy, &ox);
    maxv = lk_max_l(maxv, (long)Hv * Wv);
  }
  var = (float *)malloc((size_t)B * Ci * maxv * sizeof(float));
  y = (float *)malloc((size_t)B * C * N * sizeof(float));
  e = (float *)malloc((size_t)rows * C * sizeof(float));
  k = (float *)malloc((size_t)rows * HkD * sizeof(float));
  v = (float *)malloc((size_t)rows * HkD * sizeof(float));
  if (!var || !y || !e || !k || !v) {
    for (long i = 0; i < (long)B * N * H * D; ++i) out[i] = NAN;
    free(var); free(y); free(e); free(k); free(v);
    return -2;
  }
  for (int t = 0; t < T; ++t) {
    int Hv, Wv, oy, ox;
    const int *sh4 = shifts + 4 * t;
    lk__sla_variant(&g, t, &Hv, &Wv, &oy, &ox);
    if (mode == LK_SHIFT_ROLL) lk_roll_naive((long)B * Ci, Hh, Ww, sh4[0], sh4[1], img, var);
    else lk_circular_pad_naive((long)B * Ci, Hh, Ww, sh4[2], sh4[3], sh4[0], sh4[1], img, var);
    lk_conv2d_naive(B, Ci, Hv, Wv, C, kh, kw, sh, sw, ph, pw, 1, var, cw[t], cb ? cb[t] : NULL, y);
    for (int b = 0; b < B; ++b)
      for (long n = 0; n < N; ++n)
        for (int c = 0; c < C; ++c)
          e[(((long)b * T + t) * N + n) * C + c] =
              y[((long)b * C + c) * N + n] + (pos ? pos[((long)t * N + n) * C + c] : 0.0f);
  }
  lk_layernorm_naive(rows, C, e, ln_w, ln_b, eps, e);
  lk_gemm_ex_naive(1, (int)rows, (int)HkD, C, e, 0, C, 1, wkv, 0, 1, C, k, 0, HkD, 0.0f, NULL, bkv);
  lk_gemm_ex_naive(1, (int)rows, (int)HkD, C, e, 0, C, 1, wkv + HkD * C, 0, 1, C, v, 0, HkD, 0.0f, NULL,
                   bkv ? bkv + HkD : NULL);
  lk_local_attention_naive(B, T, (int)N, H, Hk, D, q, k, v, out, scale);
  free(var); free(y); free(e); free(k); free(v);
  return 0;
}
