/* The C library of one Locus model (`locus compile SPEC --emit c-library`): a context that owns
 * the weights, the activation memory and the optimizer state, and runs inference and training
 * steps. Needs nothing but libc, libm and libomp (pkg-config --cflags --libs ceit_tiny).
 *
 * Template (templates/api/ceit_tiny.h): the emitter writes it as include/<model>.h with every `ceit_tiny`
 * replaced by the model's name, so several models' libraries link into one program.
 *
 * Conventions
 * - Functions returning int return 0 on success and -1 on failure; ceit_tiny_model_error() then says
 *   what went wrong (naming the file, tensor or argument). A failed call changes nothing: weights,
 *   optimizer state and step count are as they were (train_step's outputs excepted, see there).
 * - One ceit_tiny_model serves one thread at a time; use one model per thread for parallel work.
 * - Images are float32 [C, H, W] each, normalised as at training time, back to back; logits
 *   float32 [classes] each.
 * - Parameters are in the order of ceit_tiny_model_param_info and carry the official state_dict names;
 *   weight files are safetensors, as `locus train` (F32) and PyTorch's safetensors write them
 *   (F32, or F64, F16 and BF16, converted to F32 on load). */
#ifndef LOCUS_CEIT_TINY_API_H
#define LOCUS_CEIT_TINY_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Shape record of a parameter, input or output: name, rank, the first `rank` entries of shape,
 * element count. The same struct in every Locus header, so it is defined only once. */
#if !defined(LOCUS_TENSOR_INFO_DEFINED) && !defined(LOCUS_PROLOGUE_H)
#define LOCUS_TENSOR_INFO_DEFINED
typedef struct { const char *name; int rank; int64_t shape[8]; int64_t numel; } locus_tensor_info;
#endif

/* The model: weights, activation arena(s), optimizer state, step count, last error. Opaque. */
typedef struct ceit_tiny_model ceit_tiny_model;

/* Hyperparameters of one training step (ceit_tiny_optimizer_defaults fills them). */
typedef struct {
  int kind;               /* 0 = AdamW (torch.optim.AdamW), 1 = SGD with momentum (torch.optim.SGD, dampening 0) */
  float lr, weight_decay; /* lr used by the next step; the caller may change it every step (schedules).
                             Weight decay applies to weights of rank >= 2 only (not biases, norms,
                             position embeddings, class tokens), as timm and `locus train` */
  float beta1, beta2, eps;/* AdamW (0.9, 0.999, 1e-8) */
  float momentum;         /* SGD */
  float clip_norm;        /* clip the global gradient norm to this (clip_grad_norm_); <= 0: no clipping */
  float label_smoothing;  /* 0..1: targets (1 - s)·onehot + s/classes */
  uint64_t seed;          /* drop-path masks: a function of (seed, step, block, sample) only */
  int drop_path;          /* 1: draw the spec's drop_path masks from seed (as `locus train`); 0: masks of 1
                             (as `locus train --no-drop-path` and `locus grad`) */
} ceit_tiny_optimizer;

/* Version of this API: 1. */
int ceit_tiny_model_api_version(void);

/* AdamW, lr 1e-3, weight decay 0.05, betas 0.9/0.999, eps 1e-8, momentum 0.9 (unused by AdamW),
 * no clipping, no label smoothing, seed 0, drop-path on. */
void ceit_tiny_optimizer_defaults(ceit_tiny_optimizer *o);

/* Creates a model with every weight zero (load weights next, or write them through
 * ceit_tiny_model_param). Returns 0, or nonzero with *out NULL (out of memory; ceit_tiny_model_error(NULL)
 * says why). */
int ceit_tiny_model_create(ceit_tiny_model **out);

/* Frees the model and everything it owns. NULL is ignored. */
void ceit_tiny_model_destroy(ceit_tiny_model *m);

/* The message of m's last failed call ("" when the last call succeeded). With m == NULL: why the
 * last ceit_tiny_model_create on this thread failed (static text). */
const char *ceit_tiny_model_error(const ceit_tiny_model *m);

/* Threads the model's kernels use from the next call on; n <= 0 keeps the default (all cores, or
 * OMP_NUM_THREADS). It is applied with omp_set_num_threads before each call, which is a setting of
 * the calling thread: other OpenMP code that thread runs afterwards sees it too. */
void ceit_tiny_model_set_threads(ceit_tiny_model *m, int n);

/* Loads every parameter from a safetensors file: each must be present, F32 (or F64, F16 or BF16,
 * converted as PyTorch's .float() does), with exactly the model's shape; other tensors (optimizer state, num_batches_tracked) are ignored. On failure
 * the message names the file and the tensor, and the weights are unchanged. */
int ceit_tiny_model_load_weights(ceit_tiny_model *m, const char *safetensors_path);

/* Writes every parameter (F32, official names, metadata "step") to a safetensors file, atomically:
 * a temporary file beside it, renamed into place once complete. */
