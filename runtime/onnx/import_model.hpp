// ONNX import: a .onnx file (or bytes) -> keel Graph.
//
// Reads the real ONNX protobuf classes, converts initializers in every storage form (raw_data,
// typed fields, external data inside the model's folder), turns Constant nodes into
// constants, and checks the structure (names, producers, cycles, opsets, domains). Operator
// semantics are checked later, when kernels are prepared for concrete shapes.
#pragma once

#include <memory>
#include <string>

#include "core/status.hpp"
#include "graph/graph.hpp"

namespace keel {

// The newest IR version and default-domain opset keel reads are those of the ONNX release its
// operator table was generated from (graph/onnx_op_versions.inc): within them each node maps
// to the definition that applies at the model's opset.

struct ImportOptions {
  // Folder that external-data paths are relative to; empty = no external data allowed.
  std::string model_dir;
};

Result<std::unique_ptr<Graph>> import_model_file(const std::string& path);
Result<std::unique_ptr<Graph>> import_model_bytes(const void* data, size_t size,
                                                  const ImportOptions& options);

}  // namespace keel
