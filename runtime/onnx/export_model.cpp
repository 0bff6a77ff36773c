#include "onnx/export_model.hpp"

#include <google/protobuf/io/coded_stream.h>
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <map>
#include <unordered_set>
#include <vector>

#include "keel/version.hpp"
#include "onnx/tensor_proto.hpp"

namespace keel {

namespace fs = std::filesystem;

namespace {

// protobuf refuses to serialize or parse messages of 2 GB or more.
constexpr size_t kProtobufLimit = static_cast<size_t>(INT_MAX);
constexpr size_t kExternalAlignment = 4096;
// Tensors up to this size stay inline even when the model uses external data: shape tensors
// and scalars, whose values ONNX shape inference must read (it does not open external data).
constexpr size_t kInlineTensorBytes = 1024;
// IR version written when the graph does not carry one (a graph built in memory).
constexpr int64_t kDefaultIrVersion = 8;
// From IR version 4 on, initializers need not be graph inputs.
constexpr int64_t kFirstIrWithFreeInitializers = 4;

// A tensor whose bytes are placed last: inline (raw_data) or in the external data file.
struct PendingTensor {
  onnx::TensorProto* proto;
  const Tensor* tensor;
};

void write_type(const ValueType& type, onnx::TypeProto* proto) {
  auto* tensor_type = proto->mutable_tensor_type();
  tensor_type->set_elem_type(static_cast<int32_t>(type.dtype));
  if (!type.dims) return;
  auto* shape = tensor_type->mutable_shape();
  for (const Dim& d : *type.dims) {
    auto* dim = shape->add_dim();
    if (d.known()) {
      dim->set_dim_value(d.value);
    } else if (!d.symbol.empty()) {
      dim->set_dim_param(d.symbol);
    }
  }
}

ValueType type_of_tensor(const Tensor& t) {
  ValueType type;
  type.dtype = t.dtype();
  std::vector<Dim> dims;
  for (int64_t d : t.shape()) dims.push_back(Dim{d, {}});
  type.dims = std::move(dims);
  return type;
}

Status write_attribute(const Node& node, const std::string& name, const Attribute& attr,
                       onnx::AttributeProto* proto) {
  using AP = onnx::AttributeProto;
  proto->set_name(name);
  switch (attr.kind) {
    case AttributeKind::kFloat:
      proto->set_type(AP::FLOAT);
      proto->set_f(attr.f);
      return Status::ok();
    case AttributeKind::kInt:
      proto->set_type(AP::INT);
      proto->set_i(attr.i);
      return Status::ok();
    case AttributeKind::kString:
      proto->set_type(AP::STRING);
      proto->set_s(attr.s);
      return Status::ok();
    case AttributeKind::kTensor: {
      proto->set_type(AP::TENSOR);
      Status st = tensor_to_proto(attr.t, proto->mutable_t());
      if (!st.is_ok()) return st.with_context(node.describe() + " attribute '" + name + "'");
      return Status::ok();
    }
    case AttributeKind::kFloats:
      proto->set_type(AP::FLOATS);
      for (float v : attr.floats) proto->add_floats(v);
      return Status::ok();
    case AttributeKind::kInts:
      proto->set_type(AP::INTS);
      for (int64_t v : attr.ints) proto->add_ints(v);
      return Status::ok();
    case AttributeKind::kStrings:
      proto->set_type(AP::STRINGS);
      for (const std::string& v : attr.strings) proto->add_strings(v);
      return Status::ok();
    case AttributeKind::kGraph:
    case AttributeKind::kOther: break;
  }
  return unsupported(node.describe() + ": attribute '" + name + "' of kind " +
                     attribute_kind_name(attr.kind) + " cannot be written back to ONNX");
}

// Builds the ModelProto with every constant tensor's header (name, type, dims) in place; the
// bytes are placed afterwards, inline or external, from `tensors`.
class Exporter {
 public:
  explicit Exporter(const Graph& graph) : graph_(graph) {}

