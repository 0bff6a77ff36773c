// Transpose, Concat, Split, Slice, Gather, Pad, Tile against naive coordinate-by-coordinate
// references, on several dtypes (moved as bytes) and thread counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>

#include "support/op_runner.hpp"
#include "support/test_data.hpp"
#include "support/tolerance.hpp"

namespace keel {
namespace {

using testing::random_tensor;

using testing::attr_int;
using testing::attr_ints;
using testing::attr_string;
using testing::OpCall;
using testing::OpInput;
using testing::run_op;

Tensor iota_i64(Shape shape) {
  std::vector<int64_t> v(static_cast<size_t>(numel(shape)));
  std::iota(v.begin(), v.end(), 1);
  return Tensor::from_vector<int64_t>(std::move(shape), v);
}

Tensor ints(std::vector<int64_t> v) {
  const auto n = static_cast<int64_t>(v.size());
  return Tensor::from_vector<int64_t>({n}, v);
}

Result<std::vector<Tensor>> run1(const std::string& op, std::vector<OpInput> inputs,
                                 std::map<std::string, Attribute> attrs = {}, int opset = 17,
                                 int outputs = 1, int threads = 1) {
  OpCall c;
  c.op_type = op;
  c.opset = opset;
  c.inputs = std::move(inputs);
  c.attributes = std::move(attrs);
  c.num_outputs = outputs;
  c.threads = threads;
  return run_op(c);
}

std::vector<int64_t> unravel(int64_t i, const Shape& s) {
  std::vector<int64_t> c(s.size());
  for (size_t d = s.size(); d-- > 0;) {
    c[d] = i % s[d];
    i /= s[d];
  }
  return c;
}

int64_t ravel(const std::vector<int64_t>& c, const Shape& s) {
  int64_t i = 0;
  for (size_t d = 0; d < s.size(); ++d) i = i * s[d] + c[d];
  return i;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
}

// --- Transpose -------------------------------------------------------------------------

Tensor transpose_ref(const Tensor& x, const std::vector<int64_t>& perm) {
  Shape out(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) out[i] = x.shape()[static_cast<size_t>(perm[i])];
  Tensor y = Tensor::allocate(x.dtype(), out).value();
  const size_t es = dtype_size(x.dtype());
  for (int64_t o = 0; o < y.numel(); ++o) {
    const auto oc = unravel(o, out);
    std::vector<int64_t> ic(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) ic[static_cast<size_t>(perm[i])] = oc[i];
    std::memcpy(static_cast<std::byte*>(y.data()) + o * es,
                static_cast<const std::byte*>(x.data()) + ravel(ic, x.shape()) * es, es);
  }
  return y;
}

TEST(Transpose, EveryPermutationOfRank4OddSizes) {
  const Tensor x = random_tensor({3, 1, 13, 5}, 1);
  std::vector<int64_t> perm = {0, 1, 2, 3};
  do {
    auto out = run1("Transpose", {{x, false}}, {{"perm", attr_ints(perm)}});
    ASSERT_TRUE(out.is_ok()) << out.status().to_string();
    EXPECT_TRUE(same_bytes((*out)[0], transpose_ref(x, perm))) << shape_to_string(perm);
  } while (std::next_permutation(perm.begin(), perm.end()));
}

TEST(Transpose, NchwToNhwcAndBackLargeTiledWithThreads) {
  const Tensor x = random_tensor({2, 13, 127, 33}, 2);
  for (int threads : {1, 4}) {
    auto nhwc =
        run1("Transpose", {{x, false}}, {{"perm", attr_ints({0, 2, 3, 1})}}, 17, 1, threads);
    ASSERT_TRUE(nhwc.is_ok());
    EXPECT_TRUE(same_bytes((*nhwc)[0], transpose_ref(x, {0, 2, 3, 1})));
    auto back = run1("Transpose", {{(*nhwc)[0], false}}, {{"perm", attr_ints({0, 3, 1, 2})}}, 17, 1,
                     threads);
    ASSERT_TRUE(back.is_ok());
    EXPECT_TRUE(same_bytes((*back)[0], x));
  }
}

// A channel shuffle on NHWC data, [N, H, W, g, C/g] -> [N, H, W, C/g, g]: g = 2, 3, 4 rows
// zipped (4-byte elements), g = 5 through the general path, with threads.
TEST(Transpose, ChannelShuffleOfNhwcZipsRows) {
  for (int64_t g : {2, 3, 4, 5}) {
    for (DataType t : {DataType::kFloat32, DataType::kInt32, DataType::kInt64}) {
      Tensor x = Tensor::allocate(t, {2, 3, 5, g, 29}).value();
      auto* p = static_cast<uint8_t*>(x.data());
      for (size_t i = 0; i < x.nbytes(); ++i) p[i] = static_cast<uint8_t>(i * 13 + 5);
      for (int threads : {1, 3}) {
        auto out =
            run1("Transpose", {{x, false}}, {{"perm", attr_ints({0, 1, 2, 4, 3})}}, 17, 1, threads);
        ASSERT_TRUE(out.is_ok()) << out.status().to_string();
        EXPECT_TRUE(same_bytes((*out)[0], transpose_ref(x, {0, 1, 2, 4, 3})))
            << "g " << g << " " << dtype_name(t) << " threads " << threads;
      }
    }
  }
}

TEST(Transpose, DefaultReversesAndEveryElementSizeWorks) {
  for (DataType t : {DataType::kUint8, DataType::kFloat16, DataType::kInt32, DataType::kInt64}) {
    Tensor x = Tensor::allocate(t, {3, 40, 17}).value();
    auto* p = static_cast<uint8_t*>(x.data());
    for (size_t i = 0; i < x.nbytes(); ++i) p[i] = static_cast<uint8_t>(i * 7 + 3);
    auto out = run1("Transpose", {{x, false}});
    ASSERT_TRUE(out.is_ok());
    EXPECT_TRUE(same_bytes((*out)[0], transpose_ref(x, {2, 1, 0}))) << dtype_name(t);
  }
}

TEST(Transpose, RejectsBadPerm) {
  const Tensor x = random_tensor({2, 3}, 3);
  EXPECT_EQ(run1("Transpose", {{x, false}}, {{"perm", attr_ints({0, 0})}}).status().code(),
            StatusCode::kInvalidModel);
  EXPECT_EQ(run1("Transpose", {{x, false}}, {{"perm", attr_ints({0})}}).status().code(),
            StatusCode::kInvalidModel);
  EXPECT_EQ(run1("Transpose", {{x, false}}, {{"perm", attr_ints({0, 2})}}).status().code(),
            StatusCode::kInvalidModel);
}

// --- Concat / Split --------------------------------------------------------------------

TEST(Concat, NegativeAxisWithAnEmptyInput) {
  const Tensor a = iota_i64({2, 3});
  const Tensor empty = Tensor::allocate(DataType::kInt64, {2, 0}).value();
  const Tensor b = iota_i64({2, 1});
  auto out = run1("Concat", {{a, false}, {empty, false}, {b, false}}, {{"axis", attr_int(-1)}}, 13);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  const Tensor& y = (*out)[0];
  ASSERT_EQ(y.shape(), (Shape{2, 4}));
  const std::vector<int64_t> expected = {1, 2, 3, 1, 4, 5, 6, 2};
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(y.data_as<int64_t>()[i], expected[i]);
}

TEST(Concat, AxisZeroOfManyInputsWithThreads) {
  std::vector<OpInput> inputs;
  std::vector<float> expected;
  for (int i = 0; i < 7; ++i) {
    Tensor t = random_tensor({13, 127}, 10 + i);
    expected.insert(expected.end(), t.data_as<float>(), t.data_as<float>() + t.numel());
    inputs.push_back({t, false});
  }
  auto out = run1("Concat", inputs, {{"axis", attr_int(0)}}, 13, 1, 4);
  ASSERT_TRUE(out.is_ok());
  ASSERT_EQ((*out)[0].shape(), (Shape{91, 127}));
  EXPECT_EQ(std::memcmp((*out)[0].data(), expected.data(), expected.size() * 4), 0);
}

TEST(Concat, RejectsMismatchedShapesTypesAndAxis) {
  const Tensor a = random_tensor({2, 3}, 1);
  EXPECT_EQ(
      run1("Concat", {{a, false}, {random_tensor({3, 3}, 2), false}}, {{"axis", attr_int(1)}}, 13)
          .status()
          .code(),
      StatusCode::kInvalidModel);
  EXPECT_EQ(run1("Concat", {{a, false}, {iota_i64({2, 3}), false}}, {{"axis", attr_int(0)}}, 13)
                .status()
                .code(),
            StatusCode::kInvalidModel);
  EXPECT_EQ(run1("Concat", {{a, false}}, {{"axis", attr_int(2)}}, 13).status().code(),
            StatusCode::kInvalidModel);
  EXPECT_EQ(run1("Concat", {{a, false}}, {}, 13).status().code(), StatusCode::kInvalidModel);
}

TEST(Split, VariablePartsFromInputAndAttribute) {
  const Tensor x = iota_i64({2, 6});
  auto out = run1("Split", {{x, false}, {ints({2, 4}), true}}, {{"axis", attr_int(1)}}, 13, 2);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ((*out)[0].shape(), (Shape{2, 2}));
  EXPECT_EQ((*out)[1].shape(), (Shape{2, 4}));
  EXPECT_EQ((*out)[1].data_as<int64_t>()[4], 9);
  out = run1("Split", {{x, false}}, {{"axis", attr_int(-1)}, {"split", attr_ints({5, 1})}}, 11, 2);
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ((*out)[1].data_as<int64_t>()[1], 12);
}

TEST(Split, Opset18NumOutputsGivesAShorterLastChunk) {
  const Tensor x = iota_i64({7});
  auto out = run1("Split", {{x, false}}, {{"num_outputs", attr_int(4)}}, 18, 4);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ((*out)[2].shape(), (Shape{2}));
  EXPECT_EQ((*out)[3].shape(), (Shape{1}));
  EXPECT_EQ((*out)[3].data_as<int64_t>()[0], 7);
}

TEST(Split, ZeroSizeSplitsAndErrors) {
  const Tensor empty = Tensor::allocate(DataType::kFloat32, {0}).value();
  auto out = run1("Split", {{empty, false}, {ints({0, 0, 0}), true}}, {}, 13, 3);
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ((*out)[2].shape(), (Shape{0}));
  const Tensor x = iota_i64({7});
  EXPECT_EQ(run1("Split", {{x, false}}, {}, 13, 2).status().code(), StatusCode::kInvalidModel);
  EXPECT_EQ(run1("Split", {{x, false}, {ints({3, 3}), true}}, {}, 13, 2).status().code(),
            StatusCode::kInvalidModel);
  EXPECT_EQ(run1("Split", {{x, false}}, {{"num_outputs", attr_int(3)}}, 18, 2).status().code(),
            StatusCode::kInvalidModel);
  EXPECT_EQ(run1("Split", {{x, false}}, {}, 18, 2).status().code(), StatusCode::kInvalidModel);
}

// --- Slice -----------------------------------------------------------------------------

// ONNX slice semantics per dim, element by element. Unlike Python, a negative step clamps the
// start into [0, dim - 1] (the spec's rule, also ONNX Runtime's), so start < -dim keeps one
// element.
std::vector<int64_t> slice_indices(int64_t dim, int64_t start, int64_t end, int64_t step) {
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  std::vector<int64_t> idx;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, dim);
    end = std::clamp<int64_t>(end, 0, dim);
    for (int64_t i = start; i < end; i += step) idx.push_back(i);
  } else {
    start = std::clamp<int64_t>(start, 0, dim - 1);
    end = std::clamp<int64_t>(end, -1, dim - 1);
    for (int64_t i = start; i > end; i += step) idx.push_back(i);
  }
  return idx;
}

