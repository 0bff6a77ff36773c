// ONNX export: committed models survive import -> export -> load with bit-identical outputs and
// pass the system ONNX checker; files are written atomically, with external data on request;
// a hand-built model with the awkward corners of the format round-trips structurally.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/npy.hpp"
#include "graph/graph.hpp"
#include "keel/keel.hpp"
#include "onnx/export_model.hpp"
#include "onnx/import_model.hpp"
#include "onnx/tensor_proto.hpp"
#include "support/model_builder.hpp"

namespace keel::testing {
namespace {

namespace fs = std::filesystem;

const fs::path kModels = fs::path(KEEL_SOURCE_DIR) / "models";

std::vector<std::string> committed_models() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(kModels)) {
    if (fs::is_regular_file(entry.path() / "model.onnx")) {
      names.push_back(entry.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

// A fresh empty folder, removed with everything in it at the end of the test.
class TempDir {
 public:
  explicit TempDir(const std::string& tag)
      : path_(fs::temp_directory_path() /
              ("keel_export_" + tag + "_" + std::to_string(static_cast<long>(getpid())))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(path_)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  fs::path path_;
};

std::vector<Tensor> run_model(const std::shared_ptr<const Model>& model, const Tensor& input) {
  auto session = Session::create(model, {});
  EXPECT_TRUE(session.is_ok()) << session.status().to_string();
  if (!session.is_ok()) return {};
  auto out = (*session)->run({{model->inputs()[0].name, input}});
  EXPECT_TRUE(out.is_ok()) << out.status().to_string();
  return out.is_ok() ? *out : std::vector<Tensor>{};
}

void expect_bit_identical(const std::vector<Tensor>& got, const std::vector<Tensor>& want) {
  ASSERT_EQ(got.size(), want.size());
  ASSERT_FALSE(want.empty());
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(got[i].dtype(), want[i].dtype()) << "output " << i;
    ASSERT_EQ(got[i].shape(), want[i].shape()) << "output " << i;
    EXPECT_EQ(std::memcmp(got[i].data(), want[i].data(), want[i].nbytes()), 0)
        << "output " << i << " differs";
  }
}

std::unique_ptr<Graph> import_file(const fs::path& path) {
  auto graph = import_model_file(path.string());
  EXPECT_TRUE(graph.is_ok()) << graph.status().to_string();
  return graph.is_ok() ? std::move(*graph) : nullptr;
}

class CommittedModel : public ::testing::TestWithParam<std::string> {
 protected:
  fs::path dir() const { return kModels / GetParam(); }
};

TEST_P(CommittedModel, ExportedBytesRunBitIdenticalAndPassTheChecker) {
  std::unique_ptr<Graph> graph = import_file(dir() / "model.onnx");
  ASSERT_NE(graph, nullptr);
  auto bytes = export_model_bytes(*graph);
  ASSERT_TRUE(bytes.is_ok()) << bytes.status().to_string();

  Status checked = check_with_onnx_checker(*bytes);
  EXPECT_TRUE(checked.is_ok()) << checked.to_string();

  auto original = Model::load_file((dir() / "model.onnx").string());
  ASSERT_TRUE(original.is_ok()) << original.status().to_string();
  auto exported = Model::load_bytes(bytes->data(), bytes->size());
  ASSERT_TRUE(exported.is_ok()) << exported.status().to_string();
  ASSERT_EQ((*exported)->inputs().size(), (*original)->inputs().size());
  for (size_t i = 0; i < (*original)->inputs().size(); ++i) {
    EXPECT_EQ((*exported)->inputs()[i].name, (*original)->inputs()[i].name);
    EXPECT_EQ((*exported)->inputs()[i].shape, (*original)->inputs()[i].shape);
    EXPECT_EQ((*exported)->inputs()[i].dim_names, (*original)->inputs()[i].dim_names);
  }
  ASSERT_EQ((*exported)->outputs().size(), (*original)->outputs().size());
  for (size_t i = 0; i < (*original)->outputs().size(); ++i) {
    EXPECT_EQ((*exported)->outputs()[i].name, (*original)->outputs()[i].name);
  }
  EXPECT_EQ((*exported)->default_opset(), (*original)->default_opset());

  auto input = read_npy((dir() / "inputs" / "input.npy").string());
  ASSERT_TRUE(input.is_ok()) << input.status().to_string();
  expect_bit_identical(run_model(*exported, *input), run_model(*original, *input));
}

TEST_P(CommittedModel, ExternalDataFileReloadsWithIdenticalOutputs) {
  std::unique_ptr<Graph> graph = import_file(dir() / "model.onnx");
  ASSERT_NE(graph, nullptr);
  TempDir tmp("external_" + GetParam());
  const fs::path out = tmp.path() / "folded.onnx";
  ExportOptions options;
  options.external_data_threshold = 16;
  Status st = export_model_file(*graph, out.string(), options);
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  EXPECT_EQ(tmp.entries(), (std::vector<std::string>{"folded.onnx", "folded.onnx.data"}));

  // Every external tensor names the data file by its relative name at a 4096-aligned offset;
  // small tensors (shape values that ONNX shape inference reads) stay inline.
  onnx::ModelProto proto;
  {
    std::ifstream f(out, std::ios::binary);
    ASSERT_TRUE(proto.ParseFromIstream(&f));
  }
  int external = 0;
  for (const auto& init : proto.graph().initializer()) {
    if (init.data_location() != onnx::TensorProto_DataLocation_EXTERNAL) continue;
    ++external;
    EXPECT_FALSE(init.has_raw_data()) << init.name();
    for (const auto& kv : init.external_data()) {
      if (kv.key() == "location") {
        EXPECT_EQ(kv.value(), "folded.onnx.data");
      } else if (kv.key() == "offset") {
        EXPECT_EQ(std::stoll(kv.value()) % 4096, 0) << init.name();
      }
    }
  }
  EXPECT_GT(external, 0);
  for (const auto& init : proto.graph().initializer()) {
    if (init.data_location() == onnx::TensorProto_DataLocation_EXTERNAL) continue;
    EXPECT_LE(init.raw_data().size(), 1024u) << init.name();
  }

  auto original = Model::load_file((dir() / "model.onnx").string());
  ASSERT_TRUE(original.is_ok()) << original.status().to_string();
  auto reloaded = Model::load_file(out.string());
  ASSERT_TRUE(reloaded.is_ok()) << reloaded.status().to_string();
  auto input = read_npy((dir() / "inputs" / "input.npy").string());
  ASSERT_TRUE(input.is_ok()) << input.status().to_string();
  expect_bit_identical(run_model(*reloaded, *input), run_model(*original, *input));
}

INSTANTIATE_TEST_SUITE_P(Models, CommittedModel, ::testing::ValuesIn(committed_models()),
                         [](const auto& info) { return info.param; });

TEST(ExportFile, WritesAtomicallyAndLeavesNothingOnFailure) {
  std::unique_ptr<Graph> graph = import_file(kModels / "resnet_tiny" / "model.onnx");
  ASSERT_NE(graph, nullptr);
  TempDir tmp("atomic");
  const fs::path out = tmp.path() / "model.onnx";
  ASSERT_TRUE(export_model_file(*graph, out.string()).is_ok());
  EXPECT_EQ(tmp.entries(), std::vector<std::string>{"model.onnx"});
  // Overwriting an existing model goes through the same rename.
  ASSERT_TRUE(export_model_file(*graph, out.string()).is_ok());
  EXPECT_EQ(tmp.entries(), std::vector<std::string>{"model.onnx"});
  auto model = Model::load_file(out.string());
  EXPECT_TRUE(model.is_ok()) << model.status().to_string();

  const fs::path missing = tmp.path() / "no_such_dir" / "model.onnx";
  Status st = export_model_file(*graph, missing.string());
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find(missing.string()), std::string::npos) << st.to_string();
  EXPECT_EQ(tmp.entries(), std::vector<std::string>{"model.onnx"});

  ExportOptions external;
  external.external_data_threshold = 16;
  st = export_model_file(*graph, missing.string(), external);
  ASSERT_FALSE(st.is_ok());
  EXPECT_EQ(tmp.entries(), std::vector<std::string>{"model.onnx"});
}

void add_dims(onnx::ValueInfoProto* info, const std::vector<std::string>& dims) {
  auto* shape = info->mutable_type()->mutable_tensor_type()->mutable_shape();
  for (const std::string& d : dims) {
    auto* dim = shape->add_dim();
    if (!d.empty() && std::isdigit(static_cast<unsigned char>(d[0]))) {
      dim->set_dim_value(std::stoll(d));
    } else {
      dim->set_dim_param(d);
    }
  }
}

// x[batch, 4] * scale (an initializer also listed as an input) + shift (a Constant node),
// Clip with an omitted min, plus ConstantOfShape(Shape(x)) carrying a tensor attribute.
ModelBuilder corner_case_model() {
  ModelBuilder b;
  b.input("x", {-1, 4});
  auto* x_shape = b.proto().mutable_graph()->mutable_input(0);
  x_shape->mutable_type()->mutable_tensor_type()->clear_shape();
  add_dims(x_shape, {"batch", "4"});
  b.initializer("scale", {4}, {1.0f, -2.0f, 0.5f, 3.0f});
  b.input("scale", {4});
  b.initializer("clip_max", {}, {2.5f});
  b.initializer("unused_weight", {2}, {7.0f, 8.0f});
  auto& constant = b.node("Constant", {}, {"shift"}, "shift_constant");
  auto* value = constant.add_attribute();
  value->set_name("value");
  value->set_type(onnx::AttributeProto::TENSOR);
  value->mutable_t()->set_data_type(onnx::TensorProto_DataType_FLOAT);
  value->mutable_t()->add_dims(4);
  for (float v : {0.25f, 0.5f, -1.0f, 4.0f}) value->mutable_t()->add_float_data(v);
  b.node("Mul", {"x", "scale"}, {"scaled"}, "mul");
  b.node("Add", {"scaled", "shift"}, {"shifted"}, "add");
  b.node("Clip", {"shifted", "", "clip_max"}, {"clipped"}, "clip");
  b.node("Shape", {"x"}, {"x_shape"}, "shape");
  auto& fill = b.node("ConstantOfShape", {"x_shape"}, {"filled"}, "fill");
  auto* fill_value = fill.add_attribute();
  fill_value->set_name("value");
  fill_value->set_type(onnx::AttributeProto::TENSOR);
  fill_value->mutable_t()->set_data_type(onnx::TensorProto_DataType_FLOAT);
  fill_value->mutable_t()->add_dims(1);
  fill_value->mutable_t()->add_float_data(0.75f);
  b.node("Add", {"clipped", "filled"}, {"y"}, "add_fill");
  b.node("Neg", {"x"}, {"dead"}, "dead_neg");
  b.output("y");
  add_dims(b.proto().mutable_graph()->mutable_output(0), {"batch", "4"});
  auto* info = b.proto().mutable_graph()->add_value_info();
  info->set_name("scaled");
  info->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto_DataType_FLOAT);
  add_dims(info, {"batch", "4"});
  return b;
}

std::unique_ptr<Graph> import_bytes(const std::string& bytes) {
  auto graph = import_model_bytes(bytes.data(), bytes.size(), {});
  EXPECT_TRUE(graph.is_ok()) << graph.status().to_string();
  return graph.is_ok() ? std::move(*graph) : nullptr;
}

std::vector<std::string> names(const std::vector<Value*>& values) {
  std::vector<std::string> out;
  for (const Value* v : values) out.push_back(v->name);
  return out;
}

std::vector<std::string> dim_strings(const Value* v) {
  std::vector<std::string> out;
  if (!v->type.dims) return out;
  for (const Dim& d : *v->type.dims) out.push_back(d.known() ? std::to_string(d.value) : d.symbol);
  return out;
}

TEST(ExportBytes, HandBuiltCornerCasesRoundTrip) {
  const std::string original_bytes = corner_case_model().bytes();
  std::unique_ptr<Graph> graph = import_bytes(original_bytes);
  ASSERT_NE(graph, nullptr);
  // The dead node is erased the way a pass would; it and the unused initializer vanish.
  for (Node* n : graph->nodes()) {
    if (n->name == "dead_neg") graph->erase_node(n);
  }
  auto bytes = export_model_bytes(*graph);
  ASSERT_TRUE(bytes.is_ok()) << bytes.status().to_string();
  Status checked = check_with_onnx_checker(*bytes);
  EXPECT_TRUE(checked.is_ok()) << checked.to_string();

  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(*bytes));
  std::vector<std::string> initializers;
  for (const auto& t : proto.graph().initializer()) initializers.push_back(t.name());
  EXPECT_EQ(initializers, (std::vector<std::string>{"scale", "clip_max", "shift"}));
  for (const auto& n : proto.graph().node()) {
    EXPECT_NE(n.op_type(), "Constant");
    EXPECT_NE(n.name(), "dead_neg");
    if (n.op_type() == "Clip") {
      ASSERT_EQ(n.input_size(), 3);
      EXPECT_EQ(n.input(1), "");
    }
  }
  EXPECT_EQ(proto.ir_version(), 8);
  EXPECT_EQ(proto.producer_name(), "keel-tests");

  std::unique_ptr<Graph> again = import_bytes(*bytes);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(names(again->declared_inputs), (std::vector<std::string>{"x", "scale"}));
  EXPECT_EQ(names(again->inputs), std::vector<std::string>{"x"});
  EXPECT_EQ(names(again->outputs), std::vector<std::string>{"y"});
  EXPECT_EQ(dim_strings(again->inputs[0]), (std::vector<std::string>{"batch", "4"}));
  EXPECT_EQ(dim_strings(again->outputs[0]), (std::vector<std::string>{"batch", "4"}));
  EXPECT_EQ(dim_strings(again->find_value("scaled")), (std::vector<std::string>{"batch", "4"}));
  const Value* scale = again->find_value("scale");
  ASSERT_NE(scale, nullptr);
  EXPECT_TRUE(scale->is_constant() && scale->is_graph_input);
  EXPECT_EQ(again->find_value("unused_weight"), nullptr);
  EXPECT_EQ(again->opset_imports, graph->opset_imports);

  std::vector<std::string> want_ops, got_ops;
  const std::vector<Node*> want_order = graph->topological_order().value();
  const std::vector<Node*> got_order = again->topological_order().value();
  for (const Node* n : want_order) want_ops.push_back(n->op_type);
  for (const Node* n : got_order) got_ops.push_back(n->op_type);
  EXPECT_EQ(got_ops, want_ops);
  EXPECT_EQ(got_ops.size(), 6u);
  for (Node* n : again->nodes()) {
    if (n->op_type == "Clip") {
      ASSERT_EQ(n->inputs.size(), 3u);
      EXPECT_EQ(n->inputs[1], nullptr);
      EXPECT_EQ(n->inputs[2]->name, "clip_max");
    }
    if (n->op_type == "ConstantOfShape") {
      const Attribute* value = n->find_attribute("value");
      ASSERT_NE(value, nullptr);
      ASSERT_EQ(value->kind, AttributeKind::kTensor);
      ASSERT_EQ(value->t.dtype(), DataType::kFloat32);
      EXPECT_EQ(value->t.data_as<float>()[0], 0.75f);
    }
  }

  // Both models compute the same values.
  auto before = Model::load_bytes(original_bytes.data(), original_bytes.size());
  auto after = Model::load_bytes(bytes->data(), bytes->size());
  ASSERT_TRUE(before.is_ok()) << before.status().to_string();
  ASSERT_TRUE(after.is_ok()) << after.status().to_string();
  const Tensor x = Tensor::from_vector<float>({3, 4}, {-3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8});
  expect_bit_identical(run_model(*after, x), run_model(*before, x));
}

TEST(ExportBytes, OldIrVersionKeepsConstantsAsNodes) {
  // Before IR 4 every initializer had to be a graph input, so constants stay Constant nodes.
  ModelBuilder b(/*opset=*/7, /*ir_version=*/3);
  b.input("x", {2});
  auto& constant = b.node("Constant", {}, {"c"}, "c_constant");
  auto* value = constant.add_attribute();
  value->set_name("value");
  value->set_type(onnx::AttributeProto::TENSOR);
  value->mutable_t()->set_data_type(onnx::TensorProto_DataType_FLOAT);
  value->mutable_t()->add_dims(2);
  value->mutable_t()->add_float_data(1.5f);
  value->mutable_t()->add_float_data(-1.5f);
  b.node("Add", {"x", "c"}, {"y"}, "add");
  b.output("y");
  add_dims(b.proto().mutable_graph()->mutable_output(0), {"2"});
  std::unique_ptr<Graph> graph = import_bytes(b.bytes());
  ASSERT_NE(graph, nullptr);
  auto bytes = export_model_bytes(*graph);
  ASSERT_TRUE(bytes.is_ok()) << bytes.status().to_string();
  Status checked = check_with_onnx_checker(*bytes);
  EXPECT_TRUE(checked.is_ok()) << checked.to_string();
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(*bytes));
  EXPECT_EQ(proto.ir_version(), 3);
  EXPECT_EQ(proto.graph().initializer_size(), 0);
  ASSERT_EQ(proto.graph().node_size(), 2);
  EXPECT_EQ(proto.graph().node(0).op_type(), "Constant");
  std::unique_ptr<Graph> again = import_bytes(*bytes);
  ASSERT_NE(again, nullptr);
  ASSERT_TRUE(again->find_value("c")->is_constant());
  EXPECT_EQ(again->find_value("c")->constant->data_as<float>()[1], -1.5f);
}