  Status build() {
    KEEL_ASSIGN_OR_RETURN(std::vector<Node*> order, graph_.topological_order());
    ir_version_ = graph_.ir_version > 0 ? graph_.ir_version : kDefaultIrVersion;
    write_model_fields(order);
    collect_inputs();
    KEEL_RETURN_IF_ERROR(check_defined(order));
    onnx::GraphProto* g = model_.mutable_graph();
    g->set_name(graph_.name.empty() ? "keel_graph" : graph_.name);
    write_constants(g);
    for (const Node* node : order) KEEL_RETURN_IF_ERROR(write_node(*node, g->add_node()));
    for (const Value* v : inputs_) {
      auto* info = g->add_input();
      info->set_name(v->name);
      write_type(v->is_constant() ? type_of_tensor(*v->constant) : v->type, info->mutable_type());
    }
    for (const Value* v : graph_.outputs) {
      auto* info = g->add_output();
      info->set_name(v->name);
      const bool from_constant = v->type.dtype == DataType::kUndefined && v->is_constant();
      write_type(from_constant ? type_of_tensor(*v->constant) : v->type, info->mutable_type());
    }
    write_value_info(order, g);
    return Status::ok();
  }

  onnx::ModelProto& model() { return model_; }
  const std::vector<PendingTensor>& tensors() const { return tensors_; }

 private:
  static bool has_live_producer(const Value* v) {
    return v->producer != nullptr && !v->producer->erased;
  }

  void write_model_fields(const std::vector<Node*>& order) {
    model_.set_ir_version(ir_version_);
    if (graph_.producer_name.empty()) {
      model_.set_producer_name("keel");
      model_.set_producer_version(keel::version());
    } else {
      model_.set_producer_name(graph_.producer_name);
      model_.set_producer_version(graph_.producer_version);
    }
    if (!graph_.doc_string.empty()) model_.set_doc_string(graph_.doc_string);
    for (const auto& [key, value] : graph_.metadata) {
      auto* entry = model_.add_metadata_props();
      entry->set_key(key);
      entry->set_value(value);
    }
    // A node of a domain the graph does not import (added by a pass) imports its own opset.
    std::map<std::string, int64_t> opsets = graph_.opset_imports;
    for (const Node* node : order) opsets.emplace(node->domain, node->opset);
    for (const auto& [domain, version] : opsets) {
      auto* op = model_.add_opset_import();
      op->set_domain(domain);
      op->set_version(version);
    }
  }

  // declared_inputs in file order, then runtime inputs a pass may have added.
  void collect_inputs() {
    for (Value* v : graph_.declared_inputs) {
      if (input_set_.insert(v).second) inputs_.push_back(v);
    }
    for (Value* v : graph_.inputs) {
      if (input_set_.insert(v).second) inputs_.push_back(v);
    }
  }

  bool is_defined(const Value* v) const {
    return has_live_producer(v) || v->is_constant() || input_set_.count(v) > 0;
  }

  // Every value that is read must be produced, constant or an input; constants that are read
  // (or listed as inputs) are remembered for write_constants.
  Status check_defined(const std::vector<Node*>& order) {
    for (const Node* node : order) {
      for (const Value* in : node->inputs) {
        if (!in) continue;
        if (!is_defined(in)) {
          return invalid_model(node->describe() + ": input '" + in->name +
                               "' is not a graph input, a constant or any node's output");
        }
        if (!has_live_producer(in) && in->is_constant()) used_constants_.insert(in);
      }
    }
    for (const Value* out : graph_.outputs) {
      if (!is_defined(out)) {
        return invalid_model("graph output '" + out->name + "' is produced by no node");
      }
      if (!has_live_producer(out) && out->is_constant()) used_constants_.insert(out);
    }
    for (const Value* v : inputs_) {
      if (v->is_constant()) used_constants_.insert(v);
    }
    return Status::ok();
  }

