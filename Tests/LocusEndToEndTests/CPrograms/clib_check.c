/* Drives a Locus C library for CLibraryTests (Tests/LocusEndToEndTests/CLibraryTests.swift), which
 * compares what it writes with `locus run` and the Swift Trainer. Built with -DMODEL=<name>
 * -DMODEL_HEADER='"<name>.h"'. Tensors travel as raw little-endian float32 files.
 *
 *   clib_check predict WEIGHTS IMAGES N LOGITS_OUT      predict N images
 *   clib_check train WEIGHTS IMAGES LABELS LR WD CLIP SMOOTH OUT_DIR
 *       two AdamW steps: prints "step k loss L norm G", writes OUT_DIR/grads.bin (the first step's
 *       gradients, table order, running statistics left out) and OUT_DIR/weights.safetensors
 *       (after two steps); checks that a checkpoint after step 1, loaded into a new model, gives
 *       the same weights after step 2 bit for bit
 *   clib_check load WEIGHTS                             load; print the message; exit 3 if it loaded
 *   clib_check corrupt WEIGHTS SCRATCH                  every truncation and header byte flip of
 *       WEIGHTS must load or fail cleanly (no crash: run under sanitizers), truncations must fail
 *   clib_check mask SEED STEP INDEX RATE N              print drop-path masks
 *   clib_check errors IMAGES                            argument errors give messages, never crash */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include MODEL_HEADER

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define API(x) CAT(MODEL, x)

static float *read_floats(const char *path, long count) {
  FILE *f = fopen(path, "rb");
  float *x = (float *)malloc((size_t)count * sizeof(float) + 1);
  if (!f || fread(x, sizeof(float), (size_t)count, f) != (size_t)count) { fprintf(stderr, "cannot read %ld floats from %s\n", count, path); exit(2); }
  fclose(f);
  return x;
}

static void write_floats(const char *path, const float *x, long count) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(x, sizeof(float), (size_t)count, f) != (size_t)count || fclose(f) != 0) { fprintf(stderr, "cannot write %s\n", path); exit(2); }
}

static API(model) *create(void) {
  API(model) *m = NULL;
  if (API(model_create)(&m) != 0) { fprintf(stderr, "create: %s\n", API(model_error)(NULL)); exit(2); }
  return m;
}

static void must(int rc, API(model) *m, const char *what) {
  if (rc != 0) { fprintf(stderr, "%s: %s\n", what, API(model_error)(m)); exit(1); }
}

static int predict(char **argv) {
  long n = atol(argv[4]);
  API(model) *m = create();
  float *images = read_floats(argv[3], n * API(model_image_floats)());
  float *logits = (float *)malloc((size_t)(n * API(model_classes)()) * sizeof(float));
  must(API(model_load_weights)(m, argv[2]), m, "load");
  must(API(model_predict)(m, n, images, logits), m, "predict");
  write_floats(argv[5], logits, n * API(model_classes)());
  free(images); free(logits);
  API(model_destroy)(m);
  return 0;
}

static int train(char **argv) {
  long tb = API(model_train_batch)();
  float *images = read_floats(argv[3], tb * API(model_image_floats)()), *labels_f = read_floats(argv[4], tb);
  int64_t *labels = (int64_t *)malloc((size_t)tb * sizeof(int64_t));
  char path[4096];
  API(optimizer) o;
  API(model) *a = create(), *b = create(), *c = create();
  FILE *grads;
  float loss, norm;
  for (long i = 0; i < tb; ++i) labels[i] = (int64_t)labels_f[i];
  API(optimizer_defaults)(&o);
  o.lr = (float)atof(argv[5]); o.weight_decay = (float)atof(argv[6]); o.clip_norm = (float)atof(argv[7]); o.label_smoothing = (float)atof(argv[8]);
  must(API(model_load_weights)(a, argv[2]), a, "load");
  must(API(model_load_weights)(b, argv[2]), b, "load");
  if (API(model_gradient)(a, API(model_param_info)(0)->name, images, 1) == 0) { fprintf(stderr, "gradient before any step succeeded\n"); return 1; }
  for (int step = 1; step <= 2; ++step) {
    must(API(model_train_step)(a, &o, images, labels, &loss, &norm), a, "train_step");
    printf("step %d loss %.9g norm %.9g\n", step, (double)loss, (double)norm);
    if (step == 1) {
      snprintf(path, sizeof path, "%s/grads.bin", argv[9]);
      grads = fopen(path, "wb");
      for (int i = 0; i < API(model_num_params)(); ++i) {
        const locus_tensor_info *t = API(model_param_info)(i);
        float *g = (float *)malloc((size_t)t->numel * sizeof(float));
        if (API(model_gradient)(a, t->name, g, (long)t->numel) == 0) fwrite(g, sizeof(float), (size_t)t->numel, grads);
        free(g);
      }
      fclose(grads);
    }
  }
  snprintf(path, sizeof path, "%s/weights.safetensors", argv[9]);
  must(API(model_save_weights)(a, path), a, "save");
  /* Checkpoint after one step, resumed in a fresh model: the same weights after step 2. */
  snprintf(path, sizeof path, "%s/checkpoint.safetensors", argv[9]);
  must(API(model_train_step)(b, &o, images, labels, NULL, NULL), b, "train_step");
  must(API(model_save_checkpoint)(b, path), b, "save_checkpoint");
  must(API(model_load_checkpoint)(c, path), c, "load_checkpoint");
  if (API(model_step_count)(c) != 1) { fprintf(stderr, "checkpoint step %ld\n", API(model_step_count)(c)); return 1; }
  must(API(model_train_step)(c, &o, images, labels, NULL, NULL), c, "train_step");
  for (int i = 0; i < API(model_num_params)(); ++i)
    if (memcmp(API(model_param_read)(a, i), API(model_param_read)(c, i), (size_t)API(model_param_info)(i)->numel * sizeof(float)) != 0) {
      fprintf(stderr, "resumed checkpoint differs in %s\n", API(model_param_info)(i)->name);
      return 1;
    }
  printf("checkpoint resume: identical\n");
  free(images); free(labels_f); free(labels);
  API(model_destroy)(a); API(model_destroy)(b); API(model_destroy)(c);
  return 0;
}

