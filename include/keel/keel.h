/* keel C API: a stable ABI over the C++ runtime (include/keel/keel.hpp).
 *
 *   keel_model_t* model = NULL;
 *   keel_session_t* session = NULL;
 *   if (keel_model_load_file("model.onnx", NULL, &model) != KEEL_STATUS_OK)
 *     fprintf(stderr, "%s\n", keel_last_error_message());
 *   keel_session_create(model, NULL, &session);
 *   keel_session_run(session, names, inputs, 1, outputs, 1);
 *   ...
 *   keel_tensor_free(outputs[0]); keel_session_free(session); keel_model_free(model);
 *
 * Rules that hold for every function:
 * - Every function except keel_version, keel_last_error_message, keel_status_name and the
 *   keel_*_free functions returns a keel_status_t. No function throws a C++ exception or aborts;
 *   on failure the out-parameters are set to NULL / 0 where the function says so, and
 *   keel_last_error_message() returns the reason.
 * - Handles are opaque. A handle returned through an out-parameter is owned by the caller, who
 *   releases it with the matching keel_*_free; keel_*_free(NULL) does nothing.
 * - Option structs start with struct_size = sizeof(the struct) so the ABI can grow: fill them
 *   with keel_*_options_init (or the KEEL_*_OPTIONS_INIT initializers). A NULL options pointer
 *   means the defaults.
 * - Thread safety: a model is immutable and may be used from any number of threads; one
 *   session may run concurrently on many threads (keel_session_run is thread-safe). A tensor
 *   must not be written by one thread while another reads it.
 */
#ifndef KEEL_KEEL_H_
#define KEEL_KEEL_H_

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define KEEL_C_API __attribute__((visibility("default")))
#else
#define KEEL_C_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Outcome of a call. Values are stable. */
typedef enum keel_status_t {
  KEEL_STATUS_OK = 0,
  KEEL_STATUS_INVALID_ARGUMENT = 1, /* the caller passed something wrong (name, shape, NULL) */
  KEEL_STATUS_INVALID_MODEL = 2,    /* the model file is malformed or inconsistent */
  KEEL_STATUS_UNSUPPORTED = 3,      /* valid ONNX that keel does not implement */
  KEEL_STATUS_OUT_OF_MEMORY = 4,
  KEEL_STATUS_INTERNAL = 5
} keel_status_t;

/* Element types; the values equal ONNX TensorProto.DataType. */
typedef enum keel_dtype_t {
  KEEL_DTYPE_UNDEFINED = 0,
  KEEL_DTYPE_FLOAT32 = 1,
  KEEL_DTYPE_UINT8 = 2,
  KEEL_DTYPE_INT8 = 3,
  KEEL_DTYPE_UINT16 = 4,
  KEEL_DTYPE_INT16 = 5,
  KEEL_DTYPE_INT32 = 6,
  KEEL_DTYPE_INT64 = 7,
  KEEL_DTYPE_BOOL = 9,
  KEEL_DTYPE_FLOAT16 = 10,
  KEEL_DTYPE_FLOAT64 = 11,
  KEEL_DTYPE_UINT32 = 12,
  KEEL_DTYPE_UINT64 = 13,
  KEEL_DTYPE_BFLOAT16 = 16
} keel_dtype_t;

typedef struct keel_model keel_model_t;     /* a loaded model (immutable) */
typedef struct keel_session keel_session_t; /* a model prepared to run with its own threads */
typedef struct keel_tensor keel_tensor_t;   /* dtype + shape + data (owned or a view) */

/* ---- library ---------------------------------------------------------------------------- */

/* "MAJOR.MINOR.PATCH" of the library. Static storage; never NULL. */
KEEL_C_API const char* keel_version(void);

/* Message of the most recent failed call made by this thread ("" when none failed yet).
 * Owned by the library; valid until the next failing call on this thread. Never NULL. */
KEEL_C_API const char* keel_last_error_message(void);

/* "OK", "INVALID_ARGUMENT", ... Static storage; never NULL. */
KEEL_C_API const char* keel_status_name(keel_status_t status);

/* ---- models ----------------------------------------------------------------------------- */

