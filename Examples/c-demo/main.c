/* Classifies Fashion-MNIST's test images with a Locus C library: the LocalViT of
 * specs/localvit_fmnist.locus, compiled by `locus compile --emit c-library` and linked through
 * pkg-config, with weights trained by `locus train` (see README.md).
 *
 *   c-demo WEIGHTS [--data DIR] [--limit N] [--threads N]
 *
 * Reads the gzip IDX test set (t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz; zlib also
 * reads uncompressed copies) from DIR (default /usr/share/datasets/fashion-mnist), normalises each
 * pixel exactly as `locus train` and `locus eval` do ((x/255 − 0.2860)/0.3530, in float), predicts
 * every image in one call and prints the top-1 accuracy (in `locus eval`'s words) and a few
 * predictions. Legend: N images, K classes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "localvit_fmnist.h"

static const char *const class_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

/* An IDX file (big-endian magic 0x000008RR, RR dimensions, then uint8 data): its bytes, with the
 * dimensions in dims. NULL, with a message, on any problem. */
static unsigned char *read_idx(const char *dir, const char *name, int rank, long *dims) {
  char path[4096];
  unsigned char head[16];
  unsigned char *data;
  long count = 1;
  gzFile f;
  snprintf(path, sizeof path, "%s/%s.gz", dir, name);
  f = gzopen(path, "rb");
  if (!f) {
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = gzopen(path, "rb");
  }
  if (!f) {
    fprintf(stderr, "c-demo: cannot open %s/%s.gz (install Fashion-MNIST: apt-get install dataset-fashion-mnist, or pass --data DIR)\n", dir, name);
    return NULL;
  }
  if (gzread(f, head, (unsigned)(4 + 4 * rank)) != 4 + 4 * rank || head[0] || head[1] || head[2] != 8 || head[3] != rank) {
    fprintf(stderr, "c-demo: %s is not an IDX file of rank %d\n", path, rank);
    gzclose(f);
    return NULL;
  }
  for (int i = 0; i < rank; ++i) {
    const unsigned char *d = head + 4 + 4 * i;
    dims[i] = (long)d[0] << 24 | (long)d[1] << 16 | (long)d[2] << 8 | (long)d[3];
    /* Each count fits in 31 bits; refuse a product beyond what the test set can hold (1 GiB). */
    if (dims[i] > (1L << 30) / count) {
      fprintf(stderr, "c-demo: %s declares more than 1 GiB of values\n", path);
      gzclose(f);
      return NULL;
    }
    count *= dims[i];
  }
  data = (unsigned char *)malloc((size_t)count);
  if (!data || gzread(f, data, (unsigned)count) != (int)count) {
    fprintf(stderr, "c-demo: %s is shorter than its %ld values\n", path, count);
    free(data);
    gzclose(f);
    return NULL;
  }
  gzclose(f);
  return data;
}

/* The first index of the largest logit, as torch.argmax; a NaN loses to any number. */
static int argmax(const float *row, int k) {
  int best = 0;
  for (int i = 1; i < k; ++i)
    if (row[i] > row[best] || row[best] != row[best]) best = i;
  return best;
}

int main(int argc, char **argv) {
  const char *weights = NULL, *dir = "/usr/share/datasets/fashion-mnist";
  long limit = -1, image_dims[3], label_dims[1], n, correct = 0;
  int threads = 0, k = localvit_fmnist_model_classes();
  long per = localvit_fmnist_model_image_floats();
  unsigned char *pixels, *labels;
  float *images, *logits, table[256];
  localvit_fmnist_model *model = NULL;

  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) dir = argv[++i];
    else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) limit = atol(argv[++i]);
    else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
    else if (!weights && argv[i][0] != '-') weights = argv[i];
    else { weights = NULL; break; }
  }
  if (!weights) {
    fprintf(stderr, "usage: %s WEIGHTS.safetensors [--data DIR] [--limit N] [--threads N]\n", argv[0]);
    return 2;
  }
  pixels = read_idx(dir, "t10k-images-idx3-ubyte", 3, image_dims);
  labels = read_idx(dir, "t10k-labels-idx1-ubyte", 1, label_dims);
  if (!pixels || !labels) return 1;
  if (image_dims[1] * image_dims[2] != per || label_dims[0] != image_dims[0]) {
    fprintf(stderr, "c-demo: %ld images of %ldx%ld and %ld labels; the model takes %ld pixels per image\n", image_dims[0],
            image_dims[1], image_dims[2], label_dims[0], per);
    return 1;
  }
  n = limit >= 1 && limit < image_dims[0] ? limit : image_dims[0];

  /* Normalisation as a table of the 256 byte values, computed as LocusTraining computes it. */
  for (int b = 0; b < 256; ++b) table[b] = ((float)b / 255.0f - 0.2860f) / 0.3530f;
  images = (float *)malloc((size_t)(n * per) * sizeof(float));
  logits = (float *)malloc((size_t)(n * k) * sizeof(float));
  if (!images || !logits) return 1;
  for (long i = 0; i < n * per; ++i) images[i] = table[pixels[i]];

  if (localvit_fmnist_model_create(&model) != 0) {
    fprintf(stderr, "c-demo: %s\n", localvit_fmnist_model_error(NULL));
    return 1;
  }
  localvit_fmnist_model_set_threads(model, threads);
  if (localvit_fmnist_model_load_weights(model, weights) != 0 || localvit_fmnist_model_predict(model, n, images, logits) != 0) {
    fprintf(stderr, "c-demo: %s\n", localvit_fmnist_model_error(model));
    return 1;
  }
  for (long i = 0; i < n; ++i) correct += argmax(logits + i * k, k) == labels[i];
  for (long i = 0; i < n && i < 8; ++i) {
    int p = argmax(logits + i * k, k);
    char guess[16], truth[16]; /* a class beyond Fashion-MNIST's ten by number */
    snprintf(guess, sizeof guess, "%s", p < 10 ? class_names[p] : "class");
    snprintf(truth, sizeof truth, "%s", labels[i] < 10 ? class_names[labels[i]] : "class");
    printf("image %ld: predicted %-11s true %-11s%s\n", i, guess, truth, p == labels[i] ? "" : "  (wrong)");
  }
  printf("top-1 accuracy %.2f%% (%ld/%ld)\n", 100.0 * (double)correct / (double)n, correct, n);
  localvit_fmnist_model_destroy(model);
  free(images); free(logits); free(pixels); free(labels);
  return 0;
}
