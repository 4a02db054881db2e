/* safetensors, as much as a model context needs (templates/api/safetensors.c; pasted into every
 * model's context file, so everything here is static).
 *
 * The format: an 8-byte little-endian header length n, n bytes of JSON
 *   {"__metadata__": {"key": "value", ...}, "name": {"dtype": "F32", "shape": [..], "data_offsets": [a, b]}, ...}
 * then the data section, which [a, b) index (bytes, relative to its start).
 *
 * Reading parses the header completely and checks every offset against the file size before any
 * tensor is read, so a malformed or truncated file is an error message, never a crash: the JSON
 * parser is bounded by the header buffer, recursion by ST_MAX_DEPTH, numbers by overflow checks.
 * Writing is deterministic (tensors sorted by name, metadata first and sorted, header padded with
 * spaces to a multiple of 8 bytes), as LocusRuntime's SafeTensorsWriter writes. */

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader copies F32 tensors as they are"
#endif

#define ST_MAX_RANK 8
#define ST_MAX_DEPTH 64
#define ST_MAX_HEADER 100000000ull /* as the Python library: refuse larger headers before allocating */

typedef struct {
  const char *name; /* points into st_file.strings */
  char dtype[8];    /* "F32", ...; longer dtypes are truncated (and never equal a float dtype) */
  int rank;         /* may exceed ST_MAX_RANK: then only the first ST_MAX_RANK dims are kept */
  int64_t shape[ST_MAX_RANK];
  uint64_t begin, end; /* data_offsets */
} st_entry;

typedef struct {
  FILE *f;
  const char *path;
  uint64_t file_size, data_start;
  st_entry *entries;
  int count;
  const char *meta_keys[64], *meta_values[64]; /* the first 64 metadata pairs */
  int meta_count;
  char *strings; /* every decoded JSON string, NUL-terminated, back to back */
  size_t strings_used;
} st_file;

/* ---- Errors ----------------------------------------------------------------------------------- */

typedef struct {
  char *text;
  size_t cap;
} st_error;

static int st_fail(st_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int st_fail(st_error *e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->text, e->cap, fmt, ap);
  va_end(ap);
  return -1;
}

/* "[2, 3, 4]" into buf. */
static const char *st_shape_text(char *buf, size_t cap, int rank, const int64_t *shape) {
  size_t used = 0;
  buf[0] = '\0';
  used += (size_t)snprintf(buf, cap, "[");
  for (int i = 0; i < rank && i < ST_MAX_RANK && used < cap; ++i)
    used += (size_t)snprintf(buf + used, cap - used, i ? ", %lld" : "%lld", (long long)shape[i]);
  if (rank > ST_MAX_RANK && used < cap) used += (size_t)snprintf(buf + used, cap - used, ", ...");
  if (used < cap) snprintf(buf + used, cap - used, "]");
  return buf;
}

/* ---- JSON header parser ----------------------------------------------------------------------- */

typedef struct {
  const char *p, *begin, *end;
  st_file *file;
  st_error *err;
} st_json;

static int st_syntax(st_json *j, const char *expected) {
  return st_fail(j->err, "%s: the header is not valid safetensors JSON: expected %s at byte %ld of %ld", j->file->path,
                 expected, (long)(j->p - j->begin), (long)(j->end - j->begin));
}

static void st_ws(st_json *j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) ++j->p;
}

static int st_expect(st_json *j, char c, const char *what) {
  st_ws(j);
  if (j->p >= j->end || *j->p != c) return st_syntax(j, what);
  ++j->p;
  return 0;
}

static int st_hex4(st_json *j, unsigned *out) {
  unsigned v = 0;
  if (j->end - j->p < 4) return st_syntax(j, "4 hex digits after \\u");
  for (int i = 0; i < 4; ++i) {
    char c = j->p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return st_syntax(j, "4 hex digits after \\u");
  }
  j->p += 4;
  *out = v;
  return 0;
}

