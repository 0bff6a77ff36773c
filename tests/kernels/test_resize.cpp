// Resize and Upsample against the scalar double reference (ref/resize_ref), over modes,
// coordinate transformations, odd sizes, axes and thread counts; plus hand-checked values and
// the error paths.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "ref/resize_ref.hpp"
#include "support/op_runner.hpp"
#include "support/test_data.hpp"
#include "support/tolerance.hpp"

namespace keel {
namespace {

using testing::random_tensor;

using testing::attr_float;
using testing::attr_floats;
using testing::attr_int;
using testing::attr_ints;
using testing::attr_string;
using testing::OpCall;
using testing::OpInput;
using testing::run_op;

Tensor floats(std::vector<float> v) {
  const auto n = static_cast<int64_t>(v.size());
  return Tensor::from_vector<float>({n}, v);
}

Tensor ints(std::vector<int64_t> v) {
  const auto n = static_cast<int64_t>(v.size());
  return Tensor::from_vector<int64_t>({n}, v);
}

struct Case {
  std::string mode = "linear";
  std::string ctm = "half_pixel";
  std::string nearest = "round_prefer_floor";
  bool exclude_outside = false;
  bool antialias = false;
  float cubic_a = -0.75f;
  Shape in;
  std::vector<float> scales;  // per dim (all dims)
  std::vector<int64_t> sizes;
  std::vector<float> roi;
  float extrapolation = 0.0f;
};

std::string describe(const Case& c) {
  return c.mode + "/" + c.ctm + "/" + c.nearest + " in " + shape_to_string(c.in) +
         (c.sizes.empty() ? " scales" : " sizes " + shape_to_string(c.sizes)) +
         (c.antialias ? " antialias" : "") + (c.exclude_outside ? " exclude_outside" : "");
}

Result<std::vector<Tensor>> run_case(const Case& c, const Tensor& x, int threads) {
  OpCall call;
  call.op_type = "Resize";
  call.opset = 19;
  call.threads = threads;
  call.attributes["mode"] = attr_string(c.mode);
  call.attributes["coordinate_transformation_mode"] = attr_string(c.ctm);
  call.attributes["nearest_mode"] = attr_string(c.nearest);
  call.attributes["exclude_outside"] = attr_int(c.exclude_outside ? 1 : 0);
  call.attributes["antialias"] = attr_int(c.antialias ? 1 : 0);
  call.attributes["cubic_coeff_a"] = attr_float(c.cubic_a);
  call.attributes["extrapolation_value"] = attr_float(c.extrapolation);
  call.inputs.push_back({x, false});
  call.inputs.push_back({c.roi.empty() ? Tensor() : floats(c.roi), true});
  call.inputs.push_back({c.scales.empty() ? Tensor() : floats(c.scales), true});
  call.inputs.push_back({c.sizes.empty() ? Tensor() : ints(c.sizes), true});
  return run_op(call);
}

ResizeParams params_of(const Case& c) {
  ResizeParams p;
  p.mode = c.mode == "nearest"  ? ResizeMode::kNearest
           : c.mode == "linear" ? ResizeMode::kLinear
                                : ResizeMode::kCubic;
  const std::map<std::string, ResizeCoordinate> ctm = {
      {"half_pixel", ResizeCoordinate::kHalfPixel},
      {"half_pixel_symmetric", ResizeCoordinate::kHalfPixelSymmetric},
      {"pytorch_half_pixel", ResizeCoordinate::kPytorchHalfPixel},
      {"align_corners", ResizeCoordinate::kAlignCorners},
      {"asymmetric", ResizeCoordinate::kAsymmetric},
      {"tf_crop_and_resize", ResizeCoordinate::kTfCropAndResize}};
  p.coordinate = ctm.at(c.ctm);
  const std::map<std::string, NearestRounding> nm = {
      {"round_prefer_floor", NearestRounding::kRoundPreferFloor},
      {"round_prefer_ceil", NearestRounding::kRoundPreferCeil},
      {"floor", NearestRounding::kFloor},
      {"ceil", NearestRounding::kCeil}};
  p.rounding = nm.at(c.nearest);
  p.cubic_a = c.cubic_a;
  p.exclude_outside = c.exclude_outside;
  p.antialias = c.antialias && p.mode != ResizeMode::kNearest;
  p.extrapolation_value = c.extrapolation;
  p.in_shape = c.in;
  const size_t r = c.in.size();
  p.out_shape.resize(r);
  p.scales.resize(r);
  p.roi_start.assign(r, 0.0);
  p.roi_end.assign(r, 1.0);
  for (size_t d = 0; d < r; ++d) {
    if (c.sizes.empty()) {
      p.scales[d] = c.scales[d];
      p.out_shape[d] =
          static_cast<int64_t>(std::floor(double{c.scales[d]} * static_cast<double>(c.in[d])));
    } else {
      p.out_shape[d] = c.sizes[d];
      p.scales[d] = static_cast<double>(c.sizes[d]) / static_cast<double>(c.in[d]);
    }
    if (!c.roi.empty()) {
      p.roi_start[d] = c.roi[d];
      p.roi_end[d] = c.roi[r + d];
    }
  }
  return p;
}

void check_against_ref(const Case& c, uint32_t seed) {
  const Tensor x = random_tensor(c.in, seed);
  auto one = run_case(c, x, 1);
  ASSERT_TRUE(one.is_ok()) << describe(c) << ": " << one.status().to_string();
  const ResizeParams p = params_of(c);
  const Tensor& y = (*one)[0];
  ASSERT_EQ(y.shape(), p.out_shape) << describe(c);
  std::vector<float> ref(static_cast<size_t>(y.numel()));
  resize_ref(p, x.data_as<float>(), ref.data());
  EXPECT_TRUE(testing::all_close(y.data_as<float>(), ref.data(), y.numel(), 1e-6, 1e-5, true))
      << describe(c) << " seed " << seed;
  auto four = run_case(c, x, 4);
  ASSERT_TRUE(four.is_ok());
  EXPECT_EQ(std::memcmp((*four)[0].data(), y.data(), y.nbytes()), 0) << "thread count changed bits";
}

TEST(Resize, EveryModeAndCoordinateTransformAgainstReference) {
  const char* ctms[] = {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                        "asymmetric"};
  const char* modes[] = {"nearest", "linear", "cubic"};
  const std::vector<std::vector<float>> scale_sets = {
      {1, 1, 2, 2}, {1, 1, 0.5f, 0.75f}, {1, 1, 1.7f, 0.3f}, {1, 1, 3, 1}};
  uint32_t seed = 100;
  for (const char* m : modes) {
    for (const char* t : ctms) {
      for (const auto& s : scale_sets) {
        Case c;
        c.mode = m;
        c.ctm = t;
        c.in = {2, 3, 13, 7};
        c.scales = s;
        check_against_ref(c, seed++);
      }
    }
  }
}

TEST(Resize, NearestRoundingModesWithSizes) {
  uint32_t seed = 200;
  for (const char* n : {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}) {
    for (const auto& sizes : std::vector<Shape>{{1, 3, 27, 14}, {1, 3, 5, 3}, {1, 3, 1, 1}}) {
      Case c;
      c.mode = "nearest";
      c.ctm = "asymmetric";
      c.nearest = n;
      c.in = {1, 3, 13, 7};
      c.sizes = sizes;
      check_against_ref(c, seed++);
    }
  }
}

TEST(Resize, CubicExcludeOutsideAndCoefficient) {
  Case c;
  c.mode = "cubic";
  c.exclude_outside = true;
  c.cubic_a = -0.5f;
  c.in = {1, 2, 9, 11};
  c.scales = {1, 1, 2.5f, 0.6f};
  check_against_ref(c, 300);
}

TEST(Resize, AntialiasDownsampling) {
  for (const char* m : {"linear", "cubic"}) {
    Case c;
    c.mode = m;
    c.antialias = true;
    c.in = {1, 2, 31, 17};
    c.sizes = {1, 2, 7, 5};
    check_against_ref(c, 301);
  }
}

TEST(Resize, TfCropAndResizeWithExtrapolation) {
  for (const char* m : {"nearest", "linear", "cubic"}) {
    Case c;
    c.mode = m;
    c.ctm = "tf_crop_and_resize";
    c.in = {1, 1, 9, 8};
    c.sizes = {1, 1, 6, 13};
    c.roi = {0, 0, -0.2f, 0.4f, 1, 1, 0.8f, 1.3f};
    c.extrapolation = 10.0f;
    check_against_ref(c, 302);
  }
}

TEST(Resize, TrilinearAndResizingTheChannelDim) {
  Case c;
  c.in = {1, 3, 5, 6, 7};
  c.scales = {1, 1, 2, 0.5f, 1.5f};
  check_against_ref(c, 303);
  Case d;  // an identity dim after the last resized one (inner blocks)
  d.in = {2, 5, 4, 3};
  d.scales = {1, 2.5f, 1, 1};
  check_against_ref(d, 304);
  Case e;  // 1-D and 3-D inputs
  e.in = {127};
  e.scales = {0.37f};
  check_against_ref(e, 305);
  e.mode = "cubic";
  e.in = {3, 13, 1};
  e.scales = {1, 2, 3};
  check_against_ref(e, 306);
}

TEST(Resize, HandCheckedBilinearAlignCorners) {
  // 2x2 -> 3x3 with align_corners: the centre is the mean of the four inputs.
  const Tensor x = Tensor::from_vector<float>({1, 1, 2, 2}, {1, 2, 3, 4});
  OpCall call;
  call.op_type = "Resize";
  call.opset = 13;
  call.attributes["mode"] = attr_string("linear");
  call.attributes["coordinate_transformation_mode"] = attr_string("align_corners");
  call.inputs = {{x, false}, {Tensor(), true}, {Tensor(), true}, {ints({1, 1, 3, 3}), true}};
  auto out = run_op(call);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  const std::vector<float> expected = {1, 1.5f, 2, 2, 2.5f, 3, 3, 3.5f, 4};
  EXPECT_TRUE(testing::all_close((*out)[0].data_as<float>(), expected.data(), 9, 1e-6, 1e-6));
}

TEST(Resize, NearestMovesAnyDtypeAndAxesAttribute) {
  const Tensor x = Tensor::from_vector<uint8_t>({1, 2, 2}, {1, 2, 3, 4});
  OpCall call;
  call.op_type = "Resize";
  call.opset = 18;
  call.attributes["mode"] = attr_string("nearest");
  call.attributes["axes"] = attr_ints({-1, 1});
  call.inputs = {{x, false}, {Tensor(), true}, {floats({3, 2}), true}};
  auto out = run_op(call);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  const Tensor& y = (*out)[0];
  ASSERT_EQ(y.shape(), (Shape{1, 4, 6}));
  ASSERT_EQ(y.dtype(), DataType::kUint8);
  const std::vector<uint8_t> expected = {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2,
                                         3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4};
  EXPECT_EQ(std::memcmp(y.data(), expected.data(), 24), 0);
}

TEST(Resize, KeepAspectRatioPolicy) {
  const Tensor x = random_tensor({1, 1, 2, 4}, 7);
  OpCall call;
  call.op_type = "Resize";
  call.opset = 18;
  call.attributes["mode"] = attr_string("nearest");
  call.attributes["axes"] = attr_ints({2, 3});
  call.attributes["keep_aspect_ratio_policy"] = attr_string("not_larger");
  call.inputs = {{x, false}, {Tensor(), true}, {Tensor(), true}, {ints({1, 3}), true}};
  auto out = run_op(call);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ((*out)[0].shape(), (Shape{1, 1, 1, 2}));
  call.attributes["keep_aspect_ratio_policy"] = attr_string("not_smaller");
  out = run_op(call);
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ((*out)[0].shape(), (Shape{1, 1, 2, 3}));
}

TEST(Resize, Opset10AndUpsampleUseAsymmetricCoordinates) {
  const Tensor x = Tensor::from_vector<float>({1, 1, 1, 2}, {1, 3});
  OpCall call;
  call.op_type = "Resize";
  call.opset = 10;
  call.attributes["mode"] = attr_string("linear");
  call.inputs = {{x, false}, {floats({1, 1, 1, 2}), true}};
  auto out = run_op(call);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  const std::vector<float> expected = {1, 2, 3, 3};
  EXPECT_TRUE(testing::all_close((*out)[0].data_as<float>(), expected.data(), 4, 1e-6, 1e-6));

  OpCall up;
  up.op_type = "Upsample";
  up.opset = 7;
  up.attributes["mode"] = attr_string("nearest");
  up.attributes["scales"] = attr_floats({1, 1, 2, 3});
  up.inputs = {{Tensor::from_vector<int64_t>({1, 1, 1, 2}, {5, 6}), false}};
  out = run_op(up);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  ASSERT_EQ((*out)[0].shape(), (Shape{1, 1, 2, 6}));
  const std::vector<int64_t> rep = {5, 5, 5, 6, 6, 6, 5, 5, 5, 6, 6, 6};
  EXPECT_EQ(std::memcmp((*out)[0].data(), rep.data(), rep.size() * 8), 0);
  up.opset = 9;
  up.attributes.erase("scales");
  up.inputs.push_back({floats({1, 1, 0.5f, 1}), true});
  EXPECT_EQ(run_op(up).status().code(), StatusCode::kInvalidModel);
}

TEST(Resize, RejectsMalformedAndUnsupportedCases) {
  const Tensor x = random_tensor({1, 1, 4, 4}, 8);
  auto call_with = [&](std::vector<OpInput> extra, std::map<std::string, Attribute> attrs) {
    OpCall c;
    c.op_type = "Resize";
    c.opset = 19;
    c.attributes = std::move(attrs);
    c.inputs = {{x, false}};
    c.inputs.insert(c.inputs.end(), extra.begin(), extra.end());
    return run_op(c).status().code();
  };
  const Tensor none;
  // Both scales and sizes, or neither.
  EXPECT_EQ(call_with({{none, true}, {floats({1, 1, 2, 2}), true}, {ints({1, 1, 8, 8}), true}}, {}),
            StatusCode::kInvalidModel);
  EXPECT_EQ(call_with({{none, true}}, {}), StatusCode::kInvalidModel);
  // Wrong lengths, non-positive scales, unknown attribute values.
  EXPECT_EQ(call_with({{none, true}, {floats({2, 2}), true}}, {}), StatusCode::kInvalidModel);
  EXPECT_EQ(call_with({{none, true}, {floats({1, 1, 0, 2}), true}}, {}), StatusCode::kInvalidModel);
  EXPECT_EQ(
      call_with({{none, true}, {floats({1, 1, 2, 2}), true}}, {{"mode", attr_string("area")}}),
      StatusCode::kInvalidModel);
  EXPECT_EQ(call_with({{none, true}, {floats({1, 1, 2, 2}), true}},
                      {{"coordinate_transformation_mode", attr_string("corner")}}),
            StatusCode::kInvalidModel);
  EXPECT_EQ(call_with({{none, true}, {floats({1, 1, 2, 2}), true}}, {{"axes", attr_ints({2, 2})}}),
            StatusCode::kInvalidModel);
  // tf_crop_and_resize without roi.
  EXPECT_EQ(call_with({{none, true}, {floats({1, 1, 2, 2}), true}},
                      {{"coordinate_transformation_mode", attr_string("tf_crop_and_resize")}}),
            StatusCode::kInvalidModel);
  // Scales not known at plan time.
  OpCall c;
  c.op_type = "Resize";
  c.opset = 19;
  c.inputs = {{x, false}, {none, true}, {floats({1, 1, 2, 2}), false}};
  EXPECT_EQ(run_op(c).status().code(), StatusCode::kUnsupported);
  // Linear on integers is not implemented.
  c.inputs = {
      {Tensor::from_vector<int8_t>({1, 2}, {1, 2}), false}, {none, true}, {floats({1, 2}), true}};
  c.attributes["mode"] = attr_string("linear");
  EXPECT_EQ(run_op(c).status().code(), StatusCode::kUnsupported);
}

}  // namespace
}  // namespace keel
