// The convolution family as one ordered list of implementations (oneDNN's implementation lists
// are the model): each entry says whether it runs a descriptor and, when not, why; make_conv
// takes the first that does (or the one the execution options force), once, at plan time, and
// records the declines before it (PrepareContext::dispatch, KEEL_VERBOSE=dispatch). Tests and
// benchmarks walk the same list.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "kernels/conv/conv_descriptor.hpp"
#include "kernels/kernel.hpp"
#include "ukernels/sgemm.hpp"

namespace keel {

// What make_conv asks an implementation to build: the fused parts it takes itself. Those it
// does not take are wrapped around it (residual_after, gate_before, pool_after).
struct ConvBuild {
  ConvActivation act;     // in its epilogue (none when a residual pass applies it after)
  bool residual = false;  // adds R (Y's shape) before the activation
  bool gate = false;      // scales X's channels by G itself
  bool pool = false;      // writes the pooled result from its output rows
};

struct ConvImplementation {
  const char* name;  // the kernel's name in profiles: "conv_nhwc_1x1"
  // "" when it runs `d`; else why not, in a few words ("window 3x3, not 1x1").
  std::string (*declines)(const ConvDescriptor& d, const ExecutionOptions& options);
  // The fused parts it can take itself, for a descriptor it runs.
  bool (*takes_residual)(const ConvDescriptor& d);
  bool (*takes_gate)(const ConvDescriptor& d);
  bool (*takes_pool)(const ConvDescriptor& d);
  Result<std::unique_ptr<Kernel>> (*make)(PrepareContext& ctx, const ConvDescriptor& d,
                                          const ConvBuild& build);
};

// In order of preference; the last ones run any descriptor of their layout.
std::span<const ConvImplementation* const> conv_implementations();
const ConvImplementation* find_conv_implementation(const std::string& name);

// Why an NHWC entry declines what none of them runs: an NCHW layout, an expansion, weights not
// known at plan time, an NCHW X (unless x_nchw_ok). "" otherwise.
std::string declines_nhwc(const ConvDescriptor& d, bool x_nchw_ok);

// Capabilities shared by several entries.
inline bool conv_never(const ConvDescriptor&) { return false; }
inline bool conv_always(const ConvDescriptor&) { return true; }

// The GEMM epilogue of the NHWC implementations: per-column bias, residual (Y's shape, row
// stride ld_residual) and activation.
GemmEpilogue nhwc_conv_epilogue(const float* bias, const float* residual, int64_t ld_residual,
                                const ConvActivation& act);
Status conv_packing_failed(const PrepareContext& ctx);

// The entries, one file each (kernels/conv/*.cpp).
extern const ConvImplementation kConvNhwcBf16;
extern const ConvImplementation kConvNhwcExpandDepthwise;
extern const ConvImplementation kConvNhwc1x1;
extern const ConvImplementation kConvNhwcDepthwise;
extern const ConvImplementation kConvNhwcWinograd;
extern const ConvImplementation kConvNhwcDirect;
extern const ConvImplementation kConvNhwcGemm;
extern const ConvImplementation kConvNchwDepthwise;
extern const ConvImplementation kConvNchw1x1;
extern const ConvImplementation kConvNchwIm2col;

}  // namespace keel
