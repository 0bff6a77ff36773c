// Window geometry shared by Conv, ConvTranspose and the pooling ops: attribute parsing
// (kernel_shape, strides, dilations, pads, auto_pad) with validation, and output sizes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.hpp"
#include "kernels/kernel.hpp"

namespace keel {

enum class AutoPad { kNotSet, kSameUpper, kSameLower, kValid };

struct WindowGeometry {
  std::vector<int64_t> in;      // input spatial dims
  std::vector<int64_t> kernel;  // kernel spatial dims
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> pads_begin;
  std::vector<int64_t> pads_end;
  std::vector<int64_t> out;  // output spatial dims
  AutoPad auto_pad = AutoPad::kNotSet;

  size_t rank() const { return in.size(); }
};

// Reads auto_pad (NOTSET, SAME_UPPER, SAME_LOWER, VALID).
Result<AutoPad> read_auto_pad(const PrepareContext& ctx);

// Reads strides, dilations (when `dilations_allowed`) and pads for a window of `kernel` over
// `in`; checks sizes and ranges. Fills everything but `out`.
Status read_window(const PrepareContext& ctx, const std::vector<int64_t>& in,
                   const std::vector<int64_t>& kernel, bool dilations_allowed, WindowGeometry& g);

// Output sizes of a forward window (Conv, pools): resolves auto_pad into pads, applies
// ceil_mode (the last window must start inside the left-padded input) and checks every output
// dim is >= 1.
Status compute_forward_output(const PrepareContext& ctx, bool ceil_mode, WindowGeometry& g);

// Reads kernel_shape as a list of positive ints of `rank` entries (present must be true when
// the attribute is required).
Status read_kernel_shape(const PrepareContext& ctx, size_t rank, bool required,
                         std::vector<int64_t>& kernel, bool& present);

// [lo, hi): the output positions o with 0 <= o * stride + offset < in, clamped to [0, out).
void valid_output_range(int64_t offset, int64_t stride, int64_t in, int64_t out, int64_t& lo,
                        int64_t& hi);

std::string ints_to_string(const std::vector<int64_t>& v);

}  // namespace keel
