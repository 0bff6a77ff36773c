// The seam between passes and kernels (graph/fused_ops.hpp) is not reachable from a model file:
// keel's private domain and attribute prefix are refused at load by name, never a crash.
#include <gtest/gtest.h>

#include "support/pass_test_util.hpp"

namespace keel::testing {
namespace {

// A model that carries keel's private fusion marks itself (a forged or stale `keel fold`-like
// rewrite, with the attribute names keel once used) gets an error naming the node at load or at
// its first run, never a crash: the importer refuses the private prefix by name.
TEST(FusedConvMarks, ForgedMarksAreErrorsNotCrashes) {
  struct Forged {
    const char* name;
    std::vector<std::string> inputs;
    std::vector<std::string> outputs;
    const char* mark;
    LayoutOption layout;
  };
  const std::vector<Forged> cases = {
      {"gate of X's shape", {"x", "w", "bias", "", "x"}, {"y"}, "gate", LayoutOption::kNchw},
      {"gate of X's shape, NHWC", {"x", "w", "bias", "", "x"}, {"y"}, "gate", LayoutOption::kNhwc},
      {"gate missing", {"x", "w", "bias"}, {"y"}, "gate", LayoutOption::kNchw},
      {"input 3 without the residual mark",
       {"x", "w", "bias", "x", "x"},
       {"y"},
       "gate",
       LayoutOption::kNchw},
      {"pooling without a second output", {"x", "w", "bias"}, {"y"}, "pool", LayoutOption::kNhwc},
      {"expansion without its weights", {"x", "w", "bias"}, {"y"}, "expand", LayoutOption::kNhwc},
      {"expansion of the wrong shape",
       {"x", "w", "bias", "", "", "w"},
       {"y"},
       "expand",
       LayoutOption::kNhwc},
      {"expansion on NCHW", {"x", "w", "bias", "", "", "w"}, {"y"}, "expand", LayoutOption::kNchw},
  };
  uint32_t seed = 580;
  for (const Forged& f : cases) {
    SCOPED_TRACE(f.name);
    Rng rng(seed++);
    ModelBuilder b;
    b.input("x", {1, 8, 6, 6});
    rand_init(b, rng, "w", {8, 8, 1, 1});
    rand_init(b, rng, "bias", {8});
    onnx::NodeProto& conv = b.node("Conv", f.inputs, f.outputs, "conv");
    set_attr(conv, std::string(kPrivateAttributePrefix) + f.mark, int64_t{1});
    b.output("y");
    const std::string bytes = b.bytes();
    ModelOptions o;
    o.layout = f.layout;
    // The first step that fails (load, plan, run) must say what and where.
    Status st = Status::ok();
    auto m = Model::load_bytes(bytes.data(), bytes.size(), o);
    if (!m.is_ok()) {
      st = m.status();
    } else {
      auto s = Session::create(*m, {});
      if (!s.is_ok()) {
        st = s.status();
      } else {
        auto out = (*s)->run(random_feeds(**m));
        if (!out.is_ok()) st = out.status();
      }
    }
    ASSERT_FALSE(st.is_ok());
    EXPECT_NE(st.to_string().find("'conv'"), std::string::npos) << st.to_string();
  }
}

// The private channel is closed at the importer: an attribute with keel's private prefix, a node
// or an opset import in keel's private domain is INVALID_MODEL at load, naming the node.
TEST(FusedConvMarks, PrivateAttributesAndDomainAreRefusedAtLoad) {
  for (int what = 0; what < 3; ++what) {
    SCOPED_TRACE(what);
    Rng rng(590);
    ModelBuilder b;
    b.input("x", {1, 8, 6, 6});
    rand_init(b, rng, "w", {8, 8, 1, 1});
    onnx::NodeProto& conv = b.node("Conv", {"x", "w"}, {"y"}, "conv");
    if (what == 0) {
      set_attr(conv, std::string(kPrivateAttributePrefix) + "layout", std::string("NHWC"));
    }
    if (what >= 1) conv.set_domain(kKeelDomain);
    if (what == 1) conv.set_op_type(kFusedConv);
    b.output("y");
    if (what >= 1) {
      auto* op = b.proto().add_opset_import();
      op->set_domain(kKeelDomain);
      op->set_version(1);
    }
    const std::string bytes = b.bytes();
    auto m = Model::load_bytes(bytes.data(), bytes.size());
    ASSERT_FALSE(m.is_ok());
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidModel);
    const std::string msg = m.status().to_string();
    EXPECT_NE(msg.find(what == 0 ? "'conv'" : kKeelDomain), std::string::npos) << msg;
    EXPECT_NE(msg.find("private"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace keel::testing
