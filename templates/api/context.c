/* The model context of a Locus C library (templates/api/context.c): the public API of lkm.h on top
 * of the raw ABI of the two generated libraries (DESIGN.md §4): the fused inference model
 * (lkm_forward, with lkm_prepare folding BatchNorm) and the training library (lkm_train_forward:
 * loss, gradients and batch statistics; lkm_train_adamw_step ...). It owns what the raw ABI leaves
 * to its caller: weight buffers, arenas, optimizer state, the step count, error messages.
 *
 * The emitter writes this file after the public header, the model facts the raw tables do not
 * carry (CTX_HAS_TRAINING, ctx_image_info, ctx_logits_info, ctx_decays[]) and safetensors.c,
 * with every `lkm` replaced by the model's name. It is model-agnostic: everything else is read
 * from the raw tables at lkm_model_create, parameters matched by name.
 *
 * A training step does what LocusRuntime's Trainer does, in the same order and the same float
 * arithmetic, so the two produce identical weights: forward-backward, Σ g² per gradient in double
 * in table order, norm, clipping scale max/(norm + 1e-6), the optimizer on every trainable
 * parameter (zeros as the gradient of one the loss does not reach), then the running statistics.
 * No FMA contraction in this file: the running-statistics update must round like Swift's (clang
 * honours the pragma; GCC ignores it, and contracts only in its GNU modes: -std=c11 does not). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lkm.h"

/* ---- The raw ABI of the generated C (DESIGN.md §4, version 2) ---------------------------------- */

int lkm_abi_version(void);
int lkm_batch(void);
int lkm_num_params(void);
const locus_tensor_info *lkm_param_info(int i);
int lkm_num_inputs(void);
const locus_tensor_info *lkm_input_info(int i);
int lkm_num_outputs(void);
const locus_tensor_info *lkm_output_info(int i);
size_t lkm_arena_bytes(void);
void lkm_set_num_threads(int n);
int lkm_prepare(const float *const *params, float *arena);
int lkm_forward(const float *const *params, const float *const *inputs, float *const *outputs, float *arena);
#if CTX_HAS_TRAINING
int lkm_train_abi_version(void);
int lkm_train_batch(void);
int lkm_train_num_params(void);
const locus_tensor_info *lkm_train_param_info(int i);
int lkm_train_num_inputs(void);
const locus_tensor_info *lkm_train_input_info(int i);
int lkm_train_num_outputs(void);
const locus_tensor_info *lkm_train_output_info(int i);
size_t lkm_train_arena_bytes(void);
void lkm_train_set_num_threads(int n);
int lkm_train_forward(const float *const *params, const float *const *inputs, float *const *outputs, float *arena);
double lkm_train_sum_squares(long n, const float *x);
void lkm_train_adamw_step(long n, float *p, const float *grad, float *m, float *v, float lr, float beta1, float beta2,
                          float eps, float wd, long step, float gscale);
void lkm_train_sgd_step(long n, float *p, const float *grad, float *buf, float lr, float momentum, float wd, long step,
                        float gscale);
#endif

#define CTX_ABI_VERSION 2
#define CTX_ALIGN 64 /* bytes: arenas must be 64-byte aligned; parameters start on cache lines too */
#define CTX_MAX_DROP_PATH 64

/* ---- The context ------------------------------------------------------------------------------ */

typedef struct {
  int input;   /* index among the training library's inputs */
  int index;   /* <index> of drop_path:<index>:<rate> */
  float rate;
} ctx_drop_path;

struct lkm_model {
  /* Parameters in the inference table's order, each in its own 64-byte-aligned slice of one block. */
  float *weights;
  float **param;    /* [P] */
  size_t *offset;   /* [P] floats from `weights` to parameter i; optimizer state uses the same layout */
  size_t floats;    /* size of the block */
  float *arena;     /* inference activations; its persistent region holds the folded weights */
  float *pad_in, *pad_out; /* one compiled batch of images / logits, for predict's last chunk */
  int prepared;     /* the persistent region matches the weights */
  int exposed;      /* lkm_model_param handed out a writable pointer: re-prepare before every predict */
  int threads;
  long step;
  char error[1024];
#if CTX_HAS_TRAINING
  const float **train_param; /* [Pt] the same buffers, in the training library's order */
  int *train_to_model;       /* [Pt] */
  int *grad_output;          /* [Pt] output holding the gradient, or -1 */
  unsigned char *trainable;  /* [Pt] 0 for running statistics */
  int (*stats)[3];           /* [nstats] (output, mean param, var param), training indices */
  int nstats;
  int images_input, targets_input, loss_output;
  ctx_drop_path drop[CTX_MAX_DROP_PATH];
  int ndrop;
  float *train_arena;
  const float **train_in;    /* [inputs] */
  float **train_out;         /* [outputs], each its own buffer */
  float *targets, *masks, *zeros;
  float *state_a, *state_b;  /* AdamW: exp_avg, exp_avg_sq; SGD: momentum buffer in state_a */
  int state_kind;            /* -1: none yet, 0: AdamW, 1: SGD */
  int has_grads;
#endif
};

