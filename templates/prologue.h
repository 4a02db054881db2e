/* Locus kernel prologue: the one header every generated model starts with.
 *
 * The emitter writes this file, then the kernel files the model needs (each starts with a
 * `locus-requires:` line naming the other kernel files it calls), then the forward function, into
 * one translation unit. Every file also compiles on its own after this header, which is how the
 * tests in templates/tests/ build them.
 *
 * Legend for the shape comments in every kernel: B batch, N tokens, C channels, H heads, D head dim,
 * T shift variants, Hh/Ww image height/width, K reduction length, M/N/K also the GEMM sizes.
 * All tensors are float32, dense, row-major unless a stride argument says otherwise.
 *
 * Conventions shared by all kernels
 * - Names start with `lk_`; helpers are `static` and start with `lk__`, so several kernel files
 *   (and several models) can share one program.
 * - Each kernel call opens one OpenMP parallel region (conv's im2col path: one per step), never
 *   nested, and divides the work statically: results are bit-identical run to run and
 *   independent of the thread count. Call kernels from outside any parallel region.
 * - `#pragma omp` is only reached through LK_OMP so the files compile silently without -fopenmp
 *   (then everything runs on the calling thread).
 * - Scratch memory: scratch whose size depends only on the shapes is passed by the caller as `ws`
 *   (size from the matching `lk_*_workspace_floats`; NULL means "allocate it for this call").
 *   Per-thread scratch (GEMM packing buffers) is allocated inside the call, one block per thread,
 *   because the arena cannot know the thread count in advance; after the first call glibc serves
 *   these repeat allocations from its per-thread heaps, without system calls or page faults.
 * - Build with -O2 (or -O3) and a -march that matches the machine: the vector width below is
 *   chosen from the target macros, and without -mavx2/-march=native the code falls back to
 *   4-wide vectors.
 */
#ifndef LOCUS_PROLOGUE_H
#define LOCUS_PROLOGUE_H

#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

/* Shape record of a parameter, input or output (DESIGN.md §4). */
typedef struct { const char *name; int rank; int64_t shape[8]; int64_t numel; } locus_tensor_info;

/* ---- Target selection -------------------------------------------------------------------------
 * The emitter may force one of LOCUS_TARGET_AVX512 / _AVX2 / _GENERIC; otherwise the compiler's
 * target macros decide. The vector type is a GCC/clang vector extension: it is lowered to the
 * widest registers the target has, so even the AVX-512 configuration runs (slowly, in halves) on an
 * AVX2 machine, which is how that path is tested where no AVX-512 hardware exists. */
#if !defined(LOCUS_TARGET_AVX512) && !defined(LOCUS_TARGET_AVX2) && !defined(LOCUS_TARGET_GENERIC)
#  if defined(__AVX512F__)
#    define LOCUS_TARGET_AVX512 1
#  elif defined(__AVX2__)
#    define LOCUS_TARGET_AVX2 1
#  else
#    define LOCUS_TARGET_GENERIC 1
#  endif
#endif

#if defined(LOCUS_TARGET_AVX512)
#  define LK_VW 16 /* floats per vector: one zmm */
#elif defined(LOCUS_TARGET_AVX2)
#  define LK_VW 8 /* one ymm */
#else
#  define LK_VW 4 /* one SSE/NEON register: every 64-bit target has one */
#endif

/* Vector of LK_VW floats and its int32 twin (for exponent tricks). `v * s` with a scalar `s`
 * splats the scalar; casts between the two types reinterpret bits. */
typedef float lk_vf __attribute__((vector_size(LK_VW * 4)));
typedef int32_t lk_vi __attribute__((vector_size(LK_VW * 4)));

/* An 8×8 block of floats transposed in registers: r[i] is row i, o[i] becomes column i. Unpack
 * pairs, shuffle quads, swap halves (three rounds of 8 shuffles). Eight floats whatever LK_VW is:
 * used by gemm.c's B packing and the shifted attention's position add. */