  // Initializers in the graph's value order (the file's order for the model's own, then the
  // ones passes created). Before IR 4 an initializer had to be a graph input, so constants that
  // are not inputs become Constant nodes there, ahead of every other node.
  void write_constants(onnx::GraphProto* g) {
    const bool free_initializers = ir_version_ >= kFirstIrWithFreeInitializers;
    for (const auto& owned : graph_.values()) {
      const Value* v = owned.get();
      if (!used_constants_.count(v)) continue;
      onnx::TensorProto* proto = nullptr;
      if (free_initializers || input_set_.count(v)) {
        proto = g->add_initializer();
      } else {
        onnx::NodeProto* node = g->add_node();
        node->set_name(v->name + "_constant");
        node->set_op_type("Constant");
        node->add_output(v->name);
        onnx::AttributeProto* attr = node->add_attribute();
        attr->set_name("value");
        attr->set_type(onnx::AttributeProto::TENSOR);
        proto = attr->mutable_t();
      }
      proto->set_name(v->name);
      tensors_.push_back({proto, &*v->constant});
    }
  }

  Status write_node(const Node& node, onnx::NodeProto* proto) {
    // Fused kinds and layout decisions exist only inside keel (graph/fused_ops.hpp).
    if (node.domain == kKeelDomain || node.decisions.layout != Layout::kNchw) {
      return invalid_argument(node.describe() +
                              " is keel-private (a runtime fusion or NHWC layout): export "
                              "writes standard ONNX only; load with runtime fusions off and "
                              "layout nchw");
    }
    proto->set_name(node.name);
    proto->set_op_type(node.op_type);
    if (!node.domain.empty()) proto->set_domain(node.domain);
    size_t n_in = node.inputs.size();
    while (n_in > 0 && node.inputs[n_in - 1] == nullptr) --n_in;
    for (size_t i = 0; i < n_in; ++i) {
      proto->add_input(node.inputs[i] ? node.inputs[i]->name : std::string());
    }
    size_t n_out = node.outputs.size();
    while (n_out > 0 && node.outputs[n_out - 1] == nullptr) --n_out;
    for (size_t i = 0; i < n_out; ++i) {
      proto->add_output(node.outputs[i] ? node.outputs[i]->name : std::string());
    }
    for (const auto& [name, attr] : node.attributes) {
      KEEL_RETURN_IF_ERROR(write_attribute(node, name, attr, proto->add_attribute()));
    }
    return Status::ok();
  }

  void write_value_info(const std::vector<Node*>& order, onnx::GraphProto* g) {
    for (const Node* node : order) {
      for (const Value* v : node->outputs) {
        if (!v || v->is_graph_output || input_set_.count(v)) continue;
        if (v->type.dtype == DataType::kUndefined) continue;
        auto* info = g->add_value_info();
        info->set_name(v->name);
        write_type(v->type, info->mutable_type());
      }
    }
  }

  const Graph& graph_;
  int64_t ir_version_ = 0;
  onnx::ModelProto model_;
  std::vector<Value*> inputs_;
  std::unordered_set<const Value*> input_set_;
  std::unordered_set<const Value*> used_constants_;
  std::vector<PendingTensor> tensors_;
};

size_t total_tensor_bytes(const std::vector<PendingTensor>& tensors) {
  size_t total = 0;
  for (const auto& p : tensors) total += p.tensor->nbytes();
  return total;
}

Status fill_inline(const PendingTensor& p) {
  Status st = tensor_to_proto(*p.tensor, p.proto);
  if (!st.is_ok()) return st.with_context("constant '" + p.proto->name() + "'");
  return Status::ok();
}

Status serialize(const onnx::ModelProto& model, std::string* out) {
  if (model.ByteSizeLong() > kProtobufLimit) {
    return unsupported(
        "the serialized model would exceed protobuf's 2 GB limit; write it with "
        "export_model_file and a lower external_data_threshold");
  }
  if (!model.SerializeToString(out)) return internal_error("serializing the ONNX model failed");
  return Status::ok();
}

// A file written under a temporary name and renamed into place by commit(); removed when
// destroyed uncommitted, so a failure leaves nothing behind.
class TempFile {
 public:
  explicit TempFile(std::string final_path)
      : final_path_(std::move(final_path)),
        temp_path_(final_path_ + ".tmp." + std::to_string(static_cast<long>(getpid()))) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (file_) std::fclose(file_);
    if (created_ && !committed_) std::remove(temp_path_.c_str());
  }