/* Why the last lkm_model_create on this thread failed. */
static _Thread_local const char *ctx_create_error = "";

static int ctx_fail(lkm_model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ctx_fail(lkm_model *m, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m->error, sizeof m->error, fmt, ap);
  va_end(ap);
  return -1;
}

static st_error ctx_st_error(lkm_model *m) {
  st_error e;
  e.text = m->error;
  e.cap = sizeof m->error;
  return e;
}

static void *ctx_aligned(size_t bytes) {
  void *p = NULL;
  if (posix_memalign(&p, CTX_ALIGN, bytes ? (bytes + CTX_ALIGN - 1) / CTX_ALIGN * CTX_ALIGN : CTX_ALIGN) != 0) return NULL;
  memset(p, 0, bytes);
  return p;
}

static void ctx_apply_threads(const lkm_model *m) {
  if (m->threads <= 0) return;
  lkm_set_num_threads(m->threads);
#if CTX_HAS_TRAINING
  lkm_train_set_num_threads(m->threads);
#endif
}

int lkm_model_api_version(void) { return 1; }

void lkm_optimizer_defaults(lkm_optimizer *o) {
  if (!o) return;
  memset(o, 0, sizeof *o);
  o->kind = 0;
  o->lr = 1e-3f;
  o->weight_decay = 0.05f;
  o->beta1 = 0.9f;
  o->beta2 = 0.999f;
  o->eps = 1e-8f;
  o->momentum = 0.9f;
  o->clip_norm = 0.0f;
  o->label_smoothing = 0.0f;
  o->seed = 0;
  o->drop_path = 1;
}

const char *lkm_model_error(const lkm_model *m) { return m ? m->error : ctx_create_error; }

void lkm_model_set_threads(lkm_model *m, int n) {
  if (m) m->threads = n > 0 ? n : 0;
}

/* ---- Tables ----------------------------------------------------------------------------------- */

int lkm_model_num_params(void) { return lkm_num_params(); }
const locus_tensor_info *lkm_model_param_info(int i) { return lkm_param_info(i); }

int lkm_model_param_index(const char *name) {
  if (!name) return -1;
  for (int i = 0; i < lkm_num_params(); ++i)
    if (strcmp(lkm_param_info(i)->name, name) == 0) return i;
  return -1;
}

long lkm_model_param_count(void) {
  long n = 0;
  for (int i = 0; i < lkm_num_params(); ++i) n += (long)lkm_param_info(i)->numel;
  return n;
}

const locus_tensor_info *lkm_model_image_info(void) { return &ctx_image_info; }
const locus_tensor_info *lkm_model_logits_info(void) { return &ctx_logits_info; }
int lkm_model_classes(void) { return (int)ctx_logits_info.numel; }
long lkm_model_image_floats(void) { return (long)ctx_image_info.numel; }
int lkm_model_batch(void) { return lkm_batch(); }
size_t lkm_model_arena_bytes(void) { return lkm_arena_bytes(); }

#if CTX_HAS_TRAINING
int lkm_model_train_batch(void) { return lkm_train_batch(); }
size_t lkm_model_train_arena_bytes(void) { return lkm_train_arena_bytes(); }
#else
int lkm_model_train_batch(void) { return 0; }
size_t lkm_model_train_arena_bytes(void) { return 0; }
#endif

float *lkm_model_param(lkm_model *m, int i) {
  if (!m || i < 0 || i >= lkm_num_params()) return NULL;
  m->exposed = 1;
  return m->param[i];
}

const float *lkm_model_param_read(const lkm_model *m, int i) {
  if (!m || i < 0 || i >= lkm_num_params()) return NULL;
  return m->param[i];
}

long lkm_model_step_count(const lkm_model *m) { return m ? m->step : 0; }

/* ---- Drop-path masks -------------------------------------------------------------------------- */

static uint64_t ctx_splitmix64(uint64_t x) {
  x += UINT64_C(0x9E3779B97F4A7C15);
  x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
  return x ^ (x >> 31);
}

void lkm_model_drop_path_mask(uint64_t seed, long step, int index, float rate, long n, float *mask) {
  float keep = 1.0f - rate;
  uint64_t stream = ctx_splitmix64(ctx_splitmix64(seed) ^ (uint64_t)step);
  if (!mask) return;
  for (long b = 0; b < n; ++b) {
    uint64_t h = ctx_splitmix64(stream ^ (((uint64_t)(uint32_t)index << 32) | (uint64_t)b));
    float u = (float)(h >> 40) * (1.0f / 16777216.0f);
    mask[b] = u < keep ? 1.0f / keep : 0.0f;
  }
}

/* ---- Creation --------------------------------------------------------------------------------- */

