// onnx::TensorProto <-> keel Tensor. The header hides protobuf so tests and tools can read
// .pb tensor files without the ONNX headers.
#pragma once

#include <string>

#include "core/status.hpp"
#include "core/tensor.hpp"

namespace onnx {
class TensorProto;
}

namespace keel {

// Converts a TensorProto holding data in raw_data, a typed field, or external data (then
// `model_dir` is the folder that the location is relative to; empty forbids external data).
// `what` names the tensor in messages ("initializer 'conv1.weight'").
Result<Tensor> tensor_from_proto(const onnx::TensorProto& proto, const std::string& model_dir,
                                 const std::string& what);
// Reads a serialized TensorProto file (the ONNX test data format: input_0.pb).
Result<Tensor> read_tensor_pb_file(const std::string& path);

}  // namespace keel