  Status open() {
    file_ = std::fopen(temp_path_.c_str(), "wb");
    if (!file_) return io_error("cannot create");
    created_ = true;
    return Status::ok();
  }

  Status write(const void* data, size_t size) {
    if (size > 0 && std::fwrite(data, 1, size, file_) != size) return io_error("cannot write");
    written_ += size;
    return Status::ok();
  }

  Status pad_to_multiple(size_t alignment) {
    static const char kZeros[kExternalAlignment] = {};
    const size_t pad = (alignment - written_ % alignment) % alignment;
    return write(kZeros, pad);
  }

  size_t written() const { return written_; }

  // Flushes to disk and closes; the data is complete under the temporary name.
  Status close() {
    const bool ok = std::fflush(file_) == 0 && fsync(fileno(file_)) == 0;
    const bool closed = std::fclose(file_) == 0;
    file_ = nullptr;
    if (!ok || !closed) return io_error("cannot write");
    return Status::ok();
  }

  Status commit() {
    if (std::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
      return invalid_argument("cannot rename '" + temp_path_ + "' to '" + final_path_ +
                              "': " + std::strerror(errno));
    }
    committed_ = true;
    return Status::ok();
  }

 private:
  Status io_error(const char* what) const {
    return invalid_argument(std::string(what) + " '" + temp_path_ + "': " + std::strerror(errno));
  }

