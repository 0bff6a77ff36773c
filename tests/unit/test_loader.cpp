// Loader, validation and planning on hand-built and deliberately broken models: every bad
// model gives a clear error with the right code, none crashes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "graph/graph.hpp"
#include "keel/keel.hpp"
#include "support/model_builder.hpp"

namespace keel::testing {
namespace {

namespace fs = std::filesystem;

Result<std::shared_ptr<const Model>> load(const ModelBuilder& b) {
  const std::string bytes = b.bytes();
  return Model::load_bytes(bytes.data(), bytes.size());
}

// Loads and creates a session (which plans when the shapes are static).
Status load_and_plan(const ModelBuilder& b) {
  auto m = load(b);
  if (!m.is_ok()) return m.status();
  auto s = Session::create(*m, {});
  return s.is_ok() ? Status::ok() : s.status();
}

ModelBuilder relu_model() {
  ModelBuilder b;
  b.input("x", {1, 3, 4, 4});
  b.node("Relu", {"x"}, {"y"}, "relu0");
  b.output("y");
  return b;
}

Tensor filled(Shape shape, float v) {
  Tensor t = Tensor::allocate(DataType::kFloat32, shape).value();
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = v + static_cast<float>(i % 7) - 3;
  return t;
}

TEST(Loader, RunsAValidModel) {
  auto m = load(relu_model());
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  EXPECT_EQ((*m)->inputs().size(), 1u);
  EXPECT_EQ((*m)->inputs()[0].shape, (std::vector<int64_t>{1, 3, 4, 4}));
  auto s = Session::create(*m, {});
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  auto out = (*s)->run({{"x", filled({1, 3, 4, 4}, 0)}});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  for (int64_t i = 0; i < 48; ++i) EXPECT_GE((*out)[0].data_as<float>()[i], 0.0f);
}

TEST(Loader, GarbageBytesAreRejected) {
  const std::string junk = "this is not an onnx model at all";
  auto m = Model::load_bytes(junk.data(), junk.size());
  ASSERT_FALSE(m.is_ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidModel);
}

TEST(Loader, TruncatedCommittedModelIsRejected) {
  std::ifstream f(std::string(KEEL_SOURCE_DIR) + "/models/resnet_tiny/model.onnx",
                  std::ios::binary);
  ASSERT_TRUE(f.good());
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  for (size_t cut : {bytes.size() / 2, bytes.size() - 7, size_t{100}}) {
    auto m = Model::load_bytes(bytes.data(), cut);
    ASSERT_FALSE(m.is_ok()) << "cut at " << cut;
    EXPECT_NE(m.status().message().find("ONNX"), std::string::npos) << m.status().to_string();
  }
}

TEST(Loader, FileLoadsWholeAndTruncatedOrEmptyFilesNameThePath) {
  // load_file maps the file (or reads it in one go): the whole file loads; a cut one, an empty
  // one and a directory fail with the path in the message.
  std::ifstream f(std::string(KEEL_SOURCE_DIR) + "/models/resnet_tiny/model.onnx",
                  std::ios::binary);
  ASSERT_TRUE(f.good());
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const fs::path dir = fs::path(::testing::TempDir()) / ("keel_loader_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const fs::path path = dir / "model.onnx";
  for (size_t cut : {bytes.size(), bytes.size() / 2, size_t{0}}) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), cut);
    auto m = Model::load_file(path.string());
    if (cut == bytes.size()) {
      EXPECT_TRUE(m.is_ok()) << m.status().to_string();
      continue;
    }
    ASSERT_FALSE(m.is_ok());
    EXPECT_NE(m.status().message().find(path.string()), std::string::npos)
        << m.status().to_string();
  }
  auto m = Model::load_file(dir.string());
  ASSERT_FALSE(m.is_ok());
  EXPECT_NE(m.status().message().find(dir.string()), std::string::npos);
  fs::remove_all(dir);
}

TEST(Loader, MissingFileNamesThePath) {
  auto m = Model::load_file("/nonexistent/model.onnx");
  ASSERT_FALSE(m.is_ok());
  EXPECT_NE(m.status().message().find("/nonexistent/model.onnx"), std::string::npos);
}

