// The Python module `keel`: an ONNX Runtime-style InferenceSession over the C++ API.
//
//   import keel, numpy as np
//   s = keel.InferenceSession("model.onnx", threads=2, fold=True)
//   [y] = s.run(None, {"input": np.zeros((1, 3, 64, 64), np.float32)})
//
// Inputs that are C-contiguous numpy arrays of the model's dtype are viewed, not copied;
// outputs are numpy arrays that own keel's output buffers (no copy either). The GIL is released
// while a model loads and while it runs, so Python threads running one session (or several)
// run in parallel. keel errors become keel.KeelError subclasses carrying keel's message.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "keel/keel.hpp"
#include "keel/version.hpp"

namespace py = pybind11;

namespace {

// Exception classes, created in the module init (owned by the module).
PyObject* g_error_base = nullptr;
PyObject* g_invalid_argument = nullptr;
PyObject* g_invalid_model = nullptr;
PyObject* g_unsupported = nullptr;

[[noreturn]] void raise(const keel::Status& status) {
  PyObject* type = g_error_base;
  switch (status.code()) {
    case keel::StatusCode::kInvalidArgument: type = g_invalid_argument; break;
    case keel::StatusCode::kInvalidModel: type = g_invalid_model; break;
    case keel::StatusCode::kUnsupported: type = g_unsupported; break;
    case keel::StatusCode::kOutOfMemory: type = PyExc_MemoryError; break;
    default: break;
  }
  PyErr_SetString(type, status.to_string().c_str());
  throw py::error_already_set();
}

// numpy dtype <-> keel DataType.
struct DtypeMap {
  keel::DataType keel;
  const char* numpy;  // numpy name
  const char* onnx;   // ONNX Runtime's type string
};
constexpr DtypeMap kDtypes[] = {
    {keel::DataType::kFloat32, "float32", "tensor(float)"},
    {keel::DataType::kFloat64, "float64", "tensor(double)"},
    {keel::DataType::kFloat16, "float16", "tensor(float16)"},
    {keel::DataType::kInt8, "int8", "tensor(int8)"},
    {keel::DataType::kInt16, "int16", "tensor(int16)"},
    {keel::DataType::kInt32, "int32", "tensor(int32)"},
    {keel::DataType::kInt64, "int64", "tensor(int64)"},
    {keel::DataType::kUint8, "uint8", "tensor(uint8)"},
    {keel::DataType::kUint16, "uint16", "tensor(uint16)"},
    {keel::DataType::kUint32, "uint32", "tensor(uint32)"},
    {keel::DataType::kUint64, "uint64", "tensor(uint64)"},
    {keel::DataType::kBool, "bool", "tensor(bool)"},
};

const DtypeMap* find_dtype(keel::DataType t) {
  for (const DtypeMap& d : kDtypes) {
    if (d.keel == t) return &d;
  }
  return nullptr;
}

std::optional<keel::DataType> keel_dtype_of(const py::dtype& dt) {
  for (const DtypeMap& d : kDtypes) {
    if (dt.equal(py::dtype(d.numpy))) return d.keel;  // byte-swapped dtypes never equal
  }
  return std::nullopt;
}

std::string onnx_type_name(keel::DataType t) {
  const DtypeMap* d = find_dtype(t);
  return d ? d->onnx : "tensor(" + keel::dtype_name(t) + ")";
}

// An input or output as ONNX Runtime describes it: shape entries are ints, or the symbolic
// dim name (str) or None for a dynamic dim.
struct NodeArg {
  std::string name;
  py::list shape;
  std::string type;
};

NodeArg describe(const keel::IoInfo& info) {
  NodeArg arg;
  arg.name = info.name;
  arg.type = onnx_type_name(info.dtype);
  for (size_t d = 0; d < info.shape.size(); ++d) {
    if (info.shape[d] >= 0) {
      arg.shape.append(info.shape[d]);
    } else if (d < info.dim_names.size() && !info.dim_names[d].empty()) {
      arg.shape.append(info.dim_names[d]);
    } else {
      arg.shape.append(py::none());
    }
  }
  return arg;
}

// Moves an output tensor into a numpy array that owns it (no copy).
py::array to_numpy(keel::Tensor&& tensor) {
  const DtypeMap* d = find_dtype(tensor.dtype());
  if (!d) {
    raise(keel::unsupported("output of type " + keel::dtype_name(tensor.dtype()) +
                            " has no numpy equivalent"));
  }
  auto* owned = new keel::Tensor(std::move(tensor));
  py::capsule base(owned, [](void* p) { delete static_cast<keel::Tensor*>(p); });
  std::vector<py::ssize_t> shape(owned->shape().begin(), owned->shape().end());
  // Explicit C-order strides: pybind11 before 2.12 reads the element size from numpy 1's
  // dtype layout, which numpy 2 changed, and would derive zero strides under numpy 2.
  std::vector<py::ssize_t> strides(shape.size());
  py::ssize_t step = static_cast<py::ssize_t>(keel::dtype_size(owned->dtype()));
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = step;
    step *= std::max<py::ssize_t>(shape[i], 1);
  }
  return py::array(py::dtype(d->numpy), shape, strides, owned->data(), base);
}

