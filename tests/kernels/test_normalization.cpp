// Normalization kernels against the double references in runtime/ref/normalization_ref.
#include <gtest/gtest.h>
#include <tbb/task_arena.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.hpp"
#include "kernels/registry.hpp"
#include "ref/normalization_ref.hpp"
#include "support/op_runner.hpp"
#include "support/test_data.hpp"
#include "support/tolerance.hpp"

namespace keel {
namespace {

using testing::all_close;
using testing::attr_float;
using testing::attr_int;
using testing::attr_ints;
using testing::OpCall;
using testing::OpInput;
using testing::run_op;

constexpr double kAtol = 1e-5;
constexpr double kRtol = 1e-5;

// The shared generator (support/test_data.hpp) over [-2, 2) unless told otherwise.
Tensor random_tensor(const Shape& shape, uint32_t seed, float lo = -2.0f, float hi = 2.0f) {
  return testing::random_tensor(shape, seed, lo, hi);
}

// offset + noise * N(0, 1): rows whose mean is large compared with their spread.
Tensor offset_tensor(const Shape& shape, uint32_t seed, float offset, float noise) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(numel(shape)));
  for (float& f : v) f = offset + noise * dist(rng);
  return Tensor::from_vector<float>(shape, v);
}

Tensor filled(const Shape& shape, float value) {
  return Tensor::from_vector<float>(shape, std::vector<float>(numel(shape), value));
}

OpInput in(const Tensor& t, bool constant = true) { return {t, constant}; }

OpCall op_call(const std::string& op_type, int opset) {
  OpCall call;
  call.op_type = op_type;
  call.opset = opset;
  return call;
}

const float* f32(const Tensor& t) { return t.data_as<float>(); }

// Runs `call` and returns its outputs, failing the test on an error status.
std::vector<Tensor> run_ok(const OpCall& call) {
  auto out = run_op(call);
  EXPECT_TRUE(out.is_ok()) << out.status().to_string();
  if (!out.is_ok()) return {};
  return std::move(out).value();
}

StatusCode run_code(const OpCall& call) {
  auto out = run_op(call);
  return out.is_ok() ? StatusCode::kOk : out.status().code();
}

// Same call with 1, 2 and 7 threads: every output must have the same bits.
void expect_thread_invariant(OpCall call) {
  call.threads = 1;
  const std::vector<Tensor> base = run_ok(call);
  ASSERT_FALSE(base.empty());
  for (int threads : {2, 7}) {
    call.threads = threads;
    const std::vector<Tensor> got = run_ok(call);
    ASSERT_EQ(got.size(), base.size());
    for (size_t i = 0; i < got.size(); ++i) {
      if (base[i].empty_handle()) continue;
      ASSERT_EQ(got[i].nbytes(), base[i].nbytes());
      EXPECT_EQ(std::memcmp(got[i].data(), base[i].data(), got[i].nbytes()), 0)
          << "output " << i << " differs with " << threads << " threads";
    }
  }
}

// Prepares the node the way the planner would when outputs listed in `used` have consumers.
Status prepare_with_used_outputs(const OpCall& call, const std::vector<int>& used) {
  const OpRegistration* reg = KernelRegistry::global().find("", call.op_type, call.opset);
  if (!reg) return unsupported("no kernel");
  Graph g;
  auto node = std::make_unique<Node>();
  node->name = "n";
  node->op_type = call.op_type;
  node->opset = call.opset;
  node->attributes = call.attributes;
  std::vector<InputInfo> infos;
  for (size_t i = 0; i < call.inputs.size(); ++i) {
    node->inputs.push_back(g.get_or_create_value("in" + std::to_string(i)));
    InputInfo info;
    info.present = true;
    info.dtype = call.inputs[i].tensor.dtype();
    info.shape = call.inputs[i].tensor.shape();
    if (call.inputs[i].constant) info.value = &call.inputs[i].tensor;
    infos.push_back(info);
  }
  for (int i = 0; i < call.num_outputs; ++i) {
    Value* v = g.get_or_create_value("out" + std::to_string(i));
    for (int u : used) v->is_graph_output = v->is_graph_output || u == i;
    node->outputs.push_back(v);
  }
  Node* n = g.add_node(std::move(node));
  PrepareContext ctx(*n, infos, 1);
  auto k = reg->factory(ctx);
  return k.is_ok() ? Status::ok() : k.status();
}

// Runs output 0 over input 0's memory (the planner does this when inplace_of allows it).
Tensor run_in_place(const OpCall& call) {
  const OpRegistration* reg = KernelRegistry::global().find("", call.op_type, call.opset);
  EXPECT_NE(reg, nullptr);
  Graph g;
  auto node = std::make_unique<Node>();
  node->name = "n";
  node->op_type = call.op_type;
  node->opset = call.opset;
  node->attributes = call.attributes;
  std::vector<InputInfo> infos;
  for (size_t i = 0; i < call.inputs.size(); ++i) {
    node->inputs.push_back(g.get_or_create_value("in" + std::to_string(i)));
    InputInfo info{true, call.inputs[i].tensor.dtype(), call.inputs[i].tensor.shape(),
                   call.inputs[i].constant ? &call.inputs[i].tensor : nullptr};
    infos.push_back(info);
  }
  node->outputs.push_back(g.get_or_create_value("out0"));
  Node* n = g.add_node(std::move(node));
  PrepareContext ctx(*n, infos, call.threads);
  auto k = reg->factory(ctx);
  EXPECT_TRUE(k.is_ok()) << k.status().to_string();
  EXPECT_EQ(ctx.inplace_of[0], 0);
  Tensor buf = call.inputs[0].tensor.clone().value();
  std::vector<TensorView> ins(call.inputs.size());
  for (size_t i = 0; i < call.inputs.size(); ++i) {
    const Tensor& t = i == 0 ? buf : call.inputs[i].tensor;
    ins[i] = {const_cast<void*>(t.data()), t.dtype(), &t.shape(), t.numel()};
  }
  TensorView out{buf.data(), buf.dtype(), &buf.shape(), buf.numel()};
  AlignedBytes scratch = allocate_aligned((*k)->scratch_bytes());
  KernelRun r;
  r.inputs = ins.data();
  r.num_inputs = ins.size();
  r.outputs = &out;
  r.num_outputs = 1;
  r.scratch = scratch.get();
  r.num_threads = call.threads;
  tbb::task_arena arena(call.threads);
  arena.execute([&] { (*k)->run(r); });
  return buf;
}