/* A JSON string, decoded (escapes, \u as UTF-8) into file->strings; *out points to it. Decoded text
 * is never longer than its JSON form, so strings (header length + 1 bytes) always has room. */
static int st_string(st_json *j, const char **out) {
  st_file *f = j->file;
  char *o = f->strings + f->strings_used, *start = o;
  if (st_expect(j, '"', "a string") != 0) return -1;
  for (;;) {
    unsigned char c;
    if (j->p >= j->end) return st_syntax(j, "the end of a string");
    c = (unsigned char)*j->p++;
    if (c == '"') break;
    if (c < 0x20) return st_syntax(j, "no control character inside a string");
    if (c != '\\') {
      *o++ = (char)c;
      continue;
    }
    if (j->p >= j->end) return st_syntax(j, "an escape");
    c = (unsigned char)*j->p++;
    switch (c) {
    case '"': case '\\': case '/': *o++ = (char)c; break;
    case 'b': *o++ = '\b'; break;
    case 'f': *o++ = '\f'; break;
    case 'n': *o++ = '\n'; break;
    case 'r': *o++ = '\r'; break;
    case 't': *o++ = '\t'; break;
    case 'u': {
      unsigned u, lo;
      if (st_hex4(j, &u) != 0) return -1;
      if (u >= 0xD800 && u < 0xDC00) { /* a surrogate pair: \uD8xx\uDCxx */
        if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u') return st_syntax(j, "a low surrogate");
        j->p += 2;
        if (st_hex4(j, &lo) != 0) return -1;
        if (lo < 0xDC00 || lo >= 0xE000) return st_syntax(j, "a low surrogate");
        u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
      } else if (u >= 0xDC00 && u < 0xE000) {
        return st_syntax(j, "no lone low surrogate");
      }
      if (u == 0) return st_syntax(j, "no NUL character in a string");
      /* At most 4 UTF-8 bytes for at least 6 escape bytes read. */
      if (u < 0x80) *o++ = (char)u;
      else if (u < 0x800) { *o++ = (char)(0xC0 | (u >> 6)); *o++ = (char)(0x80 | (u & 0x3F)); }
      else if (u < 0x10000) { *o++ = (char)(0xE0 | (u >> 12)); *o++ = (char)(0x80 | ((u >> 6) & 0x3F)); *o++ = (char)(0x80 | (u & 0x3F)); }
      else { *o++ = (char)(0xF0 | (u >> 18)); *o++ = (char)(0x80 | ((u >> 12) & 0x3F)); *o++ = (char)(0x80 | ((u >> 6) & 0x3F)); *o++ = (char)(0x80 | (u & 0x3F)); }
      break;
    }
    default: return st_syntax(j, "a valid escape");
    }
  }
  *o++ = '\0';
  f->strings_used += (size_t)(o - start);
  *out = start;
  return 0;
}

/* A non-negative integer below 2^63 (shapes and offsets). */
static int st_natural(st_json *j, uint64_t *out) {
  uint64_t v = 0;
  st_ws(j);
  if (j->p >= j->end || *j->p < '0' || *j->p > '9') return st_syntax(j, "a non-negative integer");
  while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
    uint64_t d = (uint64_t)(*j->p - '0');
    if (v > (UINT64_C(0x7fffffffffffffff) - d) / 10) return st_syntax(j, "an integer below 2^63");
    v = v * 10 + d;
    ++j->p;
  }
  if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E')) return st_syntax(j, "an integer");
  *out = v;
  return 0;
}

/* [n, n, ...] of naturals: at most `cap` kept, the count in *count. */
static int st_naturals(st_json *j, uint64_t *values, int cap, int *count) {
  int n = 0;
  if (st_expect(j, '[', "'['") != 0) return -1;
  st_ws(j);
  if (j->p < j->end && *j->p == ']') {
    ++j->p;
    *count = 0;
    return 0;
  }
  for (;;) {
    uint64_t v = 0;
    if (st_natural(j, &v) != 0) return -1;
    if (n < cap) values[n] = v;
    if (n == 1000000) return st_syntax(j, "a shorter list");
    ++n;
    st_ws(j);
    if (j->p < j->end && *j->p == ',') { ++j->p; continue; }
    if (st_expect(j, ']', "',' or ']'") != 0) return -1;
    break;
  }
  *count = n;
  return 0;
}

