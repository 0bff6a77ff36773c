// Builds small ONNX models in memory for tests (uses the ONNX protobuf classes directly, so
// tests can also build models that are deliberately malformed).
#pragma once

#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

namespace keel::testing {

class ModelBuilder {
 public:
  explicit ModelBuilder(int opset = 17, int ir_version = 8);

  // elem_type: onnx::TensorProto_DataType_FLOAT etc.; dims < 0 are symbolic ("N").
  ModelBuilder& input(const std::string& name, std::vector<int64_t> dims,
                      int elem_type = onnx::TensorProto_DataType_FLOAT);
  ModelBuilder& output(const std::string& name, int elem_type = onnx::TensorProto_DataType_FLOAT);
  ModelBuilder& initializer(const std::string& name, std::vector<int64_t> dims,
                            const std::vector<float>& values);
  ModelBuilder& initializer_i64(const std::string& name, std::vector<int64_t> dims,
                                const std::vector<int64_t>& values);
  onnx::NodeProto& node(const std::string& op_type, std::vector<std::string> inputs,
                        std::vector<std::string> outputs, const std::string& name = "");
  onnx::ModelProto& proto() { return model_; }
  std::string bytes() const;

 private:
  onnx::ModelProto model_;
};

void set_attr(onnx::NodeProto& n, const std::string& name, int64_t v);
void set_attr(onnx::NodeProto& n, const std::string& name, float v);
void set_attr(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v);
void set_attr(onnx::NodeProto& n, const std::string& name, const std::string& v);

}  // namespace keel::testing
