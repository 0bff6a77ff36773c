#include "serve/grpc_codec.hpp"

#include <cstring>
#include <string>
#include <vector>

#include "serve/datatype.hpp"

namespace keel::serve {

namespace {

template <typename Dst, typename Src>
void append_as(std::vector<std::byte>& out, const Src& values) {
  out.resize(static_cast<size_t>(values.size()) * sizeof(Dst));
  for (int i = 0; i < values.size(); ++i) {
    const Dst v = static_cast<Dst>(values[i]);
    std::memcpy(out.data() + static_cast<size_t>(i) * sizeof(Dst), &v, sizeof(Dst));
  }
}

// Typed contents (fp32_contents...) into row-major bytes of `dtype`.
Outcome convert_contents(const inference::InferTensorContents& c, DataType dtype,
                         std::vector<std::byte>& out, const std::string& name) {
  switch (dtype) {
    case DataType::kFloat32: append_as<float>(out, c.fp32_contents()); break;
    case DataType::kFloat64: append_as<double>(out, c.fp64_contents()); break;
    case DataType::kInt8: append_as<int8_t>(out, c.int_contents()); break;
    case DataType::kInt16: append_as<int16_t>(out, c.int_contents()); break;
    case DataType::kInt32: append_as<int32_t>(out, c.int_contents()); break;
    case DataType::kInt64: append_as<int64_t>(out, c.int64_contents()); break;
    case DataType::kUint8: append_as<uint8_t>(out, c.uint_contents()); break;
    case DataType::kUint16: append_as<uint16_t>(out, c.uint_contents()); break;
    case DataType::kUint32: append_as<uint32_t>(out, c.uint_contents()); break;
    case DataType::kUint64: append_as<uint64_t>(out, c.uint64_contents()); break;
    case DataType::kBool: append_as<bool>(out, c.bool_contents()); break;
    default:
      return Outcome::error(
          Code::kInvalidArgument,
          "input '" + name + "': " + datatype_name(dtype) + " must be sent in raw_input_contents");
  }
  return {};
}

struct Converted {
  std::vector<std::vector<std::byte>> buffers;
};

}  // namespace

Outcome decode_model_infer_request(const inference::ModelInferRequest& req, InferRequest* out) {
  InferRequest& r = *out;
  r.model = req.model_name();
  r.version = req.model_version();
  r.id = req.id();
  const bool raw = req.raw_input_contents_size() > 0;
  if (raw && req.raw_input_contents_size() != req.inputs_size()) {
    return Outcome::error(Code::kInvalidArgument,
                          "raw_input_contents has " +
                              std::to_string(req.raw_input_contents_size()) + " entries for " +
                              std::to_string(req.inputs_size()) + " inputs");
  }
  auto converted = std::make_shared<Converted>();
  converted->buffers.reserve(static_cast<size_t>(req.inputs_size()));
  for (int i = 0; i < req.inputs_size(); ++i) {
    const auto& in = req.inputs(i);
    InputTensor t;
    t.name = in.name();
    auto dtype = datatype_from_name(in.datatype());
    if (!dtype) {
      return Outcome::error(
          Code::kInvalidArgument,
          "input '" + t.name + "': unknown or unsupported datatype '" + in.datatype() + "'");
    }
    t.dtype = *dtype;
    t.shape.assign(in.shape().begin(), in.shape().end());
    if (raw) {
      t.data = req.raw_input_contents(i).data();
      t.bytes = req.raw_input_contents(i).size();
    } else {
      converted->buffers.emplace_back();
      Outcome o = convert_contents(in.contents(), t.dtype, converted->buffers.back(), t.name);
      if (!o.ok()) return o;
      t.data = converted->buffers.back().data();
      t.bytes = converted->buffers.back().size();
    }
    r.inputs.push_back(std::move(t));
  }
  for (const auto& o : req.outputs()) r.outputs.push_back({o.name(), true});
  r.binary_by_default = true;
  r.storage = converted;
  return {};
}

}  // namespace keel::serve