std::string shape_name(const Shape& s) {
  std::string n;
  for (int64_t d : s) n += (n.empty() ? "" : "x") + std::to_string(d);
  return n;
}

// ---------------------------------------------------------------------------------------------
// BatchNormalization

struct BnCase {
  Shape shape;
  bool constant_params;
};

class BatchNormTest : public ::testing::TestWithParam<BnCase> {};

OpCall batchnorm_call(const Tensor& x, const Tensor& s, const Tensor& b, const Tensor& m,
                      const Tensor& v, bool constant, int opset = 15) {
  OpCall call = op_call("BatchNormalization", opset);
  call.inputs = {in(x, false), in(s, constant), in(b, constant), in(m, constant), in(v, constant)};
  return call;
}

TEST_P(BatchNormTest, MatchesReference) {
  const BnCase& p = GetParam();
  const int64_t c = p.shape[1];
  const Tensor x = random_tensor(p.shape, 1);
  const Tensor s = random_tensor({c}, 2, 0.5f, 2.0f);
  const Tensor b = random_tensor({c}, 3);
  const Tensor m = random_tensor({c}, 4);
  const Tensor v = random_tensor({c}, 5, 0.1f, 3.0f);
  OpCall call = batchnorm_call(x, s, b, m, v, p.constant_params);
  call.attributes["epsilon"] = attr_float(1e-3f);
  const auto out = run_ok(call);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].shape(), p.shape);
  const auto ref = ref::batchnorm(f32(x), p.shape, f32(s), f32(b), f32(m), f32(v), 1e-3);
  EXPECT_TRUE(all_close(f32(out[0]), ref.data(), x.numel(), kAtol, kRtol));
}

TEST_P(BatchNormTest, InPlaceMatchesOutOfPlace) {
  const BnCase& p = GetParam();
  const int64_t c = p.shape[1];
  const Tensor x = random_tensor(p.shape, 11);
  OpCall call =
      batchnorm_call(x, random_tensor({c}, 12), random_tensor({c}, 13), random_tensor({c}, 14),
                     random_tensor({c}, 15, 0.5f, 1.0f), p.constant_params);
  const auto out = run_ok(call);
  const Tensor inplace = run_in_place(call);
  EXPECT_EQ(std::memcmp(inplace.data(), out[0].data(), inplace.nbytes()), 0);
}

std::vector<BnCase> batchnorm_cases() {
  std::vector<BnCase> cases;
  for (int64_t n : {1, 3}) {
    for (int64_t c : {1, 3, 13, 127}) {
      for (bool k : {true, false}) {
        cases.push_back({{n, c, 7, 9}, k});
        cases.push_back({{n, c}, k});
      }
    }
  }
  cases.push_back({{2, 5, 3}, true});
  cases.push_back({{2, 5, 3, 4, 2}, false});
  cases.push_back({{1, 2, 200, 90}, true});  // planes longer than one block
  cases.push_back({{0, 3, 4, 4}, true});     // empty batch
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Shapes, BatchNormTest, ::testing::ValuesIn(batchnorm_cases()),
                         [](const auto& info) {
                           return shape_name(info.param.shape) +
                                  (info.param.constant_params ? "_const" : "_runtime");
                         });

TEST(BatchNorm, LargeOffsetInputIsAccurate) {
  const Shape shape{3, 13, 11, 11};
  const Tensor x = offset_tensor(shape, 21, 1234.0f, 1.0f);
  const Tensor s = random_tensor({13}, 22, 0.5f, 1.5f);
  const Tensor b = random_tensor({13}, 23);
  const Tensor m = filled({13}, 1234.0f);
  const Tensor v = random_tensor({13}, 25, 0.5f, 2.0f);
  const auto out = run_ok(batchnorm_call(x, s, b, m, v, true));
  const auto ref = ref::batchnorm(f32(x), shape, f32(s), f32(b), f32(m), f32(v), 1e-5);
  // y = x * a + b rounds x * a (~1234 * a) once: an absolute error of a few ulps of 2000.
  EXPECT_TRUE(all_close(f32(out[0]), ref.data(), x.numel(), 5e-4, 1e-5));
}

TEST(BatchNorm, SpatialZeroUsesPerActivationParameters) {
  const Shape shape{3, 2, 3, 4};
  const Shape pshape{2, 3, 4};
  const Tensor x = random_tensor(shape, 31);
  const Tensor s = random_tensor(pshape, 32), b = random_tensor(pshape, 33);
  const Tensor m = random_tensor(pshape, 34), v = random_tensor(pshape, 35, 0.5f, 2.0f);
  for (bool constant : {true, false}) {
    OpCall call = batchnorm_call(x, s, b, m, v, constant, 7);
    call.attributes["spatial"] = attr_int(0);
    const auto out = run_ok(call);
    // Per activation = BatchNorm1d over the flattened [N, C*H*W].
    const Shape flat{3, 24};
    const auto ref = ref::batchnorm(f32(x), flat, f32(s), f32(b), f32(m), f32(v), 1e-5);
    EXPECT_TRUE(all_close(f32(out[0]), ref.data(), x.numel(), kAtol, kRtol));
  }
}

TEST(BatchNorm, OldOpsetsWithIsTestRun) {
  const Tensor x = random_tensor({2, 3, 4, 4}, 41);
  const Tensor s = random_tensor({3}, 42), b = random_tensor({3}, 43), m = random_tensor({3}, 44);
  const Tensor v = random_tensor({3}, 45, 0.5f, 1.0f);
  const auto ref = ref::batchnorm(f32(x), x.shape(), f32(s), f32(b), f32(m), f32(v), 1e-5);
  for (int opset : {1, 6, 7, 9, 14}) {
    OpCall call = batchnorm_call(x, s, b, m, v, true, opset);
    if (opset < 7) call.attributes["is_test"] = attr_int(1);
    const auto out = run_ok(call);
    ASSERT_EQ(out.size(), 1u) << "opset " << opset;
    EXPECT_TRUE(all_close(f32(out[0]), ref.data(), x.numel(), kAtol, kRtol)) << "opset " << opset;
  }
}

