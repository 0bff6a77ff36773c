#include "serve/http_codec.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "serve/datatype.hpp"

namespace keel::serve {

using nlohmann::json;

namespace {

// What a decoded request owns: the body, and the buffers JSON `data` was converted into.
struct RequestStorage {
  std::shared_ptr<const std::string> body;
  std::vector<std::vector<std::byte>> converted;
};

Outcome bad(std::string message) {
  return Outcome::error(Code::kInvalidArgument, std::move(message));
}

// Flattens (possibly nested) row-major `data` into `out` as T.
template <typename T>
Outcome append_values(const json& data, std::vector<std::byte>& out, const std::string& name) {
  if (data.is_array()) {
    for (const json& e : data) {
      Outcome o = append_values<T>(e, out, name);
      if (!o.ok()) return o;
    }
    return {};
  }
  T v{};
  if constexpr (std::is_same_v<T, bool>) {
    if (!data.is_boolean()) return bad("input '" + name + "': BOOL data must be true or false");
    v = data.get<bool>();
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!data.is_number()) return bad("input '" + name + "': data holds a non-number");
    v = static_cast<T>(data.get<double>());
  } else {
    if (!data.is_number_integer())
      return bad("input '" + name + "': integer data holds a non-integer");
    if (data.is_number_unsigned()) {
      const uint64_t u = data.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
        return bad("input '" + name + "': value " + std::to_string(u) + " is out of range");
      }
      v = static_cast<T>(u);
    } else {
      const int64_t s = data.get<int64_t>();
      if constexpr (std::is_unsigned_v<T>) {
        if (s < 0) return bad("input '" + name + "': negative value for an unsigned type");
      } else {
        if (s < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
            s > static_cast<int64_t>(std::numeric_limits<T>::max())) {
          return bad("input '" + name + "': value " + std::to_string(s) + " is out of range");
        }
      }
      v = static_cast<T>(s);
    }
  }
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
  return {};
}

Outcome convert_data(const json& data, DataType dt, std::vector<std::byte>& out,
                     const std::string& name) {
  switch (dt) {
    case DataType::kBool: return append_values<bool>(data, out, name);
    case DataType::kUint8: return append_values<uint8_t>(data, out, name);
    case DataType::kUint16: return append_values<uint16_t>(data, out, name);
    case DataType::kUint32: return append_values<uint32_t>(data, out, name);
    case DataType::kUint64: return append_values<uint64_t>(data, out, name);
    case DataType::kInt8: return append_values<int8_t>(data, out, name);
    case DataType::kInt16: return append_values<int16_t>(data, out, name);
    case DataType::kInt32: return append_values<int32_t>(data, out, name);
    case DataType::kInt64: return append_values<int64_t>(data, out, name);
    case DataType::kFloat32: return append_values<float>(data, out, name);
    case DataType::kFloat64: return append_values<double>(data, out, name);
    default:
      return bad("input '" + name + "': " + datatype_name(dt) +
                 " data must be sent as binary (binary_data_size)");
  }
}

// A non-negative integer parameter, or -1 when absent; -2 when present but malformed.
int64_t size_param(const json& params, const char* key) {
  if (!params.is_object()) return -1;
  auto it = params.find(key);
  if (it == params.end()) return -1;
  if (!it->is_number_unsigned()) return -2;
  const uint64_t v = it->get<uint64_t>();
  return v > (uint64_t{1} << 62) ? -2 : static_cast<int64_t>(v);
}

bool bool_param(const json& params, const char* key, bool fallback) {
  if (!params.is_object()) return fallback;
  auto it = params.find(key);
  return it != params.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

template <typename T>
void write_number(std::string& out, T v) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(v)) {
      out += "NaN";
      return;
    }
    if (std::isinf(v)) {
      out += v > 0 ? "Infinity" : "-Infinity";
      return;
    }
  }
  char buf[40];
  // Shortest text that reads back as the same value (floats round-trip exactly).
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