/* Skips any JSON value (fields this reader does not need). */
static int st_skip(st_json *j, int depth) {
  const char *ignored;
  if (depth > ST_MAX_DEPTH) return st_syntax(j, "less nesting");
  st_ws(j);
  if (j->p >= j->end) return st_syntax(j, "a value");
  switch (*j->p) {
  case '"': {
    size_t mark = j->file->strings_used;
    int rc = st_string(j, &ignored);
    j->file->strings_used = mark; /* give the space back */
    return rc;
  }
  case '{': case '[': {
    char close = *j->p == '{' ? '}' : ']';
    int object = close == '}';
    ++j->p;
    st_ws(j);
    if (j->p < j->end && *j->p == close) { ++j->p; return 0; }
    for (;;) {
      if (object) {
        if (st_skip(j, depth + 1) != 0 || st_expect(j, ':', "':'") != 0) return -1;
      }
      if (st_skip(j, depth + 1) != 0) return -1;
      st_ws(j);
      if (j->p < j->end && *j->p == ',') { ++j->p; continue; }
      return st_expect(j, close, object ? "',' or '}'" : "',' or ']'");
    }
  }
  default: {
    const char *start = j->p;
    while (j->p < j->end && (strchr("+-.eE", *j->p) || (*j->p >= '0' && *j->p <= '9') || (*j->p >= 'a' && *j->p <= 'z'))) ++j->p;
    if (j->p == start) return st_syntax(j, "a value");
    return 0;
  }
  }
}

/* {"dtype": .., "shape": [..], "data_offsets": [a, b], ...} of the tensor `name`. */
static int st_tensor(st_json *j, const char *name, st_entry *e) {
  int seen_dtype = 0, seen_shape = 0, seen_offsets = 0;
  memset(e, 0, sizeof *e);
  e->name = name;
  if (st_expect(j, '{', "'{' (a tensor entry)") != 0) return -1;
  st_ws(j);
  if (j->p < j->end && *j->p == '}') ++j->p;
  else for (;;) {
    const char *key;
    size_t mark = j->file->strings_used;
    if (st_string(j, &key) != 0 || st_expect(j, ':', "':'") != 0) return -1;
    if (strcmp(key, "dtype") == 0) {
      const char *dtype;
      if (st_string(j, &dtype) != 0) return -1;
      snprintf(e->dtype, sizeof e->dtype, "%s", dtype);
      seen_dtype = 1;
    } else if (strcmp(key, "shape") == 0) {
      uint64_t dims[ST_MAX_RANK];
      if (st_naturals(j, dims, ST_MAX_RANK, &e->rank) != 0) return -1;
      for (int i = 0; i < e->rank && i < ST_MAX_RANK; ++i) e->shape[i] = (int64_t)dims[i];
      seen_shape = 1;
    } else if (strcmp(key, "data_offsets") == 0) {
      uint64_t ab[2];
      int n;
      if (st_naturals(j, ab, 2, &n) != 0) return -1;
      if (n != 2 || ab[0] > ab[1])
        return st_fail(j->err, "%s: tensor '%s': \"data_offsets\" must be [begin, end] with begin <= end", j->file->path, name);
      e->begin = ab[0];
      e->end = ab[1];
      seen_offsets = 1;
    } else if (st_skip(j, 1) != 0) {
      return -1;
    }
    j->file->strings_used = mark; /* keys (and dtype, copied) are not kept */
    st_ws(j);
    if (j->p < j->end && *j->p == ',') { ++j->p; continue; }
    if (st_expect(j, '}', "',' or '}'") != 0) return -1;
    break;
  }
  if (!seen_dtype || !seen_shape || !seen_offsets)
    return st_fail(j->err, "%s: tensor '%s' lacks \"%s\"", j->file->path, name,
                   !seen_dtype ? "dtype" : !seen_shape ? "shape" : "data_offsets");
  return 0;
}