TEST(BatchNorm, ThreadCountDoesNotChangeBits) {
  const Tensor x = random_tensor({3, 13, 40, 41}, 51);
  expect_thread_invariant(batchnorm_call(x, random_tensor({13}, 52), random_tensor({13}, 53),
                                         random_tensor({13}, 54),
                                         random_tensor({13}, 55, 0.5f, 1.0f), false));
  const Tensor x1d = random_tensor({300, 127}, 56);
  expect_thread_invariant(batchnorm_call(x1d, random_tensor({127}, 57), random_tensor({127}, 58),
                                         random_tensor({127}, 59),
                                         random_tensor({127}, 60, 0.5f, 1.0f), true));
}

TEST(BatchNorm, TrainingModeIsUnsupported) {
  const Tensor x = random_tensor({2, 3, 4, 5}, 61);
  const Tensor p = random_tensor({3}, 62, 0.5f, 1.0f);
  OpCall call = batchnorm_call(x, p, p, p, p, false);
  call.attributes["training_mode"] = attr_int(1);
  call.num_outputs = 3;
  EXPECT_EQ(run_code(call), StatusCode::kUnsupported);
}

TEST(BatchNorm, UsedStatisticsOutputsAreUnsupported) {
  const Tensor x = random_tensor({2, 3, 4, 5}, 63);
  const Tensor p = random_tensor({3}, 64, 0.5f, 1.0f);
  OpCall call = batchnorm_call(x, p, p, p, p, true, 9);
  call.num_outputs = 5;
  EXPECT_EQ(prepare_with_used_outputs(call, {0, 3}).code(), StatusCode::kUnsupported);
  // Declared but unused statistics outputs are fine.
  EXPECT_TRUE(prepare_with_used_outputs(call, {0}).is_ok());
}

TEST(BatchNorm, RejectsBadInputs) {
  const Tensor x = random_tensor({2, 3, 4, 5}, 71);
  const Tensor p3 = random_tensor({3}, 72, 0.5f, 1.0f);
  const Tensor p4 = random_tensor({4}, 73, 0.5f, 1.0f);
  // Parameter length differs from C.
  EXPECT_EQ(run_code(batchnorm_call(x, p3, p3, p4, p3, true)), StatusCode::kInvalidModel);
  EXPECT_EQ(run_code(batchnorm_call(x, p3, p4, p3, p3, false)), StatusCode::kInvalidModel);
  // Parameter of rank 2.
  const Tensor p13 = random_tensor({1, 3}, 74);
  EXPECT_EQ(run_code(batchnorm_call(x, p13, p3, p3, p3, true)), StatusCode::kInvalidModel);
  // X of rank 1.
  const Tensor x1 = random_tensor({3}, 75);
  EXPECT_EQ(run_code(batchnorm_call(x1, p3, p3, p3, p3, true)), StatusCode::kInvalidModel);
  // Four inputs.
  OpCall four = batchnorm_call(x, p3, p3, p3, p3, true);
  four.inputs.pop_back();
  EXPECT_EQ(run_code(four), StatusCode::kInvalidModel);
  // var + epsilon <= 0 in a constant parameter.
  const Tensor negvar = Tensor::from_vector<float>({3}, {1.0f, -2.0f, 1.0f});
  EXPECT_EQ(run_code(batchnorm_call(x, p3, p3, p3, negvar, true)), StatusCode::kInvalidModel);
  // Wrong attribute kind.
  OpCall bad_eps = batchnorm_call(x, p3, p3, p3, p3, true);
  bad_eps.attributes["epsilon"] = attr_int(1);
  EXPECT_NE(run_code(bad_eps), StatusCode::kOk);
  // Non-float input.
  const Tensor xi = Tensor::from_vector<int64_t>({1, 3}, {1, 2, 3});
  EXPECT_EQ(run_code(batchnorm_call(xi, p3, p3, p3, p3, true)), StatusCode::kUnsupported);
  // spatial=0 with per-channel parameters on a [N, C, H, W] input.
  OpCall spatial0 = batchnorm_call(x, p3, p3, p3, p3, true, 7);
  spatial0.attributes["spatial"] = attr_int(0);
  EXPECT_EQ(run_code(spatial0), StatusCode::kInvalidModel);
}

// ---------------------------------------------------------------------------------------------
// LayerNormalization and RMSNormalization

struct LnCase {
  Shape shape;
  int64_t axis;
};

std::vector<LnCase> last_axes_cases() {
  return {{{3, 13}, -1},     {{1, 127}, 1},      {{3, 4, 13}, -1},    {{2, 3, 127}, 1},
          {{2, 3, 4, 5}, 0}, {{3, 1}, -1},       {{13, 3, 3}, -2},    {{1, 1, 1}, 2},
          {{5, 300}, 1},     {{2, 3, 7, 13}, 2}, {{1, 3, 17, 31}, -3}};
}

int64_t axis_of(const LnCase& c) {
  return c.axis < 0 ? c.axis + static_cast<int64_t>(c.shape.size()) : c.axis;
}
Shape norm_shape_of(const LnCase& c) { return Shape(c.shape.begin() + axis_of(c), c.shape.end()); }
int64_t rows_of(const LnCase& c) { return numel(c.shape) / numel(norm_shape_of(c)); }

std::string ln_name(const ::testing::TestParamInfo<LnCase>& info) {
  return shape_name(info.param.shape) + "_axis" + (info.param.axis < 0 ? "m" : "") +
         std::to_string(std::abs(info.param.axis));
}

class LayerNormTest : public ::testing::TestWithParam<LnCase> {};