void lkm_model_destroy(lkm_model *m) {
  if (!m) return;
  free(m->weights);
  free(m->param);
  free(m->offset);
  free(m->arena);
  free(m->pad_in);
  free(m->pad_out);
#if CTX_HAS_TRAINING
  free(m->train_param);
  free(m->train_to_model);
  free(m->grad_output);
  free(m->trainable);
  free(m->stats);
  free(m->train_arena);
  if (m->train_out)
    for (int i = 0; i < lkm_train_num_outputs(); ++i) free(m->train_out[i]);
  free(m->train_in);
  free(m->train_out);
  free(m->targets);
  free(m->masks);
  free(m->zeros);
  free(m->state_a);
  free(m->state_b);
#endif
  free(m);
}

static int ctx_create_fail(lkm_model *m, const char *why, lkm_model **out) {
  ctx_create_error = why;
  lkm_model_destroy(m);
  *out = NULL;
  return -1;
}

#if CTX_HAS_TRAINING
/* drop_path:<index>:<rate> → index and rate; 0 when the name has that form. */
static int ctx_parse_drop_path(const char *name, int *index, float *rate) {
  const char *p = name + strlen("drop_path:");
  char *end;
  long i;
  if (strncmp(name, "drop_path:", strlen("drop_path:")) != 0) return -1;
  i = strtol(p, &end, 10);
  if (end == p || *end != ':' || i < 0 || i > 0x7fffffff) return -1;
  *rate = strtof(end + 1, &end);
  if (*end != '\0' || !(*rate >= 0.0f && *rate <= 1.0f)) return -1;
  *index = (int)i;
  return 0;
}

/* The training library's tables, matched to the inference model's by name. */
static const char *ctx_bind_training(lkm_model *m) {
  int np = lkm_train_num_params(), ni = lkm_train_num_inputs(), no = lkm_train_num_outputs();
  long tb = lkm_train_batch();
  size_t largest = 1;
  if (lkm_train_abi_version() != CTX_ABI_VERSION) return "the training library's ABI version is not 2";
  if (np != lkm_num_params()) return "the training and inference libraries have different parameter tables";
  m->train_param = (const float **)calloc((size_t)np + 1, sizeof *m->train_param);
  m->train_to_model = (int *)calloc((size_t)np + 1, sizeof(int));
  m->grad_output = (int *)calloc((size_t)np + 1, sizeof(int));
  m->trainable = (unsigned char *)calloc((size_t)np + 1, 1);
  m->stats = (int (*)[3])calloc((size_t)no + 1, sizeof *m->stats);
  m->train_in = (const float **)calloc((size_t)ni + 1, sizeof *m->train_in);
  m->train_out = (float **)calloc((size_t)no + 1, sizeof *m->train_out);
  if (!m->train_param || !m->train_to_model || !m->grad_output || !m->trainable || !m->stats || !m->train_in || !m->train_out)
    return "out of memory";
  for (int i = 0; i < np; ++i) {
    const locus_tensor_info *t = lkm_train_param_info(i);
    int j = lkm_model_param_index(t->name);
    if (j < 0 || lkm_param_info(j)->numel != t->numel)
      return "the training library has a parameter the inference model lacks (or with another size)";
    m->train_to_model[i] = j;
    m->train_param[i] = m->param[j];
    m->grad_output[i] = -1;
    m->trainable[i] = 1;
    if ((size_t)t->numel > largest) largest = (size_t)t->numel;
  }
  m->images_input = m->targets_input = m->loss_output = -1;
  for (int i = 0; i < ni; ++i) {
    const locus_tensor_info *t = lkm_train_input_info(i);
    int index;
    float rate;
    if (strcmp(t->name, "targets") == 0) {
      if (t->rank != 2 || t->shape[0] != tb || t->shape[1] != ctx_logits_info.numel) return "the training input 'targets' is not [B, classes]";
      m->targets_input = i;
    } else if (ctx_parse_drop_path(t->name, &index, &rate) == 0) {
      if (m->ndrop == CTX_MAX_DROP_PATH) return "the training library has more than 64 drop_path inputs";
      /* Per-sample [1] in the graph: [B, 1] in the table, one float per sample. */
      if (t->numel != tb) return "a drop_path input of the training library does not hold one value per sample";
      m->drop[m->ndrop].input = i;
      m->drop[m->ndrop].index = index;
      m->drop[m->ndrop++].rate = rate;
    } else if (m->images_input < 0 && t->numel == tb * ctx_image_info.numel) {
      m->images_input = i;
    } else {
      return "the training library has an input this context does not know how to feed";
    }
  }
  if (m->images_input < 0 || m->targets_input < 0) return "the training library lacks its images or 'targets' input";
  for (int o = 0; o < no; ++o) {
    const locus_tensor_info *t = lkm_train_output_info(o);
    if (!(m->train_out[o] = (float *)ctx_aligned((size_t)t->numel * sizeof(float)))) return "out of memory";
    if (strcmp(t->name, "loss") == 0) {
      m->loss_output = o;
    } else if (strncmp(t->name, "grad:", 5) == 0) {
      int i = -1;
      for (int k = 0; k < np; ++k)
        if (strcmp(lkm_train_param_info(k)->name, t->name + 5) == 0) i = k;
      if (i < 0 || lkm_train_param_info(i)->numel != t->numel) return "a gradient output names no parameter of its size";
      m->grad_output[i] = o;
    } else if (strncmp(t->name, "running_stats:", 14) == 0) {
      /* [2, C]: the batch mean, then the batch variance, for <prefix>running_mean / running_var. */
      const char *mean = t->name + 14;
      size_t len = strlen(mean), suffix = strlen("running_mean");
      char var[512];
      int mi = -1, vi = -1;
      if (len < suffix || strcmp(mean + len - suffix, "running_mean") != 0 || len + 1 > sizeof var)
        return "a running_stats output names no running_mean";
      snprintf(var, sizeof var, "%.*srunning_var", (int)(len - suffix), mean);
      for (int k = 0; k < np; ++k) {
        if (strcmp(lkm_train_param_info(k)->name, mean) == 0) mi = k;
        if (strcmp(lkm_train_param_info(k)->name, var) == 0) vi = k;
      }
      if (mi < 0 || vi < 0 || t->numel != 2 * lkm_train_param_info(mi)->numel || lkm_train_param_info(vi)->numel != lkm_train_param_info(mi)->numel)
        return "a running_stats output names no running_mean/running_var pair of its size";
      m->stats[m->nstats][0] = o;
      m->stats[m->nstats][1] = mi;
      m->stats[m->nstats++][2] = vi;
      m->trainable[mi] = m->trainable[vi] = 0;
    } else {
      return "the training library has an output this context does not know";
    }
  }
  if (m->loss_output < 0) return "the training library has no 'loss' output";
  m->train_arena = (float *)ctx_aligned(lkm_train_arena_bytes());
  m->targets = (float *)ctx_aligned((size_t)tb * (size_t)ctx_logits_info.numel * sizeof(float));
  m->masks = (float *)ctx_aligned((size_t)(m->ndrop + 1) * (size_t)tb * sizeof(float));
  m->zeros = (float *)ctx_aligned(largest * sizeof(float));
  if (!m->train_arena || !m->targets || !m->masks || !m->zeros) return "out of memory";
  m->train_in[m->targets_input] = m->targets;
  for (int d = 0; d < m->ndrop; ++d) m->train_in[m->drop[d].input] = m->masks + (size_t)d * (size_t)tb;
  m->state_kind = -1;
  return NULL;
}
#endif

