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
// "<name>.npy" for a tensor (graph value) name, safe as one file name inside a folder: every
// character other than letters, digits, '.', '-' and '_' becomes '_' (exporters name values
// "/layer/Conv_output_0"; joined to a folder as is, that is an absolute path), and a leading '.'
// does too (no "..", no hidden files).
std::string npy_file_name(const std::string& value_name);

}  // namespace keel