class InferenceSession {
 public:
  InferenceSession(const py::object& model, int threads, bool fold, bool runtime_fusions,
                   const std::string& layout, const std::string& input_layout, bool winograd,
                   const std::string& precision, const std::vector<std::string>& fp32_ops,
                   size_t max_memory_bytes) {
    keel::ModelOptions options;
    options.fold = fold;
    options.runtime_fusions = runtime_fusions;
    auto layout_option = keel::parse_layout_option(layout);
    if (!layout_option.is_ok()) raise(layout_option.status());
    options.layout = *layout_option;
    if (input_layout != "nchw" && input_layout != "nhwc") {
      raise(keel::invalid_argument("input_layout '" + input_layout + "': expected nchw or nhwc"));
    }
    options.input_layout = input_layout == "nhwc" ? keel::Layout::kNhwc : keel::Layout::kNchw;
    options.winograd = winograd;
    auto precision_option = keel::parse_precision(precision);
    if (!precision_option.is_ok()) raise(precision_option.status());
    options.precision = *precision_option;
    options.fp32_ops = fp32_ops;
    options.max_memory_bytes = max_memory_bytes;
    std::optional<keel::Result<std::shared_ptr<const keel::Model>>> loaded;
    if (py::isinstance<py::bytes>(model)) {
      std::string bytes = model.cast<std::string>();
      py::gil_scoped_release release;
      loaded.emplace(keel::Model::load_bytes(bytes.data(), bytes.size(), options));
    } else {
      // str or os.PathLike
      std::string path = py::str(py::module_::import("os").attr("fspath")(model));
      py::gil_scoped_release release;
      loaded.emplace(keel::Model::load_file(path, options));
    }
    if (!loaded->is_ok()) raise(loaded->status());
    model_ = std::move(*loaded).value();
    keel::SessionOptions session_options;
    session_options.threads = threads;
    std::optional<keel::Result<std::unique_ptr<keel::Session>>> session;
    {
      py::gil_scoped_release release;
      session.emplace(keel::Session::create(model_, session_options));
    }
    if (!session->is_ok()) raise(session->status());
    session_ = std::move(*session).value();
  }

  std::vector<NodeArg> get_inputs() const {
    std::vector<NodeArg> out;
    for (const keel::IoInfo& info : model_->inputs()) out.push_back(describe(info));
    return out;
  }
  std::vector<NodeArg> get_outputs() const {
    std::vector<NodeArg> out;
    for (const keel::IoInfo& info : model_->outputs()) out.push_back(describe(info));
    return out;
  }
  int threads() const { return session_->threads(); }

  py::list run(const std::optional<std::vector<std::string>>& output_names,
               const py::dict& input_feed) const {
    // Which outputs to return, checked before running.
    std::vector<size_t> selected;
    const auto& outputs = model_->outputs();
    if (!output_names || output_names->empty()) {
      for (size_t i = 0; i < outputs.size(); ++i) selected.push_back(i);
    } else {
      for (const std::string& name : *output_names) {
        size_t i = 0;
        while (i < outputs.size() && outputs[i].name != name) ++i;
        if (i == outputs.size())
          raise(keel::invalid_argument("the model has no output named '" + name + "'"));
        selected.push_back(i);
      }
    }
    // Views over the arrays; `arrays` keeps them alive while the GIL is released.
    std::vector<py::array> arrays;
    std::vector<keel::NamedTensor> feeds;
    arrays.reserve(input_feed.size());
    for (const auto& [key, value] : input_feed) {
      std::string name = py::str(key);
      // Same object when already C-contiguous; otherwise a contiguous copy of the same dtype.
      py::array array = py::array::ensure(value, py::array::c_style);
      if (!array) throw py::error_already_set();
      std::optional<keel::DataType> dtype = keel_dtype_of(array.dtype());
      if (!dtype) {
        raise(keel::invalid_argument("input '" + name + "' has numpy dtype " +
                                     py::str(array.dtype()).cast<std::string>() +
                                     ", which keel does not take"));
      }
      keel::Shape shape(array.shape(), array.shape() + array.ndim());
      feeds.push_back(
          {name, keel::Tensor::view(*dtype, std::move(shape), const_cast<void*>(array.data()))});
      arrays.push_back(std::move(array));
    }
    std::optional<keel::Result<std::vector<keel::Tensor>>> result;
    {
      py::gil_scoped_release release;
      result.emplace(session_->run(feeds));
    }
    if (!result->is_ok()) raise(result->status());
    py::list out;
    for (size_t i : selected) out.append(to_numpy(std::move((**result)[i])));
    return out;
  }

