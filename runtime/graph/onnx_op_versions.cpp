#include "graph/onnx_op_versions.hpp"

#include <algorithm>
#include <array>
#include <iterator>
#include <utility>

namespace keel {

namespace {

struct OpVersions {
  std::string_view name;
  std::array<int, 16> since;  // ascending; unused entries are 0
};

#include "graph/onnx_op_arity.inc"
#include "graph/onnx_op_attributes.inc"
#include "graph/onnx_op_versions.inc"

}  // namespace

int onnx_schemas_newest_opset() { return kOnnxSchemasNewestOpset; }
int onnx_schemas_ir_version() { return kOnnxSchemasIrVersion; }

int onnx_since_version(std::string_view op_type, int opset) {
  const auto* end = std::end(kOnnxOpVersions);
  const auto* it =
      std::lower_bound(std::begin(kOnnxOpVersions), end, op_type,
                       [](const OpVersions& e, std::string_view n) { return e.name < n; });
  if (it == end || it->name != op_type) return -1;
  int applicable = 0;
  for (int v : it->since) {
    if (v == 0 || v > opset) break;
    applicable = v;
  }
  return applicable;
}

std::span<const OpAttribute> onnx_attributes(std::string_view op_type, int since_version) {
  auto key = [](const OpAttribute& a) { return std::pair(a.op, a.since); };
  const auto range =
      std::equal_range(std::begin(kOnnxOpAttributes), std::end(kOnnxOpAttributes),
                       OpAttribute{op_type, since_version, {}, 0, false},
                       [&](const OpAttribute& a, const OpAttribute& b) { return key(a) < key(b); });
  return {range.first, range.second};
}

const OpArity* onnx_arity(std::string_view op_type, int since_version) {
  const auto* end = std::end(kOnnxOpArity);
  const auto* it =
      std::lower_bound(std::begin(kOnnxOpArity), end, std::pair(op_type, since_version),
                       [](const OpArity& a, const std::pair<std::string_view, int>& k) {
                         return std::pair(a.op, a.since) < k;
                       });
  return it != end && it->op == op_type && it->since == since_version ? it : nullptr;
}

}  // namespace keel