int lkm_model_create(lkm_model **out) {
  lkm_model *m;
  int np = lkm_num_params();
  size_t floats = 0;
  const char *why;
  if (!out) return ctx_create_fail(NULL, "lkm_model_create: out is NULL", &(lkm_model *){NULL});
  *out = NULL;
  if (lkm_abi_version() != CTX_ABI_VERSION) return ctx_create_fail(NULL, "the inference library's ABI version is not 2", out);
  if (lkm_num_inputs() != 1 || lkm_num_outputs() != 1 || lkm_input_info(0)->numel != lkm_batch() * ctx_image_info.numel ||
      lkm_output_info(0)->numel != lkm_batch() * ctx_logits_info.numel)
    return ctx_create_fail(NULL, "the inference library does not take one image batch to one logits batch", out);
  m = (lkm_model *)calloc(1, sizeof *m);
  if (!m) return ctx_create_fail(NULL, "out of memory", out);
  m->param = (float **)calloc((size_t)np + 1, sizeof *m->param);
  m->offset = (size_t *)calloc((size_t)np + 1, sizeof *m->offset);
  if (!m->param || !m->offset) return ctx_create_fail(m, "out of memory", out);
  for (int i = 0; i < np; ++i) {
    m->offset[i] = floats;
    floats += ((size_t)lkm_param_info(i)->numel + 15) / 16 * 16; /* 16 floats: 64 bytes */
  }
  m->floats = floats;
  m->weights = (float *)ctx_aligned(floats * sizeof(float));
  m->arena = (float *)ctx_aligned(lkm_arena_bytes());
  m->pad_in = (float *)ctx_aligned((size_t)lkm_input_info(0)->numel * sizeof(float));
  m->pad_out = (float *)ctx_aligned((size_t)lkm_output_info(0)->numel * sizeof(float));
  if (!m->weights || !m->arena || !m->pad_in || !m->pad_out) return ctx_create_fail(m, "out of memory", out);
  for (int i = 0; i < np; ++i) m->param[i] = m->weights + m->offset[i];
#if CTX_HAS_TRAINING
  if ((why = ctx_bind_training(m)) != NULL) return ctx_create_fail(m, why, out);
#else
  (void)why;
#endif
  ctx_create_error = "";
  *out = m;
  return 0;
}

/* ---- Weights and checkpoints ------------------------------------------------------------------ */