TEST(Loader, MissingInitializerIsNamed) {
  ModelBuilder b;
  b.input("x", {1, 3, 4, 4});
  b.node("Conv", {"x", "missing_weight"}, {"y"}, "conv0");
  b.output("y");
  auto m = load(b);
  ASSERT_FALSE(m.is_ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(m.status().message().find("missing_weight"), std::string::npos)
      << m.status().to_string();
  EXPECT_NE(m.status().message().find("conv0"), std::string::npos);
}

TEST(Loader, CycleIsRejected) {
  ModelBuilder b;
  b.input("x", {4});
  b.node("Add", {"x", "b"}, {"a"}, "first");
  b.node("Relu", {"a"}, {"b"}, "second");
  b.output("b");
  auto m = load(b);
  ASSERT_FALSE(m.is_ok());
  EXPECT_NE(m.status().message().find("cycle"), std::string::npos) << m.status().to_string();
}

TEST(Loader, DuplicateOutputNameIsRejected) {
  ModelBuilder b;
  b.input("x", {4});
  b.node("Relu", {"x"}, {"y"}, "r1");
  b.node("Relu", {"x"}, {"y"}, "r2");
  b.output("y");
  EXPECT_EQ(load(b).status().code(), StatusCode::kInvalidModel);
}

TEST(Loader, WrongAttributeTypeIsReported) {
  ModelBuilder b;
  b.input("x", {1, 1, 5, 5});
  b.initializer("w", {1, 1, 3, 3}, std::vector<float>(9, 1.0f));
  auto& conv = b.node("Conv", {"x", "w"}, {"y"}, "conv0");
  set_attr(conv, "strides", 2.0f);  // must be ints
  b.output("y");
  Status st = load_and_plan(b);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("strides"), std::string::npos) << st.to_string();
  EXPECT_NE(st.message().find("conv0"), std::string::npos) << st.to_string();
}

// kernel_shape written as floats (onnx.helper.make_node(..., kernel_shape=[3.0, 3.0])) is a
// wrong attribute type, not a kernel of 3x3.
TEST(Loader, FloatKernelShapeIsRejected) {
  ModelBuilder b;
  b.input("x", {1, 1, 5, 5});
  b.initializer("w", {1, 1, 3, 3}, std::vector<float>(9, 1.0f));
  auto& conv = b.node("Conv", {"x", "w"}, {"y"}, "conv0");
  auto* a = conv.add_attribute();
  a->set_name("kernel_shape");
  a->set_type(onnx::AttributeProto::FLOATS);
  a->add_floats(3.0f);
  a->add_floats(3.0f);
  b.output("y");
  Status st = load_and_plan(b);
  ASSERT_FALSE(st.is_ok());
  EXPECT_EQ(st.code(), StatusCode::kInvalidModel) << st.to_string();
  EXPECT_NE(st.message().find("kernel_shape"), std::string::npos) << st.to_string();
}

// Every attribute is checked against the operator's schema at the model's opset, not only the
// ones a kernel reads.
TEST(Loader, AnAttributeTheSchemaDoesNotDeclareIsNamed) {
  ModelBuilder b;
  b.input("x", {1, 1, 5, 5});
  b.initializer("w", {1, 1, 3, 3}, std::vector<float>(9, 1.0f));
  auto& conv = b.node("Conv", {"x", "w"}, {"y"}, "conv0");
  set_attr(conv, "kernal_shape", std::vector<int64_t>{3, 3});  // misspelt
  b.output("y");
  Status st = load(b).status();
  EXPECT_EQ(st.code(), StatusCode::kInvalidModel) << st.to_string();
  EXPECT_NE(st.message().find("'kernal_shape' is not an attribute of Conv-11"), std::string::npos)
      << st.to_string();
  EXPECT_NE(st.message().find("kernel_shape"), std::string::npos) << st.to_string();
}

TEST(Loader, AnAttributeOfAnotherDefinitionIsRefused) {
  // Relu-1 had consumed_inputs; the definition at opset 17 (Relu-14) has no attributes.
  ModelBuilder b;
  b.input("x", {4});
  set_attr(b.node("Relu", {"x"}, {"y"}, "relu0"), "alpha", 0.1f);
  b.output("y");
  Status st = load(b).status();
  EXPECT_EQ(st.code(), StatusCode::kInvalidModel) << st.to_string();
  EXPECT_NE(st.message().find("'alpha' is not an attribute of Relu-14 (it has none)"),
            std::string::npos)
      << st.to_string();
}

TEST(Loader, AMissingRequiredAttributeIsNamed) {
  ModelBuilder b;
  b.input("x", {2, 3});
  b.node("Transpose", {"x"}, {"t"});
  b.node("Cast", {"t"}, {"y"}, "cast0");  // `to` is required
  b.output("y");
  Status st = load(b).status();
  EXPECT_EQ(st.code(), StatusCode::kInvalidModel) << st.to_string();
  EXPECT_NE(st.message().find("required attribute 'to' of Cast-"), std::string::npos)
      << st.to_string();
}