typedef float lk_v8 __attribute__((vector_size(32)));
static inline void lk_transpose8(const lk_v8 r[8], lk_v8 o[8]) {
  lk_v8 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = __builtin_shufflevector(t[i], t[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
    u[i + 1] = __builtin_shufflevector(t[i], t[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    u[i + 2] = __builtin_shufflevector(t[i + 1], t[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
    u[i + 3] = __builtin_shufflevector(t[i + 1], t[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
  }
  for (int i = 0; i < 4; ++i) {
    o[i] = __builtin_shufflevector(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    o[i + 4] = __builtin_shufflevector(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
  }
}

/* d[k·ld + c] = s[c·ss + k] for c, k < 8: an 8×8 block of a strided matrix transposed through
 * registers (gemm.c's B packing, attention's Kᵀ panels), 2.5× faster than element copies. */
static inline void lk_transpose8_block(const float *s, long ss, float *d, long ld) {
  lk_v8 r[8], o[8];
  for (int i = 0; i < 8; ++i) memcpy(&r[i], s + i * ss, sizeof r[i]);
  lk_transpose8(r, o);
  for (int i = 0; i < 8; ++i) memcpy(d + i * ld, &o[i], sizeof o[i]);
}

/* Unaligned load/store through memcpy: no alignment or aliasing assumptions, one vmovups. */
static inline lk_vf lk_vload(const float *p) { lk_vf v; memcpy(&v, p, sizeof v); return v; }
static inline void lk_vstore(float *p, lk_vf v) { memcpy(p, &v, sizeof v); }
static inline lk_vf lk_vset1(float s) {
  lk_vf v = {0}; /* not `v + s`: 0 + s is not an identity for -0, so it would cost an add */
  for (int i = 0; i < LK_VW; ++i) v[i] = s;
  return v;
}
static inline lk_vf lk_vzero(void) { lk_vf v = {0}; return v; }
/* Lane-wise select without the vector ternary (which C mode does not have): mask lanes are all
 * ones (-1) or all zeros, as comparisons of vectors produce them. */
static inline lk_vf lk_vselect(lk_vi mask, lk_vf a, lk_vf b) {
  return (lk_vf)((mask & (lk_vi)a) | (~mask & (lk_vi)b));
}
/* Both return `a` when either operand is NaN, so NaN inputs propagate through clamps. */
static inline lk_vf lk_vmax(lk_vf a, lk_vf b) { return lk_vselect(b > a, b, a); }
static inline lk_vf lk_vmin(lk_vf a, lk_vf b) { return lk_vselect(b < a, b, a); }
/* The mask of lanes whose column first + lane is below n (all of them when n ≥ first + LK_VW): a
 * row's last partial vector. */
static inline lk_vi lk_vbelow(int first, int n) {
  lk_vi c;
  for (int i = 0; i < LK_VW; ++i) c[i] = first + i;
  return c < n;
}
/* Whether any lane of a comparison mask is set. */
static inline int lk_vany(lk_vi mask) {
  int any = 0;
  for (int i = 0; i < LK_VW; ++i) any |= mask[i];
  return any != 0;
}
/* Horizontal sum in a fixed order (deterministic). */
static inline float lk_vsum(lk_vf v) {
  float s = 0.0f;
  for (int i = 0; i < LK_VW; ++i) s += v[i];
  return s;
}
static inline float lk_vhmax(lk_vf v) {
  float m = v[0];
  for (int i = 1; i < LK_VW; ++i) m = v[i] > m ? v[i] : m;
  return m;
}

/* exp(x) for a vector: x = n·ln2 + r with |r| ≤ ln2/2, Cephes' degree-6 polynomial for e^r and 2^n
 * built in the exponent bits. Max error about 1 ulp; returns 0 below −87.3 (where expf would be
 * denormal), clamps above 88.4 (no inf) and passes NaN through. libm's expf is not vectorised by
 * clang without a vector math library, and softmax, attention, sigmoid and gelu spend their time
 * here. Written for short dependency chains (the loops that call it are latency-bound, not
 * throughput-bound): n is rounded with the 1.5·2²³ trick instead of a float→int→float floor, and
 * the polynomial is evaluated in Estrin's form (depth 4 instead of 7). */
static inline lk_vf lk_vexp(lk_vf x) {
  const float shifter = 12582912.0f; /* 1.5·2^23: adding it rounds to an integer in the low bits */
  lk_vi nan = x != x, underflow = x < -87.3365447504f;
  x = lk_vmin(lk_vmax(x, lk_vset1(-87.3365447504f)), lk_vset1(88.3762626647949f));
  lk_vf big = x * 1.44269504088896341f + shifter;
  lk_vf n = big - shifter;
  lk_vi ni = (lk_vi)big - (lk_vi)lk_vset1(shifter); /* the integer n itself */
  lk_vf r = x - n * 0.693359375f + n * 2.12194440e-4f; /* ln2 split in two for exactness */
  lk_vf r2 = r * r;
  lk_vf q01 = r * 1.6666665459e-1f + 5.0000001201e-1f;
  lk_vf q23 = r * 8.3334519073e-3f + 4.1665795894e-2f;
  lk_vf q45 = r * 1.9875691500e-4f + 1.3981999507e-3f;
  lk_vf q = q01 + r2 * (q23 + r2 * q45);
  lk_vf p = q * r2 + (r + 1.0f);
  lk_vf e = p * (lk_vf)((ni + 127) << 23);
  e = (lk_vf)((lk_vi)e & ~underflow);
  return lk_vselect(nan, x, e);
}

/* erf(x) for a vector: the odd/even rational approximation used by Eigen (clamped to [-4, 4],
 * where float erf is already ±1). Max abs error ~3.6e-7 and cheap (9 cycles per AVX2 vector),
 * but 1 + erf(x) loses relative precision as x → −∞: see lk_verfc. */
static inline lk_vf lk_verf(lk_vf x) {
  x = lk_vmin(lk_vmax(x, lk_vset1(-4.0f)), lk_vset1(4.0f));
  lk_vf x2 = x * x;
  lk_vf p = lk_vset1(-2.72614225801306e-10f);
  p = p * x2 + 2.77068142495902e-08f;
  p = p * x2 + -2.10102402082508e-06f;
  p = p * x2 + -5.69250639462346e-05f;
  p = p * x2 + -7.34990630326855e-04f;
  p = p * x2 + -2.95459980854025e-03f;
  p = p * x2 + -1.60960333262415e-02f;
  p = p * x;
  lk_vf q = lk_vset1(-1.45660718464996e-05f);
  q = q * x2 + -2.13374055278905e-04f;
  q = q * x2 + -1.68282697438203e-03f;
  q = q * x2 + -7.37332916720468e-03f;
  q = q * x2 + -1.42647390514189e-02f;
  return p / q;
}

/* erfc(x) for a vector, with small *relative* error (~1e-6 in float) even deep in the tail,
 * where 1 − erf(x) would cancel: Numerical Recipes' erfcc, t = 1/(1 + |x|/2),
 * erfc(|x|) = t·exp(−x² + P(t)) (fractional error < 1.2e-7 in exact arithmetic), reflected with
 * erfc(−x) = 2 − erfc(x). GELU's Φ(x) = erfc(−x/√2)/2 needs exactly this for negative x.
 * P is evaluated in Estrin's form for a short dependency chain, as in lk_vexp. */
static inline lk_vf lk_verfc(lk_vf x) {
  lk_vi neg = x < 0.0f;
  lk_vf z = lk_vselect(neg, -x, x);
  lk_vf t = 1.0f / (1.0f + 0.5f * z);
  lk_vf t2 = t * t, t4 = t2 * t2;
  lk_vf p01 = t * 1.00002368f + -1.26551223f;
  lk_vf p23 = t * 0.09678418f + 0.37409196f;
  lk_vf p45 = t * 0.27886807f + -0.18628806f;
  lk_vf p67 = t * 1.48851587f + -1.13520398f;
  lk_vf p89 = t * 0.17087277f + -0.82215223f;
  lk_vf p = (p01 + t2 * p23) + t4 * ((p45 + t2 * p67) + t4 * p89);
  lk_vf r = t * lk_vexp(p - z * z);
  return lk_vselect(neg, 2.0f - r, r);
}

/* ---- Activations: one vector at a time -----------------------------------------------------------
 * The elementwise kernels of activation.c and the epilogues of the fused kernels (gemm.c's
 * lk_gemm_ex2, fused_linear.c, token_dwconv.c) all evaluate these, so an activation rounds the
 * same wherever the fusion passes put it. */

/* gelu(x) = x/2 · (1 + erf(x/√2)), the exact (erf) form of nn.GELU(). For x < −2, 1 + erf cancels
 * (gelu(−5) ≈ −1.4e-6 would keep only a digit), so a vector with any such lane uses the
 * equivalent x/2 · erfc(−x/√2), 2.7× slower; activations are mostly above −2, so nearly all
 * vectors take the cheap rational erf. Relative error ≤ 1.5e-5 for every x (measured against
 * double erfc). The path depends only on the vector's own lanes, at fixed positions, so the
 * result is deterministic. */
static inline lk_vf lk_vgelu(lk_vf x) {
  if (lk_vany(x < -2.0f)) return 0.5f * x * lk_verfc(x * -0.707106781186547524f);
  return 0.5f * x * (1.0f + lk_verf(x * 0.707106781186547524f));
}
/* NaN propagates through relu, relu6, hswish and hsigmoid (lk_vmax/lk_vmin return NaN operands). */
static inline lk_vf lk_vrelu(lk_vf x) { return lk_vmax(x, lk_vzero()); }
static inline lk_vf lk_vrelu6(lk_vf x) { return lk_vmin(lk_vmax(x, lk_vzero()), lk_vset1(6.0f)); }
/* p / 6 as the division rounds it, for every p whose quotient is a normal float (checked for all
 * 2^31 non-negative floats; subnormal quotients may differ by an ulp), without a divide: q = p·(1/6)
 * is within an ulp, e = p − 6q is exact in one fused multiply-add, and q + e·(1/6) rounds to the
 * quotient (Markstein's correction). A vector divide issues once per ~5 cycles on Zen 3, which
 * made h-swish cost a third of LocalViT's depth-wise convolution; this is three pipelined ops.
 * The multiply-adds must be fused (clang contracts them: -ffp-contract=on, its default), so targets
 * without FMA instructions divide. */
static inline lk_vf lk_vdiv6(lk_vf p) {
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
  const lk_vf r = lk_vset1(1.0f / 6.0f), six = lk_vset1(6.0f);
  lk_vf q = p * r;
  lk_vf e = p - q * six;
  return q + e * r;
#else
  return p / 6.0f;
#endif
}
/* hardswish(x) = x · relu6(x + 3) / 6 and hardsigmoid(x) = relu6(x + 3) / 6, as PyTorch rounds them. */
static inline lk_vf lk_vhsigmoid(lk_vf x) { return lk_vdiv6(lk_vmin(lk_vmax(x + 3.0f, lk_vzero()), lk_vset1(6.0f))); }
static inline lk_vf lk_vhswish(lk_vf x) { return lk_vdiv6(x * lk_vmin(lk_vmax(x + 3.0f, lk_vzero()), lk_vset1(6.0f))); }
static inline lk_vf lk_vsigmoid(lk_vf x) { return 1.0f / (1.0f + lk_vexp(-x)); }

/* Activation codes of the fused kernels' `act` argument (the order is ABI: the emitter writes the
 * numbers' names). Unknown codes act as LK_ACT_NONE. */
enum { LK_ACT_NONE = 0, LK_ACT_GELU, LK_ACT_RELU, LK_ACT_RELU6, LK_ACT_HSWISH, LK_ACT_HSIGMOID, LK_ACT_SIGMOID };

/* act(x) lane-wise. Epilogues call it with a constant or loop-invariant `act`, so the switch is
 * resolved once per tile (or folded away when inlined with a constant). */
static inline lk_vf lk_vact(int act, lk_vf x) {
  switch (act) {
  case LK_ACT_GELU: return lk_vgelu(x);
  case LK_ACT_RELU: return lk_vrelu(x);
  case LK_ACT_RELU6: return lk_vrelu6(x);
  case LK_ACT_HSWISH: return lk_vhswish(x);
  case LK_ACT_HSIGMOID: return lk_vhsigmoid(x);
  case LK_ACT_SIGMOID: return lk_vsigmoid(x);
  default: return x;
  }
}
/* v[0:n] = act(v[0:n]): one switch, then a straight loop, so the n activations are independent
 * chains the core overlaps (a register tile's worth in an epilogue). */
static inline void lk_vact_n(int act, lk_vf *v, int n) {
  switch (act) {
  case LK_ACT_GELU: for (int i = 0; i < n; ++i) v[i] = lk_vgelu(v[i]); break;
  case LK_ACT_RELU: for (int i = 0; i < n; ++i) v[i] = lk_vrelu(v[i]); break;
  case LK_ACT_RELU6: for (int i = 0; i < n; ++i) v[i] = lk_vrelu6(v[i]); break;
  case LK_ACT_HSWISH: for (int i = 0; i < n; ++i) v[i] = lk_vhswish(v[i]); break;
  case LK_ACT_HSIGMOID: for (int i = 0; i < n; ++i) v[i] = lk_vhsigmoid(v[i]); break;
  case LK_ACT_SIGMOID: for (int i = 0; i < n; ++i) v[i] = lk_vsigmoid(v[i]); break;
  default: break;
  }
}
/* act(x) for one float: the vector code on a splat, so scalar tails round like vector bodies
 * (gelu takes the path a vector of x alone would). */
static inline float lk_apply_act(int act, float x) { return lk_vact(act, lk_vset1(x))[0]; }
/* Double-precision definition, for the naive references (libm; NaN passes through). */
static inline double lk_apply_act_ref(int act, double x) {
  double r6;
  if (x != x) return x;
  r6 = x + 3.0 < 0.0 ? 0.0 : x + 3.0 > 6.0 ? 6.0 : x + 3.0;
  switch (act) {
  case LK_ACT_GELU: return 0.5 * x * erfc(-x / sqrt(2.0)); /* erfc: 1 + erf cancels below −8 */
  case LK_ACT_RELU: return x > 0.0 ? x : 0.0;
  case LK_ACT_RELU6: return x < 0.0 ? 0.0 : x > 6.0 ? 6.0 : x;
  case LK_ACT_HSWISH: return x * r6 / 6.0;
  case LK_ACT_HSIGMOID: return r6 / 6.0;
  case LK_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
  default: return x;
  }
}

/* Σ x[0:n] in 2·LK_VW fixed lanes, then the lanes in order: vectorised (a plain float loop does
 * not vectorise without -ffast-math) and deterministic. */
static inline float lk_sum(const float *x, long n) {
  lk_vf s0 = lk_vzero(), s1 = lk_vzero();
  long i = 0;
  float s;
  for (; i + 2 * LK_VW <= n; i += 2 * LK_VW) {
    s0 += lk_vload(x + i);
    s1 += lk_vload(x + i + LK_VW);
  }
  s = lk_vsum(s0 + s1);
  for (; i < n; ++i) s += x[i];
  return s;
}

/* Σ a[i]·b[i] over i < n in LK_VW fixed lanes, then the lanes in order (grad.c's
 * reduce_sum_product). */
static inline float lk_dot(const float *a, const float *b, long n) {
  lk_vf s = lk_vzero();
  long i = 0;
  float r;
  for (; i + LK_VW <= n; i += LK_VW) s += lk_vload(a + i) * lk_vload(b + i);
  r = lk_vsum(s);
  for (; i < n; ++i) r += a[i] * b[i];
  return r;
}

/* lk_dot with the lanes summed by halving (log2 VW vector adds) instead of one after another
 * (VW dependent adds): for many short dot products, where that chain is most of the time (local
 * attention's T scores per location and head, D = 48: three FMAs, then sixteen adds). Rounds
 * differently from lk_dot. */
static inline float lk_dot_tree(const float *a, const float *b, long n) {
  typedef float lk__v4 __attribute__((vector_size(16)));
  lk_vf acc = lk_vzero();
  lk__v4 f;
  float r;
  long i = 0;
  for (; i + LK_VW <= n; i += LK_VW) acc += lk_vload(a + i) * lk_vload(b + i);
#if LK_VW == 16
  const lk_v8 h = __builtin_shufflevector(acc, acc, 0, 1, 2, 3, 4, 5, 6, 7) +
                  __builtin_shufflevector(acc, acc, 8, 9, 10, 11, 12, 13, 14, 15);
  f = __builtin_shufflevector(h, h, 0, 1, 2, 3) + __builtin_shufflevector(h, h, 4, 5, 6, 7);
#elif LK_VW == 8
  f = __builtin_shufflevector(acc, acc, 0, 1, 2, 3) + __builtin_shufflevector(acc, acc, 4, 5, 6, 7);
#else
  f = acc;
#endif
  r = (f[0] + f[2]) + (f[1] + f[3]);
  for (; i < n; ++i) r += a[i] * b[i];
  return r;
}

/* A row stride for rows of n floats that keeps rows read together out of each other's L1 sets:
 * n, one cache line more when n is a multiple of 256 floats (1 KiB). Rows 4 KiB apart all map to
 * the same sets of a 64-set L1 and evict each other when a kernel reads down a column of them
 * (attention's scores and packed keys at SAG's 1024 keys); 1 KiB apart, a set holds every
 * fourth row. */
static inline long lk_unaliased_stride(long n) { return n % 256 == 0 ? n + 16 : n; }

/* ---- Small integer helpers -------------------------------------------------------------------- */
static inline long lk_min_l(long a, long b) { return a < b ? a : b; }
static inline long lk_max_l(long a, long b) { return a > b ? a : b; }
static inline long lk_ceil_div(long a, long b) { return (a + b - 1) / b; }
static inline long lk_round_up(long a, long b) { return lk_ceil_div(a, b) * b; }

/* ---- OpenMP without #ifdef at every use -------------------------------------------------------- */
#define LK_PRAGMA_(x) _Pragma(#x)
#ifdef _OPENMP
/* Declared here rather than through <omp.h>: libomp 19's header is not -Wpedantic clean in C99
 * and the compiler may not find it without an extra -I. These match the OpenMP API exactly. */
int omp_get_max_threads(void);
int omp_get_thread_num(void);
int omp_get_num_threads(void);
#  define LK_OMP(directive) LK_PRAGMA_(omp directive)
static inline int lk_max_threads(void) { return omp_get_max_threads(); }
static inline int lk_thread_id(void) { return omp_get_thread_num(); }
static inline int lk_team_size(void) { return omp_get_num_threads(); }
#else
#  define LK_OMP(directive)
static inline int lk_max_threads(void) { return 1; }
static inline int lk_thread_id(void) { return 0; }
static inline int lk_team_size(void) { return 1; }
#endif

/* Kernels with less work than this run on the calling thread. Opening a parallel region costs
 * ~2 µs while the worker threads spin (libomp's default KMP_BLOCKTIME), but ~15-70 µs on this
 * 2-vCPU VM with KMP_BLOCKTIME=0, where every region must wake a sleeping thread: parallelising a
 * 20 µs layernorm then makes it 4× slower. Elementwise and row kernels: 65536 elements (streaming
 * work of ~10-40 µs); GEMM: 4M multiply-adds (~50 µs on one core). The emitter may override both. */
#ifndef LK_PAR_MIN
#define LK_PAR_MIN 65536L
#endif
#ifndef LK_GEMM_PAR_MIN
#define LK_GEMM_PAR_MIN 4194304.0
#endif

/* Contiguous range [*lo, *hi) of part `i` when `n` items are split into `parts` nearly equal parts. */
static inline void lk_split(long n, int parts, int i, long *lo, long *hi) {
  *lo = n * i / parts;
  *hi = n * (i + 1) / parts;
}

/* Work sharing with affinity and stealing, for jobs [0, n) of one parallel region: each thread first
 * takes the jobs of its own lk_split share, in order, then what is left of the others' shares. A
 * thread that the hypervisor deschedules no longer holds up the call (the other thread finishes
 * its jobs), while in calm runs each thread works on the same rows as in the previous kernel,
 * whose data is still in its own L2: taking every job from one shared counter made
 * localvit_fmnist's training step (activations that fit in L2) ~8 % slower. Each job is taken
 * exactly once (an atomic counter per share, each on its own cache line) and must not depend on
 * which thread runs it. Use: `lk_shares sh = {0};` before the region (shared), `int from = -1;`
 * per thread, then `for (long j; (j = lk_share_next(&sh, n, &from)) >= 0;)`. Teams of more than
 * LK_SHARES_MAX threads split the jobs into LK_SHARES_MAX shares, some started by two threads. */
#define LK_SHARES_MAX 64
typedef struct {
  struct __attribute__((aligned(64))) { long taken; } share[LK_SHARES_MAX];
} lk_shares;

static inline long lk_share_next(lk_shares *sh, long n, int *from) {
  const int team = lk_team_size(), parts = team < LK_SHARES_MAX ? team : LK_SHARES_MAX;
  if (*from < 0) *from = lk_thread_id() % parts;
  for (int visited = 0; visited < parts; ++visited, *from = (*from + 1) % parts) {
    long lo, hi, k;
    lk_split(n, parts, *from, &lo, &hi);
    LK_OMP(atomic capture)
    k = sh->share[*from].taken++;
    if (lo + k < hi) return lo + k;
  }
  return -1;
}

/* ---- Scratch memory -----------------------------------------------------------------------------
 * 64-byte aligned (one cache line, one zmm); the raw pointer is kept just below the aligned block.
 * Returns NULL on failure; callers then fall back to a path that needs no scratch. */
static inline float *lk_scratch_alloc(size_t floats) {
  unsigned char *raw = (unsigned char *)malloc(floats * sizeof(float) + 64 + sizeof(void *));
  uintptr_t p;
  if (!raw) return NULL;
  p = ((uintptr_t)(raw + sizeof(void *)) + 63) & ~(uintptr_t)63;
  memcpy((void *)(p - sizeof(void *)), &raw, sizeof raw);
  return (float *)p;
}
static inline void lk_scratch_free(float *p) {
  void *raw;
  if (!p) return;
  memcpy(&raw, (unsigned char *)p - sizeof(void *), sizeof raw);
  free(raw);
}

/* Σ (x − m) and Σ (x − m)² over n floats in a fixed lane order: the corrected two-pass variance of
 * the normalisations (norm.c's LayerNorm, grad.c's normalize and its gradient). */
static inline void lk_dev_sums(const float *x, long n, float m, float *s1, float *s2) {
  lk_vf a0 = lk_vzero(), a1 = lk_vzero(), q0 = lk_vzero(), q1 = lk_vzero();
  long i = 0;
  for (; i + 2 * LK_VW <= n; i += 2 * LK_VW) {
    lk_vf d0 = lk_vload(x + i) - m, d1 = lk_vload(x + i + LK_VW) - m;
    a0 += d0; a1 += d1;
    q0 += d0 * d0; q1 += d1 * d1;
  }
  *s1 = lk_vsum(a0 + a1);
  *s2 = lk_vsum(q0 + q1);
  for (; i < n; ++i) {
    float d = x[i] - m;
    *s1 += d;
    *s2 += d * d;
  }
}

/* The maximum of output pixel (oh, ow)'s pooling window in plane xp [Hh, Ww] (padding counts as
 * −inf and never wins; the first NaN takes the window, as torch.max_pool2d), and in *arg its index
 * in the plane (the first maximum in scan order; −1 for a window with no pixel inside): what
 * lk_maxpool2d outputs and where lk_maxpool2d_grad sends the gradient. */
static inline float lk_maxpool_window(const float *xp, int Hh, int Ww, int oh, int ow, int kh, int kw, int sh,
                                      int sw, int ph, int pw, long *arg) {
  float m = -INFINITY;
  *arg = -1;
  for (int ki = 0; ki < kh; ++ki) {
    int ih = oh * sh - ph + ki;
    if (ih < 0 || ih >= Hh) continue;
    for (int kj = 0; kj < kw; ++kj) {
      int iw = ow * sw - pw + kj;
      long at = (long)ih * Ww + iw;
      float v;
      if (iw < 0 || iw >= Ww) continue;
      v = xp[at];
      if (*arg < 0) *arg = at;
      if (v > m || v != v) { m = v; *arg = at; }
      if (m != m) return m;
    }
  }
  return m;
}

/* ---- The kernel library ---------------------------------------------------------------------------
 * Prototypes of every kernel, so a kernel file compiles on its own and the forward function may call
 * kernels in any order. Semantics, shapes and scratch needs are documented at each definition;
 * each kernel X also has a naive reference X_naive (same arguments, no `ws`) used by the tests. */
#define LK_MAX_RANK 6 /* rank limit of lk_binary and lk_copy_strided (batch axis included) */
enum { LK_OP_ADD, LK_OP_SUB, LK_OP_MUL, LK_OP_DIV, LK_OP_MUL_ADD }; /* lk_binary's op (mul_add: lk_mul_add only) */

/* gemm.c */
void lk_gemm(int M, int N, int K, const float *A, long rsa, long csa, const float *B, long rsb, long csb,
             float *C, long rsc, float beta);
void lk_gemm_batched(int batch, int M, int N, int K, const float *A, long bsa, long rsa, long csa,
                     const float *B, long bsb, long rsb, long csb, float *C, long bsc, long rsc, float beta);
void lk_gemm_ex(int batch, int M, int N, int K, const float *A, long bsa, long rsa, long csa,
                const float *B, long bsb, long rsb, long csb, float *C, long bsc, long rsc, float beta,
                const float *bias_m, const float *bias_n);
void lk_gemm_batched2(int outer, long osa, long osb, long osc, int batch, int M, int N, int K, const float *A,
                      long bsa, long rsa, long csa, const float *B, long bsb, long rsb, long csb, float *C, long bsc,
                      long rsc, float beta);
void lk_gemm_ex2(int batch, int M, int N, int K, const float *A, long bsa, long rsa, long csa,
                 const float *B, long bsb, long rsb, long csb, float *C, long bsc, long rsc, float beta,
                 const float *bias_m, const float *bias_n, int act, const float *R, long bsr, long rsr);
size_t lk_gemm_serial_workspace_floats(int M, int N, int K);
void lk_gemm_serial(int M, int N, int K, const float *A, long rsa, long csa, const float *B, long rsb,
                    long csb, float *C, long rsc, float beta, float *ws);
/* linear.c */
void lk_linear(int rows, int K, int N, const float *x, const float *W, const float *bias, float *y);
void lk_linear_strided(int rows, int K, int N, const float *x, long ldx, const float *W,
                       const float *bias, float *y, long ldy);
/* conv.c */
size_t lk_conv2d_workspace_floats(int B, int Cin, int Hh, int Ww, int Cout, int kh, int kw, int sh,
                                  int sw, int ph, int pw, int groups);
void lk_conv2d(int B, int Cin, int Hh, int Ww, int Cout, int kh, int kw, int sh, int sw, int ph, int pw,
               int groups, const float *x, const float *w, const float *bias, float *y, float *ws);
/* norm.c */
void lk_layernorm(long rows, int C, const float *x, const float *w, const float *b, float eps, float *y);
void lk_batchnorm_infer(int B, int C, long HW, const float *x, const float *w, const float *b,
                        const float *mean, const float *var, float eps, float *y);
/* activation.c */
void lk_gelu(long n, const float *x, float *y);
void lk_relu(long n, const float *x, float *y);
void lk_relu6(long n, const float *x, float *y);
void lk_hswish(long n, const float *x, float *y);
void lk_hsigmoid(long n, const float *x, float *y);
void lk_sigmoid(long n, const float *x, float *y);
void lk_rsqrt(long n, const float *x, float *y);
void lk_binary(int op, int rank, const long *shape, const float *a, const long *sa, const float *b,
               const long *sb, float *y);
void lk_add(int rank, const long *shape, const float *a, const long *sa, const float *b, const long *sb, float *y);
void lk_sub(int rank, const long *shape, const float *a, const long *sa, const float *b, const long *sb, float *y);
void lk_mul(int rank, const long *shape, const float *a, const long *sa, const float *b, const long *sb, float *y);
void lk_div(int rank, const long *shape, const float *a, const long *sa, const float *b, const long *sb, float *y);
void lk_add_scalar(long n, const float *x, float s, float *y);
void lk_sub_scalar(long n, const float *x, float s, float *y);
void lk_rsub_scalar(long n, const float *x, float s, float *y);
void lk_mul_scalar(long n, const float *x, float s, float *y);
void lk_div_scalar(long n, const float *x, float s, float *y);
void lk_rdiv_scalar(long n, const float *x, float s, float *y);
/* softmax.c */
void lk_softmax(long rows, int cols, const float *x, float *y);
void lk_softmax_row(int cols, const float *x, float scale, float *y);
/* attention.c */
void lk_sdpa(int B, int Nq, int Nk, int H, int Hk, int D, const float *q, long q_rs, const float *k,
             long k_rs, const float *v, long v_rs, float *out, float scale);
void lk_local_attention(int B, int T, int N, int H, int Hk, int D, const float *q, const float *k,
                        const float *v, float *out, float scale);
/* pool.c */
void lk_maxpool2d(int B, int C, int Hh, int Ww, int kh, int kw, int sh, int sw, int ph, int pw,
                  const float *x, float *y);
void lk_global_avgpool(int B, int C, long HW, const float *x, float *y);
void lk_mean_axis(long outer, long L, long inner, const float *x, float *y);
/* layout.c */
void lk_copy_strided(int rank, const long *shape, const float *x, const long *sx, float *y, const long *sy);
void lk_transpose(int rank, const long *shape, const int *perm, const float *x, float *y);
void lk_copy_rows(long rows, long n, const float *x, long ldx, float *y, long ldy);
void lk_seq2img(int B, long N, long C, const float *x, float *y);
void lk_img2seq(int B, long C, long HW, const float *x, float *y);
void lk_roll(long P, int Hh, int Ww, int dy, int dx, const float *x, float *y);
void lk_circular_pad(long P, int Hh, int Ww, int top, int bottom, int left, int right, const float *x, float *y);
/* fused_linear.c */
void lk_fused_linear(int rows, int K, int N, const float *x, const float *W, const float *bias, int act,
                     const float *residual, float *y);
void lk_fused_linear_strided(int batch, int rows, int K, int N, const float *x, long xbs, const float *W,
                             const float *bias, const float *scale, long scale_bs, int act, const float *residual,
                             long rbs, float *y, long ybs);
/* token_dwconv.c */
void lk_token_dwconv(int B, int Hh, int Ww, int C, int kh, int kw, int sh, int sw, int ph, int pw,
                     const float *x, const float *w, const float *bias, int act, float *y);
void lk_token_dwconv_grad_input(int B, int Hh, int Ww, int C, int kh, int kw, int sh, int sw, int ph, int pw,
                                const float *dy, const float *w, float *dx);
void lk_token_dwconv_grad_weight(int B, int Hh, int Ww, int C, int kh, int kw, int sh, int sw, int ph, int pw,
                                 const float *dy, const float *x, float *dw);

/* ---- shifted_attention.c (Locally-SAG's fused shifted local attention) ---------------------------
 * Kept as a separate block: see shifted_attention.c and README.md for the full contract. */
enum { LK_SHIFT_ROLL = 0, LK_SHIFT_PAD = 1 }; /* shifts[t] = {dy, dx, 0, 0} / {l, r, top, bottom} */
size_t lk_shifted_local_attention_scratch_floats(int T, int Ci, int kh, int kw, int C, int H, int Hk, int D);
int lk_shifted_local_attention(int B, int Ci, int Hh, int Ww, int T, int mode, const int *shifts, int C,
                               int kh, int kw, int sh, int sw, int ph, int pw, int H, int Hk, int D,
                               const float *img, const float *q, const float *const *cw,
                               const float *const *cb, const float *pos, const float *ln_w,
                               const float *ln_b, float eps, const float *wkv, const float *bkv,
                               float scale, float *out);
/* ---- end of shifted_attention.c block ---- */

/* ---- Training kernels (DESIGN.md §7): gradients, loss, optimizers ------------------------------- */
/* grad.c */
void lk_unary_grad(int act, long n, const float *x, const float *dy, float *dx);
void lk_softmax_grad(long rows, long L, const float *y, const float *dy, float *dx);
void lk_normalize(long rows, long C, const float *x, float eps, float *y);
void lk_normalize_grad(long rows, long C, const float *x, const float *dxhat, float eps, float *dx);
void lk_batch_normalize(int B, long C, long S, const float *x, const float *w, const float *b, float eps, float *y);
void lk_batch_normalize_grad(int B, long C, long S, const float *x, const float *dy, const float *w, float eps, float *dx);
void lk_batch_normalize_param_grad(int B, long C, long S, const float *x, const float *dy, float eps, float *out);
void lk_batch_moments(int B, long C, long S, const float *x, float *out);
void lk_batch_normalize_cl(long rows, long C, const float *x, const float *w, const float *b, float eps, float *y);
void lk_batch_normalize_grad_cl(long rows, long C, const float *x, const float *dy, const float *w, float eps, float *dx);
void lk_batch_normalize_param_grad_cl(long rows, long C, const float *x, const float *dy, float eps, float *out);
void lk_batch_moments_cl(long rows, long C, const float *x, float *out);
void lk_batch_statistics_cl(long rows, long C, const float *x, float *out);
long lk_batch_norm_act_workspace_floats(long rows, long C, int kind);
void lk_batch_norm_act_cl(long rows, long C, const float *x, const float *m, const float *w, const float *b, float eps,
                          int act, float *ws, float *y);
void lk_batch_norm_act_param_grad_cl(long rows, long C, const float *x, const float *dz, const float *m, const float *w,
                                     const float *b, float eps, int act, float *ws, float *out);
void lk_batch_norm_act_grad_cl(long rows, long C, const float *x, const float *dz, const float *m, const float *w,
                               const float *b, const float *sums, float eps, int act, float *ws, float *dx);
void lk_reduce_sum(int rank, const long *shape, const unsigned char *reduce, const float *x, float *y);
void lk_conv2d_grad_input(int B, int Cin, int Hh, int Ww, int Cout, int kh, int kw, int sh, int sw, int ph, int pw,
                          int groups, const float *dy, const float *w, float *dx);
void lk_conv2d_grad_weight(int B, int Cin, int Hh, int Ww, int Cout, int kh, int kw, int sh, int sw, int ph, int pw,
                           int groups, const float *dy, const float *x, float *dw);
void lk_linear_grad_weight(long rows, int K, int N, const float *dy, const float *x, float *dw);
void lk_maxpool2d_grad(int B, int C, int Hh, int Ww, int kh, int kw, int sh, int sw, int ph, int pw,
                       const float *x, const float *dy, float *dx);
void lk_circular_pad_grad(long P, int Hh, int Ww, int l, int r, int t, int b, const float *dy, float *dx);
void lk_zero_pad(long outer, long L, long inner, long before, long after, const float *x, float *y);
/* loss.c */
void lk_cross_entropy(int B, int K, const float *logits, const float *targets, float *loss);
void lk_cross_entropy_grad(int B, int K, const float *logits, const float *targets, float *dlogits);
/* optim.c */
double lk_sum_squares(long n, const float *x);
void lk_adamw_step(long n, float *p, const float *grad, float *m, float *v, float lr, float beta1, float beta2,
                   float eps, float wd, long step, float gscale);
void lk_sgd_step(long n, float *p, const float *grad, float *buf, float lr, float momentum, float wd, long step,
                 float gscale);

#endif /* LOCUS_PROLOGUE_H */