/* Reads every parameter of `file` into a staging copy of the weight block, so that a failure
 * halfway leaves the live weights untouched. */
static int ctx_read_weights(lkm_model *m, st_file *file, float **staged) {
  st_error err = ctx_st_error(m);
  *staged = (float *)ctx_aligned(m->floats * sizeof(float));
  if (!*staged) return ctx_fail(m, "%s: out of memory for %zu floats of weights", file->path, m->floats);
  for (int i = 0; i < lkm_num_params(); ++i) {
    const locus_tensor_info *t = lkm_param_info(i);
    if (st_read_f32(file, t->name, t->rank, t->shape, *staged + m->offset[i], &err) != 0) {
      free(*staged);
      *staged = NULL;
      return -1;
    }
  }
  return 0;
}

static void ctx_weights_changed(lkm_model *m) {
  m->prepared = 0;
}

int lkm_model_load_weights(lkm_model *m, const char *safetensors_path) {
  st_file file;
  st_error err;
  float *staged;
  if (!m) return -1;
  m->error[0] = '\0';
  err = ctx_st_error(m);
  if (st_open(&file, safetensors_path, &err) != 0) return -1;
  if (ctx_read_weights(m, &file, &staged) != 0) {
    st_close(&file);
    return -1;
  }
  st_close(&file);
  memcpy(m->weights, staged, m->floats * sizeof(float));
  free(staged);
  ctx_weights_changed(m);
  return 0;
}

/* Appends the parameters to `t` (n entries so far); returns the new count. */
static int ctx_param_entries(const lkm_model *m, st_out *t, int n) {
  for (int i = 0; i < lkm_num_params(); ++i, ++n) {
    const locus_tensor_info *info = lkm_param_info(i);
    t[n].name = info->name;
    t[n].rank = info->rank;
    t[n].shape = info->shape;
    t[n].numel = info->numel;
    t[n].data = m->param[i];
  }
  return n;
}

int lkm_model_save_weights(lkm_model *m, const char *safetensors_path) {
  st_out *t;
  st_error err;
  char step[32];
  const char *meta[] = {"format", "pt", "step", step};
  int rc;
  if (!m) return -1;
  m->error[0] = '\0';
  err = ctx_st_error(m);
  snprintf(step, sizeof step, "%ld", m->step);
  t = (st_out *)calloc((size_t)lkm_num_params() + 1, sizeof *t);
  if (!t) return ctx_fail(m, "%s: out of memory", safetensors_path ? safetensors_path : "(null)");
  rc = st_write(safetensors_path, t, ctx_param_entries(m, t, 0), meta, 2, &err);
  free(t);
  return rc;
}

#if CTX_HAS_TRAINING
/* The names `locus train` gives optimizer state (LocusRuntime's Optimizer.stateNames). */
static const char *ctx_state_prefix(int kind, int second) {
  return kind == 0 ? (second ? "optimizer.exp_avg_sq." : "optimizer.exp_avg.") : "optimizer.momentum_buffer.";
}

static int ctx_allocate_state(lkm_model *m, int kind) {
  float *a = (float *)ctx_aligned(m->floats * sizeof(float));
  float *b = kind == 0 ? (float *)ctx_aligned(m->floats * sizeof(float)) : NULL;
  if (!a || (kind == 0 && !b)) {
    free(a);
    free(b);
    return ctx_fail(m, "out of memory for the optimizer state (%zu floats)", m->floats);
  }
  free(m->state_a);
  free(m->state_b);
  m->state_a = a;
  m->state_b = b;
  m->state_kind = kind;
  return 0;
}
#endif

void lkm_model_reset_optimizer(lkm_model *m) {
  if (!m) return;
  m->step = 0;
#if CTX_HAS_TRAINING
  free(m->state_a);
  free(m->state_b);
  m->state_a = m->state_b = NULL;
  m->state_kind = -1;
#endif
}

int lkm_model_save_checkpoint(lkm_model *m, const char *safetensors_path) {
  int np = lkm_num_params(), n;
  st_out *t;
  st_error err;
  char step[32], *names;
  const char *kind = "none";
  const char *meta[6];
  int rc;
  if (!m) return -1;
  m->error[0] = '\0';
  err = ctx_st_error(m);
  t = (st_out *)calloc(3 * (size_t)np + 1, sizeof *t);
  names = (char *)calloc(2 * (size_t)np + 1, 512);
  if (!t || !names) {
    free(t);
    free(names);
    return ctx_fail(m, "%s: out of memory", safetensors_path ? safetensors_path : "(null)");
  }
  n = ctx_param_entries(m, t, 0);
#if CTX_HAS_TRAINING
  if (m->state_kind >= 0) {
    kind = m->state_kind == 0 ? "adamw" : "sgd";
    for (int s = 0; s < (m->state_kind == 0 ? 2 : 1); ++s)
      for (int i = 0; i < lkm_train_num_params(); ++i) {
        int j = m->train_to_model[i];
        char *name = names + (size_t)(s * np + i) * 512;
        if (!m->trainable[i]) continue;
        snprintf(name, 512, "%s%s", ctx_state_prefix(m->state_kind, s), lkm_param_info(j)->name);
        t[n] = t[j];
        t[n].name = name;
        t[n++].data = (s ? m->state_b : m->state_a) + m->offset[j];
      }
  }
#endif
  snprintf(step, sizeof step, "%ld", m->step);
  meta[0] = "format"; meta[1] = "locus-c-checkpoint";
  meta[2] = "optimizer"; meta[3] = kind;
  meta[4] = "step"; meta[5] = step;
  rc = st_write(safetensors_path, t, n, meta, 3, &err);
  free(t);
  free(names);
  return rc;
}

