#define _POSIX_C_SOURCE 200112L /* clock_gettime in -std=c99 */
/* lk_shifted_local_attention (shifted_attention.c) against its unfused naive reference, on both shift
 * modes (roll: the CIFAR offsets incl. negative ones; one-sided circular pad: the ImageNet pads),
 * T = 1, 3, 10, 18, C 16-64 (also not multiples of 8), Hk = 1, Hk = H and in between, 3×3/s1/p1
 * convs on 8×8..16×16 images and 9×9/s7/p1 on 64×64, B = 1 and 2. Plus checks that need no
 * reference: T = 1 gives v_0 per head (computed here in double from the definition), a shifted
 * variant 0 equals the unshifted kernel on a pre-shifted image (bit-exact), 1 thread = 2 threads
 * (bit-exact), and invalid shapes are refused. Then random small shapes (C < 8, odd D, ragged tiles).
 * Tolerance: relative error 1e-4 (lk_test.h's measure: |got − ref| / (|ref| + 1%·max|ref|)); the
 * float conv, LayerNorm and K/V products, and the 1-ulp exp of the online softmax, give ~1e-6. */
#include "../prologue.h"
#include "../gemm.c"
#include "../conv.c"
#include "../norm.c"
#include "../activation.c"
#include "../softmax.c"
#include "../attention.c"
#include "../layout.c"
#include "../linear.c"
#include "../shifted_attention.c"
#include "lk_test.h"
#include "shifted_unfused.h"

#ifdef _OPENMP
extern void omp_set_num_threads(int);
#define LKT_SET_THREADS(n) omp_set_num_threads(n)
#else
#define LKT_SET_THREADS(n) ((void)(n))
#endif

#define TOL 1e-4

/* The CIFAR model's variants (ARCH_NOTES §3): the image, then 17 rolls (dy, dx). */
static const int cifar_rolls[18][2] = {{0, 0},  {1, 0},  {0, 1},   {-1, 0}, {0, -1}, {2, 0},
                                       {0, 2},  {-2, 0}, {0, -2},  {1, 1},  {1, 2},  {1, -1},
                                       {-1, 1}, {-1, 2}, {-1, -1}, {2, 1},  {2, 2},  {2, -1}};
/* The ImageNet model's one-sided circular pads (l, r, top, bottom): the image, then (k,0,0,0),
 * (0,0,k,0), (k,0,k,0) for k = 1..3. */
static const int imnet_pads[10][4] = {{0, 0, 0, 0}, {1, 0, 0, 0}, {2, 0, 0, 0}, {3, 0, 0, 0}, {0, 0, 1, 0},
                                      {0, 0, 2, 0}, {0, 0, 3, 0}, {1, 0, 1, 0}, {2, 0, 2, 0}, {3, 0, 3, 0}};

/* One problem's parameters and inputs. */
typedef struct {
  int B, Ci, Hh, Ww, T, mode, C, kh, kw, sh, sw, ph, pw, H, Hk, D, N;
  int shifts[18 * 4];
  float *img, *q, *cw[18], *cb[18], *pos, *lnw, *lnb, *wkv, *bkv, eps, scale;
} prob;

static int prob_init(prob *p, int B, int Ci, int Hh, int Ww, int T, int mode, const int *shifts, int C, int k,
                     int s, int pad, int H, int Hk, int D) {
  lk__sla_geom g;
  memset(p, 0, sizeof *p);
  p->B = B; p->Ci = Ci; p->Hh = Hh; p->Ww = Ww; p->T = T; p->mode = mode; p->C = C; p->kh = p->kw = k;
  p->sh = p->sw = s; p->ph = p->pw = pad; p->H = H; p->Hk = Hk; p->D = D;
  memcpy(p->shifts, shifts, (size_t)T * 4 * sizeof(int));
  g.B = B; g.Ci = Ci; g.Hh = Hh; g.Ww = Ww; g.T = T; g.mode = mode; g.shifts = p->shifts; g.C = C; g.kh = g.kw = k;
  g.sh = g.sw = s; g.ph = g.pw = pad; g.H = H; g.Hk = Hk; g.D = D;
  if (lk__sla_setup(&g)) return -1;
  p->N = g.N;
  p->img = lkt_rand((long)B * Ci * Hh * Ww, 1);
  p->q = lkt_rand((long)B * p->N * H * D, 3); /* logits of order 1: the softmax is not flat */
  for (int t = 0; t < T; ++t) {
    p->cw[t] = lkt_rand((long)C * Ci * k * k, 1.0f / sqrtf((float)(Ci * k * k)));
    p->cb[t] = lkt_rand(C, 0.2f);
  }
  p->pos = lkt_rand((long)T * p->N * C, 0.5f);
  p->lnw = lkt_rand(C, 0.5f);
  p->lnb = lkt_rand(C, 0.2f);
  for (int c = 0; c < C; ++c) p->lnw[c] += 1.0f;
  p->wkv = lkt_rand(2L * Hk * D * C, 1.0f / sqrtf((float)C));
  p->bkv = lkt_rand(2L * Hk * D, 0.1f);
  p->eps = 1e-6f;
  p->scale = 1.0f / sqrtf((float)D);
  return 0;
}

