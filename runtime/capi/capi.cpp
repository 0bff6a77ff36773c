// The C API (include/keel/keel.h) over the C++ API. This file is the only place where keel
// Status codes and C++ exceptions become keel_status_t: every entry point catches everything
// and records the message for keel_last_error_message().
#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "keel/keel.h"
#include "keel/keel.hpp"
#include "keel/version.hpp"

struct keel_model {
  std::shared_ptr<const keel::Model> model;
  // C views of the model's IoInfo: dim-name pointers per input and per output.
  std::vector<std::vector<const char*>> input_dim_names, output_dim_names;
};

struct keel_session {
  std::shared_ptr<const keel::Model> model;  // keeps the IoInfo alive for the session
  std::unique_ptr<keel::Session> session;
};

struct keel_tensor {
  keel::Tensor tensor;
};

namespace {

thread_local std::string t_last_error;

keel_status_t to_c(keel::StatusCode code) {
  switch (code) {
    case keel::StatusCode::kOk: return KEEL_STATUS_OK;
    case keel::StatusCode::kInvalidArgument: return KEEL_STATUS_INVALID_ARGUMENT;
    case keel::StatusCode::kInvalidModel: return KEEL_STATUS_INVALID_MODEL;
    case keel::StatusCode::kUnsupported: return KEEL_STATUS_UNSUPPORTED;
    case keel::StatusCode::kOutOfMemory: return KEEL_STATUS_OUT_OF_MEMORY;
    case keel::StatusCode::kInternal: return KEEL_STATUS_INTERNAL;
  }
  return KEEL_STATUS_INTERNAL;
}

keel_status_t fail(keel_status_t code, const char* message) {
  // Assigning may itself throw bad_alloc; the code still reaches the caller.
  try {
    t_last_error = message;
  } catch (...) {
    t_last_error.clear();
  }
  return code;
}

keel_status_t fail(const keel::Status& status) {
  return fail(to_c(status.code()), status.message().c_str());
}

keel_status_t fail_invalid(const std::string& message) {
  return fail(KEEL_STATUS_INVALID_ARGUMENT, message.c_str());
}

// For the entry points outside `guarded`: builds no std::string, so it cannot throw.
keel_status_t fail_invalid(const char* message) {
  return fail(KEEL_STATUS_INVALID_ARGUMENT, message);
}

// Runs `body` (returning keel_status_t) and turns any exception into a status.
template <typename F>
keel_status_t guarded(const char* function, F&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return fail(KEEL_STATUS_OUT_OF_MEMORY, (std::string(function) + ": out of memory").c_str());
  } catch (const std::exception& e) {
    return fail(KEEL_STATUS_INTERNAL, (std::string(function) + ": " + e.what()).c_str());
  } catch (...) {
    return fail(KEEL_STATUS_INTERNAL, function);
  }
}

// Reads an options struct of `caller_size` bytes into `out` (defaults already in it). A
// smaller struct from an older caller keeps the defaults of the fields it lacks; a larger one
// from a newer caller is accepted when the fields this library does not know are zero.
template <typename T>
keel_status_t read_options(const T* in, T* out, const char* what) {
  if (in == nullptr) return KEEL_STATUS_OK;
  const size_t caller_size = in->struct_size;
  if (caller_size < sizeof(size_t)) {
    return fail_invalid(std::string(what) + ".struct_size is " + std::to_string(caller_size) +
                        "; set it to sizeof(" + what + ")");
  }
  if (caller_size > sizeof(T)) {
    const auto* extra = reinterpret_cast<const unsigned char*>(in) + sizeof(T);
    for (size_t i = 0; i < caller_size - sizeof(T); ++i) {
      if (extra[i] != 0) {
        return fail(KEEL_STATUS_UNSUPPORTED,
                    (std::string(what) + " sets a field this library (keel " + keel::version() +
                     ") does not know")
                        .c_str());
      }
    }
  }
  std::memcpy(static_cast<void*>(out), in, std::min(caller_size, sizeof(T)));
  out->struct_size = sizeof(T);
  return KEEL_STATUS_OK;
}

keel_model_t* wrap_model(std::shared_ptr<const keel::Model> model) {
  auto out = std::make_unique<keel_model>();
  auto names = [](const std::vector<keel::IoInfo>& infos) {
    std::vector<std::vector<const char*>> all;
    for (const keel::IoInfo& info : infos) {
      std::vector<const char*> dims;
      for (const std::string& n : info.dim_names) dims.push_back(n.c_str());
      dims.resize(info.shape.size(), "");
      all.push_back(std::move(dims));
    }
    return all;
  };
  out->input_dim_names = names(model->inputs());
  out->output_dim_names = names(model->outputs());
  out->model = std::move(model);
  return out.release();
}