int lkm_model_load_checkpoint(lkm_model *m, const char *safetensors_path) {
  st_file file;
  st_error err;
  float *staged = NULL, *a = NULL, *b = NULL;
  const char *step_text;
  char *end;
  long step;
  int kind = -1;
  if (!m) return -1;
  m->error[0] = '\0';
  err = ctx_st_error(m);
  if (st_open(&file, safetensors_path, &err) != 0) return -1;
  step_text = st_metadata(&file, "step");
  if (!step_text) {
    st_close(&file);
    return ctx_fail(m, "%s: no \"step\" in the metadata: not a checkpoint (load it with lkm_model_load_weights)", safetensors_path);
  }
  errno = 0;
  step = strtol(step_text, &end, 10);
  if (end == step_text || *end != '\0' || step < 0 || errno == ERANGE) {
    st_close(&file);
    return ctx_fail(m, "%s: metadata \"step\" is '%s', not a count of steps", safetensors_path, step_text);
  }
  if (ctx_read_weights(m, &file, &staged) != 0) goto fail;
#if CTX_HAS_TRAINING
  /* The optimizer is the one whose state the file holds: AdamW's moments, SGD's momentum, or none. */
  for (int i = 0; i < lkm_train_num_params() && kind < 0; ++i) {
    char name[512];
    if (!m->trainable[i]) continue;
    snprintf(name, sizeof name, "%s%s", ctx_state_prefix(0, 0), lkm_train_param_info(i)->name);
    if (st_find(&file, name)) kind = 0;
    snprintf(name, sizeof name, "%s%s", ctx_state_prefix(1, 0), lkm_train_param_info(i)->name);
    if (st_find(&file, name)) kind = 1;
    break;
  }
  /* A file with steps but no optimizer state (e.g. `locus train`'s weights.safetensors, which
   * records its step) would resume AdamW with zero moments at step N: refuse it, as the Swift
   * Trainer does, unless the checkpoint says it was taken without an optimizer. */
  if (kind < 0 && step > 0) {
    const char *saved = st_metadata(&file, "optimizer");
    if (!saved || strcmp(saved, "none") != 0) {
      ctx_fail(m, "%s: step %ld but no optimizer state (optimizer.exp_avg.* or optimizer.momentum_buffer.*): "
                  "not a checkpoint; load it with lkm_model_load_weights", safetensors_path, step);
      goto fail;
    }
  }
  if (kind >= 0) {
    a = (float *)ctx_aligned(m->floats * sizeof(float));
    b = kind == 0 ? (float *)ctx_aligned(m->floats * sizeof(float)) : NULL;
    if (!a || (kind == 0 && !b)) {
      ctx_fail(m, "%s: out of memory for the optimizer state", safetensors_path);
      goto fail;
    }
    for (int s = 0; s < (kind == 0 ? 2 : 1); ++s)
      for (int i = 0; i < lkm_train_num_params(); ++i) {
        const locus_tensor_info *t = lkm_train_param_info(i);
        char name[512];
        if (!m->trainable[i]) continue;
        snprintf(name, sizeof name, "%s%s", ctx_state_prefix(kind, s), t->name);
        if (st_read_f32(&file, name, t->rank, t->shape, (s ? b : a) + m->offset[m->train_to_model[i]], &err) != 0) goto fail;
      }
  }
#else
  (void)kind; /* no training part: no optimizer state to restore */
#endif
  st_close(&file);
  memcpy(m->weights, staged, m->floats * sizeof(float));
  free(staged);
#if CTX_HAS_TRAINING
  free(m->state_a);
  free(m->state_b);
  m->state_a = a;
  m->state_b = b;
  m->state_kind = kind;
  m->has_grads = 0;
#endif
  m->step = step;
  ctx_weights_changed(m);
  return 0;
fail:
  st_close(&file);
  free(staged);
  free(a);
  free(b);
  return -1;
}

/* ---- Inference -------------------------------------------------------------------------------- */