static void prob_free(prob *p) {
  free(p->img); free(p->q); free(p->pos); free(p->lnw); free(p->lnb); free(p->wkv); free(p->bkv);
  for (int t = 0; t < p->T; ++t) { free(p->cw[t]); free(p->cb[t]); }
}

static long prob_out(const prob *p) { return (long)p->B * p->N * p->H * p->D; }

static int run_fast(const prob *p, float *out) {
  return lk_shifted_local_attention(p->B, p->Ci, p->Hh, p->Ww, p->T, p->mode, p->shifts, p->C, p->kh, p->kw, p->sh,
                                    p->sw, p->ph, p->pw, p->H, p->Hk, p->D, p->img, p->q, (const float *const *)p->cw,
                                    (const float *const *)p->cb, p->pos, p->lnw, p->lnb, p->eps, p->wkv, p->bkv,
                                    p->scale, out);
}
static int run_naive(const prob *p, float *out) {
  return lk_shifted_local_attention_naive(p->B, p->Ci, p->Hh, p->Ww, p->T, p->mode, p->shifts, p->C, p->kh, p->kw,
                                          p->sh, p->sw, p->ph, p->pw, p->H, p->Hk, p->D, p->img, p->q,
                                          (const float *const *)p->cw, (const float *const *)p->cb, p->pos, p->lnw,
                                          p->lnb, p->eps, p->wkv, p->bkv, p->scale, out);
}

/* lkt_check's measure, to report the worst error per group of cases. */
static double rel_err(const float *got, const float *ref, long n) {
  double fl = 0.0, worst = 0.0;
  for (long i = 0; i < n; ++i) fl = fmax(fl, fabs((double)ref[i]));
  fl = fl * 1e-2 + 1e-30;
  for (long i = 0; i < n; ++i) {
    double e = fabs((double)got[i] - (double)ref[i]) / (fabs((double)ref[i]) + fl);
    if (!(e <= worst)) worst = e;
  }
  return worst;
}

static int path_seen[3];
static double worst_roll = 0, worst_pad = 0, worst_unfused = 0, worst_identity = 0;

/* Fast vs naive (and the unfused fast sequence vs naive) on one problem. */
static void check_case(int B, int Ci, int Hh, int Ww, int T, int mode, const int *shifts, int C, int k, int s,
                       int pad, int H, int Hk, int D) {
  prob p;
  char what[160];
  float *o, *r, *u;
  long n;
  sla_unfused un;
  int rf, rn;
  if (prob_init(&p, B, Ci, Hh, Ww, T, mode, shifts, C, k, s, pad, H, Hk, D)) {
    printf("FAIL bad test shape\n");
    ++lkt_failed;
    return;
  }
  n = prob_out(&p);
  o = lkt_rand(n, 1); r = lkt_rand(n, 1); u = lkt_rand(n, 1);
  rf = run_fast(&p, o);
  rn = run_naive(&p, r);
  {
    static const char *paths[3] = {"v-only", "fold", "kv"};
    int path = lk__sla_path(T, H, Hk, D);
    ++path_seen[path];
    snprintf(what, sizeof what, "%s B%d %dx%dx%d T%d C%d k%d s%d p%d H%d Hk%d D%d N%d %s", mode ? "pad " : "roll", B,
             Ci, Hh, Ww, T, C, k, s, pad, H, Hk, D, p.N, paths[path]);
  }
  if (rf != 0 || rn != 0) {
    printf("FAIL %s: returned %d / %d\n", what, rf, rn);
    ++lkt_failed;
  } else {
    double e = rel_err(o, r, n);
    if (mode == LK_SHIFT_ROLL) worst_roll = fmax(worst_roll, e);
    else worst_pad = fmax(worst_pad, e);
    lkt_check(what, o, r, n, TOL);
  }
  sla_unfused_init(&un, B, Ci, Hh, Ww, T, mode, p.shifts, C, k, k, s, s, pad, pad, H, Hk, D);
  sla_unfused_run(&un, p.img, p.q, (const float *const *)p.cw, (const float *const *)p.cb, p.pos, p.lnw, p.lnb, p.eps,
                  p.wkv, p.bkv, p.scale, u);
  worst_unfused = fmax(worst_unfused, rel_err(u, r, n));
  snprintf(what + strlen(what), sizeof what - strlen(what), " unfused");
  lkt_check(what, u, r, n, TOL);
  sla_unfused_free(&un);
  free(o); free(r); free(u);
  prob_free(&p);
}