template <typename T>
void write_values(std::string& out, const void* data, size_t count) {
  const auto* p = static_cast<const std::byte*>(data);
  for (size_t i = 0; i < count; ++i) {
    if (i) out += ',';
    T v;
    std::memcpy(&v, p + i * sizeof(T), sizeof(T));
    if constexpr (std::is_same_v<T, bool>) {
      out += v ? "true" : "false";
    } else if constexpr (sizeof(T) == 1) {
      write_number(out, static_cast<int>(v));
    } else {
      write_number(out, v);
    }
  }
}

bool write_data(std::string& out, const OutputTensor& t) {
  const size_t n = t.bytes / std::max<size_t>(1, dtype_size(t.dtype));
  switch (t.dtype) {
    case DataType::kBool: write_values<bool>(out, t.data, n); return true;
    case DataType::kUint8: write_values<uint8_t>(out, t.data, n); return true;
    case DataType::kUint16: write_values<uint16_t>(out, t.data, n); return true;
    case DataType::kUint32: write_values<uint32_t>(out, t.data, n); return true;
    case DataType::kUint64: write_values<uint64_t>(out, t.data, n); return true;
    case DataType::kInt8: write_values<int8_t>(out, t.data, n); return true;
    case DataType::kInt16: write_values<int16_t>(out, t.data, n); return true;
    case DataType::kInt32: write_values<int32_t>(out, t.data, n); return true;
    case DataType::kInt64: write_values<int64_t>(out, t.data, n); return true;
    case DataType::kFloat32: write_values<float>(out, t.data, n); return true;
    case DataType::kFloat64: write_values<double>(out, t.data, n); return true;
    default: return false;  // FP16, BF16: binary only
  }
}

}  // namespace

