#include "onnx/tensor_proto.hpp"

#include <onnx/onnx_pb.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

namespace keel {

namespace fs = std::filesystem;

// raw_data is little-endian; keel's tensors are in host order.
static_assert(std::endian::native == std::endian::little, "keel assumes a little-endian host");

namespace {

// Resolves an external-data location inside model_dir; rejects absolute paths and any
// path that leaves the folder (.., symlinks pointing outside).
Result<std::string> resolve_external_path(const std::string& model_dir, const std::string& location,
                                          const std::string& what) {
  if (model_dir.empty()) {
    return invalid_model(what + ": external data '" + location +
                         "' cannot be resolved (model loaded from memory)");
  }
  fs::path rel(location);
  if (location.empty() || rel.is_absolute() || rel.has_root_name() || rel.has_root_directory()) {
    return invalid_model(what + ": external data path '" + location +
                         "' must be relative to the model's folder");
  }
  std::error_code ec;
  const fs::path base = fs::weakly_canonical(fs::path(model_dir), ec);
  const fs::path full = fs::weakly_canonical(fs::path(model_dir) / rel, ec);
  if (ec) return invalid_model(what + ": cannot resolve external data path '" + location + "'");
  auto mismatch = std::mismatch(base.begin(), base.end(), full.begin(), full.end());
  if (mismatch.first != base.end()) {
    return invalid_model(what + ": external data path '" + location +
                         "' leaves the model's folder");
  }
  return full.string();
}

Status read_external(const onnx::TensorProto& proto, const std::string& model_dir,
                     const std::string& what, Tensor& out) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : proto.external_data()) {
    try {
      if (kv.key() == "location")
        location = kv.value();
      else if (kv.key() == "offset")
        offset = std::stoll(kv.value());
      else if (kv.key() == "length")
        length = std::stoll(kv.value());
    } catch (const std::exception&) {
      return invalid_model(what + ": external data field '" + kv.key() + "' is not a number");
    }
  }
  KEEL_ASSIGN_OR_RETURN(std::string path, resolve_external_path(model_dir, location, what));
  const auto need = static_cast<int64_t>(out.nbytes());
  if (offset < 0 || (length >= 0 && length != need)) {
    return invalid_model(what + ": external data length " + std::to_string(length) + " at offset " +
                         std::to_string(offset) + " does not match the " + std::to_string(need) +
                         " bytes of the tensor");
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) return invalid_model(what + ": cannot open external data file '" + location + "'");
  f.seekg(0, std::ios::end);
  const int64_t file_size = f.tellg();
  if (offset > file_size || file_size - offset < need) {
    return invalid_model(what + ": external data file '" + location + "' is too short (" +
                         std::to_string(file_size) + " bytes, need " + std::to_string(need) +
                         " from offset " + std::to_string(offset) + ")");
  }
  f.seekg(offset);
  f.read(static_cast<char*>(out.data()), need);
  if (!f) return invalid_model(what + ": reading external data '" + location + "' failed");
  return Status::ok();
}

template <typename Dst, typename Field>
Status copy_typed(const Field& field, int64_t n, const std::string& what, const char* field_name,
                  Tensor& out) {
  if (static_cast<int64_t>(field.size()) != n) {
    return invalid_model(what + ": " + field_name + " holds " + std::to_string(field.size()) +
                         " values, the shape needs " + std::to_string(n));
  }
  Dst* dst = out.data_as<Dst>();
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<Dst>(field.Get(static_cast<int>(i)));
  return Status::ok();
}

}  // namespace