static void roll_list(int T, int first, int *shifts) {
  /* variant 0, then T − 1 CIFAR offsets starting at `first` (cycling) */
  memset(shifts, 0, (size_t)T * 4 * sizeof(int));
  for (int t = 1; t < T; ++t) {
    int i = 1 + (first - 1 + t - 1) % 17;
    shifts[4 * t] = cifar_rolls[i][0];
    shifts[4 * t + 1] = cifar_rolls[i][1];
  }
}

static void test_roll(void) {
  int sh[18 * 4];
  /* T = 18: the whole CIFAR list; T = 3 with negative offsets; T = 1. */
  roll_list(18, 1, sh);
  check_case(1, 3, 8, 8, 18, LK_SHIFT_ROLL, sh, 16, 3, 1, 1, 4, 1, 12);
  check_case(2, 3, 16, 16, 18, LK_SHIFT_ROLL, sh, 64, 3, 1, 1, 4, 4, 16);
  check_case(1, 3, 12, 12, 18, LK_SHIFT_ROLL, sh, 48, 3, 1, 1, 4, 1, 48);
  check_case(2, 3, 9, 13, 18, LK_SHIFT_ROLL, sh, 20, 3, 1, 1, 2, 2, 5); /* C, D, image odd */
  roll_list(3, 3, sh); /* (−1, 0), (0, −1) */
  check_case(1, 3, 8, 8, 3, LK_SHIFT_ROLL, sh, 32, 3, 1, 1, 4, 4, 8);
  check_case(2, 3, 11, 8, 3, LK_SHIFT_ROLL, sh, 36, 3, 1, 1, 4, 2, 9);
  roll_list(3, 13, sh); /* (−1, 2), (−1, −1) */
  check_case(2, 3, 16, 10, 3, LK_SHIFT_ROLL, sh, 24, 3, 1, 1, 3, 1, 24);
  roll_list(18, 4, sh); /* many query heads per kv head: scores from projected k */
  check_case(1, 3, 10, 12, 18, LK_SHIFT_ROLL, sh, 28, 3, 1, 1, 8, 1, 4);
  roll_list(1, 1, sh);
  check_case(1, 3, 8, 8, 1, LK_SHIFT_ROLL, sh, 16, 3, 1, 1, 4, 1, 8);
  check_case(2, 3, 14, 15, 1, LK_SHIFT_ROLL, sh, 40, 3, 1, 1, 4, 4, 10);
  /* 9×9 stride 7 convs on 64×64 images, rolls (9×9 tokens: tiles with a ragged end) */
  roll_list(18, 1, sh);
  check_case(2, 3, 64, 64, 18, LK_SHIFT_ROLL, sh, 32, 9, 7, 1, 4, 1, 8);
  roll_list(3, 5, sh);
  check_case(1, 3, 64, 64, 3, LK_SHIFT_ROLL, sh, 64, 9, 7, 1, 4, 4, 16);
  /* rolls larger than the image (wrap more than once) */
  {
    int big[3 * 4] = {0, 0, 0, 0, 19, -17, 0, 0, -33, 8, 0, 0};
    check_case(1, 3, 8, 8, 3, LK_SHIFT_ROLL, big, 16, 3, 1, 1, 2, 1, 8);
  }
}

