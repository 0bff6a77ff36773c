#include "graph/layout.hpp"

namespace keel {

const char* layout_name(Layout layout) { return layout == Layout::kNhwc ? "NHWC" : "NCHW"; }

Result<LayoutOption> parse_layout_option(const std::string& name) {
  if (name == "nchw") return LayoutOption::kNchw;
  if (name == "nhwc") return LayoutOption::kNhwc;
  if (name == "auto") return LayoutOption::kAuto;
  return invalid_argument("layout '" + name + "': expected nchw, nhwc or auto");
}

const char* layout_option_name(LayoutOption option) {
  switch (option) {
    case LayoutOption::kNchw: return "nchw";
    case LayoutOption::kNhwc: return "nhwc";
    case LayoutOption::kAuto: break;
  }
  return "auto";
}

namespace {

// The NCHW / NHWC named by string attribute `attr` (`fallback` when absent).
Result<Layout> layout_attribute(const Node& node, const char* attr, Layout fallback) {
  const Attribute* a = node.find_attribute(attr);
  if (a == nullptr) return fallback;
  if (a->kind == AttributeKind::kString && a->s == "NCHW") return Layout::kNchw;
  if (a->kind == AttributeKind::kString && a->s == "NHWC") return Layout::kNhwc;
  return invalid_model(node.describe() + ": attribute " + attr + " is " +
                       (a->kind == AttributeKind::kString ? "'" + a->s + "'" : "not a string") +
                       ", expected NCHW or NHWC");
}

}  // namespace

Result<Layout> node_layout(const Node& node) {
  return layout_attribute(node, kLayoutAttr, Layout::kNchw);
}

Result<Layout> node_input_layout(const Node& node) {
  KEEL_ASSIGN_OR_RETURN(const Layout layout, node_layout(node));
  return layout_attribute(node, kInputLayoutAttr, layout);
}

}  // namespace keel