keel::Result<keel::ModelOptions> to_cpp(const keel_model_options_t& o) {
  keel::ModelOptions m;
  m.fold = o.fold != 0;
  m.fold_overridable = o.fold_overridable != 0;
  m.runtime_fusions = o.runtime_fusions != 0;
  switch (o.layout) {
    case KEEL_LAYOUT_NCHW: m.layout = keel::LayoutOption::kNchw; break;
    case KEEL_LAYOUT_NHWC: m.layout = keel::LayoutOption::kNhwc; break;
    case KEEL_LAYOUT_AUTO: m.layout = keel::LayoutOption::kAuto; break;
    default:
      return keel::invalid_argument("keel_model_options_t.layout is " + std::to_string(o.layout) +
                                    "; expected KEEL_LAYOUT_NCHW, KEEL_LAYOUT_NHWC or "
                                    "KEEL_LAYOUT_AUTO");
  }
  if (o.input_layout != KEEL_LAYOUT_NCHW && o.input_layout != KEEL_LAYOUT_NHWC) {
    return keel::invalid_argument("keel_model_options_t.input_layout is " +
                                  std::to_string(o.input_layout) +
                                  "; expected KEEL_LAYOUT_NCHW or KEEL_LAYOUT_NHWC");
  }
  m.input_layout = o.input_layout == KEEL_LAYOUT_NHWC ? keel::Layout::kNhwc : keel::Layout::kNchw;
  m.winograd = o.winograd != 0;
  if (o.precision != KEEL_PRECISION_FP32 && o.precision != KEEL_PRECISION_BF16) {
    return keel::invalid_argument("keel_model_options_t.precision is " +
                                  std::to_string(o.precision) +
                                  "; expected KEEL_PRECISION_FP32 or KEEL_PRECISION_BF16");
  }
  m.precision =
      o.precision == KEEL_PRECISION_BF16 ? keel::Precision::kBf16 : keel::Precision::kFp32;
  m.max_memory_bytes = o.max_memory_bytes;
  return m;
}

keel_status_t fill_info(const keel_model_t* model, size_t index, keel_io_info_t* info, bool input) {
  const char* what = input ? "input" : "output";
  if (model == nullptr || info == nullptr) {
    return fail_invalid(std::string("keel_model_") + what +
                        "_info: model and info must not be NULL");
  }
  if (info->struct_size < sizeof(size_t)) {
    return fail_invalid("keel_io_info_t.struct_size is not set; set it to sizeof(keel_io_info_t)");
  }
  const auto& infos = input ? model->model->inputs() : model->model->outputs();
  if (index >= infos.size()) {
    return fail_invalid(std::string(what) + " index " + std::to_string(index) +
                        " is out of range (the model has " + std::to_string(infos.size()) + " " +
                        what + "s)");
  }
  const keel::IoInfo& io = infos[index];
  const auto& dim_names = input ? model->input_dim_names[index] : model->output_dim_names[index];
  keel_io_info_t full;
  full.struct_size = sizeof(keel_io_info_t);
  full.name = io.name.c_str();
  full.dtype = static_cast<keel_dtype_t>(io.dtype);
  full.rank_known = io.rank_known ? 1 : 0;
  full.rank = io.shape.size();
  full.shape = io.shape.data();
  full.dim_names = dim_names.data();
  // Write only as much as the caller's struct holds.
  const size_t caller_size = info->struct_size;
  std::memcpy(static_cast<void*>(info), &full, std::min(caller_size, sizeof(full)));
  info->struct_size = caller_size;
  return KEEL_STATUS_OK;
}

keel_status_t make_shape(const int64_t* shape, size_t rank, keel::Shape* out) {
  if (rank > 0 && shape == nullptr) return fail_invalid("shape is NULL but rank is not 0");
  out->assign(shape, shape + rank);
  if (!keel::checked_numel(*out)) {
    return fail_invalid("shape " + keel::shape_to_string(*out) +
                        " has a negative dim or too many elements");
  }
  return KEEL_STATUS_OK;
}