  std::string final_path_, temp_path_;
  std::FILE* file_ = nullptr;
  bool created_ = false, committed_ = false;
  size_t written_ = 0;
};

// Writes the tensor's ONNX bytes (bools as 0/1) to the file.
Status write_tensor_bytes(const Tensor& t, TempFile& file) {
  if (t.dtype() != DataType::kBool) return file.write(t.data(), t.nbytes());
  std::vector<uint8_t> normalized(t.nbytes());
  const auto* src = t.data_as<uint8_t>();
  for (size_t i = 0; i < normalized.size(); ++i) normalized[i] = src[i] != 0;
  return file.write(normalized.data(), normalized.size());
}

Status set_external(const PendingTensor& p, const std::string& location, size_t offset) {
  const std::string name = p.proto->name();
  const Tensor& t = *p.tensor;
  if (!dtype_is_supported(t.dtype())) {
    return unsupported("constant '" + name + "': cannot write element type " +
                       dtype_name(t.dtype()));
  }
  p.proto->Clear();
  p.proto->set_name(name);
  p.proto->set_data_type(static_cast<int32_t>(t.dtype()));
  for (int64_t d : t.shape()) p.proto->add_dims(d);
  p.proto->set_data_location(onnx::TensorProto_DataLocation_EXTERNAL);
  const std::pair<const char*, std::string> fields[] = {{"location", location},
                                                        {"offset", std::to_string(offset)},
                                                        {"length", std::to_string(t.nbytes())}};
  for (const auto& [key, value] : fields) {
    auto* entry = p.proto->add_external_data();
    entry->set_key(key);
    entry->set_value(value);
  }
  return Status::ok();
}

Status export_to_file(const Graph& graph, const std::string& path, const ExportOptions& options) {
  const fs::path model_path(path);
  if (!model_path.has_filename()) {
    return invalid_argument("'" + path + "' does not name a file to write the model to");
  }
  Exporter exporter(graph);
  KEEL_RETURN_IF_ERROR(exporter.build());
  const auto& tensors = exporter.tensors();
  const bool external = total_tensor_bytes(tensors) > options.external_data_threshold;
  const std::string location = model_path.filename().string() + ".data";
  TempFile data_file((model_path.parent_path() / location).string());
  bool data_written = false;
  for (const PendingTensor& p : tensors) {
    if (!external || p.tensor->nbytes() <= kInlineTensorBytes) {
      KEEL_RETURN_IF_ERROR(fill_inline(p));
      continue;
    }
    if (!data_written) KEEL_RETURN_IF_ERROR(data_file.open());
    data_written = true;
    KEEL_RETURN_IF_ERROR(data_file.pad_to_multiple(kExternalAlignment));
    KEEL_RETURN_IF_ERROR(set_external(p, location, data_file.written()));
    KEEL_RETURN_IF_ERROR(write_tensor_bytes(*p.tensor, data_file));
  }
  if (data_written) KEEL_RETURN_IF_ERROR(data_file.close());
  std::string bytes;
  KEEL_RETURN_IF_ERROR(serialize(exporter.model(), &bytes));
  TempFile model_file(path);
  KEEL_RETURN_IF_ERROR(model_file.open());
  KEEL_RETURN_IF_ERROR(model_file.write(bytes.data(), bytes.size()));
  KEEL_RETURN_IF_ERROR(model_file.close());
  // Both files are complete; the data goes first so the model never refers to missing data.
  if (data_written) KEEL_RETURN_IF_ERROR(data_file.commit());
  return model_file.commit();
}

bool uses_external_data(const onnx::GraphProto& g) {
  for (const auto& t : g.initializer()) {
    if (t.data_location() == onnx::TensorProto_DataLocation_EXTERNAL) return true;
  }
  for (const auto& n : g.node()) {
    for (const auto& a : n.attribute()) {
      if (a.has_t() && a.t().data_location() == onnx::TensorProto_DataLocation_EXTERNAL) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace

Result<std::string> export_model_bytes(const Graph& graph) {
  Exporter exporter(graph);
  KEEL_RETURN_IF_ERROR(exporter.build());
  if (total_tensor_bytes(exporter.tensors()) > kProtobufLimit) {
    return unsupported(
        "the model's constants exceed protobuf's 2 GB limit; write it with "
        "export_model_file, which puts them in an external data file");
  }
  for (const PendingTensor& p : exporter.tensors()) KEEL_RETURN_IF_ERROR(fill_inline(p));
  std::string bytes;
  KEEL_RETURN_IF_ERROR(serialize(exporter.model(), &bytes));
  return bytes;
}

Status export_model_file(const Graph& graph, const std::string& path,
                         const ExportOptions& options) {
  Status st = export_to_file(graph, path, options);
  if (!st.is_ok()) return st.with_context("exporting to '" + path + "'");
  return Status::ok();
}

Status check_with_onnx_checker(const std::string& model_bytes) {
  const std::string skipped = "the ONNX checker of the system libonnx could not check the model: ";
  if (model_bytes.size() > kProtobufLimit) return unsupported(skipped + "it is over 2 GB");
  onnx::ModelProto model;
  google::protobuf::io::CodedInputStream stream(
      reinterpret_cast<const uint8_t*>(model_bytes.data()), static_cast<int>(model_bytes.size()));
  stream.SetTotalBytesLimit(INT_MAX);
  if (!model.ParseFromCodedStream(&stream) || !stream.ConsumedEntireMessage()) {
    return invalid_model("not a valid ONNX model (protobuf parsing failed)");
  }
  if (model.ir_version() > onnx::IR_VERSION) {
    return unsupported(skipped + "IR version " + std::to_string(model.ir_version()) +
                       " is newer than the newest it knows (" + std::to_string(onnx::IR_VERSION) +
                       ")");
  }
  const auto& ranges = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  for (const auto& op : model.opset_import()) {
    const std::string domain = op.domain() == "ai.onnx" ? "" : op.domain();
    auto it = ranges.find(domain);
    if (it != ranges.end() && op.version() > it->second.second) {
      return unsupported(skipped + "opset " + std::to_string(op.version()) + " of domain '" +
                         (domain.empty() ? "ai.onnx" : domain) + "' is newer than the newest it " +
                         "knows (" + std::to_string(it->second.second) + ")");
    }
  }
  if (uses_external_data(model.graph())) {
    return unsupported(skipped + "its external data cannot be resolved from bytes");
  }
  try {
    onnx::checker::check_model(model);
    // What onnx.checker.check_model(full_check=True) adds: strict shape inference with types.
    const onnx::ShapeInferenceOptions strict(/*check_type_val=*/true, /*strict_mode_val=*/1);
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(), strict);
  } catch (const std::exception& e) {
    return invalid_model(std::string("the ONNX checker rejects the model: ") + e.what());
  }
  return Status::ok();
}

}  // namespace keel