TEST_P(LayerNormTest, MatchesReferenceWithStatistics) {
  const LnCase& p = GetParam();
  const Shape ns = norm_shape_of(p);
  const Tensor x = random_tensor(p.shape, 101);
  const Tensor s = random_tensor(ns, 102);
  const Tensor b = random_tensor(ns, 103);
  for (bool constant : {true, false}) {
    OpCall call = op_call("LayerNormalization", 17);
    call.attributes["axis"] = attr_int(p.axis);
    call.inputs = {in(x, false), in(s, constant), in(b, constant)};
    call.num_outputs = 3;
    const auto out = run_ok(call);
    ASSERT_EQ(out.size(), 3u);
    std::vector<double> mean, inv;
    const auto ref = ref::layernorm(f32(x), p.shape, axis_of(p), f32(s), f32(b), 1e-5, &mean, &inv);
    EXPECT_EQ(out[0].shape(), p.shape);
    Shape stat_shape(p.shape.begin(), p.shape.begin() + axis_of(p));
    stat_shape.resize(p.shape.size(), 1);
    EXPECT_EQ(out[1].shape(), stat_shape);
    EXPECT_EQ(out[2].shape(), stat_shape);
    // A length-1 row normalizes to 0 and its y is B: the reference has no zeros to worry about.
    EXPECT_TRUE(all_close(f32(out[0]), ref.data(), x.numel(), kAtol, kRtol));
    EXPECT_TRUE(all_close(f32(out[1]), mean.data(), rows_of(p), 1e-6, kRtol));
    EXPECT_TRUE(all_close(f32(out[2]), inv.data(), rows_of(p), kAtol, kRtol));
  }
}

TEST_P(LayerNormTest, WithoutBiasAndOneOutput) {
  const LnCase& p = GetParam();
  const Shape ns = norm_shape_of(p);
  const Tensor x = random_tensor(p.shape, 111);
  const Tensor s = random_tensor(ns, 112);
  OpCall call = op_call("LayerNormalization", 17);
  call.attributes["axis"] = attr_int(p.axis);
  call.inputs = {in(x, false), in(s, true)};
  const auto out = run_ok(call);
  ASSERT_EQ(out.size(), 1u);
  const auto ref = ref::layernorm(f32(x), p.shape, axis_of(p), f32(s), nullptr, 1e-5);
  EXPECT_TRUE(all_close(f32(out[0]), ref.data(), x.numel(), kAtol, kRtol,
                        /*allow_zeros=*/numel(ns) == 1));
}

TEST_P(LayerNormTest, LargeOffsetRowsAreAccurate) {
  const LnCase& p = GetParam();
  if (numel(norm_shape_of(p)) < 2) GTEST_SKIP() << "one-element rows have no spread";
  const Shape ns = norm_shape_of(p);
  const Tensor x = offset_tensor(p.shape, 121, 1234.0f, 0.01f);
  const Tensor s = random_tensor(ns, 122);
  const Tensor b = random_tensor(ns, 123);
  OpCall call = op_call("LayerNormalization", 17);
  call.attributes["axis"] = attr_int(p.axis);
  call.inputs = {in(x, false), in(s, true), in(b, true)};
  const auto out = run_ok(call);
  const auto ref = ref::layernorm(f32(x), p.shape, axis_of(p), f32(s), f32(b), 1e-5);
  EXPECT_TRUE(all_close(f32(out[0]), ref.data(), x.numel(), 1e-5, 1e-4));
}

TEST_P(LayerNormTest, InPlaceMatchesOutOfPlace) {
  const LnCase& p = GetParam();
  const Shape ns = norm_shape_of(p);
  OpCall call = op_call("LayerNormalization", 17);
  call.attributes["axis"] = attr_int(p.axis);
  call.inputs = {in(random_tensor(p.shape, 131), false), in(random_tensor(ns, 132), true),
                 in(random_tensor(ns, 133), false)};
  const auto out = run_ok(call);
  const Tensor inplace = run_in_place(call);
  EXPECT_EQ(std::memcmp(inplace.data(), out[0].data(), inplace.nbytes()), 0);
}

INSTANTIATE_TEST_SUITE_P(Shapes, LayerNormTest, ::testing::ValuesIn(last_axes_cases()), ln_name);

TEST(LayerNorm, ConstantRowsGiveBiasAndFiniteStatistics) {
  const Shape shape{3, 127};
  const Tensor x = filled(shape, 1234.567f);
  const Tensor s = random_tensor({127}, 141);
  const Tensor b = random_tensor({127}, 142);
  OpCall call = op_call("LayerNormalization", 17);
  call.inputs = {in(x, false), in(s, true), in(b, true)};
  call.num_outputs = 3;
  const auto out = run_ok(call);
  for (int64_t r = 0; r < 3; ++r) {
    for (int64_t i = 0; i < 127; ++i) EXPECT_EQ(f32(out[0])[r * 127 + i], f32(b)[i]);
    EXPECT_EQ(f32(out[1])[r], 1234.567f);
    EXPECT_FLOAT_EQ(f32(out[2])[r], static_cast<float>(1.0 / std::sqrt(1e-5)));
  }
}

TEST(LayerNorm, ScaleAndBiasBroadcastToTheNormalizedShape) {
  const Shape shape{4, 3, 5};
  const Tensor x = random_tensor(shape, 151);
  const Tensor s = random_tensor({5}, 152);        // normalized shape [3, 5]
  const Tensor b = random_tensor({1, 1, 5}, 153);  // extra leading 1s
  std::vector<float> se(15), be(15);
  for (int i = 0; i < 15; ++i) {
    se[i] = f32(s)[i % 5];
    be[i] = f32(b)[i % 5];
  }
  const auto ref = ref::layernorm(f32(x), shape, 1, se.data(), be.data(), 1e-5);
  for (bool constant : {true, false}) {
    OpCall call = op_call("LayerNormalization", 17);
    call.attributes["axis"] = attr_int(1);
    call.inputs = {in(x, false), in(s, constant), in(b, constant)};
    const auto out = run_ok(call);
    EXPECT_TRUE(all_close(f32(out[0]), ref.data(), x.numel(), kAtol, kRtol));
  }
}

TEST(LayerNorm, LongSingleRowSplitsAcrossThreadsWithSameBits) {
  const Shape shape{1, 100003};
  const Tensor x = offset_tensor(shape, 161, 50.0f, 3.0f);
  const Tensor s = random_tensor({100003}, 162);
  const Tensor b = random_tensor({100003}, 163);
  OpCall call = op_call("LayerNormalization", 17);
  call.inputs = {in(x, false), in(s, false), in(b, true)};
  call.num_outputs = 3;
  expect_thread_invariant(call);
  call.threads = 7;
  const auto out = run_ok(call);
  std::vector<double> mean, inv;
  const auto ref = ref::layernorm(f32(x), shape, 1, f32(s), f32(b), 1e-5, &mean, &inv);
  EXPECT_TRUE(all_close(f32(out[0]), ref.data(), x.numel(), kAtol, kRtol));
  EXPECT_TRUE(all_close(f32(out[1]), mean.data(), 1, 1e-6, 1e-7));
  EXPECT_TRUE(all_close(f32(out[2]), inv.data(), 1, 0.0, 1e-6));
}

