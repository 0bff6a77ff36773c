// ONNX export: keel Graph -> a standard ONNX model (the inverse of import_model).
//
// Used by `keel fold`: the graph is loaded, rewritten by passes and written back so that any
// ONNX runtime runs it. Inputs, outputs, names, opset imports and the IR version are kept;
// constants become initializers; large weights can go to an external data file.
#pragma once

#include <cstddef>
#include <string>

#include "core/status.hpp"
#include "graph/graph.hpp"

namespace keel {

struct ExportOptions {
  // When the initializers together exceed this many bytes, every initializer larger than 1 KiB
  // goes to an external data file beside the model (<model file name>.data, relative location,
  // offsets 4096-aligned): protobuf cannot hold more than 2 GB. Smaller ones (shape tensors,
  // scalars) stay inline, where ONNX shape inference can read their values.
  size_t external_data_threshold = size_t{1} << 31;  // bytes
};

// Serializes the graph: live nodes in topological order, every constant that a live node or a
// graph output uses as an initializer (Constant nodes, turned into constants at import, come
// back as initializers; models of IR version < 4, where every initializer must be a graph
// input, get Constant nodes instead), declared_inputs in order (an initializer listed as an
// input stays listed, with its initializer), outputs in order with their types, value_info for
// intermediate values whose type has a dtype, opset imports, IR version, producer (or "keel")
// and metadata kept. Omitted optional inputs/outputs are written as "" (trailing ones dropped).
// Attributes of kind kGraph/kOther cannot be written: UNSUPPORTED naming node and attribute.
// A model over 2 GB is UNSUPPORTED here: use export_model_file, which writes external data.
Result<std::string> export_model_bytes(const Graph& graph);

// Writes the model to `path` atomically: to "<path>.tmp.<pid>" then rename(), so a failure never
// leaves a half-written model. External data (when needed) is written the same way and renamed
// into place just before the model file.
Status export_model_file(const Graph& graph, const std::string& path,
                         const ExportOptions& options = {});

// Runs the ONNX checker of the system libonnx on serialized model bytes: the structural check
// (onnx::checker::check_model) then strict shape inference with type checks, which is what
// onnx.checker.check_model(full_check=True) does. Models newer than the library knows (IR
// version or an opset beyond its range; Debian's libonnx 1.12 stops at IR 8 / opset 17) and
// models with external data (not resolvable from bytes) give UNSUPPORTED saying the check was
// not possible; a failed check gives INVALID_MODEL with the checker's message.
Status check_with_onnx_checker(const std::string& model_bytes);

}  // namespace keel