int lkm_model_predict(lkm_model *m, long n, const float *images, float *logits) {
  long batch = lkm_batch(), per = (long)ctx_image_info.numel, classes = (long)ctx_logits_info.numel;
  if (!m) return -1;
  m->error[0] = '\0';
  if (n < 1) return ctx_fail(m, "predict: n must be at least 1, got %ld", n);
  if (!images || !logits) return ctx_fail(m, "predict: images and logits must not be NULL");
  ctx_apply_threads(m);
  if (!m->prepared || m->exposed) {
    m->prepared = 0;
    if (lkm_prepare((const float *const *)m->param, m->arena) != 0)
      return ctx_fail(m, "predict: preparing the weights failed (out of memory in a kernel)");
    m->prepared = 1;
  }
  for (long at = 0; at < n; at += batch) {
    long k = n - at < batch ? n - at : batch;
    const float *in = images + (size_t)at * (size_t)per;
    float *out = logits + (size_t)at * (size_t)classes;
    if (k < batch) { /* the last chunk: padded with zero images, whose logits are dropped */
      memcpy(m->pad_in, in, (size_t)(k * per) * sizeof(float));
      memset(m->pad_in + k * per, 0, (size_t)((batch - k) * per) * sizeof(float));
      in = m->pad_in;
      out = m->pad_out;
    }
    if (lkm_forward((const float *const *)m->param, &in, &out, m->arena) != 0)
      return ctx_fail(m, "predict: the forward pass failed (out of memory in a kernel) at image %ld", at);
    if (k < batch) memcpy(logits + (size_t)at * (size_t)classes, m->pad_out, (size_t)(k * classes) * sizeof(float));
  }
  return 0;
}

/* ---- Training --------------------------------------------------------------------------------- */

#if CTX_HAS_TRAINING
static int ctx_check_optimizer(lkm_model *m, const lkm_optimizer *o) {
  if (!o) return ctx_fail(m, "train_step: the optimizer settings are NULL (fill them with lkm_optimizer_defaults)");
  if (o->kind != 0 && o->kind != 1) return ctx_fail(m, "train_step: optimizer kind %d is neither 0 (AdamW) nor 1 (SGD)", o->kind);
  if (!isfinite(o->lr) || o->lr < 0) return ctx_fail(m, "train_step: lr must be finite and >= 0, got %g", (double)o->lr);
  if (!isfinite(o->weight_decay)) return ctx_fail(m, "train_step: weight_decay must be finite, got %g", (double)o->weight_decay);
  if (o->kind == 0 && !(o->beta1 >= 0 && o->beta1 < 1 && o->beta2 >= 0 && o->beta2 < 1 && o->eps >= 0))
    return ctx_fail(m, "train_step: AdamW needs 0 <= beta1, beta2 < 1 and eps >= 0, got %g, %g, %g", (double)o->beta1,
                    (double)o->beta2, (double)o->eps);
  if (o->kind == 1 && !(o->momentum >= 0 && isfinite(o->momentum)))
    return ctx_fail(m, "train_step: SGD momentum must be >= 0, got %g", (double)o->momentum);
  if (!isfinite(o->clip_norm)) return ctx_fail(m, "train_step: clip_norm must be finite (<= 0: no clipping)");
  if (!(o->label_smoothing >= 0 && o->label_smoothing <= 1))
    return ctx_fail(m, "train_step: label_smoothing must be in [0, 1] (PyTorch's range), got %g", (double)o->label_smoothing);
  if (m->state_kind >= 0 && m->state_kind != o->kind)
    return ctx_fail(m, "train_step: the optimizer changed from %s to %s after %ld steps; call lkm_model_reset_optimizer first",
                    m->state_kind == 0 ? "AdamW" : "SGD", o->kind == 0 ? "AdamW" : "SGD", m->step);
  return 0;
}

/* Soft targets with label smoothing, as LocusTraining's LabelSmoothing (PyTorch's definition). */
static int ctx_targets(lkm_model *m, const int64_t *labels, float smoothing) {
  long tb = lkm_train_batch(), classes = (long)ctx_logits_info.numel;
  float off = smoothing / (float)classes, on = (1.0f - smoothing) + off;
  for (long b = 0; b < tb; ++b)
    if (labels[b] < 0 || labels[b] >= classes)
      return ctx_fail(m, "train_step: label %lld at batch position %ld is outside 0..<%ld", (long long)labels[b], b, classes);
  for (long b = 0; b < tb; ++b)
    for (long k = 0; k < classes; ++k) m->targets[b * classes + k] = k == labels[b] ? on : off;
  return 0;
}
#endif

