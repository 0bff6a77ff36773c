// NumPy .npy files (format versions 1-3, little-endian, C order) <-> Tensor.
#pragma once

#include <string>

#include "core/status.hpp"
#include "core/tensor.hpp"

namespace keel {

Result<Tensor> read_npy(const std::string& path);
Result<Tensor> parse_npy(const void* data, size_t size, const std::string& what);
// Writes atomically enough for tools: the file is complete or an error is returned.
Status write_npy(const std::string& path, const Tensor& tensor);

}  // namespace keel
