#include <gtest/gtest.h>

#include "core/shape.hpp"
#include "core/tensor.hpp"

namespace keel {
namespace {

TEST(Shape, NumelOverflowIsDetected) {
  EXPECT_EQ(checked_numel({2, 3, 4}), 24);
  EXPECT_EQ(checked_numel({}), 1);
  EXPECT_EQ(checked_numel({0, 5}), 0);
  EXPECT_FALSE(checked_numel({-1, 3}).has_value());
  EXPECT_FALSE(checked_numel({int64_t{1} << 40, int64_t{1} << 40}).has_value());
}

TEST(Shape, NormalizeAxis) {
  EXPECT_EQ(normalize_axis(-1, 4), 3);
  EXPECT_EQ(normalize_axis(0, 4), 0);
  EXPECT_FALSE(normalize_axis(4, 4).has_value());
  EXPECT_FALSE(normalize_axis(-5, 4).has_value());
}

TEST(Tensor, AllocateRejectsHugeShapes) {
  auto t = Tensor::allocate(DataType::kFloat32, {int64_t{1} << 30, int64_t{1} << 30});
  ASSERT_FALSE(t.is_ok());
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
}

TEST(Tensor, AllocateIsAlignedAndZeroed) {
  auto t = Tensor::allocate(DataType::kFloat32, {3, 5});
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t->data()) % kTensorAlignment, 0u);
  for (int i = 0; i < 15; ++i) EXPECT_EQ(t->data_as<float>()[i], 0.0f);
}

}  // namespace
}  // namespace keel