/* {"__metadata__": {..}, "name": {..}, ...}: the whole header. */
static int st_header(st_json *j, int max_entries) {
  st_file *f = j->file;
  if (st_expect(j, '{', "'{' (the header object)") != 0) return -1;
  st_ws(j);
  if (j->p < j->end && *j->p == '}') { ++j->p; return 0; }
  for (;;) {
    const char *key;
    if (st_string(j, &key) != 0 || st_expect(j, ':', "':'") != 0) return -1;
    if (strcmp(key, "__metadata__") == 0) {
      if (st_expect(j, '{', "'{' (the metadata object)") != 0) return -1;
      st_ws(j);
      if (j->p < j->end && *j->p == '}') ++j->p;
      else for (;;) {
        const char *k, *v;
        if (st_string(j, &k) != 0 || st_expect(j, ':', "':'") != 0) return -1;
        st_ws(j);
        if (j->p >= j->end || *j->p != '"')
          return st_fail(j->err, "%s: metadata '%s' is not a string (safetensors metadata maps strings to strings)", f->path, k);
        if (st_string(j, &v) != 0) return -1;
        if (f->meta_count < 64) {
          f->meta_keys[f->meta_count] = k;
          f->meta_values[f->meta_count++] = v;
        }
        st_ws(j);
        if (j->p < j->end && *j->p == ',') { ++j->p; continue; }
        if (st_expect(j, '}', "',' or '}'") != 0) return -1;
        break;
      }
    } else {
      if (f->count >= max_entries) return st_syntax(j, "fewer entries");
      if (st_tensor(j, key, &f->entries[f->count]) != 0) return -1;
      ++f->count;
    }
    st_ws(j);
    if (j->p < j->end && *j->p == ',') { ++j->p; continue; }
    if (st_expect(j, '}', "',' or '}'") != 0) return -1;
    break;
  }
  st_ws(j);
  if (j->p != j->end) return st_syntax(j, "the end of the header");
  return 0;
}

/* ---- Reading ---------------------------------------------------------------------------------- */

static void st_close(st_file *f) {
  if (f->f) fclose(f->f);
  free(f->entries);
  free(f->strings);
  memset(f, 0, sizeof *f);
}