typedef struct keel_model_options_t {
  size_t struct_size;      /* sizeof(keel_model_options_t) */
  int fold;                /* 1 (default): fold BatchNorm and per-channel Mul/Add at load */
  int fold_overridable;    /* 0 (default): also fold initializers listed as graph inputs */
  int runtime_fusions;     /* 1 (default): keel-only fusions (BatchNorm + activation) */
  int layout;              /* storage of activations inside the model: KEEL_LAYOUT_AUTO (default:
                              NHWC for CNNs), KEEL_LAYOUT_NCHW or KEEL_LAYOUT_NHWC; inputs and
                              outputs stay as declared */
  int input_layout;        /* KEEL_LAYOUT_NCHW (default): rank-4 inputs as declared;
                              KEEL_LAYOUT_NHWC: given as [N, H, W, C] (inputs report that shape) */
  int winograd;            /* 1 (default): 3x3 stride-1 convolutions with 64 or more channels (NHWC)
                              as Winograd F(2x2, 3x3); 0: the direct kernels only. Callers built
                              with an older, shorter struct get 1. */
  int precision;           /* KEEL_PRECISION_FP32 (default, and for older, shorter structs) or
                              KEEL_PRECISION_BF16: convolutions and matrix products with constant
                              weights in bfloat16 with float32 sums, except the nodes the policy
                              keeps float32 (the first convolution, the last layers) */
  size_t max_memory_bytes; /* 0 (default, and for older structs): no limit. Else the most the
                              model may hold: weights at load; per plan weights, packed weights,
                              plan constants and one run's activations (KEEL_OUT_OF_MEMORY) */
} keel_model_options_t;

#define KEEL_LAYOUT_NCHW 0
#define KEEL_LAYOUT_NHWC 1
#define KEEL_LAYOUT_AUTO 2

#define KEEL_PRECISION_FP32 0
#define KEEL_PRECISION_BF16 1

#define KEEL_MODEL_OPTIONS_INIT                                                   \
  {                                                                               \
    sizeof(keel_model_options_t), 1, 0, 1, KEEL_LAYOUT_AUTO, KEEL_LAYOUT_NCHW, 1, \
        KEEL_PRECISION_FP32, 0                                                    \
  }

/* Fills *options with the defaults and struct_size. */
KEEL_C_API keel_status_t keel_model_options_init(keel_model_options_t* options);

/* Loads an ONNX model from a file (external data is read from the file's folder).
 * options: may be NULL (defaults); read only during the call.
 * *out_model: receives a new model owned by the caller (free with keel_model_free); NULL on
 * failure. */
KEEL_C_API keel_status_t keel_model_load_file(const char* path, const keel_model_options_t* options,
                                              keel_model_t** out_model);

/* Loads an ONNX model from memory. `data` is read only during the call (the caller may free
 * it afterwards). Ownership as keel_model_load_file. */
KEEL_C_API keel_status_t keel_model_load_bytes(const void* data, size_t size,
                                               const keel_model_options_t* options,
                                               keel_model_t** out_model);

/* Releases the caller's reference. Sessions created from the model keep their own reference,
 * so the model may be freed before them. NULL is a no-op. */
KEEL_C_API void keel_model_free(keel_model_t* model);

/* Name, type and shape of a model input or output. Every pointer in it is owned by the model
 * and stays valid until the model (and every session made from it) is freed. */
typedef struct keel_io_info_t {
  size_t struct_size; /* set by the caller: sizeof(keel_io_info_t) */
  const char* name;
  keel_dtype_t dtype; /* KEEL_DTYPE_UNDEFINED when the model does not say */
  int rank_known;     /* 0 when the model does not declare a shape */
  size_t rank;
  const int64_t* shape;         /* rank dims; -1 marks a dynamic dim */
  const char* const* dim_names; /* rank names; "" when a dim has no symbolic name */
} keel_io_info_t;

KEEL_C_API keel_status_t keel_model_input_count(const keel_model_t* model, size_t* out_count);
KEEL_C_API keel_status_t keel_model_output_count(const keel_model_t* model, size_t* out_count);
/* Fills *info (whose struct_size the caller set) for input/output `index`. */
KEEL_C_API keel_status_t keel_model_input_info(const keel_model_t* model, size_t index,
                                               keel_io_info_t* info);
KEEL_C_API keel_status_t keel_model_output_info(const keel_model_t* model, size_t index,
                                                keel_io_info_t* info);

/* ---- sessions --------------------------------------------------------------------------- */