TEST(Slice, MatchesPythonSemanticsOverManyCases) {
  const Tensor x = random_tensor({7, 13, 5}, 4);
  std::mt19937 rng(5);
  std::uniform_int_distribution<int64_t> pos(-16, 16);
  const int64_t big = INT64_MAX;
  for (int iter = 0; iter < 300; ++iter) {
    int64_t steps_choice[] = {1, 2, 3, -1, -2, -5};
    const int64_t step1 = steps_choice[iter % 6];
    const int64_t step2 = steps_choice[(iter / 6) % 6];
    int64_t s1 = pos(rng), e1 = iter % 11 == 0 ? (step1 > 0 ? big : -big - 1) : pos(rng);
    int64_t s2 = pos(rng), e2 = pos(rng);
    auto out = run1("Slice",
                    {{x, false},
                     {ints({s1, s2}), true},
                     {ints({e1, e2}), true},
                     {ints({0, -1}), true},
                     {ints({step1, step2}), true}},
                    {}, 13);
    ASSERT_TRUE(out.is_ok()) << out.status().to_string();
    const auto i0 = slice_indices(7, s1, e1, step1);
    const auto i2 = slice_indices(5, s2, e2, step2);
    const Tensor& y = (*out)[0];
    ASSERT_EQ(y.shape(),
              (Shape{static_cast<int64_t>(i0.size()), 13, static_cast<int64_t>(i2.size())}));
    int64_t o = 0;
    for (int64_t a : i0) {
      for (int64_t b = 0; b < 13; ++b) {
        for (int64_t c : i2) {
          ASSERT_EQ(y.data_as<float>()[o++], x.data_as<float>()[(a * 13 + b) * 5 + c]);
        }
      }
    }
  }
}