/* Opens and parses `path`; every tensor's bytes are checked to lie inside the file. */
static int st_open(st_file *f, const char *path, st_error *err) {
  unsigned char len8[8];
  uint64_t header_len = 0;
  char *header = NULL;
  st_json j;
  long size;
  memset(f, 0, sizeof *f);
  f->path = path;
  if (!path) return st_fail(err, "no file name given (NULL path)");
  f->f = fopen(path, "rb");
  if (!f->f) return st_fail(err, "%s: cannot open: %s", path, strerror(errno));
  if (fseek(f->f, 0, SEEK_END) != 0 || (size = ftell(f->f)) < 0 || fseek(f->f, 0, SEEK_SET) != 0) {
    st_fail(err, "%s: cannot determine the file size: %s", path, strerror(errno));
    goto fail;
  }
  f->file_size = (uint64_t)size;
  if (f->file_size < 8) {
    st_fail(err, "%s: the file is %lu bytes, shorter than the 8-byte header length of a safetensors file", path,
            (unsigned long)f->file_size);
    goto fail;
  }
  if (fread(len8, 1, 8, f->f) != 8) {
    st_fail(err, "%s: cannot read the header length", path);
    goto fail;
  }
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len8[i];
  if (header_len > ST_MAX_HEADER || header_len > f->file_size - 8) {
    st_fail(err, "%s: the header length %llu exceeds the file size %lu (or 100 MB): not a safetensors file, or truncated",
            path, (unsigned long long)header_len, (unsigned long)f->file_size);
    goto fail;
  }
  f->data_start = 8 + header_len;
  header = (char *)malloc((size_t)header_len + 1);
  f->strings = (char *)malloc((size_t)header_len + 1);
  /* Each entry takes at least 40 header bytes ("x":{"dtype":"F32","shape":[],"data_offsets":[0,0]}). */
  f->entries = (st_entry *)calloc((size_t)header_len / 40 + 1, sizeof(st_entry));
  if (!header || !f->strings || !f->entries) {
    st_fail(err, "%s: out of memory for a header of %llu bytes", path, (unsigned long long)header_len);
    goto fail;
  }
  if (fread(header, 1, (size_t)header_len, f->f) != (size_t)header_len) {
    st_fail(err, "%s: cannot read the %llu-byte header", path, (unsigned long long)header_len);
    goto fail;
  }
  j.p = j.begin = header;
  j.end = header + header_len;
  j.file = f;
  j.err = err;
  if (st_header(&j, (int)(header_len / 40 + 1)) != 0) goto fail;
  for (int i = 0; i < f->count; ++i) {
    const st_entry *e = &f->entries[i];
    if (e->end > f->file_size - f->data_start) {
      st_fail(err, "%s: the file is truncated: tensor '%s' needs bytes [%llu, %llu) but the file has %lu bytes", path, e->name,
              (unsigned long long)(f->data_start + e->begin), (unsigned long long)(f->data_start + e->end),
              (unsigned long)f->file_size);
      goto fail;
    }
  }
  free(header);
  return 0;
fail:
  free(header);
  st_close(f);
  return -1;
}

static const st_entry *st_find(const st_file *f, const char *name) {
  for (int i = 0; i < f->count; ++i)
    if (strcmp(f->entries[i].name, name) == 0) return &f->entries[i];
  return NULL;
}

static const char *st_metadata(const st_file *f, const char *key) {
  for (int i = 0; i < f->meta_count; ++i)
    if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
  return NULL;
}

/* Bytes per element of the dtypes read as float (F32, and F64, F16, BF16 converted), else 0. */
static unsigned st_float_size(const char *dtype) {
  if (strcmp(dtype, "F32") == 0) return 4;
  if (strcmp(dtype, "F64") == 0) return 8;
  return strcmp(dtype, "F16") == 0 || strcmp(dtype, "BF16") == 0 ? 2 : 0;
}

/* One little-endian F64 (size 8), F16 or BF16 (size 2) element as a float: F64 rounded to nearest,
 * F16 and BF16 exactly (as LocusRuntime's loader converts them). */
static float st_to_float(const unsigned char *p, unsigned size, int bf16) {
  uint64_t u = 0;
  uint32_t bits;
  float f;
  double d;
  for (unsigned i = 0; i < size; ++i) u |= (uint64_t)p[i] << (8 * i);
  if (size == 8) {
    memcpy(&d, &u, sizeof d);
    return (float)d;
  }
  if (bf16) {
    bits = (uint32_t)u << 16; /* bfloat16 is the top half of a binary32 */
  } else {
    uint32_t sign = (uint32_t)(u >> 15) << 31, exponent = (uint32_t)(u >> 10) & 0x1f, mantissa = (uint32_t)u & 0x3ff;
    if (exponent == 0) { /* zero or subnormal: mantissa · 2^-24, exact in a float */
      f = (float)mantissa * 0x1p-24f;
      return sign ? -f : f;
    }
    bits = sign | (exponent == 0x1f ? 0x7f800000u : (exponent + 112) << 23) | (mantissa << 13); /* inf/NaN keep the payload */
  }
  memcpy(&f, &bits, sizeof f);
  return f;
}

