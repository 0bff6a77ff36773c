#include "core/api_types.hpp"

#include <cstdint>

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

Result<size_t> parse_byte_size(const std::string& text) {
  size_t i = 0;
  uint64_t n = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    if (n > (UINT64_MAX - 9) / 10) break;
    n = n * 10 + static_cast<uint64_t>(text[i++] - '0');
  }
  const std::string unit = text.substr(i);
  int shift = -1;
  if (unit.empty() || unit == "B") shift = 0;
  if (unit == "K" || unit == "KiB") shift = 10;
  if (unit == "M" || unit == "MiB") shift = 20;
  if (unit == "G" || unit == "GiB") shift = 30;
  if (unit == "T" || unit == "TiB") shift = 40;
  if (i == 0 || shift < 0 || n > (uint64_t{SIZE_MAX} >> shift)) {
    return invalid_argument("byte size '" + text +
                            "': expected a whole number with an optional K, M, G or T suffix");
  }
  return static_cast<size_t>(n << shift);
}

}  // namespace keel
