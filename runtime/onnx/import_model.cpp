#include "onnx/import_model.hpp"

#include <google/protobuf/io/coded_stream.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>

#include "graph/onnx_op_versions.hpp"
#include "onnx/tensor_proto.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define KEEL_HAVE_MMAP 1
#else
#define KEEL_HAVE_MMAP 0
#endif

namespace keel {

namespace fs = std::filesystem;

namespace {

ValueType convert_type(const onnx::TypeProto& type) {
  ValueType out;
  if (!type.has_tensor_type()) return out;
  const auto& tt = type.tensor_type();
  out.dtype = static_cast<DataType>(tt.elem_type());
  if (tt.has_shape()) {
    std::vector<Dim> dims;
    for (const auto& d : tt.shape().dim()) {
      Dim dim;
      if (d.has_dim_value()) {
        dim.value = d.dim_value();
      } else if (d.has_dim_param()) {
        dim.symbol = d.dim_param();
      }
      dims.push_back(dim);
    }
    out.dims = std::move(dims);
  }
  return out;
}

class Importer {
 public:
  Importer(const onnx::ModelProto& model, const ImportOptions& options)
      : model_(model), options_(options) {}

  Result<std::unique_ptr<Graph>> run() {
    graph_ = std::make_unique<Graph>();
    KEEL_RETURN_IF_ERROR(check_versions());
    const onnx::GraphProto& g = model_.graph();
    graph_->name = g.name();
    graph_->producer_name = model_.producer_name();
    graph_->producer_version = model_.producer_version();
    graph_->doc_string = model_.doc_string();
    for (const auto& kv : model_.metadata_props())
      graph_->metadata.emplace_back(kv.key(), kv.value());
    if (g.sparse_initializer_size() > 0) {
      return unsupported("the model has sparse initializers, which keel does not support");
    }
    KEEL_RETURN_IF_ERROR(import_initializers(g));
    KEEL_RETURN_IF_ERROR(import_inputs(g));
    for (const auto& vi : g.value_info()) {
      if (Value* v = graph_->find_value(vi.name())) {
        if (!v->type.dims && v->type.dtype == DataType::kUndefined)
          v->type = convert_type(vi.type());
      } else {
        graph_->get_or_create_value(vi.name())->type = convert_type(vi.type());
      }
    }
    KEEL_RETURN_IF_ERROR(import_nodes(g));
    KEEL_RETURN_IF_ERROR(import_outputs(g));
    KEEL_RETURN_IF_ERROR(check_structure());
    return std::move(graph_);
  }

 private:
  Status check_versions() {
    graph_->ir_version = model_.ir_version();
    if (model_.ir_version() > onnx_schemas_ir_version()) {
      return unsupported("IR version " + std::to_string(model_.ir_version()) +
                         " is newer than the newest keel reads (" +
                         std::to_string(onnx_schemas_ir_version()) + ")");
    }
    if (!model_.has_graph()) return invalid_model("the model has no graph");
    for (const auto& op : model_.opset_import()) {
      std::string domain = op.domain() == "ai.onnx" ? "" : op.domain();
      if (domain == kKeelDomain) {
        return invalid_model("the model imports domain '" + domain +
                             "', keel's private one; a model file cannot use it");
      }
      graph_->opset_imports[domain] = op.version();
    }
    if (model_.opset_import_size() == 0) {
      // IR version 1-2 models had no opset_import; they mean opset 1.
      graph_->opset_imports[""] = 1;
    }
    auto it = graph_->opset_imports.find("");
    // Beyond the newest opset keel has the ONNX schemas of, no node can be mapped to its
    // definition: an operator may have changed there.
    if (it != graph_->opset_imports.end() && it->second > onnx_schemas_newest_opset()) {
      return unsupported("opset " + std::to_string(it->second) +
                         " of the default domain is newer than the newest whose operator "
                         "definitions keel knows (" +
                         std::to_string(onnx_schemas_newest_opset()) + ")");
    }
    return Status::ok();
  }