TEST(Slice, Opset9AttributesAndShapeSubgraphInt64) {
  const Tensor shape = Tensor::from_vector<int64_t>({4}, {1, 3, 224, 224});
  auto out = run1(
      "Slice", {{shape, true}},
      {{"starts", attr_ints({2})}, {"ends", attr_ints({INT64_MAX})}, {"axes", attr_ints({0})}}, 9);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  ASSERT_EQ((*out)[0].shape(), (Shape{2}));
  EXPECT_EQ((*out)[0].data_as<int64_t>()[0], 224);
}

TEST(Slice, RejectsZeroStepsAndBadAxes) {
  const Tensor x = random_tensor({4, 4}, 6);
  EXPECT_EQ(
      run1("Slice",
           {{x, false}, {ints({0}), true}, {ints({2}), true}, {ints({0}), true}, {ints({0}), true}},
           {}, 13)
          .status()
          .code(),
      StatusCode::kInvalidModel);
  EXPECT_EQ(
      run1("Slice", {{x, false}, {ints({0}), true}, {ints({2}), true}, {ints({2}), true}}, {}, 13)
          .status()
          .code(),
      StatusCode::kInvalidModel);
  EXPECT_EQ(
      run1("Slice", {{x, false}, {ints({0}), false}, {ints({2}), true}}, {}, 13).status().code(),
      StatusCode::kUnsupported);
}