TEST(ExportBytes, GraphAttributesAreUnsupportedWithNodeAndName) {
  std::unique_ptr<Graph> graph = import_bytes(corner_case_model().bytes());
  ASSERT_NE(graph, nullptr);
  Attribute body;
  body.kind = AttributeKind::kGraph;
  for (Node* n : graph->nodes()) {
    if (n->name == "mul") n->attributes["then_branch"] = body;
  }
  auto bytes = export_model_bytes(*graph);
  ASSERT_FALSE(bytes.is_ok());
  EXPECT_EQ(bytes.status().code(), StatusCode::kUnsupported);
  const std::string message = bytes.status().message();
  EXPECT_NE(message.find("'mul'"), std::string::npos) << message;
  EXPECT_NE(message.find("then_branch"), std::string::npos) << message;
}

TEST(ExportBytes, ReadOfAnUndefinedValueIsAnError) {
  std::unique_ptr<Graph> graph = import_bytes(corner_case_model().bytes());
  ASSERT_NE(graph, nullptr);
  for (Node* n : graph->nodes()) {
    if (n->name == "mul") graph->erase_node(n);  // "scaled" now has no producer
  }
  auto bytes = export_model_bytes(*graph);
  ASSERT_FALSE(bytes.is_ok());
  EXPECT_NE(bytes.status().message().find("'scaled'"), std::string::npos)
      << bytes.status().to_string();
}