TEST(LayerNorm, ManyRowsThreadInvariant) {
  OpCall call = op_call("LayerNormalization", 17);
  call.inputs = {in(random_tensor({257, 384}, 171), false), in(random_tensor({384}, 172), true),
                 in(random_tensor({384}, 173), true)};
  call.num_outputs = 3;
  expect_thread_invariant(call);
}

TEST(LayerNorm, RejectsBadInputs) {
  const Tensor x = random_tensor({2, 3, 5}, 181);
  const Tensor s = random_tensor({5}, 182);
  OpCall call = op_call("LayerNormalization", 17);
  call.inputs = {in(x, false), in(s, true)};
  call.attributes["axis"] = attr_int(3);
  EXPECT_EQ(run_code(call), StatusCode::kInvalidModel);
  call.attributes["axis"] = attr_int(-4);
  EXPECT_EQ(run_code(call), StatusCode::kInvalidModel);
  call.attributes["axis"] = attr_int(1);  // normalized shape [3, 5]: [5] broadcasts
  EXPECT_EQ(run_code(call), StatusCode::kOk);
  call.inputs[1] = in(random_tensor({3}, 183), true);  // [3] does not
  EXPECT_EQ(run_code(call), StatusCode::kInvalidModel);
  call.inputs[1] = in(random_tensor({2, 3, 5}, 184), true);  // batch dim 2 is not the norm shape
  EXPECT_EQ(run_code(call), StatusCode::kInvalidModel);
  call.inputs = {in(x, false)};  // no Scale
  EXPECT_EQ(run_code(call), StatusCode::kInvalidModel);
  call.inputs = {in(x, false), in(s, true)};
  call.attributes["epsilon"] = attr_float(-1.0f);
  EXPECT_EQ(run_code(call), StatusCode::kInvalidModel);
  call.attributes.erase("epsilon");
  call.attributes["stash_type"] = attr_int(11);
  call.num_outputs = 3;
  EXPECT_EQ(prepare_with_used_outputs(call, {0, 1}).code(), StatusCode::kUnsupported);
  EXPECT_TRUE(prepare_with_used_outputs(call, {0}).is_ok());
}

class RmsNormTest : public ::testing::TestWithParam<LnCase> {};

TEST_P(RmsNormTest, MatchesReference) {
  const LnCase& p = GetParam();
  const Shape ns = norm_shape_of(p);
  const Tensor x = random_tensor(p.shape, 201);
  const Tensor s = random_tensor(ns, 202);
  for (bool constant : {true, false}) {
    OpCall call = op_call("RMSNormalization", 23);
    call.attributes["axis"] = attr_int(p.axis);
    call.attributes["epsilon"] = attr_float(1e-4f);
    call.inputs = {in(x, false), in(s, constant)};
    const auto out = run_ok(call);
    const auto ref = ref::rmsnorm(f32(x), p.shape, axis_of(p), f32(s), 1e-4);
    EXPECT_TRUE(all_close(f32(out[0]), ref.data(), x.numel(), kAtol, kRtol));
  }
}

TEST_P(RmsNormTest, LargeValuesAreAccurate) {
  const LnCase& p = GetParam();
  const Shape ns = norm_shape_of(p);
  const Tensor x = offset_tensor(p.shape, 211, 1234.0f, 0.01f);
  const Tensor s = random_tensor(ns, 212);
  OpCall call = op_call("RMSNormalization", 23);
  call.attributes["axis"] = attr_int(p.axis);
  call.inputs = {in(x, false), in(s, true)};
  const auto out = run_ok(call);
  const auto ref = ref::rmsnorm(f32(x), p.shape, axis_of(p), f32(s), 1e-5);
  EXPECT_TRUE(all_close(f32(out[0]), ref.data(), x.numel(), kAtol, kRtol));
}

INSTANTIATE_TEST_SUITE_P(Shapes, RmsNormTest, ::testing::ValuesIn(last_axes_cases()), ln_name);

TEST(RmsNorm, ZeroRowIsZeroAndScaleBroadcasts) {
  const Shape shape{3, 2, 13};
  const Tensor x = filled(shape, 0.0f);
  OpCall call = op_call("RMSNormalization", 23);
  call.attributes["axis"] = attr_int(1);
  call.inputs = {in(x, false), in(random_tensor({1, 13}, 221), false)};
  const auto out = run_ok(call);
  for (int64_t i = 0; i < x.numel(); ++i) EXPECT_EQ(f32(out[0])[i], 0.0f);
}

TEST(RmsNorm, ThreadCountDoesNotChangeBits) {
  OpCall call = op_call("RMSNormalization", 23);
  call.inputs = {in(random_tensor({129, 512}, 231), false), in(random_tensor({512}, 232), true)};
  expect_thread_invariant(call);
  OpCall longrow = op_call("RMSNormalization", 23);
  longrow.attributes["axis"] = attr_int(0);
  longrow.inputs = {in(random_tensor({2, 40000}, 233), false),
                    in(random_tensor({2, 40000}, 234), true)};
  expect_thread_invariant(longrow);
}

TEST(RmsNorm, RejectsBadInputs) {
  const Tensor x = random_tensor({2, 5}, 241);
  OpCall call = op_call("RMSNormalization", 23);
  call.inputs = {in(x, false), in(random_tensor({4}, 242), true)};
  EXPECT_EQ(run_code(call), StatusCode::kInvalidModel);
  call.inputs = {in(x, false), in(random_tensor({5}, 243), true), in(random_tensor({5}, 244))};
  EXPECT_EQ(run_code(call), StatusCode::kInvalidModel);
  call.inputs = {in(x, false), in(random_tensor({5}, 243), true)};
  call.attributes["axis"] = attr_int(2);
  EXPECT_EQ(run_code(call), StatusCode::kInvalidModel);
  call.opset = 22;
  EXPECT_EQ(run_code(call), StatusCode::kUnsupported);  // no RMSNormalization before opset 23
}

