/* The C API from plain C11: load models/resnet_tiny, introspect it, run it (allocated outputs
 * and caller-provided outputs, from a file and from memory), compare with the float64
 * reference, walk the error paths, and free everything (run under valgrind by ctest).
 *
 *   capi_test MODELS_DIR
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keel/keel.h"

static int g_failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++g_failures;                                                            \
    }                                                                          \
  } while (0)

#define CHECK_OK(expr)                                                          \
  do {                                                                          \
    keel_status_t st_ = (expr);                                                 \
    if (st_ != KEEL_STATUS_OK) {                                                \
      fprintf(stderr, "%s:%d: %s returned %s: %s\n", __FILE__, __LINE__, #expr, \
              keel_status_name(st_), keel_last_error_message());                \
      ++g_failures;                                                             \
    }                                                                           \
  } while (0)

/* Expects `expr` to fail with `code` and a message containing `needle`. */
#define CHECK_FAILS(expr, code, needle)                                                          \
  do {                                                                                           \
    keel_status_t st_ = (expr);                                                                  \
    if (st_ != (code) || strstr(keel_last_error_message(), (needle)) == NULL) {                  \
      fprintf(stderr, "%s:%d: %s returned %s (%s), expected %s with '%s'\n", __FILE__, __LINE__, \
              #expr, keel_status_name(st_), keel_last_error_message(), keel_status_name(code),   \
              (needle));                                                                         \
      ++g_failures;                                                                              \
    }                                                                                            \
  } while (0)

/* A little-endian C-order .npy file: dtype code ('f' 4/8 bytes), shape, data. */
typedef struct {
  int elem_size;
  size_t rank;
  int64_t shape[8];
  size_t count;
  void* data;
} npy_t;

static void* read_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  void* buf = malloc(n > 0 ? (size_t)n : 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *size = (size_t)n;
  return buf;
}

static int read_npy(const char* path, npy_t* out) {
  size_t size = 0;
  unsigned char* bytes = read_file(path, &size);
  memset(out, 0, sizeof(*out));
  if (!bytes || size < 10 || memcmp(bytes, "\x93NUMPY", 6) != 0) {
    free(bytes);
    return 0;
  }
  size_t header_len, offset;
  if (bytes[6] == 1) {
    header_len = bytes[8] | (bytes[9] << 8);
    offset = 10;
  } else {
    header_len = bytes[8] | (bytes[9] << 8) | ((size_t)bytes[10] << 16) | ((size_t)bytes[11] << 24);
    offset = 12;
  }
  char header[1024] = {0};
  if (header_len >= sizeof(header) || offset + header_len > size) {
    free(bytes);
    return 0;
  }
  memcpy(header, bytes + offset, header_len);
  const char* descr = strstr(header, "'descr': '<f");
  const char* shape = strstr(header, "'shape': (");
  if (!descr || !shape || !strstr(header, "'fortran_order': False")) {
    free(bytes);
    return 0;
  }
  out->elem_size = descr[12] - '0';
  out->count = 1;
  for (const char* p = shape + 10; *p && *p != ')';) {
    char* end;
    long long d = strtoll(p, &end, 10);
    if (end == p) break;
    out->shape[out->rank++] = d;
    out->count *= (size_t)d;
    p = end;
    while (*p == ',' || *p == ' ') ++p;
  }
  size_t data_bytes = out->count * (size_t)out->elem_size;
  if (offset + header_len + data_bytes != size) {
    free(bytes);
    return 0;
  }
  out->data = malloc(data_bytes);
  memcpy(out->data, bytes + offset + header_len, data_bytes);
  free(bytes);
  return 1;
}