keel_status_t check_dtype(keel_dtype_t dtype) {
  const auto t = static_cast<keel::DataType>(dtype);
  if (!keel::dtype_is_supported(t) || keel::dtype_size(t) == 0) {
    return fail_invalid("element type " + std::to_string(static_cast<int>(dtype)) +
                        " cannot be held in a keel tensor");
  }
  return KEEL_STATUS_OK;
}

keel_status_t bind_inputs(const keel_session_t* session, const char* const* names,
                          const keel_tensor_t* const* inputs, size_t count,
                          std::vector<keel::NamedTensor>* feeds) {
  if (session == nullptr) return fail_invalid("session must not be NULL");
  if (count > 0 && (names == nullptr || inputs == nullptr)) {
    return fail_invalid("input_names and inputs must not be NULL when input_count > 0");
  }
  feeds->reserve(count);
  for (size_t i = 0; i < count; ++i) {
    if (names[i] == nullptr || inputs[i] == nullptr) {
      return fail_invalid("input " + std::to_string(i) + ": name and tensor must not be NULL");
    }
    // Tensors share their storage (or view the caller's), so this copies no data.
    feeds->push_back({names[i], inputs[i]->tensor});
  }
  return KEEL_STATUS_OK;
}

}  // namespace

extern "C" {

const char* keel_version(void) { return keel::version(); }

const char* keel_last_error_message(void) { return t_last_error.c_str(); }

const char* keel_status_name(keel_status_t status) {
  switch (status) {
    case KEEL_STATUS_OK: return "OK";
    case KEEL_STATUS_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case KEEL_STATUS_INVALID_MODEL: return "INVALID_MODEL";
    case KEEL_STATUS_UNSUPPORTED: return "UNSUPPORTED";
    case KEEL_STATUS_OUT_OF_MEMORY: return "OUT_OF_MEMORY";
    case KEEL_STATUS_INTERNAL: return "INTERNAL";
  }
  return "UNKNOWN";
}

keel_status_t keel_model_options_init(keel_model_options_t* options) {
  if (options == nullptr) return fail_invalid("keel_model_options_init: options is NULL");
  *options = KEEL_MODEL_OPTIONS_INIT;
  return KEEL_STATUS_OK;
}

keel_status_t keel_session_options_init(keel_session_options_t* options) {
  if (options == nullptr) return fail_invalid("keel_session_options_init: options is NULL");
  *options = KEEL_SESSION_OPTIONS_INIT;
  return KEEL_STATUS_OK;
}

keel_status_t keel_model_load_file(const char* path, const keel_model_options_t* options,
                                   keel_model_t** out_model) {
  return guarded("keel_model_load_file", [&]() -> keel_status_t {
    if (out_model == nullptr) return fail_invalid("keel_model_load_file: out_model is NULL");
    *out_model = nullptr;
    if (path == nullptr) return fail_invalid("keel_model_load_file: path is NULL");
    keel_model_options_t o = KEEL_MODEL_OPTIONS_INIT;
    if (keel_status_t st = read_options(options, &o, "keel_model_options_t");
        st != KEEL_STATUS_OK) {
      return st;
    }
    auto options_cpp = to_cpp(o);
    if (!options_cpp.is_ok()) return fail(options_cpp.status());
    auto model = keel::Model::load_file(path, *options_cpp);
    if (!model.is_ok()) return fail(model.status());
    *out_model = wrap_model(std::move(model).value());
    return KEEL_STATUS_OK;
  });
}

keel_status_t keel_model_load_bytes(const void* data, size_t size,
                                    const keel_model_options_t* options, keel_model_t** out_model) {
  return guarded("keel_model_load_bytes", [&]() -> keel_status_t {
    if (out_model == nullptr) return fail_invalid("keel_model_load_bytes: out_model is NULL");
    *out_model = nullptr;
    if (data == nullptr && size > 0) return fail_invalid("keel_model_load_bytes: data is NULL");
    keel_model_options_t o = KEEL_MODEL_OPTIONS_INIT;
    if (keel_status_t st = read_options(options, &o, "keel_model_options_t");
        st != KEEL_STATUS_OK) {
      return st;
    }
    auto options_cpp = to_cpp(o);
    if (!options_cpp.is_ok()) return fail(options_cpp.status());
    auto model = keel::Model::load_bytes(data, size, *options_cpp);
    if (!model.is_ok()) return fail(model.status());
    *out_model = wrap_model(std::move(model).value());
    return KEEL_STATUS_OK;
  });
}

void keel_model_free(keel_model_t* model) { delete model; }

keel_status_t keel_model_input_count(const keel_model_t* model, size_t* out_count) {
  if (model == nullptr || out_count == nullptr) {
    return fail_invalid("keel_model_input_count: model and out_count must not be NULL");
  }
  *out_count = model->model->inputs().size();
  return KEEL_STATUS_OK;
}

keel_status_t keel_model_output_count(const keel_model_t* model, size_t* out_count) {
  if (model == nullptr || out_count == nullptr) {
    return fail_invalid("keel_model_output_count: model and out_count must not be NULL");
  }
  *out_count = model->model->outputs().size();
  return KEEL_STATUS_OK;
}

keel_status_t keel_model_input_info(const keel_model_t* model, size_t index, keel_io_info_t* info) {
  return guarded("keel_model_input_info", [&] { return fill_info(model, index, info, true); });
}

keel_status_t keel_model_output_info(const keel_model_t* model, size_t index,
                                     keel_io_info_t* info) {
  return guarded("keel_model_output_info", [&] { return fill_info(model, index, info, false); });
}

keel_status_t keel_session_create(const keel_model_t* model, const keel_session_options_t* options,
                                  keel_session_t** out_session) {
  return guarded("keel_session_create", [&]() -> keel_status_t {
    if (out_session == nullptr) return fail_invalid("keel_session_create: out_session is NULL");
    *out_session = nullptr;
    if (model == nullptr) return fail_invalid("keel_session_create: model is NULL");
    keel_session_options_t o = KEEL_SESSION_OPTIONS_INIT;
    if (keel_status_t st = read_options(options, &o, "keel_session_options_t");
        st != KEEL_STATUS_OK) {
      return st;
    }
    keel::SessionOptions so;
    so.threads = o.threads;
    so.tbb_task_arena = o.tbb_task_arena;
    auto session = keel::Session::create(model->model, so);
    if (!session.is_ok()) return fail(session.status());
    auto out = std::make_unique<keel_session>();
    out->model = model->model;
    out->session = std::move(session).value();
    *out_session = out.release();
    return KEEL_STATUS_OK;
  });
}

void keel_session_free(keel_session_t* session) { delete session; }

keel_status_t keel_session_run(const keel_session_t* session, const char* const* input_names,
                               const keel_tensor_t* const* inputs, size_t input_count,
                               keel_tensor_t** outputs, size_t output_count) {
  return guarded("keel_session_run", [&]() -> keel_status_t {
    if (outputs == nullptr && output_count > 0) {
      return fail_invalid("keel_session_run: outputs is NULL");
    }
    // A wrong output_count may be longer than the caller's array: clear only the entries that
    // both the count and the model's outputs cover.
    const size_t expected = session ? session->model->outputs().size() : 0;
    for (size_t i = 0; i < std::min(output_count, expected); ++i) outputs[i] = nullptr;
    std::vector<keel::NamedTensor> feeds;
    if (keel_status_t st = bind_inputs(session, input_names, inputs, input_count, &feeds);
        st != KEEL_STATUS_OK) {
      return st;
    }
    if (output_count != expected) {
      return fail_invalid("keel_session_run: output_count is " + std::to_string(output_count) +
                          ", the model has " + std::to_string(expected) + " outputs");
    }
    auto result = session->session->run(feeds);
    if (!result.is_ok()) return fail(result.status());
    std::vector<std::unique_ptr<keel_tensor>> wrapped;
    wrapped.reserve(expected);
    for (keel::Tensor& t : *result) {
      wrapped.push_back(std::make_unique<keel_tensor>());
      wrapped.back()->tensor = std::move(t);
    }
    for (size_t i = 0; i < expected; ++i) outputs[i] = wrapped[i].release();
    return KEEL_STATUS_OK;
  });
}

keel_status_t keel_session_run_into(const keel_session_t* session, const char* const* input_names,
                                    const keel_tensor_t* const* inputs, size_t input_count,
                                    keel_tensor_t* const* outputs, size_t output_count) {
  return guarded("keel_session_run_into", [&]() -> keel_status_t {
    if (outputs == nullptr && output_count > 0) {
      return fail_invalid("keel_session_run_into: outputs is NULL");
    }
    std::vector<keel::NamedTensor> feeds;
    if (keel_status_t st = bind_inputs(session, input_names, inputs, input_count, &feeds);
        st != KEEL_STATUS_OK) {
      return st;
    }
    std::vector<keel::Tensor*> into(output_count);
    for (size_t i = 0; i < output_count; ++i) {
      if (outputs[i] == nullptr) {
        return fail_invalid("keel_session_run_into: output " + std::to_string(i) + " is NULL");
      }
      into[i] = &outputs[i]->tensor;
    }
    keel::Status st = session->session->run_into(feeds, into);
    return st.is_ok() ? KEEL_STATUS_OK : fail(st);
  });
}

keel_status_t keel_tensor_create(keel_dtype_t dtype, const int64_t* shape, size_t rank,
                                 keel_tensor_t** out_tensor) {
  return guarded("keel_tensor_create", [&]() -> keel_status_t {
    if (out_tensor == nullptr) return fail_invalid("keel_tensor_create: out_tensor is NULL");
    *out_tensor = nullptr;
    if (keel_status_t st = check_dtype(dtype); st != KEEL_STATUS_OK) return st;
    keel::Shape dims;
    if (keel_status_t st = make_shape(shape, rank, &dims); st != KEEL_STATUS_OK) return st;
    auto t = keel::Tensor::allocate(static_cast<keel::DataType>(dtype), std::move(dims));
    if (!t.is_ok()) return fail(t.status());
    auto out = std::make_unique<keel_tensor>();
    out->tensor = std::move(t).value();
    *out_tensor = out.release();
    return KEEL_STATUS_OK;
  });
}

keel_status_t keel_tensor_create_view(keel_dtype_t dtype, const int64_t* shape, size_t rank,
                                      void* data, size_t size_bytes, keel_tensor_t** out_tensor) {
  return guarded("keel_tensor_create_view", [&]() -> keel_status_t {
    if (out_tensor == nullptr) return fail_invalid("keel_tensor_create_view: out_tensor is NULL");
    *out_tensor = nullptr;
    if (keel_status_t st = check_dtype(dtype); st != KEEL_STATUS_OK) return st;
    keel::Shape dims;
    if (keel_status_t st = make_shape(shape, rank, &dims); st != KEEL_STATUS_OK) return st;
    const auto t = static_cast<keel::DataType>(dtype);
    const size_t want = static_cast<size_t>(keel::numel(dims)) * keel::dtype_size(t);
    if (size_bytes != want) {
      return fail_invalid("keel_tensor_create_view: " + keel::dtype_name(t) +
                          keel::shape_to_string(dims) + " needs " + std::to_string(want) +
                          " bytes, size_bytes is " + std::to_string(size_bytes));
    }
    if (data == nullptr && want > 0) return fail_invalid("keel_tensor_create_view: data is NULL");
    auto out = std::make_unique<keel_tensor>();
    out->tensor = keel::Tensor::view(t, std::move(dims), data);
    *out_tensor = out.release();
    return KEEL_STATUS_OK;
  });
}

void keel_tensor_free(keel_tensor_t* tensor) { delete tensor; }

keel_status_t keel_tensor_data(const keel_tensor_t* tensor, void** out_data) {
  if (tensor == nullptr || out_data == nullptr) {
    return fail_invalid("keel_tensor_data: tensor and out_data must not be NULL");
  }
  *out_data = const_cast<void*>(tensor->tensor.data());
  return KEEL_STATUS_OK;
}

keel_status_t keel_tensor_shape(const keel_tensor_t* tensor, const int64_t** out_shape,
                                size_t* out_rank) {
  if (tensor == nullptr || out_shape == nullptr || out_rank == nullptr) {
    return fail_invalid("keel_tensor_shape: tensor, out_shape and out_rank must not be NULL");
  }
  *out_shape = tensor->tensor.shape().data();
  *out_rank = tensor->tensor.shape().size();
  return KEEL_STATUS_OK;
}

keel_status_t keel_tensor_dtype(const keel_tensor_t* tensor, keel_dtype_t* out_dtype) {
  if (tensor == nullptr || out_dtype == nullptr) {
    return fail_invalid("keel_tensor_dtype: tensor and out_dtype must not be NULL");
  }
  *out_dtype = static_cast<keel_dtype_t>(tensor->tensor.dtype());
  return KEEL_STATUS_OK;
}

keel_status_t keel_tensor_size(const keel_tensor_t* tensor, size_t* out_elements,
                               size_t* out_bytes) {
  if (tensor == nullptr) return fail_invalid("keel_tensor_size: tensor is NULL");
  if (out_elements) *out_elements = static_cast<size_t>(tensor->tensor.numel());
  if (out_bytes) *out_bytes = tensor->tensor.nbytes();
  return KEEL_STATUS_OK;
}

}  // extern "C"