TEST(Checker, NewerModelsAreSkippedNotFailed) {
  ModelBuilder b(/*opset=*/21, /*ir_version=*/10);
  b.input("x", {2});
  b.node("Relu", {"x"}, {"y"}, "relu");
  b.output("y");
  Status st = check_with_onnx_checker(b.bytes());
  EXPECT_EQ(st.code(), StatusCode::kUnsupported) << st.to_string();
}

TEST(Checker, RejectsABrokenModel) {
  ModelBuilder b;
  b.input("x", {2});
  b.node("Relu", {"x", "x"}, {"y"}, "relu");  // Relu takes one input
  b.output("y");
  add_dims(b.proto().mutable_graph()->mutable_output(0), {"2"});
  Status st = check_with_onnx_checker(b.bytes());
  EXPECT_EQ(st.code(), StatusCode::kInvalidModel) << st.to_string();
}

// tensor_to_proto writes raw_data that tensor_from_proto reads back to the same bytes.
TEST(TensorToProto, EveryStoredDtypeRoundTrips) {
  const DataType dtypes[] = {DataType::kFloat32, DataType::kUint8,  DataType::kInt8,
                             DataType::kUint16,  DataType::kInt16,  DataType::kInt32,
                             DataType::kInt64,   DataType::kBool,   DataType::kFloat16,
                             DataType::kFloat64, DataType::kUint32, DataType::kUint64,
                             DataType::kBFloat16};
  for (DataType dtype : dtypes) {
    Tensor t = Tensor::allocate(dtype, {2, 3}).value();
    auto* bytes = t.data_as<uint8_t>();
    for (size_t i = 0; i < t.nbytes(); ++i) bytes[i] = static_cast<uint8_t>(i * 37 + 11);
    if (dtype == DataType::kBool) {
      for (size_t i = 0; i < t.nbytes(); ++i) bytes[i] = i % 2;
    }
    onnx::TensorProto proto;
    ASSERT_TRUE(tensor_to_proto(t, &proto).is_ok()) << dtype_name(dtype);
    EXPECT_EQ(proto.data_type(), static_cast<int>(dtype));
    EXPECT_EQ(proto.raw_data().size(), t.nbytes());
    auto back = tensor_from_proto(proto, "", "test");
    ASSERT_TRUE(back.is_ok()) << back.status().to_string();
    EXPECT_EQ(back->shape(), t.shape());
    EXPECT_EQ(std::memcmp(back->data(), t.data(), t.nbytes()), 0) << dtype_name(dtype);
  }
  // float16 keeps its bit pattern (1.0 = 0x3C00, stored little-endian).
  Tensor half = Tensor::from_vector<uint16_t>({1}, {0x3C00});
  Tensor as_half = Tensor::view(DataType::kFloat16, {1}, half.data());
  onnx::TensorProto proto;
  ASSERT_TRUE(tensor_to_proto(as_half, &proto).is_ok());
  EXPECT_EQ(proto.raw_data(), std::string("\x00\x3C", 2));
  // Bool bytes other than 0/1 are written as 1.
  Tensor flags = Tensor::from_vector<uint8_t>({3}, {0, 1, 7});
  ASSERT_TRUE(tensor_to_proto(Tensor::view(DataType::kBool, {3}, flags.data()), &proto).is_ok());
  EXPECT_EQ(proto.raw_data(), std::string("\x00\x01\x01", 3));
  // Scalars and empty tensors.
  ASSERT_TRUE(tensor_to_proto(Tensor::scalar<int64_t>(-5), &proto).is_ok());
  EXPECT_EQ(proto.dims_size(), 0);
  EXPECT_EQ(proto.raw_data().size(), 8u);
  Tensor empty = Tensor::allocate(DataType::kFloat32, {0, 4}).value();
  ASSERT_TRUE(tensor_to_proto(empty, &proto).is_ok());
  EXPECT_TRUE(proto.has_raw_data());
  EXPECT_TRUE(tensor_from_proto(proto, "", "empty").is_ok());
}

}  // namespace
}  // namespace keel::testing