/* Checks that `name` is a float tensor (F32, F64, F16 or BF16) of exactly `shape`, then reads it
 * into out as F32 (other widths converted in chunks, so no copy of the tensor is allocated). */
static int st_read_f32(st_file *f, const char *name, int rank, const int64_t *shape, float *out, st_error *err) {
  const st_entry *e = st_find(f, name);
  char want[160], got[160];
  uint64_t numel = 1;
  unsigned size;
  if (!e) return st_fail(err, "%s: tensor '%s' is missing (the file holds %d tensors)", f->path, name, f->count);
  if (!(size = st_float_size(e->dtype)))
    return st_fail(err, "%s: tensor '%s' is %s; this library reads F32, F64, F16 or BF16", f->path, name, e->dtype);
  int same = e->rank == rank;
  for (int i = 0; same && i < rank; ++i) same = e->shape[i] == shape[i];
  if (!same)
    return st_fail(err, "%s: tensor '%s' has shape %s, the model expects %s", f->path, name,
                   st_shape_text(got, sizeof got, e->rank, e->shape), st_shape_text(want, sizeof want, rank, shape));
  for (int i = 0; i < rank; ++i) numel *= (uint64_t)shape[i];
  if (e->end - e->begin != numel * size)
    return st_fail(err, "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, its shape needs %llu", f->path, name,
                   (unsigned long long)e->begin, (unsigned long long)e->end, (unsigned long long)(e->end - e->begin),
                   (unsigned long long)(numel * size));
  if (numel == 0) return 0;
  if (fseek(f->f, (long)(f->data_start + e->begin), SEEK_SET) != 0) goto failed;
  if (size == 4) { /* little-endian host (checked above): the bytes are the floats */
    if (fread(out, 4, (size_t)numel, f->f) != (size_t)numel) goto failed;
    return 0;
  }
  for (uint64_t i = 0; i < numel;) {
    unsigned char chunk[8192];
    size_t n = (size_t)(numel - i < sizeof chunk / size ? numel - i : sizeof chunk / size);
    if (fread(chunk, size, n, f->f) != n) goto failed;
    for (size_t j = 0; j < n; ++j) out[i + j] = st_to_float(chunk + j * size, size, e->dtype[0] == 'B');
    i += n;
  }
  return 0;
failed:
  return st_fail(err, "%s: cannot read tensor '%s': %s", f->path, name, ferror(f->f) ? strerror(errno) : "unexpected end of file");
}

/* ---- Writing ---------------------------------------------------------------------------------- */

typedef struct {
  const char *name;
  int rank;
  const int64_t *shape;
  const float *data;
  int64_t numel;
} st_out;

static int st_by_name(const void *a, const void *b) {
  return strcmp(((const st_out *)a)->name, ((const st_out *)b)->name);
}

/* Appends to a growing buffer; returns -1 when out of memory. */
typedef struct {
  char *text;
  size_t len, cap;
} st_buf;

static int st_put(st_buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = (b->cap ? b->cap * 2 : 4096) + n;
    char *t = (char *)realloc(b->text, cap);
    if (!t) return -1;
    b->text = t;
    b->cap = cap;
  }
  memcpy(b->text + b->len, s, n);
  b->len += n;
  b->text[b->len] = '\0';
  return 0;
}

static int st_puts(st_buf *b, const char *s) { return st_put(b, s, strlen(s)); }

/* A JSON string literal. */
static int st_put_json(st_buf *b, const char *s) {
  int rc = st_puts(b, "\"");
  for (; *s && rc == 0; ++s) {
    unsigned char c = (unsigned char)*s;
    char esc[8];
    if (c == '"' || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; rc = st_put(b, esc, 2); }
    else if (c < 0x20) { snprintf(esc, sizeof esc, "\\u%04x", c); rc = st_puts(b, esc); }
    else rc = st_put(b, (const char *)&c, 1);
  }
  return rc ? rc : st_puts(b, "\"");
}