TEST(Loader, AnAttributeGivenTwiceIsRefused) {
  ModelBuilder b;
  b.input("x", {2, 3});
  auto& t = b.node("Transpose", {"x"}, {"y"}, "t0");
  set_attr(t, "perm", std::vector<int64_t>{1, 0});
  set_attr(t, "perm", std::vector<int64_t>{0, 1});
  b.output("y");
  Status st = load(b).status();
  EXPECT_EQ(st.code(), StatusCode::kInvalidModel) << st.to_string();
  EXPECT_NE(st.message().find("'perm' is given twice"), std::string::npos) << st.to_string();
}

// Input and output counts are checked against the definition too (a Relu without inputs once
// reached the layout pass, found by fuzz_load_model).
TEST(Loader, InputAndOutputCountsAreCheckedAgainstTheSchema) {
  {
    ModelBuilder b;
    b.input("x", {4});
    b.node("Relu", {}, {"y"}, "relu0");
    b.output("y");
    Status st = load(b).status();
    EXPECT_EQ(st.code(), StatusCode::kInvalidModel) << st.to_string();
    EXPECT_NE(st.message().find("0 inputs, Relu-14 takes 1"), std::string::npos) << st.to_string();
  }
  {
    ModelBuilder b;
    b.input("x", {1, 1, 5, 5});
    b.node("Conv", {"x", ""}, {"y"}, "conv0");  // W is required
    b.output("y");
    Status st = load(b).status();
    EXPECT_EQ(st.code(), StatusCode::kInvalidModel) << st.to_string();
    EXPECT_NE(st.message().find("required input 1 of Conv-11 is empty"), std::string::npos)
        << st.to_string();
  }
}

TEST(Loader, AnUntypedAttributeFromAnOldExporterIsReadByItsField) {
  ModelBuilder b;
  b.input("x", {2, 3});
  auto* a = b.node("Transpose", {"x"}, {"y"}, "t0").add_attribute();
  a->set_name("perm");  // type left UNDEFINED, as pre-IR-3 exporters wrote it
  a->add_ints(1);
  a->add_ints(0);
  b.output("y");
  auto m = load(b);
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  auto s = Session::create(*m, {});
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  auto out = (*s)->run({{"x", filled({2, 3}, 0)}});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ((*out)[0].shape(), (Shape{3, 2}));
}

// Names may hold any bytes; an error prints them as \xNN, on one line, valid UTF-8 kept.
TEST(Loader, NamesThatAreNotPrintableUtf8AreEscapedInErrors) {
  ModelBuilder b;
  b.input("x", {5, 5});  // Conv needs rank >= 3
  b.initializer("w", {1, 1, 3, 3}, std::vector<float>(9, 1.0f));
  b.node("Conv", {"x", "w"}, {"y"}, std::string("conv\xff\xc3(\n\xc3\xa9\xe2\x82\xac\xed\xa0\x80"));
  b.output("y");
  Status st = load_and_plan(b);
  ASSERT_FALSE(st.is_ok());
  const std::string msg = st.to_string();
  EXPECT_NE(msg.find("conv\\xff\\xc3(\\x0a\xc3\xa9\xe2\x82\xac\\xed\\xa0\\x80"), std::string::npos)
      << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos);
  EXPECT_EQ(printable_message("plain ASCII, é and €"), "plain ASCII, é and €");
  EXPECT_EQ(printable_message(std::string("\xc0\xaf \xf4\x90\x80\x80 \x7f \xc2\x85")),
            "\\xc0\\xaf \\xf4\\x90\\x80\\x80 \\x7f \\xc2\\x85");  // overlong, > U+10FFFF, DEL, C1
  EXPECT_EQ(printable_message(std::string("tail \xe2\x82")), "tail \\xe2\\x82");  // truncated
}

TEST(Loader, RankMismatchIsReported) {
  ModelBuilder b;
  b.input("x", {5, 5});  // Conv needs rank >= 3
  b.initializer("w", {1, 1, 3, 3}, std::vector<float>(9, 1.0f));
  b.node("Conv", {"x", "w"}, {"y"}, "conv0");
  b.output("y");
  Status st = load_and_plan(b);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("conv0"), std::string::npos) << st.to_string();
}