typedef struct keel_session_options_t {
  size_t struct_size; /* sizeof(keel_session_options_t) */
  int threads;        /* threads of the session's own thread pool; 0 (default) = all cores */
  /* NULL (default), or the application's own oneTBB arena (a `tbb::task_arena*`): every run
     executes in it; threads must then be 0 or its max_concurrency(). The caller owns it and
     keeps it alive, its concurrency unchanged, for the session's lifetime. */
  void* tbb_task_arena;
} keel_session_options_t;

#define KEEL_SESSION_OPTIONS_INIT \
  { sizeof(keel_session_options_t), 0, NULL }

KEEL_C_API keel_status_t keel_session_options_init(keel_session_options_t* options);

/* Creates a session; plans at once when every input dim is known (shape errors surface here).
 * The session holds its own reference to `model`. options: may be NULL; read only during
 * the call. *out_session: new session owned by the caller (keel_session_free); NULL on
 * failure. */
KEEL_C_API keel_status_t keel_session_create(const keel_model_t* model,
                                             const keel_session_options_t* options,
                                             keel_session_t** out_session);

/* The caller must not free a session while a run on it is in progress.
 * NULL is a no-op. */
KEEL_C_API void keel_session_free(keel_session_t* session);

/* Runs the model. Thread-safe: any number of threads may run one session at once.
 * input_names[i] names inputs[i]; every model input must be given once. Inputs are borrowed
 * for the call (not copied when they are views). `outputs` is an array of output_count slots,
 * output_count == the model's output count; on success slot i receives a new tensor owned by
 * the caller holding output i (model order); on failure every slot is set to NULL (with a
 * wrong output_count, only the first min(output_count, model outputs) slots are touched). */
KEEL_C_API keel_status_t keel_session_run(const keel_session_t* session,
                                          const char* const* input_names,
                                          const keel_tensor_t* const* inputs, size_t input_count,
                                          keel_tensor_t** outputs, size_t output_count);

/* As keel_session_run, but writes output i into the caller's tensor outputs[i] (for example a
 * view over the caller's memory from keel_tensor_create_view), whose dtype and shape must equal
 * the output's; nothing is allocated for outputs. The tensors stay owned by the caller. On
 * failure their contents are unspecified. */
KEEL_C_API keel_status_t keel_session_run_into(const keel_session_t* session,
                                               const char* const* input_names,
                                               const keel_tensor_t* const* inputs,
                                               size_t input_count, keel_tensor_t* const* outputs,
                                               size_t output_count);

/* ---- tensors ---------------------------------------------------------------------------- */

/* A new zero-filled tensor that owns its (64-byte aligned) memory. shape: rank dims, each
 * >= 0, read only during the call (may be NULL when rank == 0). *out_tensor: owned by the
 * caller (keel_tensor_free); NULL on failure. */
KEEL_C_API keel_status_t keel_tensor_create(keel_dtype_t dtype, const int64_t* shape, size_t rank,
                                            keel_tensor_t** out_tensor);

/* A tensor viewing the caller's memory (zero copy). size_bytes must equal the element count
 * times the element size. The caller keeps `data` alive, and does not change it while a run
 * reads it, until the tensor is freed; keel never frees it. Ownership of *out_tensor as
 * keel_tensor_create. */
KEEL_C_API keel_status_t keel_tensor_create_view(keel_dtype_t dtype, const int64_t* shape,
                                                 size_t rank, void* data, size_t size_bytes,
                                                 keel_tensor_t** out_tensor);

/* NULL is a no-op. Memory of a view is not freed (it belongs to the caller). */
KEEL_C_API void keel_tensor_free(keel_tensor_t* tensor);

/* Pointer to the tensor's elements (row-major). Owned by the tensor (or by the caller for a
 * view); valid until the tensor is freed. */
KEEL_C_API keel_status_t keel_tensor_data(const keel_tensor_t* tensor, void** out_data);
/* *out_shape: rank dims owned by the tensor, valid until it is freed. */
KEEL_C_API keel_status_t keel_tensor_shape(const keel_tensor_t* tensor, const int64_t** out_shape,
                                           size_t* out_rank);
KEEL_C_API keel_status_t keel_tensor_dtype(const keel_tensor_t* tensor, keel_dtype_t* out_dtype);
/* Element count and byte size. */
KEEL_C_API keel_status_t keel_tensor_size(const keel_tensor_t* tensor, size_t* out_elements,
                                          size_t* out_bytes);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KEEL_KEEL_H_ */
