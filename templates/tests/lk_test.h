/* Shared helpers of the kernel tests: a seeded generator, error measurement that reports the worst
 * element, a wall clock, and a pass/fail tally. A test program includes prologue.h and the kernel
 * files it checks (one translation unit, as the emitter builds a model), then this header. */
#ifndef LK_TEST_H
#define LK_TEST_H
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t lkt_state = 0x9E3779B97F4A7C15ull;
static inline uint32_t lkt_next(void) {
  /* xorshift64*: fixed seed, so every run checks the same shapes and values. */
  lkt_state ^= lkt_state >> 12;
  lkt_state ^= lkt_state << 25;
  lkt_state ^= lkt_state >> 27;
  return (uint32_t)((lkt_state * 2685821657736338717ull) >> 32);
}
static inline int lkt_int(int lo, int hi) { return lo + (int)(lkt_next() % (uint32_t)(hi - lo + 1)); }
static inline float lkt_unit(void) { return (float)(lkt_next() >> 8) / 16777216.0f * 2.0f - 1.0f; }
static inline float *lkt_rand(long n, float scale) {
  float *p = (float *)malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  for (long i = 0; i < n; ++i) p[i] = lkt_unit() * scale;
  return p;
}
static inline float *lkt_copy(const float *x, long n) {
  float *p = (float *)malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  memcpy(p, x, (size_t)n * sizeof(float));
  return p;
}

static inline double lkt_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int lkt_passed = 0, lkt_failed = 0;
static double lkt_worst_all = 0.0;

/* Relative error of got against ref: |got - ref| / (|ref| + floor), floor = 1% of max |ref|:
 * elements far below the tensor's scale are judged against that scale, not against themselves
 * (an output of 1e-5 next to outputs of 1 cannot carry 7 significant digits out of a float sum).
 * Reports the worst element and fails when it exceeds tol. Returns 1 when it passed. */
static inline int lkt_check(const char *what, const float *got, const float *ref, long n, double tol) {
  double floor_ = 0.0, worst = 0.0;
  long at = -1;
  for (long i = 0; i < n; ++i) floor_ = fmax(floor_, fabs((double)ref[i]));
  floor_ = floor_ * 1e-2 + 1e-30;
  for (long i = 0; i < n; ++i) {
    double e = fabs((double)got[i] - (double)ref[i]) / (fabs((double)ref[i]) + floor_);
    if (!(e <= worst)) { worst = e; at = i; } /* catches NaN too */
  }
  if (worst > lkt_worst_all || worst != worst) lkt_worst_all = worst;
  if (!(worst <= tol)) {
    printf("FAIL %-48s worst rel err %.3g at [%ld]: got %.9g want %.9g (tol %.1g)\n", what, worst, at,
           (double)got[at], (double)ref[at], tol);
    ++lkt_failed;
    return 0;
  }
  ++lkt_passed;
  if (getenv("LKT_VERBOSE")) printf("ok   %-48s worst rel err %.3g\n", what, worst);
  return 1;
}

/* Exact comparison (copies, permutations, max pooling must be bit-exact). */
static inline int lkt_check_exact(const char *what, const float *got, const float *ref, long n) {
  for (long i = 0; i < n; ++i) {
    if (memcmp(&got[i], &ref[i], sizeof(float)) != 0) {
      printf("FAIL %-48s differs at [%ld]: got %.9g want %.9g\n", what, i, (double)got[i], (double)ref[i]);
      ++lkt_failed;
      return 0;
    }
  }
  ++lkt_passed;
  if (getenv("LKT_VERBOSE")) printf("ok   %-48s exact\n", what);
  return 1;
}

/* Closing line in the plain form CI reads; the exit status fails the run on any mismatch. */
static inline int lkt_check_true(const char *what, int ok) {
  if (!ok) {
    printf("FAIL %s\n", what);
    ++lkt_failed;
    return 0;
  }
  ++lkt_passed;
  return 1;
}

static inline int lkt_finish(const char *suite) {
  printf("%s: worst relative error %.3g\n", suite, lkt_worst_all);
  printf("%s: %d passed, %d failed\n", suite, lkt_passed, lkt_failed);
  return lkt_failed ? 1 : 0;
}
#endif