Result<Tensor> tensor_from_proto(const onnx::TensorProto& proto, const std::string& model_dir,
                                 const std::string& what) {
  if (proto.has_segment()) return unsupported(what + ": segmented tensors are not supported");
  const auto dtype = static_cast<DataType>(proto.data_type());
  if (!dtype_is_supported(dtype)) {
    return unsupported(what + ": element type " + dtype_name(dtype) + " is not supported");
  }
  Shape shape;
  for (int64_t d : proto.dims()) {
    if (d < 0) return invalid_model(what + ": negative dimension " + std::to_string(d));
    shape.push_back(d);
  }
  auto n_opt = checked_numel(shape);
  if (!n_opt) return invalid_model(what + ": shape " + shape_to_string(shape) + " overflows");
  const int64_t n = *n_opt;
  const size_t esize = dtype_size(dtype);
  if (static_cast<uint64_t>(n) > std::numeric_limits<uint64_t>::max() / 2 / esize) {
    return invalid_model(what + ": shape " + shape_to_string(shape) + " is too large");
  }

  if (proto.data_location() == onnx::TensorProto_DataLocation_EXTERNAL) {
    KEEL_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(dtype, shape));
    KEEL_RETURN_IF_ERROR(read_external(proto, model_dir, what, out));
    return out;
  }
  if (proto.has_raw_data()) {
    const std::string& raw = proto.raw_data();
    if (raw.size() != static_cast<size_t>(n) * esize) {
      return invalid_model(what + ": raw_data has " + std::to_string(raw.size()) +
                           " bytes, shape " + shape_to_string(shape) + " of " + dtype_name(dtype) +
                           " needs " + std::to_string(static_cast<size_t>(n) * esize));
    }
    return Tensor::from_bytes(dtype, shape, raw.data(), raw.size());
  }
  // Typed fields: the ONNX spec says which field holds which element type.
  KEEL_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(dtype, shape));
  switch (dtype) {
    case DataType::kFloat32:
      KEEL_RETURN_IF_ERROR(copy_typed<float>(proto.float_data(), n, what, "float_data", out));
      break;
    case DataType::kFloat64:
      KEEL_RETURN_IF_ERROR(copy_typed<double>(proto.double_data(), n, what, "double_data", out));
      break;
    case DataType::kInt64:
      KEEL_RETURN_IF_ERROR(copy_typed<int64_t>(proto.int64_data(), n, what, "int64_data", out));
      break;
    case DataType::kUint32:
      KEEL_RETURN_IF_ERROR(copy_typed<uint32_t>(proto.uint64_data(), n, what, "uint64_data", out));
      break;
    case DataType::kUint64:
      KEEL_RETURN_IF_ERROR(copy_typed<uint64_t>(proto.uint64_data(), n, what, "uint64_data", out));
      break;
    case DataType::kInt32:
      KEEL_RETURN_IF_ERROR(copy_typed<int32_t>(proto.int32_data(), n, what, "int32_data", out));
      break;
    case DataType::kInt16:
      KEEL_RETURN_IF_ERROR(copy_typed<int16_t>(proto.int32_data(), n, what, "int32_data", out));
      break;
    case DataType::kUint16:
    case DataType::kFloat16:
    case DataType::kBFloat16:
      // 16-bit floats travel as their bit patterns in int32_data.
      KEEL_RETURN_IF_ERROR(copy_typed<uint16_t>(proto.int32_data(), n, what, "int32_data", out));
      break;
    case DataType::kInt8:
      KEEL_RETURN_IF_ERROR(copy_typed<int8_t>(proto.int32_data(), n, what, "int32_data", out));
      break;
    case DataType::kUint8:
      KEEL_RETURN_IF_ERROR(copy_typed<uint8_t>(proto.int32_data(), n, what, "int32_data", out));
      break;
    case DataType::kBool: {
      const auto& f = proto.int32_data();
      if (static_cast<int64_t>(f.size()) != n) {
        return invalid_model(what + ": int32_data holds " + std::to_string(f.size()) +
                             " values, the shape needs " + std::to_string(n));
      }
      for (int64_t i = 0; i < n; ++i) out.data_as<uint8_t>()[i] = f.Get(static_cast<int>(i)) != 0;
      break;
    }
    default: return unsupported(what + ": element type " + dtype_name(dtype) + " is not supported");
  }
  return out;
}

Result<Tensor> read_tensor_pb_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return invalid_argument("cannot open '" + path + "'");
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  onnx::TensorProto proto;
  if (!proto.ParseFromString(bytes)) {
    return invalid_argument("'" + path + "' is not a serialized TensorProto");
  }
  return tensor_from_proto(proto, fs::path(path).parent_path().string(), "tensor '" + path + "'");
}

Status tensor_to_proto(const Tensor& tensor, onnx::TensorProto* proto) {
  const DataType dtype = tensor.dtype();
  if (!dtype_is_supported(dtype)) {
    return unsupported("cannot write a tensor of element type " + dtype_name(dtype));
  }
  proto->set_data_type(static_cast<int32_t>(dtype));
  proto->clear_dims();
  for (int64_t d : tensor.shape()) proto->add_dims(d);
  proto->clear_float_data();
  proto->clear_int32_data();
  proto->clear_int64_data();
  proto->clear_double_data();
  proto->clear_uint64_data();
  proto->clear_string_data();
  proto->clear_external_data();
  proto->clear_data_location();
  std::string* raw = proto->mutable_raw_data();
  const size_t nbytes = tensor.nbytes();
  raw->resize(nbytes);
  if (nbytes == 0) return Status::ok();
  if (dtype == DataType::kBool) {
    // Any nonzero byte means true; ONNX readers expect exactly 0 or 1.
    const auto* src = tensor.data_as<uint8_t>();
    for (size_t i = 0; i < nbytes; ++i) (*raw)[i] = static_cast<char>(src[i] != 0);
  } else {
    std::memcpy(raw->data(), tensor.data(), nbytes);
  }
  return Status::ok();
}

}  // namespace keel