static void test_pad(void) {
  int sh[18 * 4];
  memcpy(sh, imnet_pads, sizeof imnet_pads);
  check_case(1, 3, 64, 64, 10, LK_SHIFT_PAD, sh, 64, 9, 7, 1, 4, 4, 16); /* the ImageNet list */
  check_case(2, 3, 64, 64, 10, LK_SHIFT_PAD, sh, 24, 9, 7, 1, 4, 1, 12);
  {
    int t3[3 * 4] = {0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 2, 0};
    check_case(2, 3, 64, 64, 3, LK_SHIFT_PAD, t3, 16, 9, 7, 1, 2, 2, 8);
    check_case(1, 3, 64, 64, 1, LK_SHIFT_PAD, t3, 48, 9, 7, 1, 4, 1, 48);
  }
  { /* T = 18: every one-sided pad 1..3 and (k, 0, k, 0), then two-sided ones up to 6 per axis */
    int t18[18 * 4], t = 0;
    memset(t18, 0, sizeof t18);
    for (int kk = 1; kk <= 3; ++kk) {
      ++t; t18[4 * t] = kk;
      ++t; t18[4 * t + 2] = kk;
      ++t; t18[4 * t] = kk; t18[4 * t + 2] = kk;
      ++t; t18[4 * t + 1] = kk; t18[4 * t + 3] = kk; /* right/bottom */
    }
    for (; t < 17;) { ++t; t18[4 * t] = t % 4; t18[4 * t + 1] = 6 - t % 4 - 1; t18[4 * t + 2] = 2; t18[4 * t + 3] = t % 3; }
    check_case(2, 3, 64, 64, 18, LK_SHIFT_PAD, t18, 40, 9, 7, 1, 4, 2, 10);
  }
}

/* Random small shapes: odd C (also < 8), D, heads, kernels, strides and paddings, large and
 * negative rolls, two-sided pads; both modes. Pad shapes are retried until all variants give the
 * same Ho × Wo. */
static void test_random(void) {
  for (int it = 0; it < 24; ++it) {
    int mode = it % 2, T = lkt_int(1, 6), k = lkt_int(1, 5), st = lkt_int(1, 3), pd = lkt_int(0, k - 1);
    int Hh = lkt_int(k, 14), Ww = lkt_int(k, 14), C = lkt_int(1, 70), D = lkt_int(1, 20), Hk = lkt_int(1, 3);
    int H = Hk * lkt_int(1, 3), B = lkt_int(1, 2), sh[6 * 4], tries = 0;
    lk__sla_geom g;
    do {
      memset(sh, 0, sizeof sh);
      for (int t = 1; t < T; ++t)
        for (int i = 0; i < 4; ++i) sh[4 * t + i] = mode == LK_SHIFT_ROLL ? (i < 2 ? lkt_int(-30, 30) : 0) : lkt_int(0, st - 1) * (lkt_int(0, 2) == 0);
      memset(&g, 0, sizeof g);
      g.B = B; g.Ci = 3; g.Hh = Hh; g.Ww = Ww; g.T = T; g.mode = mode; g.shifts = sh; g.C = C; g.kh = g.kw = k;
      g.sh = g.sw = st; g.ph = g.pw = pd; g.H = H; g.Hk = Hk; g.D = D;
    } while (lk__sla_setup(&g) && ++tries < 50);
    if (tries >= 50) { memset(sh, 0, sizeof sh); }
    check_case(B, 3, Hh, Ww, T, mode, sh, C, k, st, pd, H, Hk, D);
  }
}

/* T = 1: the softmax has one element, so out[n, h] = v_0[n, g]. Computed here in double from the
 * definition (direct conv, pos, LayerNorm, V rows of Wkv), sharing no code with either kernel. */
