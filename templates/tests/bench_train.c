#define _POSIX_C_SOURCE 200112L /* clock_gettime in -std=c99 */
/* Time per call of the training kernels at LocalViT-tiny's training shapes, batch 16: 197 tokens ×
 * 192 channels (rows = 3152), 3 heads, MLP/FFN hidden 768 on the 14×14 patch grid, 224×224
 * images with a 16×16 patch embedding, 1000 classes, 5.7M parameters. The GEMM-shaped gradients
 * print GFLOP/s next to the forward GEMM of the same size (lk_linear / lk_conv2d), which is what
 * they should approach. Best of 5 timings; "cpu" is CPU time per call divided by the thread
 * count (see bench_gemm.c for why both are shown). */
#include "../prologue.h"
#include "../gemm.c"
#include "../linear.c"
#include "../conv.c"
#include "../activation.c"
#include "../token_dwconv.c"
#include "../grad.c"
#include "../loss.c"
#include "../optim.c"
#include "../softmax.c"
#include "../attention.c"
#include "../attention_grad.c"
#include "lk_test.h"

static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#define TIME(label, reps, gflop, call)                                                        \
  do {                                                                                        \
    double bw = 1e30, bc = 1e30;                                                              \
    int th = lk_max_threads();                                                                \
    call; /* warm-up: first-touch of the outputs, per-thread heaps */                         \
    for (int s = 0; s < 5; ++s) {                                                             \
      double w0 = lkt_now(), c0 = cpu_now();                                                  \
      for (int r = 0; r < (reps); ++r) call;                                                  \
      bw = fmin(bw, (lkt_now() - w0) / (reps));                                               \
      bc = fmin(bc, (cpu_now() - c0) / (reps) / th);                                          \
    }                                                                                         \
    printf("%-46s %9.1f us wall %9.1f us cpu", label, bw * 1e6, bc * 1e6);                    \
    if ((gflop) > 0) printf("   %6.1f GFLOP/s", (gflop) / bw);                                \
    printf("\n");                                                                             \
  } while (0)