  Status import_initializers(const onnx::GraphProto& g) {
    for (const auto& init : g.initializer()) {
      if (init.name().empty()) return invalid_model("an initializer has no name");
      if (graph_->find_value(init.name())) {
        return invalid_model("initializer '" + init.name() + "' is defined twice");
      }
      KEEL_ASSIGN_OR_RETURN(Tensor t, tensor_from_proto(init, options_.model_dir,
                                                        "initializer '" + init.name() + "'"));
      Value* v = graph_->get_or_create_value(init.name());
      v->set_constant(std::move(t));
    }
    return Status::ok();
  }

  Status import_inputs(const onnx::GraphProto& g) {
    std::set<std::string> seen;
    for (const auto& in : g.input()) {
      if (in.name().empty()) return invalid_model("a graph input has no name");
      if (!seen.insert(in.name()).second) {
        return invalid_model("graph input '" + in.name() + "' is listed twice");
      }
      Value* v = graph_->get_or_create_value(in.name());
      v->is_graph_input = true;
      graph_->declared_inputs.push_back(v);
      if (v->is_constant()) continue;  // an initializer listed as input: overridable default
      if (!in.type().has_tensor_type()) {
        return unsupported("graph input '" + in.name() +
                           "' is not a tensor (sequences, maps and optionals are not supported)");
      }
      v->type = convert_type(in.type());
      if (v->type.dtype != DataType::kUndefined && !dtype_is_supported(v->type.dtype)) {
        return unsupported("graph input '" + in.name() + "' has element type " +
                           dtype_name(v->type.dtype) + ", which keel does not support");
      }
      graph_->inputs.push_back(v);
    }
    return Status::ok();
  }

  Result<Attribute> convert_attribute(const onnx::AttributeProto& a, const std::string& where) {
    Attribute out;
    if (!a.ref_attr_name().empty()) {
      return invalid_model(where + ": attribute '" + a.name() + "' refers to a function attribute");
    }
    using AP = onnx::AttributeProto;
    auto type = a.type();
    if (type == AP::UNDEFINED) {
      // Old exporters leave the type unset: infer it from the populated field.
      type = static_cast<AP::AttributeType>(inferred_attribute_type(a, AP::UNDEFINED));
    }
    switch (type) {
      case AP::FLOAT:
        out.kind = AttributeKind::kFloat;
        out.f = a.f();
        break;
      case AP::INT:
        out.kind = AttributeKind::kInt;
        out.i = a.i();
        break;
      case AP::STRING:
        out.kind = AttributeKind::kString;
        out.s = a.s();
        break;
      case AP::FLOATS:
        out.kind = AttributeKind::kFloats;
        out.floats.assign(a.floats().begin(), a.floats().end());
        break;
      case AP::INTS:
        out.kind = AttributeKind::kInts;
        out.ints.assign(a.ints().begin(), a.ints().end());
        break;
      case AP::STRINGS:
        out.kind = AttributeKind::kStrings;
        out.strings.assign(a.strings().begin(), a.strings().end());
        break;
      case AP::TENSOR: {
        out.kind = AttributeKind::kTensor;
        KEEL_ASSIGN_OR_RETURN(out.t, tensor_from_proto(a.t(), options_.model_dir,
                                                       where + " attribute '" + a.name() + "'"));
        break;
      }
      case AP::GRAPH: out.kind = AttributeKind::kGraph; break;
      default: out.kind = AttributeKind::kOther; break;
    }
    return out;
  }

  // A Constant node becomes a constant value; nothing runs for it.
  Status import_constant(const onnx::NodeProto& n, const std::string& where) {
    if (n.output_size() != 1 || n.output(0).empty()) {
      return invalid_model(where + ": Constant must have exactly one output");
    }
    if (n.attribute_size() != 1) {
      return invalid_model(where + ": Constant must have exactly one attribute, found " +
                           std::to_string(n.attribute_size()));
    }
    const auto& a = n.attribute(0);
    Tensor t;
    if (a.name() == "value") {
      KEEL_ASSIGN_OR_RETURN(t, tensor_from_proto(a.t(), options_.model_dir, where + " value"));
    } else if (a.name() == "value_float") {
      t = Tensor::scalar<float>(a.f());
    } else if (a.name() == "value_floats") {
      t = Tensor::from_vector<float>({a.floats_size()},
                                     std::vector<float>(a.floats().begin(), a.floats().end()));
    } else if (a.name() == "value_int") {
      t = Tensor::scalar<int64_t>(a.i());
    } else if (a.name() == "value_ints") {
      t = Tensor::from_vector<int64_t>({a.ints_size()},
                                       std::vector<int64_t>(a.ints().begin(), a.ints().end()));
    } else {
      return unsupported(where + ": Constant attribute '" + a.name() + "' is not supported");
    }
    Value* v = graph_->get_or_create_value(n.output(0));
    if (v->producer || v->is_constant() || v->is_graph_input) {
      return invalid_model(where + ": output '" + n.output(0) + "' is already defined");
    }
    v->set_constant(std::move(t));
    return Status::ok();
  }