// --- Gather ----------------------------------------------------------------------------

TEST(Gather, Axis1NegativeInt32IndicesAnyRank) {
  const Tensor x = iota_i64({3, 5, 2});
  const Tensor idx = Tensor::from_vector<int32_t>({2, 2}, {0, -1, 2, 2});
  auto out = run1("Gather", {{x, false}, {idx, false}}, {{"axis", attr_int(1)}}, 13);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  const Tensor& y = (*out)[0];
  ASSERT_EQ(y.shape(), (Shape{3, 2, 2, 2}));
  const int64_t cols[] = {0, 4, 2, 2};
  for (int64_t a = 0; a < 3; ++a) {
    for (int64_t k = 0; k < 4; ++k) {
      for (int64_t c = 0; c < 2; ++c) {
        EXPECT_EQ(y.data_as<int64_t>()[(a * 4 + k) * 2 + c],
                  x.data_as<int64_t>()[(a * 5 + cols[k]) * 2 + c]);
      }
    }
  }
}

TEST(Gather, ScalarIndexOnAShapeVector) {
  const Tensor shape = Tensor::from_vector<int64_t>({4}, {1, 3, 224, 224});
  auto out = run1("Gather", {{shape, true}, {Tensor::scalar<int64_t>(1), true}},
                  {{"axis", attr_int(0)}}, 13);
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ((*out)[0].shape(), Shape{});
  EXPECT_EQ((*out)[0].data_as<int64_t>()[0], 3);
}