static void test_identity(void) {
  const int cases[4][8] = {/* B, Hh, Ww, C, k, s, p, Hk-is-H */
                           {2, 8, 8, 16, 3, 1, 1, 0},
                           {1, 13, 10, 36, 3, 1, 1, 1},
                           {1, 64, 64, 24, 9, 7, 1, 0},
                           {2, 64, 64, 64, 9, 7, 1, 1}};
  for (int ci = 0; ci < 4; ++ci) {
    for (int mode = 0; mode < 2; ++mode) {
      const int *c = cases[ci];
      int H = 4, Hk = c[7] ? 4 : 1, D = 8, shift[4] = {0, 0, 0, 0};
      prob p;
      float *o, *r;
      long n;
      char what[128];
      if (mode == LK_SHIFT_PAD) { shift[0] = 2; shift[2] = 1; } /* must keep Ho × Wo: only k9 s7 */
      else { shift[0] = -1; shift[1] = 2; }
      if (mode == LK_SHIFT_PAD && c[4] != 9) continue;
      prob_init(&p, c[0], 3, c[1], c[2], 1, mode, shift, c[3], c[4], c[5], c[6], H, Hk, D);
      n = prob_out(&p);
      o = lkt_rand(n, 1); r = lkt_rand(n, 1);
      if (run_fast(&p, o)) { printf("FAIL identity: refused\n"); ++lkt_failed; }
      {
        int Hv = p.Hh, Wv = p.Ww, oy = shift[0], ox = shift[1], Ho, Wo, C = p.C, HkD = Hk * D;
        double *e = (double *)malloc((size_t)C * sizeof(double));
        if (mode == LK_SHIFT_PAD) { Hv += shift[2] + shift[3]; Wv += shift[0] + shift[1]; oy = shift[2]; ox = shift[0]; }
        Ho = (Hv + 2 * p.ph - p.kh) / p.sh + 1;
        Wo = (Wv + 2 * p.pw - p.kw) / p.sw + 1;
        for (int b = 0; b < p.B; ++b)
          for (int nn = 0; nn < Ho * Wo; ++nn) {
            int oh = nn / Wo, ow = nn % Wo;
            double m = 0, var = 0;
            for (int ch = 0; ch < C; ++ch) {
              double s = p.cb[0][ch];
              for (int i = 0; i < 3; ++i)
                for (int ki = 0; ki < p.kh; ++ki)
                  for (int kj = 0; kj < p.kw; ++kj) {
                    int y = oh * p.sh - p.ph + ki, x = ow * p.sw - p.pw + kj, sy, sx;
                    if (y < 0 || y >= Hv || x < 0 || x >= Wv) continue;
                    sy = ((y - oy) % p.Hh + p.Hh) % p.Hh;
                    sx = ((x - ox) % p.Ww + p.Ww) % p.Ww;
                    s += (double)p.img[(((long)b * 3 + i) * p.Hh + sy) * p.Ww + sx] *
                         p.cw[0][((ch * 3 + i) * p.kh + ki) * p.kw + kj];
                  }
              e[ch] = s + p.pos[(long)nn * C + ch];
              m += e[ch];
            }
            m /= C;
            for (int ch = 0; ch < C; ++ch) var += (e[ch] - m) * (e[ch] - m);
            var /= C;
            for (int ch = 0; ch < C; ++ch) e[ch] = (e[ch] - m) / sqrt(var + p.eps) * p.lnw[ch] + p.lnb[ch];
            for (int h = 0; h < H; ++h)
              for (int d = 0; d < D; ++d) {
                int row = HkD + (h / (H / Hk)) * D + d; /* V rows of Wkv */
                double v = p.bkv[row];
                for (int ch = 0; ch < C; ++ch) v += e[ch] * p.wkv[(long)row * C + ch];
                r[(((long)b * p.N + nn) * H + h) * D + d] = (float)v;
              }
          }
        free(e);
      }
      snprintf(what, sizeof what, "identity T1 %s B%d %dx%d C%d k%d Hk%d", mode ? "pad " : "roll", c[0], c[1], c[2],
               c[3], c[4], Hk);
      worst_identity = fmax(worst_identity, rel_err(o, r, n));
      lkt_check(what, o, r, n, TOL);
      free(o); free(r);
      prob_free(&p);
    }
  }
}

/* A shifted variant 0 is the unshifted kernel on the pre-shifted image (lk_roll / lk_circular_pad):
 * same arithmetic on the same values, so bit-identical. */