  // Every attribute of a default-domain node against its definition's schema (name, type, and
  // the required ones present), and its input and output counts, as ONNX's checker does: a misspelt
  // or mistyped attribute is an error naming it, never silently ignored or reinterpreted. Unknown
  // operators are left to the unsupported-operator check.
  Status check_attributes(const onnx::NodeProto& n, const std::string& where) {
    auto it = graph_->opset_imports.find("");
    if (it == graph_->opset_imports.end()) return Status::ok();
    const int since = onnx_since_version(n.op_type(), static_cast<int>(it->second));
    if (since <= 0) return Status::ok();
    const auto declared = onnx_attributes(n.op_type(), since);
    const std::string definition = n.op_type() + "-" + std::to_string(since);
    using AP = onnx::AttributeProto;
    std::set<std::string> seen;
    for (const auto& a : n.attribute()) {
      if (a.name().rfind(kPrivateAttributePrefix, 0) == 0) {
        return invalid_model(where + ": attribute '" + a.name() +
                             "' uses keel's private prefix; a model file cannot carry it");
      }
      if (!seen.insert(a.name()).second) {
        return invalid_model(where + ": attribute '" + a.name() + "' is given twice");
      }
      const auto spec = std::find_if(declared.begin(), declared.end(),
                                     [&](const OpAttribute& d) { return d.name == a.name(); });
      if (spec == declared.end()) {
        std::string names;
        for (const OpAttribute& d : declared)
          names += (names.empty() ? "" : ", ") + std::string(d.name);
        return invalid_model(where + ": '" + a.name() + "' is not an attribute of " + definition +
                             (names.empty() ? " (it has none)" : " (it has " + names + ")"));
      }
      if (!a.ref_attr_name().empty()) continue;  // a function's reference, refused later
      int type = a.type();
      if (type == AP::UNDEFINED) type = inferred_attribute_type(a, spec->type);
      if (type != spec->type) {
        return invalid_model(where + ": attribute '" + a.name() + "' is " +
                             AP::AttributeType_Name(static_cast<AP::AttributeType>(type)) + ", " +
                             definition + " declares " +
                             AP::AttributeType_Name(static_cast<AP::AttributeType>(spec->type)));
      }
    }
    for (const OpAttribute& d : declared) {
      if (d.required && !seen.count(std::string(d.name))) {
        return invalid_model(where + ": required attribute '" + std::string(d.name) + "' of " +
                             definition + " is missing");
      }
    }
    // Input and output counts, and the required ones named: passes and kernels rely on them.
    if (const OpArity* arity = onnx_arity(n.op_type(), since)) {
      auto check = [&](int count, int lo, int hi, const auto& names, const char* what) -> Status {
        if (count < lo || count > hi) {
          return invalid_model(where + ": " + std::to_string(count) + " " + what + "s, " +
                               definition + " takes " + std::to_string(lo) +
                               (hi == lo        ? ""
                                : hi == INT_MAX ? " or more"
                                                : " to " + std::to_string(hi)));
        }
        for (int i = 0; i < lo; ++i) {
          if (names.Get(i).empty()) {
            return invalid_model(where + ": required " + std::string(what) + " " +
                                 std::to_string(i) + " of " + definition + " is empty");
          }
        }
        return Status::ok();
      };
      KEEL_RETURN_IF_ERROR(
          check(n.input_size(), arity->min_inputs, arity->max_inputs, n.input(), "input"));
      KEEL_RETURN_IF_ERROR(
          check(n.output_size(), arity->min_outputs, arity->max_outputs, n.output(), "output"));
    }
    return Status::ok();
  }