Outcome decode_infer_request(std::shared_ptr<const std::string> body, int64_t header_length,
                             InferRequest* out) {
  const std::string& b = *body;
  if (header_length > static_cast<int64_t>(b.size())) {
    return bad("Inference-Header-Content-Length is " + std::to_string(header_length) +
               " but the body has " + std::to_string(b.size()) + " bytes");
  }
  const size_t json_len = header_length < 0 ? b.size() : static_cast<size_t>(header_length);
  if (json_len == 0) return bad("the request has no body");
  json j = json::parse(b.data(), b.data() + json_len, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad("the request body is not valid JSON");
  if (!j.is_object()) return bad("the request body must be a JSON object");
  auto storage = std::make_shared<RequestStorage>();
  storage->body = body;
  if (auto it = j.find("id"); it != j.end()) {
    if (!it->is_string()) return bad("'id' must be a string");
    out->id = it->get<std::string>();
  }
  const json params = j.value("parameters", json::object());
  if (!params.is_object()) return bad("'parameters' must be an object");
  out->binary_by_default = bool_param(params, "binary_data_output", false);
  if (auto it = params.find("timeout"); it != params.end() && it->is_number_unsigned()) {
    out->timeout_us = it->get<uint64_t>();
  }
  auto inputs = j.find("inputs");
  if (inputs == j.end() || !inputs->is_array()) return bad("'inputs' must be an array");
  size_t offset = json_len;  // binary tensors follow the JSON, in input order
  for (const json& in : *inputs) {
    if (!in.is_object()) return bad("each input must be an object");
    InputTensor t;
    auto name = in.find("name");
    if (name == in.end() || !name->is_string()) return bad("an input has no 'name' string");
    t.name = name->get<std::string>();
    auto dt = in.find("datatype");
    if (dt == in.end() || !dt->is_string()) return bad("input '" + t.name + "' has no 'datatype'");
    auto dtype = datatype_from_name(dt->get<std::string>());
    if (!dtype) {
      return bad("input '" + t.name + "': unknown or unsupported datatype '" +
                 dt->get<std::string>() + "'");
    }
    t.dtype = *dtype;
    auto shape = in.find("shape");
    if (shape == in.end() || !shape->is_array())
      return bad("input '" + t.name + "' has no 'shape' array");
    for (const json& d : *shape) {
      if (!d.is_number_integer()) return bad("input '" + t.name + "': shape holds a non-integer");
      if (d.is_number_unsigned() && d.get<uint64_t>() > uint64_t{1} << 40) {
        return bad("input '" + t.name + "': shape dim " + d.dump() + " is too large");
      }
      t.shape.push_back(d.get<int64_t>());
    }
    const json in_params = in.value("parameters", json::object());
    const int64_t binary_size = size_param(in_params, "binary_data_size");
    if (binary_size == -2)
      return bad("input '" + t.name + "': 'binary_data_size' must be a non-negative integer");
    if (binary_size >= 0) {
      if (in.contains("data")) return bad("input '" + t.name + "' has both 'data' and binary data");
      if (header_length < 0) {
        return bad("input '" + t.name +
                   "' has binary data but the request has no "
                   "Inference-Header-Content-Length");
      }
      if (static_cast<uint64_t>(binary_size) > b.size() - offset) {
        return bad("input '" + t.name + "': binary_data_size " + std::to_string(binary_size) +
                   " runs past the end of the body (" + std::to_string(b.size() - offset) +
                   " bytes left)");
      }
      t.data = b.data() + offset;
      t.bytes = static_cast<size_t>(binary_size);
      offset += static_cast<size_t>(binary_size);
    } else {
      auto data = in.find("data");
      if (data == in.end()) return bad("input '" + t.name + "' has no 'data'");
      std::vector<std::byte> buf;
      Outcome o = convert_data(*data, t.dtype, buf, t.name);
      if (!o.ok()) return o;
      storage->converted.push_back(std::move(buf));
      t.data = storage->converted.back().data();
      t.bytes = storage->converted.back().size();
    }
    out->inputs.push_back(std::move(t));
  }
  if (offset != b.size()) {
    return bad("the body has " + std::to_string(b.size() - offset) +
               " bytes after the JSON header that no input's binary_data_size accounts for");
  }
  if (auto outs = j.find("outputs"); outs != j.end()) {
    if (!outs->is_array()) return bad("'outputs' must be an array");
    for (const json& o : *outs) {
      if (!o.is_object() || !o.contains("name") || !o["name"].is_string()) {
        return bad("each requested output must be an object with a 'name'");
      }
      RequestedOutput r;
      r.name = o["name"].get<std::string>();
      r.binary =
          bool_param(o.value("parameters", json::object()), "binary_data", out->binary_by_default);
      out->outputs.push_back(std::move(r));
    }
  }
  out->storage = std::move(storage);
  return {};
}

EncodedResponse encode_infer_result(const InferResult& r) {
  EncodedResponse enc;
  std::string& s = enc.json;
  s.reserve(256);
  s += "{\"model_name\":";
  s += json(r.model).dump(-1, ' ', false, json::error_handler_t::replace);
  s += ",\"model_version\":";
  s += json(r.version).dump();
  if (!r.id.empty()) {
    s += ",\"id\":";
    s += json(r.id).dump(-1, ' ', false, json::error_handler_t::replace);
  }
  s += ",\"outputs\":[";
  for (size_t i = 0; i < r.outputs.size(); ++i) {
    const OutputTensor& t = r.outputs[i];
    if (i) s += ',';
    s += "{\"name\":";
    s += json(t.name).dump(-1, ' ', false, json::error_handler_t::replace);
    s += ",\"datatype\":\"" + datatype_name(t.dtype) + "\",\"shape\":[";
    for (size_t d = 0; d < t.shape.size(); ++d) {
      if (d) s += ',';
      s += std::to_string(t.shape[d]);
    }
    s += ']';
    const bool binary = t.binary || t.dtype == DataType::kFloat16 || t.dtype == DataType::kBFloat16;
    if (binary) {
      s += ",\"parameters\":{\"binary_data_size\":" + std::to_string(t.bytes) + "}";
      enc.blobs.emplace_back(t.data, t.bytes);
    } else {
      s.reserve(s.size() + t.bytes * 3 + 16);
      s += ",\"data\":[";
      write_data(s, t);
      s += ']';
    }
    s += '}';
  }
  s += "]}";
  return enc;
}

std::string error_json(const std::string& message) {
  return json{{"error", message}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace keel::serve
