#include "core/npy.hpp"

#include <cstring>
#include <fstream>
#include <iterator>

namespace keel {

namespace {

constexpr char kMagic[] = "\x93NUMPY";

struct DescrType {
  const char* descr;
  DataType dtype;
};
constexpr DescrType kDescrs[] = {
    {"<f4", DataType::kFloat32}, {"<f8", DataType::kFloat64}, {"<i8", DataType::kInt64},
    {"<i4", DataType::kInt32},   {"<i2", DataType::kInt16},   {"|i1", DataType::kInt8},
    {"<u8", DataType::kUint64},  {"<u4", DataType::kUint32},  {"<u2", DataType::kUint16},
    {"|u1", DataType::kUint8},   {"|b1", DataType::kBool},    {"<f2", DataType::kFloat16},
};

// Finds the value text after 'key': in the header dict.
bool find_field(const std::string& header, const std::string& key, std::string& value) {
  const std::string quoted = "'" + key + "'";
  size_t p = header.find(quoted);
  if (p == std::string::npos) return false;
  p = header.find(':', p + quoted.size());
  if (p == std::string::npos) return false;
  ++p;
  while (p < header.size() && header[p] == ' ') ++p;
  if (p >= header.size()) return false;
  size_t end;
  if (header[p] == '\'') {
    end = header.find('\'', p + 1);
    if (end == std::string::npos) return false;
    value = header.substr(p + 1, end - p - 1);
  } else if (header[p] == '(') {
    end = header.find(')', p);
    if (end == std::string::npos) return false;
    value = header.substr(p + 1, end - p - 1);
  } else {
    end = header.find_first_of(",}", p);
    if (end == std::string::npos) return false;
    value = header.substr(p, end - p);
  }
  return true;
}

}  // namespace

Result<Tensor> parse_npy(const void* data, size_t size, const std::string& what) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  if (size < 10 || std::memcmp(bytes, kMagic, 6) != 0) {
    return invalid_argument(what + ": not a .npy file");
  }
  const int major = bytes[6];
  size_t header_len, header_start;
  if (major == 1) {
    header_len = bytes[8] | (bytes[9] << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) return invalid_argument(what + ": truncated .npy header");
    header_len =
        bytes[8] | (bytes[9] << 8) | (bytes[10] << 16) | (static_cast<size_t>(bytes[11]) << 24);
    header_start = 12;
  } else {
    return invalid_argument(what + ": unsupported .npy version " + std::to_string(major));
  }
  if (header_start + header_len > size) return invalid_argument(what + ": truncated .npy header");
  const std::string header(reinterpret_cast<const char*>(bytes + header_start), header_len);
  std::string descr, fortran, shape_text;
  if (!find_field(header, "descr", descr) || !find_field(header, "fortran_order", fortran) ||
      !find_field(header, "shape", shape_text)) {
    return invalid_argument(what + ": malformed .npy header");
  }
  if (fortran.find("True") != std::string::npos) {
    return unsupported(what + ": Fortran-ordered arrays are not supported (save C-contiguous)");
  }
  DataType dtype = DataType::kUndefined;
  for (const auto& d : kDescrs) {
    if (descr == d.descr) dtype = d.dtype;
  }
  if (descr == "<b1") dtype = DataType::kBool;
  if (descr == "<i1") dtype = DataType::kInt8;
  if (descr == "<u1") dtype = DataType::kUint8;
  if (dtype == DataType::kUndefined) {
    return unsupported(what + ": .npy element type '" + descr + "' is not supported");
  }
  Shape shape;
  size_t p = 0;
  while (p < shape_text.size()) {
    while (p < shape_text.size() && (shape_text[p] == ' ' || shape_text[p] == ',')) ++p;
    if (p >= shape_text.size()) break;
    size_t end = p;
    while (end < shape_text.size() && shape_text[end] >= '0' && shape_text[end] <= '9') ++end;
    if (end == p || end - p > 18) return invalid_argument(what + ": malformed .npy shape");
    shape.push_back(std::stoll(shape_text.substr(p, end - p)));
    p = end;
  }
  auto n = checked_numel(shape);
  if (!n) return invalid_argument(what + ": .npy shape overflows");
  const size_t payload = size - header_start - header_len;
  const size_t need = static_cast<size_t>(*n) * dtype_size(dtype);
  if (static_cast<uint64_t>(*n) > (uint64_t{1} << 46) || payload < need) {
    return invalid_argument(what + ": .npy data is truncated (" + std::to_string(payload) +
                            " bytes, shape " + shape_to_string(shape) + " needs " +
                            std::to_string(need) + ")");
  }
  return Tensor::from_bytes(dtype, shape, bytes + header_start + header_len, need);
}

Result<Tensor> read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return invalid_argument("cannot open '" + path + "'");
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return parse_npy(bytes.data(), bytes.size(), "'" + path + "'");
}

Status write_npy(const std::string& path, const Tensor& tensor) {
  const char* descr = nullptr;
  for (const auto& d : kDescrs) {
    if (d.dtype == tensor.dtype()) descr = d.descr;
  }
  if (!descr) return unsupported("cannot write " + dtype_name(tensor.dtype()) + " to .npy");
  std::string shape = "(";
  for (size_t i = 0; i < tensor.shape().size(); ++i) {
    shape += std::to_string(tensor.shape()[i]) +
             (tensor.shape().size() == 1 ? "," : (i + 1 < tensor.shape().size() ? ", " : ""));
  }
  shape += ")";
  std::string header =
      std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad so that the data starts at a multiple of 64 bytes; the header ends with '\n'.
  const size_t unpadded = 10 + header.size() + 1;
  header.append(round_up(unpadded, 64) - unpadded, ' ');
  header += '\n';
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return invalid_argument("cannot write '" + path + "'");
  f.write(kMagic, 6);
  const char version[2] = {1, 0};
  f.write(version, 2);
  const uint16_t len = static_cast<uint16_t>(header.size());
  const char len_bytes[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
  f.write(len_bytes, 2);
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  f.write(static_cast<const char*>(tensor.data()), static_cast<std::streamsize>(tensor.nbytes()));
  if (!f) return invalid_argument("writing '" + path + "' failed");
  return Status::ok();
}

std::string npy_file_name(const std::string& value_name) {
  std::string name = value_name;
  for (char& ch : name) {
    const bool keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' || ch == '_';
    if (!keep) ch = '_';
  }
  if (name.empty() || name[0] == '.') name.insert(name.begin(), '_');
  return name + ".npy";
}

}  // namespace keel
