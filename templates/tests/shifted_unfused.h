/* The unfused sequence of *fast* kernels that a model without the `sag` fusion runs for Locally-SAG's
 * block-0 attention, with the same arguments as lk_shifted_local_attention: per variant a shifted
 * image (lk_roll / lk_circular_pad), lk_conv2d, its tokens copied into E [B, T, N, C]; then
 * E += pos (lk_add, broadcast over B), lk_layernorm, two lk_linear (k and v, [B, T, N, Hk·D] each),
 * lk_local_attention. Used by test_shifted.c (checked against the naive reference, so the bench
 * compares with something correct) and bench_shifted.c. Buffers are allocated once, as a model's
 * arena would hold them. */
#ifndef SHIFTED_UNFUSED_H
#define SHIFTED_UNFUSED_H

typedef struct {
  int B, Ci, Hh, Ww, T, mode, C, kh, kw, sh, sw, ph, pw, H, Hk, D, N;
  const int *shifts;
  float *var, *y, *ws, *e, *k, *v;
  size_t bytes[6]; /* sizes of var, y, ws, e, k, v */
} sla_unfused;

/* Returns 0, or −1 if the sizes are invalid (as lk_shifted_local_attention). */
static inline int sla_unfused_init(sla_unfused *u, int B, int Ci, int Hh, int Ww, int T, int mode, const int *shifts,
                            int C, int kh, int kw, int sh, int sw, int ph, int pw, int H, int Hk, int D) {
  lk__sla_geom g;
  long maxv = 0, maxws = 0;
  memset(u, 0, sizeof *u);
  g.B = B; g.Ci = Ci; g.Hh = Hh; g.Ww = Ww; g.T = T; g.mode = mode; g.shifts = shifts; g.C = C;
  g.kh = kh; g.kw = kw; g.sh = sh; g.sw = sw; g.ph = ph; g.pw = pw; g.H = H; g.Hk = Hk; g.D = D;
  if (lk__sla_setup(&g)) return -1;
  u->B = B; u->Ci = Ci; u->Hh = Hh; u->Ww = Ww; u->T = T; u->mode = mode; u->shifts = shifts; u->C = C;
  u->kh = kh; u->kw = kw; u->sh = sh; u->sw = sw; u->ph = ph; u->pw = pw; u->H = H; u->Hk = Hk; u->D = D;
  u->N = g.N;
  for (int t = 0; t < T; ++t) {
    int Hv, Wv, oy, ox;
    lk__sla_variant(&g, t, &Hv, &Wv, &oy, &ox);
    maxv = lk_max_l(maxv, (long)Hv * Wv);
    maxws = lk_max_l(maxws, (long)lk_conv2d_workspace_floats(B, Ci, Hv, Wv, C, kh, kw, sh, sw, ph, pw, 1));
  }
  u->bytes[0] = (size_t)B * Ci * maxv * 4;
  u->bytes[1] = (size_t)B * C * u->N * 4;
  u->bytes[2] = (size_t)maxws * 4;
  u->bytes[3] = (size_t)B * T * u->N * C * 4;
  u->bytes[4] = u->bytes[5] = (size_t)B * T * u->N * Hk * D * 4;
  u->var = lk_scratch_alloc(u->bytes[0] / 4 + 1);
  u->y = lk_scratch_alloc(u->bytes[1] / 4 + 1);
  u->ws = lk_scratch_alloc(u->bytes[2] / 4 + 1);
  u->e = lk_scratch_alloc(u->bytes[3] / 4 + 1);
  u->k = lk_scratch_alloc(u->bytes[4] / 4 + 1);
  u->v = lk_scratch_alloc(u->bytes[5] / 4 + 1);
  return 0;
}

static inline void sla_unfused_free(sla_unfused *u) {
  lk_scratch_free(u->var); lk_scratch_free(u->y); lk_scratch_free(u->ws);
  lk_scratch_free(u->e); lk_scratch_free(u->k); lk_scratch_free(u->v);
}

static inline size_t sla_unfused_largest(const sla_unfused *u) {
  size_t m = 0;
  for (int i = 0; i < 6; ++i) m = u->bytes[i] > m ? u->bytes[i] : m;
  return m;
}
static inline size_t sla_unfused_total(const sla_unfused *u) {
  size_t m = 0;
  for (int i = 0; i < 6; ++i) m += u->bytes[i];
  return m;
}

static inline void sla_unfused_run(sla_unfused *u, const float *img, const float *q, const float *const *cw,
                            const float *const *cb, const float *pos, const float *ln_w, const float *ln_b,
                            float eps, const float *wkv, const float *bkv, float scale, float *out) {
  int B = u->B, T = u->T, C = u->C, N = u->N;
  long HkD = (long)u->Hk * u->D, rows = (long)B * T * N;
  for (int t = 0; t < T; ++t) {
    const int *s = u->shifts + 4 * t;
    int Hv = u->Hh, Wv = u->Ww;
    if (u->mode == LK_SHIFT_ROLL) lk_roll((long)B * u->Ci, u->Hh, u->Ww, s[0], s[1], img, u->var);
    else {
      lk_circular_pad((long)B * u->Ci, u->Hh, u->Ww, s[2], s[3], s[0], s[1], img, u->var);
      Hv += s[2] + s[3];
      Wv += s[0] + s[1];
    }
    lk_conv2d(B, u->Ci, Hv, Wv, C, u->kh, u->kw, u->sh, u->sw, u->ph, u->pw, 1, u->var, cw[t], cb ? cb[t] : NULL,
              u->y, u->ws);
    { /* y [B, C, N] -> e[b, t] [N, C] */
      const long shape[3] = {B, N, C}, sx[3] = {(long)C * N, 1, N}, sy[3] = {(long)T * N * C, C, 1};
      lk_copy_strided(3, shape, u->y, sx, u->e + (long)t * N * C, sy);
    }
  }
  if (pos) {
    const long shape[4] = {B, T, N, C}, se[4] = {(long)T * N * C, (long)N * C, C, 1}, sp[4] = {0, (long)N * C, C, 1};
    lk_add(4, shape, u->e, se, pos, sp, u->e);
  }
  lk_layernorm(rows, C, u->e, ln_w, ln_b, eps, u->e);
  lk_linear((int)rows, C, (int)HkD, u->e, wkv, bkv, u->k);
  lk_linear((int)rows, C, (int)HkD, u->e, wkv + HkD * C, bkv ? bkv + HkD : NULL, u->v);
  lk_local_attention(B, T, N, u->H, u->Hk, u->D, q, u->k, u->v, out, scale);
}
#endif