// ---------------------------------------------------------------------------------------------
// InstanceNormalization

struct ChannelCase {
  int64_t n, c;
  Shape spatial;
};

std::string channel_name(const ::testing::TestParamInfo<ChannelCase>& info) {
  return "n" + std::to_string(info.param.n) + "_c" + std::to_string(info.param.c) + "_" +
         shape_name(info.param.spatial);
}

std::vector<ChannelCase> channel_cases() {
  std::vector<ChannelCase> cases;
  for (int64_t n : {1, 3}) {
    for (int64_t c : {1, 3, 13, 127}) cases.push_back({n, c, {5, 7}});
  }
  cases.push_back({2, 3, {1}});
  cases.push_back({2, 4, {3, 4, 5}});
  cases.push_back({1, 2, {300, 121}});  // planes longer than one statistics block
  return cases;
}

Shape full_shape(const ChannelCase& p) {
  Shape s{p.n, p.c};
  s.insert(s.end(), p.spatial.begin(), p.spatial.end());
  return s;
}

class InstanceNormTest : public ::testing::TestWithParam<ChannelCase> {};

TEST_P(InstanceNormTest, MatchesReference) {
  const ChannelCase& p = GetParam();
  const Shape shape = full_shape(p);
  const Tensor x = random_tensor(shape, 301);
  const Tensor s = random_tensor({p.c}, 302);
  const Tensor b = random_tensor({p.c}, 303);
  const bool one = numel(p.spatial) == 1;  // a one-element plane normalizes to 0 -> y = B
  for (bool constant : {true, false}) {
    OpCall call = op_call("InstanceNormalization", 22);
    call.inputs = {in(x, false), in(s, constant), in(b, constant)};
    const auto out = run_ok(call);
    const auto ref = ref::instancenorm(f32(x), shape, f32(s), f32(b), 1e-5);
    EXPECT_TRUE(all_close(f32(out[0]), ref.data(), x.numel(), kAtol, kRtol, one));
  }
}

TEST_P(InstanceNormTest, LargeOffsetAndConstantPlanes) {
  const ChannelCase& p = GetParam();
  const Shape shape = full_shape(p);
  const Tensor s = random_tensor({p.c}, 312);
  const Tensor b = random_tensor({p.c}, 313);
  OpCall call = op_call("InstanceNormalization", 6);
  call.attributes["epsilon"] = attr_float(1e-6f);
  const Tensor x = offset_tensor(shape, 311, 1234.0f, 0.01f);
  call.inputs = {in(x, false), in(s, true), in(b, true)};
  auto out = run_ok(call);
  auto ref = ref::instancenorm(f32(x), shape, f32(s), f32(b), 1e-6);
  EXPECT_TRUE(all_close(f32(out[0]), ref.data(), x.numel(), 1e-5, 1e-4, numel(p.spatial) == 1));

  const Tensor flat = filled(shape, -1234.5f);
  call.inputs[0] = in(flat, false);
  out = run_ok(call);
  for (int64_t i = 0; i < flat.numel(); ++i) {
    ASSERT_EQ(f32(out[0])[i], f32(b)[(i / numel(p.spatial)) % p.c]) << "element " << i;
  }
}

TEST_P(InstanceNormTest, ThreadCountDoesNotChangeBits) {
  const ChannelCase& p = GetParam();
  OpCall call = op_call("InstanceNormalization", 22);
  call.inputs = {in(random_tensor(full_shape(p), 321), false), in(random_tensor({p.c}, 322), false),
                 in(random_tensor({p.c}, 323), true)};
  expect_thread_invariant(call);
}

INSTANTIATE_TEST_SUITE_P(Shapes, InstanceNormTest, ::testing::ValuesIn(channel_cases()),
                         channel_name);

TEST(InstanceNorm, RejectsBadInputs) {
  const Tensor x = random_tensor({2, 3, 4}, 331);
  const Tensor p3 = random_tensor({3}, 332);
  OpCall call = op_call("InstanceNormalization", 22);
  call.inputs = {in(x, false), in(p3), in(random_tensor({4}, 333))};
  EXPECT_EQ(run_code(call), StatusCode::kInvalidModel);
  call.inputs = {in(random_tensor({2, 3}, 334), false), in(p3), in(p3)};  // rank 2
  EXPECT_EQ(run_code(call), StatusCode::kInvalidModel);
  call.inputs = {in(x, false), in(p3)};
  EXPECT_EQ(run_code(call), StatusCode::kInvalidModel);
  call.inputs = {in(x, false), in(p3), in(random_tensor({3, 1}, 335))};
  EXPECT_EQ(run_code(call), StatusCode::kInvalidModel);
}

// ---------------------------------------------------------------------------------------------
// GroupNormalization: opset 18 scales per group, opset 21 per channel.

struct GroupCase {
  Shape shape;
  int64_t groups;
  int opset;
};

class GroupNormTest : public ::testing::TestWithParam<GroupCase> {};

TEST_P(GroupNormTest, MatchesReference) {
  const GroupCase& p = GetParam();
  const bool per_channel = p.opset >= 21;
  const int64_t plen = per_channel ? p.shape[1] : p.groups;
  const Tensor x = random_tensor(p.shape, 401);
  const Tensor s = random_tensor({plen}, 402);
  const Tensor b = random_tensor({plen}, 403);
  const auto ref = ref::groupnorm(f32(x), p.shape, p.groups, f32(s), f32(b), 1e-5, per_channel);
  for (bool constant : {true, false}) {
    OpCall call = op_call("GroupNormalization", p.opset);
    call.attributes["num_groups"] = attr_int(p.groups);
    call.inputs = {in(x, false), in(s, constant), in(b, constant)};
    const auto out = run_ok(call);
    EXPECT_TRUE(all_close(f32(out[0]), ref.data(), x.numel(), kAtol, kRtol));
  }
  OpCall call = op_call("GroupNormalization", p.opset);
  call.attributes["num_groups"] = attr_int(p.groups);
  call.inputs = {in(x, false), in(s, false), in(b, true)};
  expect_thread_invariant(call);
}