// Known indices out of range are an invalid model; indices given at run time that are out of
// range fail that run with INVALID_ARGUMENT naming the index (core/run_failure.hpp), instead of
// the zeros they once produced; in range, the same op runs.
TEST(Gather, OutOfRangeIndicesAreRejectedWhenKnownAndFailTheRunWhenGiven) {
  const Tensor x = random_tensor({4, 3}, 7);
  const Tensor bad = Tensor::from_vector<int64_t>({2}, {1, 4});
  EXPECT_EQ(run1("Gather", {{x, false}, {bad, true}}).status().code(), StatusCode::kInvalidModel);
  auto out = run1("Gather", {{x, false}, {Tensor::from_vector<int64_t>({2}, {-5, 3}), false}});
  ASSERT_FALSE(out.is_ok());
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("index -5 (position 0 of the indices) is out of range"),
            std::string::npos)
      << out.status().to_string();
  for (int threads : {1, 3}) {  // reported from a worker thread too
    auto many = run1("Gather",
                     {{random_tensor({4, 4096}, 2), false},
                      {Tensor::from_vector<int32_t>({3}, {0, 2, 9}), false}},
                     {}, 17, 1, threads);
    ASSERT_FALSE(many.is_ok());
    EXPECT_NE(many.status().message().find("index 9"), std::string::npos)
        << many.status().to_string();
  }
  out = run1("Gather", {{x, false}, {Tensor::from_vector<int64_t>({2}, {-4, 3}), false}});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  for (int c = 0; c < 3; ++c) EXPECT_EQ((*out)[0].data_as<float>()[c], x.data_as<float>()[c]);
  for (int c = 0; c < 3; ++c)
    EXPECT_EQ((*out)[0].data_as<float>()[3 + c], x.data_as<float>()[9 + c]);
  EXPECT_EQ(run1("Gather", {{x, false}, {random_tensor({2}, 1), false}}).status().code(),
            StatusCode::kUnsupported);
}

// --- Pad -------------------------------------------------------------------------------

int64_t pad_source(int64_t o, int64_t n, int64_t b, int64_t e, const std::string& mode) {
  // Crop first (negative pads), then pad the cropped range [lo, hi).
  const int64_t lo = std::max<int64_t>(-b, 0);
  const int64_t hi = n - std::max<int64_t>(-e, 0);
  const int64_t m = hi - lo;
  int64_t k = o - std::max<int64_t>(b, 0);
  if (k >= 0 && k < m) return lo + k;
  if (mode == "constant") return -1;
  if (mode == "edge") return lo + std::clamp<int64_t>(k, 0, m - 1);
  if (mode == "wrap") return lo + ((k % m) + m) % m;
  // reflect, step by step as numpy does
  while (k < 0 || k >= m) k = k < 0 ? -k : 2 * (m - 1) - k;
  return lo + k;
}