  // The type an old exporter meant by leaving it unset: the populated field's; with nothing
  // populated, an empty list of whatever list type the schema declares.
  static int inferred_attribute_type(const onnx::AttributeProto& a, int declared) {
    using AP = onnx::AttributeProto;
    if (a.has_f()) return AP::FLOAT;
    if (a.has_i()) return AP::INT;
    if (a.has_s()) return AP::STRING;
    if (a.has_t()) return AP::TENSOR;
    if (a.has_g()) return AP::GRAPH;
    if (a.floats_size()) return AP::FLOATS;
    if (a.ints_size()) return AP::INTS;
    if (a.strings_size()) return AP::STRINGS;
    const bool list = declared == AP::FLOATS || declared == AP::INTS || declared == AP::STRINGS ||
                      declared == AP::TENSORS || declared == AP::GRAPHS;
    return list ? declared : AP::UNDEFINED;
  }

  Status import_nodes(const onnx::GraphProto& g) {
    std::set<std::string> node_names;
    int index = 0;
    for (const auto& n : g.node()) {
      std::string name = n.name();
      if (name.empty() || node_names.count(name)) name = n.op_type() + "_" + std::to_string(index);
      node_names.insert(name);
      ++index;
      const std::string where = "node '" + name + "' (" + n.op_type() + ")";
      const std::string domain = n.domain() == "ai.onnx" ? "" : n.domain();
      if (domain.empty()) KEEL_RETURN_IF_ERROR(check_attributes(n, where));
      if (n.op_type() == "Constant" && domain.empty()) {
        KEEL_RETURN_IF_ERROR(import_constant(n, where));
        continue;
      }
      // keel's fused kinds and decisions are made by its passes only (graph/fused_ops.hpp).
      if (domain == kKeelDomain) {
        return invalid_model(where + ": domain '" + domain +
                             "' is keel's private one; a model file cannot use it");
      }
      auto node = std::make_unique<Node>();
      node->name = name;
      node->op_type = n.op_type();
      node->domain = domain;
      auto op_it = graph_->opset_imports.find(domain);
      if (op_it == graph_->opset_imports.end()) {
        return invalid_model(where + ": domain '" + domain + "' is not imported by the model");
      }
      node->opset = static_cast<int>(op_it->second);
      for (const auto& in : n.input()) {
        if (in.empty()) {
          node->inputs.push_back(nullptr);
          continue;
        }
        Value* v = graph_->find_value(in);
        if (!v || (!v->producer && !v->is_constant() && !v->is_graph_input)) {
          // Not defined yet: either produced by a later node (unsorted model) or missing;
          // check_structure decides once all nodes are read.
          v = graph_->get_or_create_value(in);
        }
        node->inputs.push_back(v);
      }
      for (const auto& out : n.output()) {
        if (out.empty()) {
          node->outputs.push_back(nullptr);
          continue;
        }
        Value* v = graph_->get_or_create_value(out);
        if (v->producer || v->is_constant() || v->is_graph_input) {
          return invalid_model(where + ": output '" + out + "' is already defined elsewhere");
        }
        node->outputs.push_back(v);
        v->producer = node.get();
      }
      for (const auto& a : n.attribute()) {
        if (a.name().empty()) return invalid_model(where + ": an attribute has no name");
        if (a.name().rfind(kPrivateAttributePrefix, 0) == 0) {
          return invalid_model(where + ": attribute '" + a.name() +
                               "' uses keel's private prefix; a model file cannot carry it");
        }
        KEEL_ASSIGN_OR_RETURN(Attribute attr, convert_attribute(a, where));
        node->attributes[a.name()] = std::move(attr);
      }
      graph_->add_node(std::move(node));
    }
    return Status::ok();
  }

  Status import_outputs(const onnx::GraphProto& g) {
    if (g.output_size() == 0) return invalid_model("the graph has no outputs");
    for (const auto& out : g.output()) {
      Value* v = graph_->find_value(out.name());
      if (!v || (!v->producer && !v->is_constant() && !v->is_graph_input)) {
        return invalid_model("graph output '" + out.name() + "' is produced by no node");
      }
      if (v->type.dtype == DataType::kUndefined || !v->type.dims) {
        ValueType declared = convert_type(out.type());
        if (v->type.dtype == DataType::kUndefined) v->type.dtype = declared.dtype;
        if (!v->type.dims) v->type.dims = declared.dims;
      }
      v->is_graph_output = true;
      graph_->outputs.push_back(v);
    }
    return Status::ok();
  }