int lkm_model_train_step(lkm_model *m, const lkm_optimizer *o, const float *images, const int64_t *labels,
                         float *loss_out, float *grad_norm_out) {
#if CTX_HAS_TRAINING
  int np = lkm_train_num_params();
  long tb = lkm_train_batch(), step;
  double squares = 0.0;
  float loss, norm, scale = 1.0f, momentum = 0.1f;
  if (!m) return -1;
  m->error[0] = '\0';
  if (!images || !labels) return ctx_fail(m, "train_step: images and labels must not be NULL");
  if (ctx_check_optimizer(m, o) != 0 || ctx_targets(m, labels, o->label_smoothing) != 0) return -1;
  if (m->state_kind < 0 && ctx_allocate_state(m, o->kind) != 0) return -1;
  step = m->step + 1;
  for (int d = 0; d < m->ndrop; ++d) {
    float *mask = m->masks + (size_t)d * (size_t)tb;
    if (o->drop_path) {
      lkm_model_drop_path_mask(o->seed, step, m->drop[d].index, m->drop[d].rate, tb, mask);
    } else {
      for (long b = 0; b < tb; ++b) mask[b] = 1.0f; /* off: every branch kept, unscaled */
    }
  }
  m->train_in[m->images_input] = images;
  ctx_apply_threads(m);
  if (lkm_train_forward(m->train_param, m->train_in, m->train_out, m->train_arena) != 0)
    return ctx_fail(m, "train_step: the forward-backward pass failed (out of memory in a kernel)");
  m->has_grads = 1;
  loss = m->train_out[m->loss_output][0];
  for (int i = 0; i < np; ++i)
    if (m->grad_output[i] >= 0) squares += lkm_train_sum_squares((long)lkm_train_param_info(i)->numel, m->train_out[m->grad_output[i]]);
  norm = (float)sqrt(squares);
  if (loss_out) *loss_out = loss;
  if (grad_norm_out) *grad_norm_out = norm;
  if (!isfinite(loss))
    return ctx_fail(m, "train_step: the loss is %g at step %ld: training diverged; the weights were not changed", (double)loss, step);
  if (o->clip_norm > 0 && norm > o->clip_norm) scale = o->clip_norm / (norm + 1e-6f);
  m->step = step;
  for (int i = 0; i < np; ++i) {
    int j = m->train_to_model[i];
    long n = (long)lkm_train_param_info(i)->numel;
    const float *g = m->grad_output[i] >= 0 ? m->train_out[m->grad_output[i]] : m->zeros;
    float wd = ctx_decays[j] ? o->weight_decay : 0.0f;
    if (!m->trainable[i]) continue;
    if (o->kind == 0)
      lkm_train_adamw_step(n, m->param[j], g, m->state_a + m->offset[j], m->state_b + m->offset[j], o->lr, o->beta1, o->beta2,
                           o->eps, wd, step, scale);
    else
      lkm_train_sgd_step(n, m->param[j], g, o->momentum != 0.0f ? m->state_a + m->offset[j] : NULL, o->lr, o->momentum, wd,
                         step, scale);
  }
  /* Running statistics: PyTorch's (1 − momentum)·running + momentum·batch, as the Trainer rounds it. */
  for (int s = 0; s < m->nstats; ++s) {
    const float *batch = m->train_out[m->stats[s][0]];
    float *mean = m->param[m->train_to_model[m->stats[s][1]]], *var = m->param[m->train_to_model[m->stats[s][2]]];
    long c = (long)lkm_train_param_info(m->stats[s][1])->numel;
    for (long k = 0; k < c; ++k) {
      mean[k] = (1.0f - momentum) * mean[k] + momentum * batch[k];
      var[k] = (1.0f - momentum) * var[k] + momentum * batch[c + k];
    }
  }
  ctx_weights_changed(m);
  return 0;
#else
  (void)o; (void)images; (void)labels; (void)loss_out; (void)grad_norm_out;
  if (!m) return -1;
  return ctx_fail(m, "train_step: this library has no training part (it was compiled with --train-batch 0)");
#endif
}

int lkm_model_gradient(lkm_model *m, const char *param_name, float *out, long n) {
#if CTX_HAS_TRAINING
  int i = -1;
  if (!m) return -1;
  m->error[0] = '\0';
  if (!param_name || !out) return ctx_fail(m, "gradient: param_name and out must not be NULL");
  for (int k = 0; k < lkm_train_num_params(); ++k)
    if (strcmp(lkm_train_param_info(k)->name, param_name) == 0) i = k;
  if (i < 0) return ctx_fail(m, "gradient: the model has no parameter '%s'", param_name);
  if (!m->trainable[i]) return ctx_fail(m, "gradient: '%s' is a running statistic, not trained by gradient", param_name);
  if (n != (long)lkm_train_param_info(i)->numel)
    return ctx_fail(m, "gradient: '%s' has %lld elements, n is %ld", param_name, (long long)lkm_train_param_info(i)->numel, n);
  if (!m->has_grads) return ctx_fail(m, "gradient: no training step has run yet");
  if (m->grad_output[i] >= 0) memcpy(out, m->train_out[m->grad_output[i]], (size_t)n * sizeof(float));
  else memset(out, 0, (size_t)n * sizeof(float));
  return 0;
#else
  (void)param_name; (void)out; (void)n;
  if (!m) return -1;
  return ctx_fail(m, "gradient: this library has no training part (it was compiled with --train-batch 0)");
#endif
}
