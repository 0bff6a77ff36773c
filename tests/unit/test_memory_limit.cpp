// ModelOptions::max_memory_bytes: a model whose weights, or a plan whose packed weights, folded
// constants and activations, pass the limit is refused with OUT_OF_MEMORY naming the limit,
// before the big allocation; a declared input too large to represent is refused before any
// allocation; within the limit the results are the same bits as without one.
#include <gtest/gtest.h>

#include <cstring>

#include "keel/keel.hpp"
#include "support/model_builder.hpp"

namespace keel::testing {
namespace {

Result<std::shared_ptr<const Model>> load(const ModelBuilder& b, size_t limit) {
  const std::string bytes = b.bytes();
  ModelOptions options;
  options.max_memory_bytes = limit;
  return Model::load_bytes(bytes.data(), bytes.size(), options);
}

// x[1,64] -> MatMul with W[64,256] (64 KiB of weights) -> Relu.
ModelBuilder matmul_model(int64_t batch) {
  ModelBuilder b;
  b.input("x", {batch, 64});
  b.initializer("w", {64, 256}, std::vector<float>(64 * 256, 0.5f));
  b.node("MatMul", {"x", "w"}, {"m"});
  b.node("Relu", {"m"}, {"y"});
  b.output("y");
  return b;
}

void expect_over_limit(const Status& st, const std::string& what) {
  EXPECT_EQ(st.code(), StatusCode::kOutOfMemory) << st.to_string();
  EXPECT_NE(st.message().find("max_memory_bytes"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(what), std::string::npos) << st.message();
}

TEST(MemoryLimit, WeightsPastTheLimitAreRefusedAtLoad) {
  auto m = load(matmul_model(1), 32 * 1024);
  ASSERT_FALSE(m.is_ok());
  expect_over_limit(m.status(), "loading the model");
}

TEST(MemoryLimit, TheModelReportsItsWeights) {
  auto m = load(matmul_model(1), 0);
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  EXPECT_EQ((*m)->weights_bytes(), size_t{64 * 256 * 4});
}

TEST(MemoryLimit, ActivationsPastTheLimitAreRefusedAtPlan) {
  // 64 KiB of weights and ~100 KiB for packing fit in 512 KiB; 4096 rows of activations
  // (1 MiB in, 4 MiB out) do not.
  auto m = load(matmul_model(-1), 512 * 1024);
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  auto s = Session::create(*m, {});
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  Tensor small = Tensor::allocate(DataType::kFloat32, {2, 64}).value();
  auto ok = (*s)->run({{"x", small}});
  ASSERT_TRUE(ok.is_ok()) << ok.status().to_string();
  Tensor large = Tensor::allocate(DataType::kFloat32, {4096, 64}).value();
  auto refused = (*s)->run({{"x", large}});
  ASSERT_FALSE(refused.is_ok());
  expect_over_limit(refused.status(), "[4096,64]");
  // The session goes on: the small plan still runs.
  EXPECT_TRUE((*s)->run({{"x", small}}).is_ok());
}

TEST(MemoryLimit, WithinTheLimitTheBitsAreTheSame) {
  auto limited = load(matmul_model(3), 4 << 20);
  auto free = load(matmul_model(3), 0);
  ASSERT_TRUE(limited.is_ok() && free.is_ok());
  Tensor x = Tensor::allocate(DataType::kFloat32, {3, 64}).value();
  for (int64_t i = 0; i < x.numel(); ++i) x.data_as<float>()[i] = static_cast<float>(i % 13) - 6;
  auto a = Session::create(*limited, {}).value()->run({{"x", x}});
  auto b = Session::create(*free, {}).value()->run({{"x", x}});
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  EXPECT_EQ(std::memcmp((*a)[0].data(), (*b)[0].data(), (*a)[0].nbytes()), 0);
}

TEST(MemoryLimit, ADeclaredInputPastTheLimitIsRefusedBeforeAllocating) {
  ModelBuilder b;
  b.input("x", {16384, 16384});  // 1 GiB of float32
  b.node("Relu", {"x"}, {"y"});
  b.output("y");
  auto m = load(b, 64 << 20);
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  auto s = Session::create(*m, {});
  ASSERT_FALSE(s.is_ok());
  expect_over_limit(s.status(), "input 'x'");
}

TEST(MemoryLimit, ADeclaredInputTooLargeToRepresentIsInvalid) {
  ModelBuilder b;
  b.input("x", {int64_t{1} << 40, int64_t{1} << 40});
  b.node("Relu", {"x"}, {"y"});
  b.output("y");
  auto m = load(b, 0);
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  auto s = Session::create(*m, {});
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << s.status().to_string();
  EXPECT_NE(s.status().message().find("input 'x'"), std::string::npos) << s.status().message();
}

TEST(MemoryLimit, AConstantFoldedAtPlanTimeCountsAgainstTheLimit) {
  // ConstantOfShape([4096, 4096]) is folded at plan time: 64 MiB the limit does not allow.
  ModelBuilder b;
  b.input("x", {1});
  b.initializer_i64("shape", {2}, {4096, 4096});
  b.node("ConstantOfShape", {"shape"}, {"c"});
  b.node("ReduceSum", {"c"}, {"s"});
  b.node("Add", {"x", "s"}, {"y"});
  b.output("y");
  auto m = load(b, 16 << 20);
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  auto s = Session::create(*m, {});
  ASSERT_FALSE(s.is_ok());
  expect_over_limit(s.status(), "the plan");
}

TEST(MemoryLimit, ByteSizesParse) {
  EXPECT_EQ(parse_byte_size("0").value(), 0u);
  EXPECT_EQ(parse_byte_size("4096").value(), 4096u);
  EXPECT_EQ(parse_byte_size("64K").value(), size_t{64} << 10);
  EXPECT_EQ(parse_byte_size("512M").value(), size_t{512} << 20);
  EXPECT_EQ(parse_byte_size("2GiB").value(), size_t{2} << 30);
  for (const char* bad : {"", "M", "12X", "-5", "1.5G", "99999999999999999999999"}) {
    EXPECT_FALSE(parse_byte_size(bad).is_ok()) << bad;
  }
}

}  // namespace
}  // namespace keel::testing