  Status check_structure() {
    for (Node* n : graph_->nodes()) {
      for (Value* in : n->inputs) {
        if (in && !in->producer && !in->is_constant() && !in->is_graph_input) {
          return invalid_model(n->describe() + ": input '" + in->name +
                               "' is not a graph input, an initializer or any node's output");
        }
      }
    }
    auto order = graph_->topological_order();
    if (!order.is_ok()) return order.status();
    return Status::ok();
  }

  const onnx::ModelProto& model_;
  const ImportOptions& options_;
  std::unique_ptr<Graph> graph_;
};

}  // namespace

Result<std::unique_ptr<Graph>> import_model_bytes(const void* data, size_t size,
                                                  const ImportOptions& options) {
  if (size > static_cast<size_t>(INT_MAX)) {
    return unsupported("model files over 2 GB must keep their weights in external data");
  }
  onnx::ModelProto model;
  google::protobuf::io::CodedInputStream stream(static_cast<const uint8_t*>(data),
                                                static_cast<int>(size));
  stream.SetTotalBytesLimit(INT_MAX);
  if (!model.ParseFromCodedStream(&stream) || !stream.ConsumedEntireMessage()) {
    return invalid_model("not a valid ONNX model (protobuf parsing failed: truncated or not ONNX)");
  }
  return Importer(model, options).run();
}

namespace {

// A model file's bytes: mapped read-only where the platform can (no copy into fresh memory,
// which for ResNet-50's 100 MB cost as much as parsing), else read in one go.
class FileBytes {
 public:
  ~FileBytes() {
#if KEEL_HAVE_MMAP
    if (mapped_ != nullptr) munmap(mapped_, size_);
#endif
  }
  FileBytes() = default;
  FileBytes(const FileBytes&) = delete;
  FileBytes& operator=(const FileBytes&) = delete;

  Status open(const std::string& path) {
#if KEEL_HAVE_MMAP
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      struct stat st {};
      const bool sized = fstat(fd, &st) == 0 && st.st_size > 0;
      if (sized && st.st_size > INT_MAX) {
        ::close(fd);
        return too_large(path);
      }
      void* p = sized
                    ? mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0)
                    : MAP_FAILED;
      ::close(fd);
      if (p != MAP_FAILED) {
        mapped_ = p;
        size_ = static_cast<size_t>(st.st_size);
        data_ = static_cast<const char*>(p);
        return Status::ok();
      }
    }
#endif
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    if (!f) return invalid_argument("cannot open '" + path + "'");
    const std::streamoff size = f.tellg();
    if (size < 0) return invalid_argument("cannot read '" + path + "'");
    if (size > INT_MAX) return too_large(path);
    // One read, into a buffer not zeroed first (a character-wise read of ResNet-18's 46 MB
    // took 3/4 of its load).
    buffer_ = std::make_unique_for_overwrite<char[]>(static_cast<size_t>(size) + 1);
    f.seekg(0);
    if (size > 0 && !f.read(buffer_.get(), size)) {
      return invalid_argument("cannot read '" + path + "'");
    }
    size_ = static_cast<size_t>(size);
    data_ = buffer_.get();
    return Status::ok();
  }

  const char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  static Status too_large(const std::string& path) {
    return unsupported("'" + path +
                       "': model files over 2 GB must keep their weights in external data");
  }

  void* mapped_ = nullptr;
  std::unique_ptr<char[]> buffer_;
  const char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace

Result<std::unique_ptr<Graph>> import_model_file(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    return invalid_argument("'" + path + "' is not a readable file");
  FileBytes bytes;
  KEEL_RETURN_IF_ERROR(bytes.open(path));
  ImportOptions options;
  options.model_dir = fs::absolute(fs::path(path)).parent_path().string();
  auto graph = import_model_bytes(bytes.data(), bytes.size(), options);
  if (!graph.is_ok()) return graph.status().with_context("'" + path + "'");
  return graph;
}

}  // namespace keel
