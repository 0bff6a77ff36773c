// Plain value types that the public API (include/keel/keel.hpp) shares with the internals: the
// activation layouts a caller chooses and the record of one fold or skip. Nothing here depends
// on the graph, the passes or the kernels, so the installed headers stop at this file.
#pragma once

#include <string>

#include "core/status.hpp"

namespace keel {

// The physical layout of a node's activations (graph/layout.hpp).
enum class Layout { kNchw, kNhwc };

// What a caller asks the loader for: one layout, or the rule of choose_layout (kAuto).
enum class LayoutOption { kNchw, kNhwc, kAuto };

const char* layout_name(Layout layout);  // "NCHW" / "NHWC"

// "nchw" | "nhwc" | "auto" (as the CLI and the C/Python APIs spell it).
Result<LayoutOption> parse_layout_option(const std::string& name);
const char* layout_option_name(LayoutOption option);

// The arithmetic of convolutions and matrix products: float32 throughout (the default), or
// weights rounded once to bfloat16 and products summed in float32 (passes/choose_precision.cpp).
enum class Precision { kFp32, kBf16 };

const char* precision_name(Precision precision);  // "fp32" / "bf16"
Result<Precision> parse_precision(const std::string& name);

// A byte count as the CLI and the server's parameters spell it: "1073741824", "512M", "2G",
// "64K" (powers of 1024; "MiB"/"GiB"/"KiB" too). 0 means no limit.
Result<size_t> parse_byte_size(const std::string& text);

// What choose_precision decided for one node a bfloat16 kernel could run.
struct PrecisionChoice {
  std::string node;
  std::string op_type;  // the standard operator ("Conv" for a fused one)
  Precision precision = Precision::kFp32;
  std::string reason;  // why it stays float32 ("" when it runs bfloat16)
};

// One fold a load pass made, or one it could not make and why (passes/pass.hpp).
struct FoldEvent {
  bool folded = false;
  std::string pass;    // "fold_batchnorm", ...
  std::string target;  // node that absorbed the other (folded) or the node kept (skipped)
  std::string source;  // node folded away (folded)
  std::string reason;  // why not (skipped) or what was done (folded)
};

}  // namespace keel