int main(void) {
  const int B = 16, N = 197, C = 192, Hd = 768, G = 14, K = 1000;
  const long rows = (long)B * N;
  float *x = lkt_rand(rows * Hd, 1), *dy = lkt_rand(rows * Hd, 1), *dw = lkt_rand((long)Hd * Hd, 1);
  float *y = lkt_rand(rows * Hd, 1), *w = lkt_rand((long)Hd * Hd, 1);
  float *img = lkt_rand((long)B * 3 * 224 * 224, 1), *dimg = lkt_rand((long)B * 3 * 224 * 224, 1);
  float *pw = lkt_rand(192L * 3 * 16 * 16, 1), *pdy = lkt_rand((long)B * 192 * 196, 1);
  float *fx = lkt_rand((long)B * Hd * G * G, 1), *fdy = lkt_rand((long)B * Hd * G * G, 1);
  float *fdx = lkt_rand((long)B * Hd * G * G, 1), *fw = lkt_rand((long)Hd * C, 1);
  float *logits = lkt_rand((long)B * K, 3), *tgt = lkt_rand((long)B * K, 1), *dl = lkt_rand((long)B * K, 1);
  long np = 5700000;
  float *p = lkt_rand(np, 1), *g = lkt_rand(np, 1), *m = lkt_rand(np, 0), *v = lkt_rand(np, 0);
  static const struct { const char *name; int K, N; } lin[] = {
      {"qkv 192->576", 192, 576}, {"proj 192->192", 192, 192}, {"fc1 192->768", 192, 768}, {"fc2 768->192", 768, 192}};
  const long sb[2] = {rows, Hd};
  const unsigned char rb[2] = {1, 0};
  char label[96];
  for (long i = 0; i < (long)B * K; ++i) tgt[i] = 1.0f / K;

  printf("bench_train: %d threads, VW=%d, LocalViT-tiny at batch %d (rows = %ld)\n", lk_max_threads(), LK_VW, B, rows);
  for (size_t i = 0; i < sizeof lin / sizeof lin[0]; ++i) {
    double gf = 2.0 * rows * lin[i].K * lin[i].N * 1e-9;
    snprintf(label, sizeof label, "linear_grad_weight %s", lin[i].name);
    TIME(label, 5, gf, lk_linear_grad_weight(rows, lin[i].K, lin[i].N, dy, x, dw));
    snprintf(label, sizeof label, "  (forward lk_linear %s)", lin[i].name);
    TIME(label, 5, gf, lk_linear((int)rows, lin[i].K, lin[i].N, x, w, NULL, y));
    snprintf(label, sizeof label, "  (input grad: lk_gemm dy.W %s)", lin[i].name);
    TIME(label, 5, gf, lk_gemm((int)rows, lin[i].K, lin[i].N, dy, lin[i].N, 1, w, lin[i].K, 1, y, lin[i].K, 0.0f));
  }
  {
    double gf = 2.0 * 192 * 768 * 196 * B * 1e-9;
    TIME("conv2d_grad_weight patch embed 3->192 k16s16", 5, gf,
         lk_conv2d_grad_weight(B, 3, 224, 224, 192, 16, 16, 16, 16, 0, 0, 1, pdy, img, pw));
    TIME("conv2d_grad_input  patch embed 3->192 k16s16", 5, gf,
         lk_conv2d_grad_input(B, 3, 224, 224, 192, 16, 16, 16, 16, 0, 0, 1, pdy, pw, dimg));
    TIME("  (forward lk_conv2d patch embed)", 5, gf, lk_conv2d(B, 3, 224, 224, 192, 16, 16, 16, 16, 0, 0, 1, img, pw, NULL, pdy, NULL));
  }
  {
    double gf = 2.0 * Hd * C * G * G * B * 1e-9;
    TIME("conv2d_grad_weight 1x1 192->768 14x14", 5, gf,
         lk_conv2d_grad_weight(B, C, G, G, Hd, 1, 1, 1, 1, 0, 0, 1, fdy, fx, fw));
    TIME("conv2d_grad_input  1x1 192->768 14x14", 5, gf,
         lk_conv2d_grad_input(B, C, G, G, Hd, 1, 1, 1, 1, 0, 0, 1, fdy, fw, fdx));
    TIME("  (forward lk_conv2d 1x1 192->768)", 5, gf, lk_conv2d(B, C, G, G, Hd, 1, 1, 1, 1, 0, 0, 1, fx, fw, NULL, fdy, NULL));
  }
  {
    double gf = 2.0 * Hd * 9 * G * G * B * 1e-9;
    TIME("conv2d_grad_weight depthwise 3x3 768 14x14", 5, gf,
         lk_conv2d_grad_weight(B, Hd, G, G, Hd, 3, 3, 1, 1, 1, 1, Hd, fdy, fx, fw));
    TIME("conv2d_grad_input  depthwise 3x3 768 14x14", 5, gf,
         lk_conv2d_grad_input(B, Hd, G, G, Hd, 3, 3, 1, 1, 1, 1, Hd, fdy, fw, fdx));
    TIME("  (forward lk_conv2d depthwise 3x3)", 5, gf, lk_conv2d(B, Hd, G, G, Hd, 3, 3, 1, 1, 1, 1, Hd, fx, fw, NULL, fdy, NULL));
  }
  { /* localvit_fmnist's training step: batch 64, 256 hidden channels on the 7×7 patch grid */
    const int fb = 64, fc = 256, fg = 7;
    double gf = 2.0 * fc * 9 * fg * fg * fb * 1e-9;
    TIME("conv2d_grad_weight depthwise 3x3 256 7x7 b64", 5, gf,
         lk_conv2d_grad_weight(fb, fc, fg, fg, fc, 3, 3, 1, 1, 1, 1, fc, fdy, fx, fw));
    TIME("conv2d_grad_input  depthwise 3x3 256 7x7 b64", 5, gf,
         lk_conv2d_grad_input(fb, fc, fg, fg, fc, 3, 3, 1, 1, 1, 1, fc, fdy, fw, fdx));
    TIME("  (forward lk_conv2d depthwise 3x3 7x7 b64)", 5, gf,
         lk_conv2d(fb, fc, fg, fg, fc, 3, 3, 1, 1, 1, 1, fc, fx, fw, NULL, fdy, NULL));
  }
  { /* localvit_fmnist's 1×1 convolutions, 64 → 256 on 7×7, batch 64, beside one GEMM of the same
     * size with the images side by side (N = 64·49) */
    const int fb = 64, ci = 64, co = 256, hw = 49;
    double gf = 2.0 * fb * ci * co * hw * 1e-9;
    TIME("conv2d 1x1 64->256 7x7 b64", 5, gf, lk_conv2d(fb, ci, 7, 7, co, 1, 1, 1, 1, 0, 0, 1, fx, fw, NULL, fdy, NULL));
    TIME("conv2d_grad_input 1x1 64->256 7x7 b64", 5, gf, lk_conv2d_grad_input(fb, ci, 7, 7, co, 1, 1, 1, 1, 0, 0, 1, fdy, fw, fdx));
    TIME("conv2d_grad_weight 1x1 64->256 7x7 b64", 5, gf, lk_conv2d_grad_weight(fb, ci, 7, 7, co, 1, 1, 1, 1, 0, 0, 1, fdy, fx, dw));
    TIME("  (gemm 256 x 3136 x 64)", 5, gf, lk_gemm(co, fb * hw, ci, fw, ci, 1, fx, fb * hw, 1, fdy, fb * hw, 0.0f));
  }
  { /* localvit_fmnist's feed-forward in token layout (the training graph's form): tokens
     * [64·49, 256], channels last, beside the channels-first kernels above */
    const int fb = 64, fc = 256, fg = 7;
    const long fr = (long)fb * fg * fg;
    double gf = 2.0 * fc * 9 * fg * fg * fb * 1e-9;
    TIME("token_dwconv 3x3 256 7x7 b64", 5, gf, lk_token_dwconv(fb, fg, fg, fc, 3, 3, 1, 1, 1, 1, fx, fw, NULL, LK_ACT_NONE, fdy));
    TIME("token_dwconv_grad_input 3x3 256 7x7 b64", 5, gf,
         lk_token_dwconv_grad_input(fb, fg, fg, fc, 3, 3, 1, 1, 1, 1, fdy, fw, fdx));
    TIME("token_dwconv_grad_weight 3x3 256 7x7 b64", 5, gf,
         lk_token_dwconv_grad_weight(fb, fg, fg, fc, 3, 3, 1, 1, 1, 1, fdy, fx, fw));
    TIME("batch_normalize_cl [3136, 256]", 5, 0, lk_batch_normalize_cl(fr, fc, fx, fw, fw, 1e-5f, fdy));
    TIME("batch_normalize_grad_cl [3136, 256]", 5, 0, lk_batch_normalize_grad_cl(fr, fc, fx, fdy, fw, 1e-5f, fdx));
    TIME("batch_normalize_param_grad_cl [3136, 256]", 5, 0, lk_batch_normalize_param_grad_cl(fr, fc, fx, fdy, 1e-5f, fw));
    TIME("batch_moments_cl [3136, 256]", 5, 0, lk_batch_moments_cl(fr, fc, fx, fw));
    TIME("  (batch_normalize_grad [64, 256, 49])", 5, 0, lk_batch_normalize_grad(fb, fc, fg * fg, fx, fdy, fw, 1e-5f, fdx));
    { /* the training graph's form: statistics once, then BatchNorm + hswish in one pass each way */
      float *st = lkt_rand(3 * fc, 1), *ws = lkt_rand(2 * lk_ceil_div(fr, LK__BNCL_ROWS) * fc + 7 * fc, 1), *sums = lkt_rand(2 * fc, 1);
      TIME("batch_statistics_cl [3136, 256]", 5, 0, lk_batch_statistics_cl(fr, fc, fx, st));
      TIME("batch_norm_act_cl hswish [3136, 256]", 5, 0, lk_batch_norm_act_cl(fr, fc, fx, st, fw, fw, 1e-5f, LK_ACT_HSWISH, ws, fdy));
      TIME("batch_norm_act_param_grad_cl hswish [3136, 256]", 5, 0,
           lk_batch_norm_act_param_grad_cl(fr, fc, fx, fdy, st, fw, fw, 1e-5f, LK_ACT_HSWISH, ws, sums));
      TIME("batch_norm_act_grad_cl hswish [3136, 256]", 5, 0,
           lk_batch_norm_act_grad_cl(fr, fc, fx, fdy, st, fw, fw, sums, 1e-5f, LK_ACT_HSWISH, ws, fdx));
      free(st); free(ws); free(sums);
    }
  }
  { /* localvit_fmnist: per-channel scale of [64, 256, 7·7] (BatchNorm's weight, SE) */
    const long shape[3] = {64, 256, 49}, sa[3] = {256 * 49, 49, 1}, sc[3] = {0, 1, 0};
    TIME("mul [64, 256, 49] * [256, 1] (channel scale)", 5, 0, lk_mul(3, shape, fx, sa, fw, sc, fdy));
  }
  { /* the products pass: localvit_fmnist's squeeze-excite backward on [64, 49, 256] (gate gradient
     * Σ_tokens dz ⊙ x, then dz·gate + shift) and a LayerNorm affine part on [64·50, 64], each as
     * the unfused graph ran it and as mul_add / reduce_sum_product */
    const long se[3] = {64, 49, 256}, sd[3] = {49 * 256, 256, 1}, sg[3] = {256, 0, 1}, ln[2] = {3200, 64}, sl[2] = {64, 1}, sw[2] = {0, 1};
    static const unsigned char tok[3] = {0, 1, 0};
    float *t1 = lkt_rand(64L * 49 * 256, 1), *gate = lkt_rand(64 * 256, 1), *shift = lkt_rand(64 * 256, 1), *gg = lkt_rand(64 * 256, 1);
    TIME("SE backward unfused: mul, mul, reduce_sum, add", 5, 0,
         (lk_mul(3, se, fdy, sd, gate, sg, t1), lk_mul(3, se, fdy, sd, fx, sd, fdx), lk_reduce_sum(3, se, tok, fdx, gg),
          lk_add(3, se, t1, sd, shift, sg, t1)));
    TIME("SE backward fused: reduce_sum_product, mul_add", 5, 0,
         (lk_reduce_sum_product(3, se, tok, fdy, fx, gg), lk_mul_add(3, se, fdy, sd, gate, sg, shift, sg, fdx)));
    TIME("LayerNorm affine unfused: mul, add [3200, 64]", 5, 0, (lk_mul(2, ln, fx, sl, fw, sw, t1), lk_add(2, ln, t1, sl, fw, sw, t1)));
    TIME("LayerNorm affine fused: mul_add [3200, 64]", 5, 0, lk_mul_add(2, ln, fx, sl, fw, sw, fw, sw, t1));
    free(t1); free(gate); free(shift); free(gg);
  }
  TIME("unary_grad gelu [3152, 768]", 5, 0, lk_unary_grad(LK_ACT_GELU, rows * Hd, x, dy, y));
  TIME("softmax_grad [16*3*197, 197]", 5, 0, lk_softmax_grad(3L * rows, N, x, dy, y));
  TIME("normalize_grad [3152, 192]", 5, 0, lk_normalize_grad(rows, C, x, dy, 1e-6f, y));
  TIME("batch_normalize_grad [16, 768, 196]", 5, 0, lk_batch_normalize_grad(B, Hd, G * G, fx, fdy, fw, 1e-5f, fdx));
  TIME("reduce_sum bias [3152, 768] -> [768]", 5, 0, lk_reduce_sum(2, sb, rb, dy, y));
  { /* sag_tiny_cifar's LayerNorm weight gradient: [16·18·1024, 192] → [192], 226 MB (beyond L3) */
    const long sh[2] = {16L * 18 * 1024, 192};
    static const unsigned char rd[2] = {1, 0};
    float *big = lkt_rand(sh[0] * sh[1], 1);
    TIME("reduce_sum [294912, 192] -> [192] (226 MB)", 2, 0, lk_reduce_sum(2, sh, rd, big, y));
    free(big);
  }
  { /* sdpa_grad (5 products: scores recomputed, dP, dV, dQ, dK) beside the forward lk_sdpa (2) on
     * one qkv buffer: localvit_fmnist b64, LocalViT-tiny b16, SAG-tiny's first global stage b16 */
    static const int sh[3][6] = {{64, 50, 2, 2, 32, 0}, {16, 197, 3, 3, 64, 0}, {16, 1024, 4, 1, 48, 0}};
    for (int i = 0; i < 3; ++i) {
      const int b = sh[i][0], n = sh[i][1], h = sh[i][2], hk = sh[i][3], d = sh[i][4];
      const long w = (long)(h + 2 * hk) * d, c = (long)h * d;
      const double f = 2.0 * b * h * (double)n * n * d * 1e-9;
      float *qkv = lkt_rand((long)b * n * w, 1), *dout = lkt_rand((long)b * n * c, 1), *g = lkt_rand((long)b * n * w, 1);
      char label[96];
      snprintf(label, sizeof label, "sdpa [%d, %d, %d heads/%d, D %d]", b, n, h, hk, d);
      TIME(label, 3, 2 * f, lk_sdpa(b, n, n, h, hk, d, qkv, w, qkv + c, w, qkv + c + hk * d, w, g, 0.125f));
      snprintf(label, sizeof label, "sdpa_grad [%d, %d, %d heads/%d, D %d]", b, n, h, hk, d);
      TIME(label, 3, 5 * f, lk_sdpa_grad(b, n, n, h, hk, d, qkv, w, qkv + c, w, qkv + c + hk * d, w, dout, c, g, w, g + c, w,
                                           g + c + hk * d, w, 0.125f));
      free(qkv); free(dout); free(g);
    }
  }
  TIME("cross_entropy + grad [16, 1000]", 5, 0,
       (lk_cross_entropy(B, K, logits, tgt, dl), lk_cross_entropy_grad(B, K, logits, tgt, dl)));
  TIME("sum_squares 5.7M", 5, 0, (void)lk_sum_squares(np, g));
  TIME("adamw_step 5.7M", 5, 0, lk_adamw_step(np, p, g, m, v, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.05f, 10, 1.0f));
  TIME("sgd_step 5.7M (momentum)", 5, 0, lk_sgd_step(np, p, g, m, 0.1f, 0.9f, 5e-5f, 10, 1.0f));
  free(x); free(dy); free(dw); free(y); free(w); free(img); free(dimg); free(pw); free(pdy);
  free(fx); free(fdy); free(fdx); free(fw); free(logits); free(tgt); free(dl); free(p); free(g); free(m); free(v);
  return 0;
}
