// Concrete tensor shapes (every dim known) and overflow-checked element counts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace keel {

using Shape = std::vector<int64_t>;

// Element count, or nullopt when a dim is negative or the product overflows int64
// (a model that declares a 2^40 x 2^40 tensor must be rejected, not wrapped).
std::optional<int64_t> checked_numel(const Shape& shape);
// Element count of a shape already validated by checked_numel.
int64_t numel(const Shape& shape);
// "[1,3,224,224]"
std::string shape_to_string(const Shape& shape);
// Row-major strides in elements.
std::vector<int64_t> contiguous_strides(const Shape& shape);
// Normalises a possibly negative axis into [0, rank); nullopt when out of range.
std::optional<int64_t> normalize_axis(int64_t axis, int64_t rank);

}  // namespace keel