TEST(Loader, InitializerWithWrongElementCountIsRejected) {
  ModelBuilder b;
  b.input("x", {4});
  b.initializer("w", {2, 3}, {1, 2, 3});  // needs 6 values
  b.node("Add", {"x", "w"}, {"y"});
  b.output("y");
  auto m = load(b);
  ASSERT_FALSE(m.is_ok());
  EXPECT_NE(m.status().message().find("'w'"), std::string::npos) << m.status().to_string();
}

TEST(Loader, HugeDimsAreRejectedNotAllocated) {
  ModelBuilder b;
  b.input("x", {int64_t{1} << 40, int64_t{1} << 40});
  b.node("Relu", {"x"}, {"y"});
  b.output("y");
  EXPECT_FALSE(load_and_plan(b).is_ok());
  ModelBuilder c;
  c.input("x", {4});
  auto* t = c.proto().mutable_graph()->add_initializer();
  t->set_name("big");
  t->set_data_type(onnx::TensorProto_DataType_FLOAT);
  t->add_dims(int64_t{1} << 40);
  t->add_dims(int64_t{1} << 40);
  c.node("Add", {"x", "big"}, {"y"});
  c.output("y");
  EXPECT_FALSE(load(c).is_ok());
}

TEST(Loader, EveryUnsupportedOperatorIsListedAtOnce) {
  ModelBuilder b;
  b.input("x", {4});
  b.node("FancyOpOne", {"x"}, {"a"});
  b.node("FancyOpTwo", {"a"}, {"y"});
  b.output("y");
  auto m = load(b);
  ASSERT_FALSE(m.is_ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(m.status().message().find("FancyOpOne"), std::string::npos) << m.status().to_string();
  EXPECT_NE(m.status().message().find("FancyOpTwo"), std::string::npos) << m.status().to_string();
}

TEST(Loader, OtherDomainsAreUnsupportedAndNamed) {
  ModelBuilder b;
  auto* op = b.proto().add_opset_import();
  op->set_domain("com.example");
  op->set_version(1);
  b.input("x", {4});
  auto& n = b.node("Special", {"x"}, {"y"});
  n.set_domain("com.example");
  b.output("y");
  auto m = load(b);
  ASSERT_FALSE(m.is_ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(m.status().message().find("com.example"), std::string::npos) << m.status().to_string();
}

// What the current `onnx` package writes by default (IR 14, opset 28) loads and runs: each node
// maps to the definition that applies at opset 28 (Relu-14, Mod-28).
TEST(Loader, CurrentOnnxDefaultsLoadAndRun) {
  ModelBuilder b(28, 14);
  b.input("x", {4});
  b.initializer("d", {4}, {2.0f, 2.0f, -2.0f, 3.0f});
  b.node("Relu", {"x"}, {"r"});
  b.node("Mod", {"r", "d"}, {"y"});
  b.output("y");
  auto m = load(b);
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  auto s = Session::create(*m, {});
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  auto out = (*s)->run({{"x", Tensor::from_vector<float>({4}, {5.0f, -1.0f, 3.0f, 7.0f})}});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  const float* y = (*out)[0].data_as<float>();
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[2], -1.0f);
  EXPECT_EQ(y[3], 1.0f);
}

// An operator keel does not implement is named with the version of its definition that
// applies at the model's opset (TopK-24 at opset 28).
TEST(Loader, UnsupportedOperatorIsNamedWithItsDefinitionVersion) {
  ModelBuilder b(28, 14);
  b.input("x", {4});
  b.initializer_i64("k", {1}, {2});
  b.node("TopK", {"x", "k"}, {"v", "i"});
  b.output("v");
  auto m = load(b);
  ASSERT_FALSE(m.is_ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(m.status().message().find("TopK-24 (opset 28"), std::string::npos)
      << m.status().to_string();
}

TEST(Loader, NewerIrVersionOrOpsetIsUnsupported) {
  ModelBuilder b(17, 99);
  b.input("x", {4});
  b.node("Relu", {"x"}, {"y"});
  b.output("y");
  EXPECT_EQ(load(b).status().code(), StatusCode::kUnsupported);
  ModelBuilder c(99, 8);
  c.input("x", {4});
  c.node("Relu", {"x"}, {"y"});
  c.output("y");
  EXPECT_EQ(load(c).status().code(), StatusCode::kUnsupported);
}

class ExternalData : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("keel_ext_" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "model");
    std::ofstream(dir_ / "model" / "weights.bin", std::ios::binary)
        .write("\0\0\x80\x3f\0\0\0\x40", 8);
    std::ofstream(dir_ / "outside.bin", std::ios::binary).write("\0\0\x80\x3f\0\0\0\x40", 8);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result<std::shared_ptr<const Model>> load_with_location(const std::string& location) {
    ModelBuilder b;
    b.input("x", {2});
    auto* t = b.proto().mutable_graph()->add_initializer();
    t->set_name("w");
    t->set_data_type(onnx::TensorProto_DataType_FLOAT);
    t->add_dims(2);
    t->set_data_location(onnx::TensorProto_DataLocation_EXTERNAL);
    auto* kv = t->add_external_data();
    kv->set_key("location");
    kv->set_value(location);
    b.node("Add", {"x", "w"}, {"y"});
    b.output("y");
    const fs::path path = dir_ / "model" / "model.onnx";
    std::ofstream(path, std::ios::binary) << b.bytes();
    return Model::load_file(path.string());
  }
  fs::path dir_;
};

TEST_F(ExternalData, RelativeFileInsideTheFolderLoads) {
  auto m = load_with_location("weights.bin");
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  auto s = Session::create(*m, {});
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  Tensor x = Tensor::from_vector<float>({2}, {10.0f, 20.0f});
  auto out = (*s)->run({{"x", x}});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ((*out)[0].data_as<float>()[0], 11.0f);
  EXPECT_EQ((*out)[0].data_as<float>()[1], 22.0f);
}

TEST_F(ExternalData, PathEscapingTheFolderIsRejected) {
  auto m = load_with_location("../outside.bin");
  ASSERT_FALSE(m.is_ok());
  EXPECT_NE(m.status().message().find("leaves the model's folder"), std::string::npos)
      << m.status().to_string();
}

TEST_F(ExternalData, AbsolutePathIsRejected) {
  auto m = load_with_location((dir_ / "outside.bin").string());
  ASSERT_FALSE(m.is_ok());
  EXPECT_NE(m.status().message().find("relative"), std::string::npos) << m.status().to_string();
}

TEST_F(ExternalData, MissingOrShortFileIsRejected) {
  EXPECT_FALSE(load_with_location("nope.bin").is_ok());
}

// A Gather whose indices are a graph input: an index out of range fails that run with
// INVALID_ARGUMENT naming the node, the session stays usable, and a good run follows.
TEST(Session, OutOfRangeRuntimeIndicesFailTheRunNamingTheNode) {
  ModelBuilder b;
  b.input("x", {4, 3});
  b.input("idx", {2}, onnx::TensorProto::INT64);
  b.node("Gather", {"x", "idx"}, {"y"}, "gather0");
  b.output("y");
  auto m = load(b);
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  auto s = Session::create(*m, {});
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  const Tensor x = filled({4, 3}, 0);
  auto bad = (*s)->run({{"x", x}, {"idx", Tensor::from_vector<int64_t>({2}, {1, 7})}});
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("gather0"), std::string::npos) << bad.status().to_string();
  EXPECT_NE(bad.status().message().find("index 7"), std::string::npos) << bad.status().to_string();
  auto good = (*s)->run({{"x", x}, {"idx", Tensor::from_vector<int64_t>({2}, {1, -1})}});
  ASSERT_TRUE(good.is_ok()) << good.status().to_string();
  EXPECT_EQ((*good)[0].data_as<float>()[3], x.data_as<float>()[9]);
}