static int load(char **argv) {
  API(model) *m = create();
  int rc = API(model_load_weights)(m, argv[2]);
  printf("rc %d: %s\n", rc, API(model_error)(m));
  API(model_destroy)(m);
  return rc == 0 ? 3 : 0;
}

static int corrupt(char **argv) {
  FILE *f = fopen(argv[2], "rb");
  long size, header, accepted = 0, refused = 0;
  unsigned char *bytes;
  char path[4096];
  API(model) *m = create();
  if (!f) return 2;
  fseek(f, 0, SEEK_END); size = ftell(f); fseek(f, 0, SEEK_SET);
  bytes = (unsigned char *)malloc((size_t)size);
  if (fread(bytes, 1, (size_t)size, f) != (size_t)size) return 2;
  fclose(f);
  header = 8 + (long)(bytes[0] | bytes[1] << 8 | bytes[2] << 16);
  snprintf(path, sizeof path, "%s/corrupt.safetensors", argv[3]);
  for (long len = 0; len < size; len += (len >= header - 8 && len < header + 64) ? 1 : len < header ? 13 : 997) {
    f = fopen(path, "wb"); fwrite(bytes, 1, (size_t)len, f); fclose(f);
    if (API(model_load_weights)(m, path) == 0) { fprintf(stderr, "a file truncated to %ld of %ld bytes loaded\n", len, size); return 1; }
    if (!API(model_error)(m)[0]) { fprintf(stderr, "no message for a truncation to %ld bytes\n", len); return 1; }
  }
  for (long at = 0; at < header; at += 3) {
    static const unsigned char flips[] = {'"', '}', ',', '9', 0xff};
    for (size_t k = 0; k < sizeof flips; ++k) {
      unsigned char saved = bytes[at];
      bytes[at] = flips[k];
      f = fopen(path, "wb"); fwrite(bytes, 1, (size_t)size, f); fclose(f);
      bytes[at] = saved;
      if (API(model_load_weights)(m, path) == 0) ++accepted; else ++refused;
    }
  }
  printf("truncations refused; header flips: %ld loaded, %ld refused\n", accepted, refused);
  free(bytes);
  API(model_destroy)(m);
  return 0;
}

static int mask(char **argv) {
  long n = atol(argv[6]);
  float *x = (float *)malloc((size_t)n * sizeof(float));
  API(model_drop_path_mask)(strtoull(argv[2], NULL, 10), atol(argv[3]), atoi(argv[4]), (float)atof(argv[5]), n, x);
  for (long i = 0; i < n; ++i) printf("%.9g\n", (double)x[i]);
  free(x);
  return 0;
}

static int errors(char **argv) {
  long tb = API(model_train_batch)();
  float *images = read_floats(argv[2], tb * API(model_image_floats)()), logits[4096];
  int64_t *labels = (int64_t *)calloc((size_t)tb, sizeof(int64_t));
  API(optimizer) o;
  API(model) *m = create();
  API(optimizer_defaults)(&o);
  labels[tb - 1] = API(model_classes)();
  printf("label: %d %s\n", API(model_train_step)(m, &o, images, labels, NULL, NULL), API(model_error)(m));
  labels[tb - 1] = 0;
  o.kind = 7;
  printf("kind: %d %s\n", API(model_train_step)(m, &o, images, labels, NULL, NULL), API(model_error)(m));
  printf("null: %d %s\n", API(model_train_step)(m, NULL, images, labels, NULL, NULL), API(model_error)(m));
  printf("n: %d %s\n", API(model_predict)(m, 0, images, logits), API(model_error)(m));
  printf("gradient: %d %s\n", API(model_gradient)(m, "no.such.tensor", logits, 1), API(model_error)(m));
  printf("missing file: %d %s\n", API(model_load_weights)(m, "/nonexistent/w.safetensors"), API(model_error)(m));
  printf("save: %d %s\n", API(model_save_weights)(m, "/nonexistent/dir/w.safetensors"), API(model_error)(m));
  printf("param: %s\n", API(model_param)(m, -1) == NULL && API(model_param)(m, API(model_num_params)()) == NULL ? "NULL" : "not NULL");
  API(model_destroy)(NULL);
  API(model_destroy)(m);
  free(images); free(labels);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 6 && strcmp(argv[1], "predict") == 0) return predict(argv);
  if (argc >= 10 && strcmp(argv[1], "train") == 0) return train(argv);
  if (argc >= 3 && strcmp(argv[1], "load") == 0) return load(argv);
  if (argc >= 4 && strcmp(argv[1], "corrupt") == 0) return corrupt(argv);
  if (argc >= 7 && strcmp(argv[1], "mask") == 0) return mask(argv);
  if (argc >= 3 && strcmp(argv[1], "errors") == 0) return errors(argv);
  fprintf(stderr, "usage: see the comment at the top of clib_check.c\n");
  return 2;
}
