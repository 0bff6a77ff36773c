#include "core/api_types.hpp"

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

const char* precision_name(Precision precision) {
  return precision == Precision::kBf16 ? "bf16" : "fp32";
}

Result<Precision> parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "bf16") return Precision::kBf16;
  return invalid_argument("precision '" + name + "': expected fp32 or bf16");
}

}  // namespace keel