int ceit_tiny_model_save_weights(ceit_tiny_model *m, const char *safetensors_path);

/* Weights plus optimizer state (tensors optimizer.exp_avg.<p> / optimizer.exp_avg_sq.<p> for AdamW,
 * optimizer.momentum_buffer.<p> for SGD, as `locus train` names them) and the step count
 * (metadata "step"), atomically. Loading one restores all three, so training continues as if it
 * had not stopped; load_checkpoint also reads `locus train`'s checkpoint-*.safetensors. */
int ceit_tiny_model_save_checkpoint(ceit_tiny_model *m, const char *safetensors_path);
int ceit_tiny_model_load_checkpoint(ceit_tiny_model *m, const char *safetensors_path);

/* The parameters (trainable ones and BatchNorm running statistics), in table order: name, shape,
 * element count. Info for i out of range is NULL. */
int ceit_tiny_model_num_params(void);
const locus_tensor_info *ceit_tiny_model_param_info(int i);

/* Index of the parameter named `name`, or -1. */
int ceit_tiny_model_param_index(const char *name);

/* Floats over all parameters (running statistics included). */
long ceit_tiny_model_param_count(void);

/* The live buffer of parameter i (param_info(i)->numel floats), NULL for i out of range. Writes
 * through it need no further call: once a writable pointer has been handed out, the model
 * recomputes its folded weights before every prediction. */
float *ceit_tiny_model_param(ceit_tiny_model *m, int i);

/* The same buffer, read-only: does not make predictions recompute the folded weights. */
const float *ceit_tiny_model_param_read(const ceit_tiny_model *m, int i);

/* Shapes: one image [C, H, W] as input info (rank 3), the logits of one image [classes] as output
 * info (rank 1), classes, and floats per image (C·H·W). */
const locus_tensor_info *ceit_tiny_model_image_info(void);
const locus_tensor_info *ceit_tiny_model_logits_info(void);
int ceit_tiny_model_classes(void);
long ceit_tiny_model_image_floats(void);

/* The batch the inference code is compiled for (predict runs any n in chunks of it), and the
 * bytes of activation memory each part allocates (training: 0 without a training part). */
int ceit_tiny_model_batch(void);
size_t ceit_tiny_model_arena_bytes(void);
size_t ceit_tiny_model_train_arena_bytes(void);

/* Logits of n >= 1 images: images holds n·ceit_tiny_model_image_floats() floats, logits receives
 * n·ceit_tiny_model_classes(). Runs in chunks of ceit_tiny_model_batch() images, the last one padded with
 * zero images. BatchNorm uses the running statistics (inference mode). logits must not overlap
 * images. */
int ceit_tiny_model_predict(ceit_tiny_model *m, long n, const float *images, float *logits);

/* The batch of the training part: every train step takes exactly this many images. 0 when the
 * library was built without one (--train-batch 0). */
int ceit_tiny_model_train_batch(void);

/* One training step on ceit_tiny_model_train_batch() images with integer labels in [0, classes):
 * forward and backward in train mode (BatchNorm with batch statistics, drop-path masks from
 * o->seed), softmax cross-entropy with o->label_smoothing (mean over the batch), global-norm
 * clipping, the optimizer update of every trainable parameter, then the BatchNorm running
 * statistics (momentum 0.1). *loss_out and *grad_norm_out (each may be NULL) receive the loss and
 * the gradient norm before clipping. When the loss is not finite the step fails with the weights
 * unchanged (the outputs still report the loss and norm). Semantics are those of `locus train`
 * (DESIGN.md §7) operation for operation. */
int ceit_tiny_model_train_step(ceit_tiny_model *m, const ceit_tiny_optimizer *o, const float *images, const int64_t *labels,
                         float *loss_out, float *grad_norm_out);

/* The gradient of the parameter named param_name from the last train step (before clipping; zeros
 * for a parameter the loss does not reach), n = its element count. Fails before the first step
 * and for running statistics, which have no gradient. */
int ceit_tiny_model_gradient(ceit_tiny_model *m, const char *param_name, float *out, long n);

/* Steps taken (AdamW's bias correction counts them), restored by ceit_tiny_model_load_checkpoint. */
long ceit_tiny_model_step_count(const ceit_tiny_model *m);

/* Forgets the optimizer state (moments, momentum buffers) and sets the step count to 0; the weights
 * stay. Needed before switching the optimizer kind. */
void ceit_tiny_model_reset_optimizer(ceit_tiny_model *m);

/* The drop-path masks a train step feeds a training library input `drop_path:<index>:<rate>` [B]:
 * mask[b] = u < keep ? 1/keep : 0 with keep = 1 - rate and u uniform in [0, 1) from splitmix64 of
 * (seed, step, index, b); step is the 1-based number of the step. Exposed for tests and tools. */
void ceit_tiny_model_drop_path_mask(uint64_t seed, long step, int index, float rate, long n, float *mask);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LOCUS_CEIT_TINY_API_H */