static void test_preshifted(void) {
  for (int mode = 0; mode < 2; ++mode) {
    int sh1[4] = {0, 0, 0, 0}, sh0[4] = {0, 0, 0, 0}, Hv, Wv;
    prob p, p2;
    float *o, *o2;
    long n;
    if (mode == LK_SHIFT_ROLL) { sh1[0] = 3; sh1[1] = -2; }
    else { sh1[0] = 2; sh1[1] = 1; sh1[2] = 0; sh1[3] = 3; }
    prob_init(&p, 2, 3, 64, 64, 1, mode, sh1, 32, 9, 7, 1, 4, 2, 8);
    Hv = mode ? 64 + sh1[2] + sh1[3] : 64;
    Wv = mode ? 64 + sh1[0] + sh1[1] : 64;
    prob_init(&p2, 2, 3, Hv, Wv, 1, mode, sh0, 32, 9, 7, 1, 4, 2, 8);
    if (p2.N != p.N) { printf("FAIL preshifted: shapes\n"); ++lkt_failed; }
    /* same parameters: copy p's into p2 */
    memcpy(p2.q, p.q, (size_t)prob_out(&p) * sizeof(float));
    memcpy(p2.cw[0], p.cw[0], 32L * 3 * 81 * sizeof(float));
    memcpy(p2.cb[0], p.cb[0], 32 * sizeof(float));
    memcpy(p2.pos, p.pos, (size_t)p.N * 32 * sizeof(float));
    memcpy(p2.lnw, p.lnw, 32 * sizeof(float));
    memcpy(p2.lnb, p.lnb, 32 * sizeof(float));
    memcpy(p2.wkv, p.wkv, 2L * 2 * 8 * 32 * sizeof(float));
    memcpy(p2.bkv, p.bkv, 2L * 2 * 8 * sizeof(float));
    if (mode == LK_SHIFT_ROLL) lk_roll(2L * 3, 64, 64, sh1[0], sh1[1], p.img, p2.img);
    else lk_circular_pad(2L * 3, 64, 64, sh1[2], sh1[3], sh1[0], sh1[1], p.img, p2.img);
    n = prob_out(&p);
    o = lkt_rand(n, 1); o2 = lkt_rand(n, 1);
    run_fast(&p, o);
    run_fast(&p2, o2);
    lkt_check_exact(mode ? "pad variant 0 = unshifted on padded image" : "roll variant 0 = unshifted on rolled image",
                    o, o2, n);
    free(o); free(o2);
    prob_free(&p); prob_free(&p2);
  }
}

static void test_thread_invariance(void) {
  int sh[18 * 4];
  prob p;
  float *o1, *o2;
  long n;
  roll_list(18, 1, sh);
  prob_init(&p, 2, 3, 16, 16, 18, LK_SHIFT_ROLL, sh, 48, 3, 1, 1, 4, 1, 12);
  n = prob_out(&p);
  o1 = lkt_rand(n, 1); o2 = lkt_rand(n, 1);
  run_fast(&p, o2);
  LKT_SET_THREADS(1);
  run_fast(&p, o1);
  LKT_SET_THREADS(2);
  lkt_check_exact("shifted attention thread-count invariance", o1, o2, n);
  free(o1); free(o2);
  prob_free(&p);
}

/* Refused shapes: variants whose conv outputs differ (a pad with a 3×3 stride-1 conv), H % Hk. */
static void test_invalid(void) {
  int sh[2 * 4] = {0, 0, 0, 0, 1, 0, 0, 0};
  float dummy[1] = {0};
  const float *w[2] = {dummy, dummy};
  int r1 = lk_shifted_local_attention(1, 3, 8, 8, 2, LK_SHIFT_PAD, sh, 16, 3, 3, 1, 1, 1, 1, 4, 1, 8, dummy, dummy, w, w,
                                      dummy, dummy, dummy, 1e-6f, dummy, dummy, 1.0f, dummy);
  int r2 = lk_shifted_local_attention_naive(1, 3, 8, 8, 2, LK_SHIFT_PAD, sh, 16, 3, 3, 1, 1, 1, 1, 4, 1, 8, dummy, dummy,
                                            w, w, dummy, dummy, dummy, 1e-6f, dummy, dummy, 1.0f, dummy);
  int r3 = lk_shifted_local_attention(1, 3, 8, 8, 2, LK_SHIFT_ROLL, sh, 16, 3, 3, 1, 1, 1, 1, 4, 3, 8, dummy, dummy, w,
                                      w, dummy, dummy, dummy, 1e-6f, dummy, dummy, 1.0f, dummy);
  if (r1 != -1 || r2 != -1 || r3 != -1) {
    printf("FAIL invalid shapes accepted: %d %d %d\n", r1, r2, r3);
    ++lkt_failed;
  } else {
    ++lkt_passed;
  }
}

int main(void) {
  test_roll();
  test_pad();
  test_random();
  test_identity();
  test_preshifted();
  test_thread_invariance();
  test_invalid();
  if (!path_seen[LK__SLA_VONLY] || !path_seen[LK__SLA_FOLD] || !path_seen[LK__SLA_KV]) {
    printf("FAIL score paths not all covered: v-only %d, fold %d, kv %d\n", path_seen[0], path_seen[1], path_seen[2]);
    ++lkt_failed;
  }
  printf("test_shifted: worst relative error (tolerance %.0e): fast vs naive roll %.3g, pad %.3g; "
         "unfused sequence vs naive %.3g; T=1 identity %.3g\n",
         TOL, worst_roll, worst_pad, worst_unfused, worst_identity);
  return lkt_finish("test_shifted");
}