/* max|got - ref| / max|ref| of a float32 tensor against a float64 reference. */
static double relative_error(const keel_tensor_t* got, const npy_t* ref) {
  void* data = NULL;
  size_t count = 0;
  CHECK_OK(keel_tensor_data(got, &data));
  CHECK_OK(keel_tensor_size(got, &count, NULL));
  if (count != ref->count || ref->elem_size != 8) return INFINITY;
  const float* g = data;
  const double* r = ref->data;
  double max_err = 0, scale = 0;
  for (size_t i = 0; i < count; ++i) {
    max_err = fmax(max_err, fabs((double)g[i] - r[i]));
    scale = fmax(scale, fabs(r[i]));
  }
  return scale > 0 ? max_err / scale : INFINITY;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: capi_test MODELS_DIR\n");
    return 2;
  }
  char model_path[4096], input_path[4096], ref_path[4096];
  snprintf(model_path, sizeof(model_path), "%s/resnet_tiny/model.onnx", argv[1]);
  snprintf(input_path, sizeof(input_path), "%s/resnet_tiny/inputs/input.npy", argv[1]);
  snprintf(ref_path, sizeof(ref_path), "%s/resnet_tiny/outputs_f64/output.npy", argv[1]);

  CHECK(strlen(keel_version()) >= 5);
  CHECK(strcmp(keel_last_error_message(), "") == 0);
  CHECK(strcmp(keel_status_name(KEEL_STATUS_INVALID_MODEL), "INVALID_MODEL") == 0);

  npy_t input, ref;
  if (!read_npy(input_path, &input) || !read_npy(ref_path, &ref)) {
    fprintf(stderr, "cannot read %s or %s\n", input_path, ref_path);
    return 1;
  }
  CHECK(input.elem_size == 4 && input.rank == 4);

  /* Load with explicit options and introspect. */
  keel_model_options_t model_options;
  CHECK_OK(keel_model_options_init(&model_options));
  CHECK(model_options.struct_size == sizeof(model_options) && model_options.fold == 1);
  CHECK(model_options.layout == KEEL_LAYOUT_AUTO && model_options.input_layout == KEEL_LAYOUT_NCHW);
  CHECK(model_options.winograd == 1);
  CHECK(model_options.precision == KEEL_PRECISION_FP32);
  model_options.layout = KEEL_LAYOUT_NHWC; /* the reference check below runs the NHWC kernels */
  keel_model_t* model = NULL;
  CHECK_OK(keel_model_load_file(model_path, &model_options, &model));
  if (!model) return 1;
  size_t n_in = 0, n_out = 0;
  CHECK_OK(keel_model_input_count(model, &n_in));
  CHECK_OK(keel_model_output_count(model, &n_out));
  CHECK(n_in == 1 && n_out == 1);
  keel_io_info_t info;
  memset(&info, 0, sizeof(info));
  info.struct_size = sizeof(info);
  CHECK_OK(keel_model_input_info(model, 0, &info));
  CHECK(strcmp(info.name, "input") == 0 && info.dtype == KEEL_DTYPE_FLOAT32 && info.rank == 4);
  CHECK(info.rank_known && info.shape[1] == 3 && info.dim_names[1] != NULL);
  CHECK_OK(keel_model_output_info(model, 0, &info));
  CHECK(strcmp(info.name, "output") == 0 && info.rank == 2 && info.shape[1] == 10);

  keel_session_options_t session_options = KEEL_SESSION_OPTIONS_INIT;
  session_options.threads = 2;
  keel_session_t* session = NULL;
  CHECK_OK(keel_session_create(model, &session_options, &session));
  /* The session keeps its own reference: the model handle may go now. */
  keel_model_free(model);
  model = NULL;
  if (!session) return 1;

  /* Run on a zero-copy view of the input. */
  keel_tensor_t* x = NULL;
  CHECK_OK(keel_tensor_create_view(KEEL_DTYPE_FLOAT32, input.shape, input.rank, input.data,
                                   input.count * sizeof(float), &x));
  const char* names[] = {"input"};
  const keel_tensor_t* feeds[] = {x};
  keel_tensor_t* outputs[1] = {NULL};
  CHECK_OK(keel_session_run(session, names, feeds, 1, outputs, 1));
  if (outputs[0]) {
    const int64_t* shape = NULL;
    size_t rank = 0;
    keel_dtype_t dtype = KEEL_DTYPE_UNDEFINED;
    CHECK_OK(keel_tensor_shape(outputs[0], &shape, &rank));
    CHECK_OK(keel_tensor_dtype(outputs[0], &dtype));
    CHECK(rank == 2 && shape[0] == 1 && shape[1] == 10 && dtype == KEEL_DTYPE_FLOAT32);
    double err = relative_error(outputs[0], &ref);
    printf("resnet_tiny via keel_session_run: rel error vs float64 %.3g\n", err);
    CHECK(err <= 1e-5);
  }

  /* Run into caller memory: the same bits as the allocated output. */
  float out_buf[10];
  const int64_t out_shape[] = {1, 10};
  keel_tensor_t* y = NULL;
  CHECK_OK(keel_tensor_create_view(KEEL_DTYPE_FLOAT32, out_shape, 2, out_buf, sizeof(out_buf), &y));
  keel_tensor_t* into[] = {y};
  CHECK_OK(keel_session_run_into(session, names, feeds, 1, into, 1));
  if (outputs[0]) {
    void* data = NULL;
    CHECK_OK(keel_tensor_data(outputs[0], &data));
    CHECK(memcmp(data, out_buf, sizeof(out_buf)) == 0);
  }

  /* A model from memory, default options, an owning input tensor. */
  size_t model_size = 0;
  void* model_bytes = read_file(model_path, &model_size);
  keel_model_t* model2 = NULL;
  keel_session_t* session2 = NULL;
  keel_tensor_t* x2 = NULL;
  keel_tensor_t* outputs2[1] = {NULL};
  CHECK_OK(keel_model_load_bytes(model_bytes, model_size, NULL, &model2));
  free(model_bytes);
  CHECK_OK(keel_session_create(model2, NULL, &session2));
  CHECK_OK(keel_tensor_create(KEEL_DTYPE_FLOAT32, input.shape, input.rank, &x2));
  if (x2) {
    void* data = NULL;
    CHECK_OK(keel_tensor_data(x2, &data));
    memcpy(data, input.data, input.count * sizeof(float));
  }
  const keel_tensor_t* feeds2[] = {x2};
  CHECK_OK(keel_session_run(session2, names, feeds2, 1, outputs2, 1));
  if (outputs[0] && outputs2[0]) {
    void *a = NULL, *b = NULL;
    CHECK_OK(keel_tensor_data(outputs[0], &a));
    CHECK_OK(keel_tensor_data(outputs2[0], &b));
    CHECK(memcmp(a, b, sizeof(float) * 10) == 0);
  }
  keel_tensor_free(outputs2[0]);
  outputs2[0] = NULL;

  /* Error paths: each fails with its code and a message, and leaves out-parameters NULL. */
  keel_model_t* bad = (keel_model_t*)&g_failures; /* must be overwritten with NULL */
  CHECK_FAILS(keel_model_load_file("/nonexistent/model.onnx", NULL, &bad),
              KEEL_STATUS_INVALID_ARGUMENT, "nonexistent");
  CHECK(bad == NULL);
  static const char garbage[] = "this is not an onnx model";
  CHECK_FAILS(keel_model_load_bytes(garbage, sizeof(garbage), NULL, &bad),
              KEEL_STATUS_INVALID_MODEL, "");
  CHECK(bad == NULL && strlen(keel_last_error_message()) > 0);
  CHECK_FAILS(keel_model_load_file(NULL, NULL, &bad), KEEL_STATUS_INVALID_ARGUMENT, "path");
  keel_model_options_t bad_layout = KEEL_MODEL_OPTIONS_INIT;
  bad_layout.layout = 7;
  CHECK_FAILS(keel_model_load_file(model_path, &bad_layout, &bad), KEEL_STATUS_INVALID_ARGUMENT,
              "layout is 7");
  CHECK(bad == NULL);
  keel_model_options_t unsized = {0};
  CHECK_FAILS(keel_model_load_file(model_path, &unsized, &bad), KEEL_STATUS_INVALID_ARGUMENT,
              "struct_size");
  /* A caller built before the winograd field: its shorter struct loads, the field defaults. */
  keel_model_options_t older = KEEL_MODEL_OPTIONS_INIT;
  older.struct_size = offsetof(keel_model_options_t, winograd);
  keel_model_t* older_model = NULL;
  CHECK_OK(keel_model_load_file(model_path, &older, &older_model));
  CHECK(older_model != NULL);
  keel_model_free(older_model);
  keel_model_options_t no_winograd = KEEL_MODEL_OPTIONS_INIT;
  no_winograd.winograd = 0;
  keel_model_t* direct_model = NULL;
  CHECK_OK(keel_model_load_file(model_path, &no_winograd, &direct_model));
  keel_model_free(direct_model);
  /* bfloat16: loads (and a caller built before the precision field gets float32). */
  keel_model_options_t bf16 = KEEL_MODEL_OPTIONS_INIT;
  bf16.precision = KEEL_PRECISION_BF16;
  keel_model_t* bf16_model = NULL;
  CHECK_OK(keel_model_load_file(model_path, &bf16, &bf16_model));
  CHECK(bf16_model != NULL);
  keel_model_free(bf16_model);
  bf16.precision = 5;
  CHECK_FAILS(keel_model_load_file(model_path, &bf16, &bad), KEEL_STATUS_INVALID_ARGUMENT,
              "precision is 5");
  CHECK(bad == NULL);
  /* A memory limit below the weights refuses the load; a caller built before the field gets
   * no limit. */
  keel_model_options_t limited = KEEL_MODEL_OPTIONS_INIT;
  CHECK(limited.max_memory_bytes == 0);
  limited.max_memory_bytes = 4096;
  CHECK_FAILS(keel_model_load_file(model_path, &limited, &bad), KEEL_STATUS_OUT_OF_MEMORY,
              "max_memory_bytes");
  CHECK(bad == NULL);
  limited.struct_size = offsetof(keel_model_options_t, max_memory_bytes);
  keel_model_t* unlimited_model = NULL;
  CHECK_OK(keel_model_load_file(model_path, &limited, &unlimited_model));
  keel_model_free(unlimited_model);

  const char* wrong_names[] = {"image"};
  CHECK_FAILS(keel_session_run(session, wrong_names, feeds, 1, outputs2, 1),
              KEEL_STATUS_INVALID_ARGUMENT, "no input named 'image'");
  CHECK(outputs2[0] == NULL);
  const int64_t wrong_shape[] = {1, 3, 32, 32};
  keel_tensor_t* small = NULL;
  CHECK_OK(keel_tensor_create(KEEL_DTYPE_FLOAT32, wrong_shape, 4, &small));
  const keel_tensor_t* small_feeds[] = {small};
  CHECK_FAILS(keel_session_run(session, names, small_feeds, 1, outputs2, 1),
              KEEL_STATUS_INVALID_ARGUMENT, "shape [1,3,32,32]");
  CHECK_FAILS(keel_session_run(session, names, feeds, 1, outputs2, 2), KEEL_STATUS_INVALID_ARGUMENT,
              "output_count");
  CHECK_FAILS(keel_session_run(session, names, feeds, 0, outputs2, 1), KEEL_STATUS_INVALID_ARGUMENT,
              "missing");
  keel_tensor_t* wrong_out = NULL;
  CHECK_OK(keel_tensor_create(KEEL_DTYPE_FLOAT32, out_shape, 1, &wrong_out));
  keel_tensor_t* wrong_into[] = {wrong_out};
  CHECK_FAILS(keel_session_run_into(session, names, feeds, 1, wrong_into, 1),
              KEEL_STATUS_INVALID_ARGUMENT, "output buffer 0");
  keel_tensor_t* t = NULL;
  const int64_t negative[] = {-1, 2};
  CHECK_FAILS(keel_tensor_create(KEEL_DTYPE_FLOAT32, negative, 2, &t), KEEL_STATUS_INVALID_ARGUMENT,
              "negative");
  CHECK_FAILS(keel_tensor_create_view(KEEL_DTYPE_FLOAT32, out_shape, 2, out_buf, 12, &t),
              KEEL_STATUS_INVALID_ARGUMENT, "size_bytes");
  CHECK(t == NULL);
  CHECK_FAILS(keel_model_input_count(NULL, &n_in), KEEL_STATUS_INVALID_ARGUMENT, "NULL");
  keel_session_t* no_session = (keel_session_t*)&g_failures;
  CHECK_FAILS(keel_session_create(NULL, NULL, &no_session), KEEL_STATUS_INVALID_ARGUMENT, "model");
  CHECK(no_session == NULL); /* out-parameter cleared on failure */

  /* Free everything; freeing NULL is a no-op. */
  keel_tensor_free(wrong_out);
  keel_tensor_free(small);
  keel_tensor_free(outputs2[0]);
  keel_tensor_free(x2);
  keel_session_free(session2);
  keel_tensor_free(y);
  keel_tensor_free(outputs[0]);
  keel_tensor_free(x);
  keel_session_free(session);
  keel_model_free(model2);
  keel_model_free(NULL);
  keel_session_free(NULL);
  keel_tensor_free(NULL);
  free(input.data);
  free(ref.data);

  if (g_failures) {
    fprintf(stderr, "capi_test: %d failures\n", g_failures);
    return 1;
  }
  printf("capi_test: all checks passed\n");
  return 0;
}