void check_pad(const Tensor& x, const std::vector<int64_t>& pads, const std::string& mode,
               float value, int threads) {
  const size_t r = x.shape().size();
  std::vector<OpInput> inputs = {
      {x, false}, {ints(pads), true}, {Tensor::scalar<float>(value), true}};
  auto out = run1("Pad", inputs, {{"mode", attr_string(mode)}}, 19, 1, threads);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  const Tensor& y = (*out)[0];
  Shape expect_shape(r);
  for (size_t d = 0; d < r; ++d) expect_shape[d] = x.shape()[d] + pads[d] + pads[r + d];
  ASSERT_EQ(y.shape(), expect_shape);
  for (int64_t o = 0; o < y.numel(); ++o) {
    auto c = unravel(o, y.shape());
    bool constant = false;
    for (size_t d = 0; d < r; ++d) {
      c[d] = pad_source(c[d], x.shape()[d], pads[d], pads[r + d], mode);
      constant = constant || c[d] < 0;
    }
    const float expected = constant ? value : x.data_as<float>()[ravel(c, x.shape())];
    ASSERT_EQ(y.data_as<float>()[o], expected) << mode << " at " << o;
  }
}

TEST(Pad, EveryModeWithPositiveAndNegativePads) {
  const Tensor x = random_tensor({3, 5, 13}, 8);
  for (const char* mode : {"constant", "reflect", "edge", "wrap"}) {
    check_pad(x, {0, 2, 4, 1, 3, 4}, mode, 1.5f, 1);
    check_pad(x, {1, -2, 12, 0, 1, -3}, mode, -2.0f, 4);
    check_pad(x, {0, 0, 0, 0, 0, 0}, mode, 0.0f, 1);
  }
  check_pad(x, {0, 0, 30, 0, 0, 27}, "reflect", 0.0f, 1);  // pads longer than the axis
}

TEST(Pad, AxesInputAndOldAttributeForm) {
  const Tensor x = Tensor::from_vector<int32_t>({2, 3}, {1, 2, 3, 4, 5, 6});
  auto out = run1(
      "Pad",
      {{x, false}, {ints({1, 2}), true}, {Tensor::scalar<int32_t>(9), true}, {ints({-1}), true}},
      {}, 18);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  ASSERT_EQ((*out)[0].shape(), (Shape{2, 6}));
  const std::vector<int32_t> expected = {9, 1, 2, 3, 9, 9, 9, 4, 5, 6, 9, 9};
  for (size_t i = 0; i < 12; ++i) EXPECT_EQ((*out)[0].data_as<int32_t>()[i], expected[i]);
  out = run1("Pad", {{x, false}},
             {{"pads", attr_ints({1, 0, 0, 0})}, {"mode", attr_string("edge")}}, 2);
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ((*out)[0].data_as<int32_t>()[2], 3);
}

TEST(Pad, RejectsBadPadsAndModes) {
  const Tensor x = random_tensor({2, 3}, 9);
  EXPECT_EQ(run1("Pad", {{x, false}, {ints({1, 1}), true}}, {}, 13).status().code(),
            StatusCode::kInvalidModel);
  EXPECT_EQ(run1("Pad", {{x, false}, {ints({0, -4, 0, 0}), true}}, {}, 13).status().code(),
            StatusCode::kInvalidModel);
  EXPECT_EQ(
      run1("Pad", {{x, false}, {ints({0, 0, 0, 0}), true}}, {{"mode", attr_string("wrap")}}, 13)
          .status()
          .code(),
      StatusCode::kInvalidModel);
  EXPECT_EQ(run1("Pad", {{x, false}, {ints({0, 0, 0, 0}), false}}, {}, 13).status().code(),
            StatusCode::kUnsupported);
}

// --- Tile ------------------------------------------------------------------------------

TEST(Tile, RepeatsEveryDim) {
  const Tensor x = iota_i64({2, 3});
  auto out = run1("Tile", {{x, false}, {ints({3, 2}), true}}, {}, 13);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  const Tensor& y = (*out)[0];
  ASSERT_EQ(y.shape(), (Shape{6, 6}));
  for (int64_t i = 0; i < 6; ++i) {
    for (int64_t j = 0; j < 6; ++j) {
      EXPECT_EQ(y.data_as<int64_t>()[i * 6 + j], x.data_as<int64_t>()[(i % 2) * 3 + j % 3]);
    }
  }
  EXPECT_EQ(run1("Tile", {{x, false}, {ints({3}), true}}, {}, 13).status().code(),
            StatusCode::kInvalidModel);
}

}  // namespace
}  // namespace keel