/* Writes the tensors (sorted by name, in place) and string metadata (meta[2k] key, meta[2k+1] value,
 * sorted by key by the caller) to `path`, atomically: a temporary file in the same folder, flushed
 * and synced, then renamed over `path`. */
static int st_write(const char *path, st_out *t, int n, const char *const *meta, int meta_pairs, st_error *err) {
  st_buf h = {0};
  char num[64], *tmp = NULL;
  uint64_t offset = 0;
  FILE *out = NULL;
  int fd = -1, rc = -1;
  if (!path) return st_fail(err, "no file name given (NULL path)");
  qsort(t, (size_t)n, sizeof *t, st_by_name);
  rc = st_puts(&h, "{");
  if (meta_pairs > 0) {
    rc |= st_puts(&h, "\"__metadata__\":{");
    for (int i = 0; i < meta_pairs; ++i) {
      if (i) rc |= st_puts(&h, ",");
      rc |= st_put_json(&h, meta[2 * i]);
      rc |= st_puts(&h, ":");
      rc |= st_put_json(&h, meta[2 * i + 1]);
    }
    rc |= st_puts(&h, "}");
  }
  for (int i = 0; i < n; ++i) {
    if (i || meta_pairs > 0) rc |= st_puts(&h, ",");
    rc |= st_put_json(&h, t[i].name);
    rc |= st_puts(&h, ":{\"dtype\":\"F32\",\"shape\":[");
    for (int d = 0; d < t[i].rank; ++d) {
      snprintf(num, sizeof num, d ? ",%lld" : "%lld", (long long)t[i].shape[d]);
      rc |= st_puts(&h, num);
    }
    snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
             (unsigned long long)(offset + (uint64_t)t[i].numel * 4));
    rc |= st_puts(&h, num);
    offset += (uint64_t)t[i].numel * 4;
  }
  rc |= st_puts(&h, "}");
  while (rc == 0 && h.len % 8 != 0) rc |= st_puts(&h, " ");
  if (rc != 0) {
    free(h.text);
    return st_fail(err, "%s: out of memory for the header", path);
  }
  rc = -1;
  tmp = (char *)malloc(strlen(path) + 16);
  if (!tmp) { st_fail(err, "%s: out of memory", path); goto done; }
  sprintf(tmp, "%s.tmp-XXXXXX", path);
  fd = mkstemp(tmp);
  if (fd < 0) { st_fail(err, "%s: cannot create a temporary file beside it: %s", path, strerror(errno)); goto done; }
  {
    /* mkstemp creates the file 0600; give it the mode a plain fopen would (0666 less the umask),
     * or the existing file's, so weights saved here are as readable as those `locus train` writes. */
    struct stat existing;
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, stat(path, &existing) == 0 ? (existing.st_mode & 07777) : (0666 & ~mask));
  }
  out = fdopen(fd, "wb");
  if (!out) { st_fail(err, "%s: cannot write: %s", path, strerror(errno)); close(fd); unlink(tmp); goto done; }
  {
    unsigned char len8[8];
    uint64_t len = h.len;
    for (int i = 0; i < 8; ++i) len8[i] = (unsigned char)(len >> (8 * i));
    int ok = fwrite(len8, 1, 8, out) == 8 && fwrite(h.text, 1, h.len, out) == h.len;
    for (int i = 0; ok && i < n; ++i) ok = fwrite(t[i].data, 4, (size_t)t[i].numel, out) == (size_t)t[i].numel;
    ok = ok && fflush(out) == 0 && fsync(fileno(out)) == 0;
    if (fclose(out) != 0) ok = 0;
    if (!ok) { st_fail(err, "%s: cannot write: %s", path, strerror(errno)); unlink(tmp); goto done; }
  }
  if (rename(tmp, path) != 0) {
    st_fail(err, "%s: cannot move the finished file into place: %s", path, strerror(errno));
    unlink(tmp);
    goto done;
  }
  rc = 0;
done:
  free(tmp);
  free(h.text);
  return rc;
}
