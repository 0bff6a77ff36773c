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

// Fills `proto` (data_type, dims, raw_data; the name is left alone) from `tensor`: the bytes
// are little-endian as ONNX wants, float16/bfloat16 keep their bit patterns and bool elements are
// written as one byte of 0 or 1. Fails for element types keel cannot hold.
Status tensor_to_proto(const Tensor& tensor, onnx::TensorProto* proto);

}  // namespace keel