TEST(Session, WrongInputsGiveClearErrors) {
  auto m = load(relu_model());
  ASSERT_TRUE(m.is_ok());
  auto s = Session::create(*m, {});
  ASSERT_TRUE(s.is_ok());
  auto wrong_shape = (*s)->run({{"x", filled({1, 3, 4, 5}, 0)}});
  ASSERT_FALSE(wrong_shape.is_ok());
  EXPECT_EQ(wrong_shape.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(wrong_shape.status().message().find("'x'"), std::string::npos);
  auto wrong_type = (*s)->run({{"x", Tensor::allocate(DataType::kInt64, {1, 3, 4, 4}).value()}});
  ASSERT_FALSE(wrong_type.is_ok());
  EXPECT_NE(wrong_type.status().message().find("int64"), std::string::npos);
  auto wrong_name = (*s)->run({{"z", filled({1, 3, 4, 4}, 0)}});
  ASSERT_FALSE(wrong_name.is_ok());
  EXPECT_NE(wrong_name.status().message().find("'z'"), std::string::npos);
  auto missing = (*s)->run({});
  ASSERT_FALSE(missing.is_ok());
  // The session still works after all these errors.
  EXPECT_TRUE((*s)->run({{"x", filled({1, 3, 4, 4}, 0)}}).is_ok());
}

TEST(Planner, ShapeSubgraphIsFoldedAndBatchChangeReplans) {
  // y = Reshape(x, Concat(Shape(x)[0:1], [-1])): the shape arithmetic folds at plan time.
  ModelBuilder b;
  b.input("x", {-1, 2, 3});
  b.initializer_i64("zero", {1}, {0});
  b.initializer_i64("one", {1}, {1});
  b.initializer_i64("minus_one", {1}, {-1});
  b.node("Shape", {"x"}, {"s"});
  b.node("Slice", {"s", "zero", "one"}, {"n"});
  b.node("Concat", {"n", "minus_one"}, {"target"}).add_attribute()->CopyFrom([] {
    onnx::AttributeProto a;
    a.set_name("axis");
    a.set_type(onnx::AttributeProto_AttributeType_INT);
    a.set_i(0);
    return a;
  }());
  b.node("Reshape", {"x", "target"}, {"r"});
  b.node("Relu", {"r"}, {"y"});
  b.output("y");
  auto m = load(b);
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  auto s = Session::create(*m, {});
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  for (int64_t batch : {1, 4, 2}) {
    auto out = (*s)->run({{"x", filled({batch, 2, 3}, 1)}});
    ASSERT_TRUE(out.is_ok()) << out.status().to_string();
    EXPECT_EQ((*out)[0].shape(), (Shape{batch, 6}));
  }
}

TEST(Planner, ReshapeWithShapeFromAGraphInputSpecialisesOnItsValue) {
  ModelBuilder b;
  b.input("x", {2, 6});
  b.input("shape", {2}, onnx::TensorProto_DataType_INT64);
  b.node("Reshape", {"x", "shape"}, {"y"});
  b.output("y");
  auto m = load(b);
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  auto s = Session::create(*m, {});
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  auto out =
      (*s)->run({{"x", filled({2, 6}, 0)}, {"shape", Tensor::from_vector<int64_t>({2}, {3, 4})}});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ((*out)[0].shape(), (Shape{3, 4}));
  out =
      (*s)->run({{"x", filled({2, 6}, 0)}, {"shape", Tensor::from_vector<int64_t>({2}, {6, -1})}});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ((*out)[0].shape(), (Shape{6, 2}));
}

// Shapes and sizes that come from input values fail that run, naming the node, and the
// session goes on: a Reshape target that does not fit, a Range too large to allocate.
TEST(Session, ValueDependentShapesThatCannotWorkFailTheRun) {
  ModelBuilder b;
  b.input("x", {2, 6});
  b.input("shape", {2}, onnx::TensorProto_DataType_INT64);
  b.input("limit", {}, onnx::TensorProto_DataType_INT64);
  b.initializer_i64("zero", {}, {0});
  b.initializer_i64("one", {}, {1});
  b.node("Reshape", {"x", "shape"}, {"y"}, "reshape0");
  b.node("Range", {"zero", "limit", "one"}, {"r"}, "range0");
  b.output("y");
  b.output("r", onnx::TensorProto_DataType_INT64);
  auto m = load(b);
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  auto s = Session::create(*m, {});
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  auto run = [&](std::vector<int64_t> shape, int64_t limit) {
    return (*s)->run({{"x", filled({2, 6}, 0)},
                      {"shape", Tensor::from_vector<int64_t>({2}, shape)},
                      {"limit", Tensor::from_vector<int64_t>({}, {limit})}});
  };
  auto bad_shape = run({5, 5}, 3);
  ASSERT_FALSE(bad_shape.is_ok());
  EXPECT_EQ(bad_shape.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_shape.status().message().find("reshape0"), std::string::npos)
      << bad_shape.status().to_string();
  auto huge = run({3, 4}, int64_t{1} << 50);
  ASSERT_FALSE(huge.is_ok());
  EXPECT_EQ(huge.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(huge.status().message().find("range0"), std::string::npos) << huge.status().to_string();
  auto fine = run({3, 4}, 3);
  ASSERT_TRUE(fine.is_ok()) << fine.status().to_string();
  EXPECT_EQ((*fine)[0].shape(), (Shape{3, 4}));
  EXPECT_EQ((*fine)[1].numel(), 3);
}

}  // namespace
}  // namespace keel::testing