TEST_P(GroupNormTest, LargeOffsetIsAccurate) {
  const GroupCase& p = GetParam();
  const bool per_channel = p.opset >= 21;
  const int64_t plen = per_channel ? p.shape[1] : p.groups;
  const Tensor x = offset_tensor(p.shape, 411, 1234.0f, 0.01f);
  const Tensor s = random_tensor({plen}, 412);
  const Tensor b = random_tensor({plen}, 413);
  OpCall call = op_call("GroupNormalization", p.opset);
  call.attributes["num_groups"] = attr_int(p.groups);
  call.inputs = {in(x, false), in(s, true), in(b, true)};
  const auto out = run_ok(call);
  const auto ref = ref::groupnorm(f32(x), p.shape, p.groups, f32(s), f32(b), 1e-5, per_channel);
  EXPECT_TRUE(all_close(f32(out[0]), ref.data(), x.numel(), 1e-5, 1e-4));
}

std::vector<GroupCase> group_cases() {
  std::vector<GroupCase> cases;
  for (int opset : {18, 21}) {
    cases.push_back({{1, 12, 5, 7}, 3, opset});
    cases.push_back({{3, 12, 5, 7}, 4, opset});
    cases.push_back({{3, 13, 3, 3}, 1, opset});
    cases.push_back({{1, 3, 9, 9}, 3, opset});
    cases.push_back({{3, 127, 2, 2}, 127, opset});
    cases.push_back({{2, 6, 11}, 2, opset});
    cases.push_back({{2, 8}, 4, opset});
    cases.push_back({{1, 4, 150, 150}, 2, opset});  // long rows, split when few
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Shapes, GroupNormTest, ::testing::ValuesIn(group_cases()),
                         [](const auto& info) {
                           return shape_name(info.param.shape) + "_g" +
                                  std::to_string(info.param.groups) + "_opset" +
                                  std::to_string(info.param.opset);
                         });

TEST(GroupNorm, Opset18And21DifferOnlyInScaleLayout) {
  // Per-channel parameters that are constant within each group give the opset-18 result.
  const Shape shape{2, 6, 4, 3};
  const Tensor x = random_tensor(shape, 421);
  const Tensor sg = Tensor::from_vector<float>({3}, {0.5f, -1.5f, 2.0f});
  const Tensor bg = Tensor::from_vector<float>({3}, {1.0f, 0.25f, -3.0f});
  const Tensor sc = Tensor::from_vector<float>({6}, {0.5f, 0.5f, -1.5f, -1.5f, 2.0f, 2.0f});
  const Tensor bc = Tensor::from_vector<float>({6}, {1.0f, 1.0f, 0.25f, 0.25f, -3.0f, -3.0f});
  OpCall c18 = op_call("GroupNormalization", 18);
  c18.attributes["num_groups"] = attr_int(3);
  c18.inputs = {in(x, false), in(sg), in(bg)};
  OpCall c21 = c18;
  c21.opset = 21;
  c21.inputs = {in(x, false), in(sc), in(bc)};
  const auto o18 = run_ok(c18);
  const auto o21 = run_ok(c21);
  EXPECT_TRUE(all_close(f32(o18[0]), f32(o21[0]), x.numel(), 1e-6, 1e-6));
  // The other layout is rejected at each opset.
  c18.inputs = {in(x, false), in(sc), in(bc)};
  EXPECT_EQ(run_code(c18), StatusCode::kInvalidModel);
  c21.inputs = {in(x, false), in(sg), in(bg)};
  EXPECT_EQ(run_code(c21), StatusCode::kInvalidModel);
}

TEST(GroupNorm, RejectsBadInputs) {
  const Tensor x = random_tensor({2, 6, 4}, 431);
  const Tensor p6 = random_tensor({6}, 432);
  OpCall call = op_call("GroupNormalization", 21);
  call.inputs = {in(x, false), in(p6), in(p6)};
  EXPECT_EQ(run_code(call), StatusCode::kInvalidModel);  // num_groups missing
  call.attributes["num_groups"] = attr_int(4);           // 6 % 4 != 0
  EXPECT_EQ(run_code(call), StatusCode::kInvalidModel);
  call.attributes["num_groups"] = attr_int(0);
  EXPECT_EQ(run_code(call), StatusCode::kInvalidModel);
  call.attributes["num_groups"] = attr_int(3);
  EXPECT_EQ(run_code(call), StatusCode::kOk);
  call.inputs = {in(random_tensor({6}, 433), false), in(p6), in(p6)};  // rank 1
  EXPECT_EQ(run_code(call), StatusCode::kInvalidModel);
  call.opset = 17;
  EXPECT_EQ(run_code(call), StatusCode::kUnsupported);  // no GroupNormalization before 18
}

// ---------------------------------------------------------------------------------------------
// LRN

struct LrnCase {
  Shape shape;
  int64_t size;
  float alpha, beta, bias;
};

class LrnTest : public ::testing::TestWithParam<LrnCase> {};

TEST_P(LrnTest, MatchesReference) {
  const LrnCase& p = GetParam();
  const Tensor x = random_tensor(p.shape, 501, -3.0f, 3.0f);
  OpCall call = op_call("LRN", 13);
  call.attributes["size"] = attr_int(p.size);
  call.attributes["alpha"] = attr_float(p.alpha);
  call.attributes["beta"] = attr_float(p.beta);
  call.attributes["bias"] = attr_float(p.bias);
  call.inputs = {in(x, false)};
  const auto ref = ref::lrn(f32(x), p.shape, p.size, p.alpha, p.beta, p.bias);
  // Every ISA tier the host has (the power step is a per-ISA ukernel).
  for (Isa isa : {Isa::kSse2, Isa::kAvx2, Isa::kAvx512}) {
    if (static_cast<int>(isa) > static_cast<int>(detected_isa())) continue;
    SCOPED_TRACE(isa_name(isa));
    set_isa_cap_for_testing(isa);
    const auto out = run_ok(call);
    EXPECT_TRUE(all_close(f32(out[0]), ref.data(), x.numel(), kAtol, kRtol));
    expect_thread_invariant(call);
  }
  set_isa_cap_for_testing(std::nullopt);
}

std::vector<LrnCase> lrn_cases() {
  std::vector<LrnCase> cases;
  for (int64_t c : {1, 3, 13, 127}) {
    for (int64_t size : {1, 2, 3, 5}) cases.push_back({{2, c, 5, 7}, size, 0.1f, 0.75f, 1.0f});
  }
  cases.push_back({{3, 13, 9}, 4, 0.2f, 0.5f, 2.0f});
  cases.push_back({{1, 13, 40, 40}, 5, 1e-4f, 0.75f, 1.0f});  // planes longer than one block
  cases.push_back({{2, 7, 6, 6}, 3, 0.5f, 1.0f, 1.5f});
  cases.push_back({{2, 7, 6, 6}, 3, 0.5f, 0.6f, 1.5f});
  cases.push_back({{2, 7, 6, 6}, 9, 0.5f, 0.75f, 0.5f});  // window wider than C
  cases.push_back({{4, 9}, 3, 0.3f, 0.75f, 1.0f});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Shapes, LrnTest, ::testing::ValuesIn(lrn_cases()), [](const auto& info) {
  const LrnCase& p = info.param;
  return shape_name(p.shape) + "_size" + std::to_string(p.size) + "_beta" +
         std::to_string(static_cast<int>(p.beta * 100));
});

TEST(Lrn, RejectsBadAttributes) {
  OpCall call = op_call("LRN", 13);
  call.inputs = {in(random_tensor({1, 3, 4, 4}, 511), false)};
  EXPECT_EQ(run_code(call), StatusCode::kInvalidModel);  // size missing
  call.attributes["size"] = attr_int(0);
  EXPECT_EQ(run_code(call), StatusCode::kInvalidModel);
  call.attributes["size"] = attr_float(3.0f);
  EXPECT_NE(run_code(call), StatusCode::kOk);
  call.attributes["size"] = attr_int(3);
  call.attributes["beta"] = attr_float(std::nanf(""));
  EXPECT_EQ(run_code(call), StatusCode::kInvalidModel);
  call.attributes.erase("beta");
  EXPECT_EQ(run_code(call), StatusCode::kOk);
  call.inputs = {in(random_tensor({3}, 512), false)};
  EXPECT_EQ(run_code(call), StatusCode::kInvalidModel);
}

// ---------------------------------------------------------------------------------------------
// MeanVarianceNormalization

struct MvnCase {
  Shape shape;
  std::vector<int64_t> axes;  // empty: default [0, 2, 3]
};

class MvnTest : public ::testing::TestWithParam<MvnCase> {};

std::vector<int64_t> positive_axes(const MvnCase& p) {
  std::vector<int64_t> axes = p.axes.empty() ? std::vector<int64_t>{0, 2, 3} : p.axes;
  for (int64_t& a : axes) a = a < 0 ? a + static_cast<int64_t>(p.shape.size()) : a;
  return axes;
}

TEST_P(MvnTest, MatchesReference) {
  const MvnCase& p = GetParam();
  for (bool offset : {false, true}) {
    const Tensor x =
        offset ? offset_tensor(p.shape, 601, 1234.0f, 0.01f) : random_tensor(p.shape, 602);
    OpCall call = op_call("MeanVarianceNormalization", 13);
    if (!p.axes.empty()) call.attributes["axes"] = attr_ints(p.axes);
    call.inputs = {in(x, false)};
    const auto out = run_ok(call);
    const auto ref = ref::mvn(f32(x), p.shape, positive_axes(p));
    EXPECT_TRUE(all_close(f32(out[0]), ref.data(), x.numel(), 1e-5, offset ? 1e-4 : kRtol))
        << (offset ? "large offset" : "random");
    expect_thread_invariant(call);
  }
}

INSTANTIATE_TEST_SUITE_P(Axes, MvnTest,
                         ::testing::ValuesIn(std::vector<MvnCase>{{{3, 13, 5, 7}, {}},
                                                                  {{1, 3, 4, 5}, {}},
                                                                  {{3, 3, 3, 1}, {}},
                                                                  {{3, 13, 5, 7}, {2, 3}},
                                                                  {{3, 13, 5, 7}, {1}},
                                                                  {{3, 13, 5, 7}, {0, 1, 2, 3}},
                                                                  {{3, 13, 5, 7}, {-1, 1}},
                                                                  {{2, 127, 3}, {0, 2}},
                                                                  {{4, 64, 64, 3}, {0, 1, 2}}}),
                         [](const auto& info) {
                           std::string axes;
                           for (int64_t a : info.param.axes)
                             axes +=
                                 "_" + std::string(a < 0 ? "m" : "") + std::to_string(std::abs(a));
                           return shape_name(info.param.shape) + (axes.empty() ? "_default" : axes);
                         });

TEST(Mvn, ConstantInputGivesZeros) {
  OpCall call = op_call("MeanVarianceNormalization", 9);
  call.inputs = {in(filled({2, 3, 4, 5}, 77.25f), false)};
  const auto out = run_ok(call);
  for (int64_t i = 0; i < out[0].numel(); ++i) EXPECT_EQ(f32(out[0])[i], 0.0f);
}

TEST(Mvn, EmptyAxesReduceEverything) {
  const Tensor x = random_tensor({2, 3, 5}, 621);
  OpCall call = op_call("MeanVarianceNormalization", 13);
  call.attributes["axes"] = attr_ints({});
  call.inputs = {in(x, false)};
  const auto out = run_ok(call);
  const auto ref = ref::mvn(f32(x), x.shape(), {0, 1, 2});
  EXPECT_TRUE(all_close(f32(out[0]), ref.data(), x.numel(), kAtol, kRtol));
}

TEST(Mvn, RejectsBadAxes) {
  OpCall call = op_call("MeanVarianceNormalization", 13);
  call.inputs = {in(random_tensor({2, 3, 4}, 611), false)};
  EXPECT_EQ(run_code(call), StatusCode::kInvalidModel);  // default axes need rank 4
  call.attributes["axes"] = attr_ints({0, 3});
  EXPECT_EQ(run_code(call), StatusCode::kInvalidModel);
  call.attributes["axes"] = attr_ints({1, -2});
  EXPECT_EQ(run_code(call), StatusCode::kInvalidModel);  // duplicate
  call.attributes["axes"] = attr_ints({1, 2});
  EXPECT_EQ(run_code(call), StatusCode::kOk);
}

}  // namespace
}  // namespace keel