 private:
  std::shared_ptr<const keel::Model> model_;
  std::unique_ptr<keel::Session> session_;
};

}  // namespace

PYBIND11_MODULE(keel, m) {
  m.doc() = "keel: CPU inference for ONNX models";
  m.attr("__version__") = keel::version();

  g_error_base = PyErr_NewExceptionWithDoc("keel.KeelError", "A keel error (base class).",
                                           PyExc_RuntimeError, nullptr);
  py::tuple invalid_argument_bases =
      py::make_tuple(py::handle(g_error_base), py::handle(PyExc_ValueError));
  g_invalid_argument = PyErr_NewExceptionWithDoc("keel.InvalidArgument",
                                                 "A wrong input name, shape, dtype or option.",
                                                 invalid_argument_bases.ptr(), nullptr);
  g_invalid_model = PyErr_NewExceptionWithDoc(
      "keel.InvalidModel", "The model is malformed or inconsistent.", g_error_base, nullptr);
  g_unsupported = PyErr_NewExceptionWithDoc(
      "keel.Unsupported", "Valid ONNX that keel does not implement.", g_error_base, nullptr);
  m.attr("KeelError") = py::handle(g_error_base);
  m.attr("InvalidArgument") = py::handle(g_invalid_argument);
  m.attr("InvalidModel") = py::handle(g_invalid_model);
  m.attr("Unsupported") = py::handle(g_unsupported);

  py::class_<NodeArg>(m, "NodeArg", "Name, shape and type of a model input or output.")
      .def_readonly("name", &NodeArg::name)
      .def_readonly("shape", &NodeArg::shape, "ints; a dynamic dim is its name (str) or None")
      .def_readonly("type", &NodeArg::type, "ONNX Runtime's type string, e.g. 'tensor(float)'")
      .def("__repr__", [](const NodeArg& a) {
        return "NodeArg(name='" + a.name + "', type='" + a.type +
               "', shape=" + py::repr(a.shape).cast<std::string>() + ")";
      });

  py::class_<InferenceSession>(m, "InferenceSession",
                               "A loaded model ready to run. run() may be called from many "
                               "threads at once; the GIL is released while it runs.")
      .def(py::init<const py::object&, int, bool, bool, const std::string&, const std::string&,
                    bool, const std::string&, const std::vector<std::string>&, size_t>(),
           py::arg("model"), py::kw_only(), py::arg("threads") = 0, py::arg("fold") = true,
           py::arg("runtime_fusions") = true, py::arg("layout") = "auto",
           py::arg("input_layout") = "nchw", py::arg("winograd") = true,
           py::arg("precision") = "fp32", py::arg("fp32_ops") = std::vector<std::string>{},
           py::arg("max_memory_bytes") = 0,
           "model: path (str or os.PathLike) or the model's bytes. threads: size of the "
           "session's thread pool (0 = all cores). fold: fold BatchNorm at load. "
           "runtime_fusions: keel-only fusions. layout: 'nchw', 'nhwc' or 'auto', how "
           "activations are stored inside the model (inputs and outputs stay as declared). "
           "input_layout: 'nhwc' to hand rank-4 inputs as [N, H, W, C]. winograd: False "
           "runs 3x3 convolutions without Winograd F(2x2, 3x3). precision: 'fp32' or 'bf16' "
           "(convolutions and matrix products with constant weights in bfloat16, float32 "
           "sums; fp32_ops lists operator types kept float32). max_memory_bytes: 0 (no "
           "limit) or the most the model may hold (weights, packed weights, one run's "
           "activations); past it loading or planning raises MemoryError.")
      .def("get_inputs", &InferenceSession::get_inputs)
      .def("get_outputs", &InferenceSession::get_outputs)
      .def_property_readonly("threads", &InferenceSession::threads)
      .def("run", &InferenceSession::run, py::arg("output_names"), py::arg("input_feed"),
           "Runs the model. output_names: None (all, in model order) or a list of names. "
           "input_feed: {name: numpy array}. Returns a list of numpy arrays.");
}
