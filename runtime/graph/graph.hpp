// keel's IR: a Graph owns Values (tensors flowing between nodes) and Nodes (operator calls).
// Producers and consumers are kept up to date by the mutation helpers, so passes can walk
// the graph both ways. Pointers stay valid while the graph lives (nodes are erased lazily).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.hpp"
#include "core/tensor.hpp"
#include "graph/attribute.hpp"
#include "graph/fused_ops.hpp"

namespace keel {

class Node;

// A declared dimension: a number, a symbol ("batch"), or unknown.
struct Dim {
  int64_t value = -1;  // >= 0 when known
  std::string symbol;  // set for symbolic dims
  bool known() const { return value >= 0; }
};

struct ValueType {
  DataType dtype = DataType::kUndefined;
  std::optional<std::vector<Dim>> dims;  // nullopt: rank unknown
};

struct Value {
  std::string name;
  ValueType type;                  // as declared in the model (inputs, outputs, value_info)
  std::optional<Tensor> constant;  // initializer or folded constant
  bool is_graph_input = false;     // a runtime input (an initializer may also be one: overridable)
  bool is_graph_output = false;
  Node* producer = nullptr;
  std::vector<Node*> consumers;  // one entry per consuming input slot

  bool is_constant() const { return constant.has_value(); }
  // Makes `t` this value's constant and its declared type (dtype and dims) t's.
  void set_constant(Tensor t);
  // A constant the user cannot override at run time.
  bool is_fixed_constant() const { return constant.has_value() && !is_graph_input; }
};

class Node {
 public:
  std::string name;
  std::string op_type;
  std::string domain;                           // "" for the default ONNX domain
  int opset = 0;                                // version of `domain` imported by the model
  std::vector<Value*> inputs;                   // nullptr for an omitted optional input
  std::vector<Value*> outputs;                  // nullptr for an omitted optional output
  std::map<std::string, Attribute> attributes;  // the model's (standard) attributes only
  NodeDecisions decisions;                      // what the load passes decided (fused_ops.hpp)
  bool erased = false;

  const Attribute* find_attribute(const std::string& attr_name) const;
  // Typed attribute readers: a missing attribute gives the default, a wrong kind an error.
  Result<int64_t> attr_int(const std::string& attr_name, int64_t default_value) const;
  Result<float> attr_float(const std::string& attr_name, float default_value) const;
  Result<std::string> attr_string(const std::string& attr_name,
                                  const std::string& default_value) const;
  Result<std::vector<int64_t>> attr_ints(const std::string& attr_name,
                                         std::vector<int64_t> default_value = {}) const;
  Result<std::vector<float>> attr_floats(const std::string& attr_name,
                                         std::vector<float> default_value = {}) const;
  bool has_attribute(const std::string& attr_name) const {
    return find_attribute(attr_name) != nullptr;
  }

  size_t num_inputs() const { return inputs.size(); }
  // Optional inputs may be absent (missing or given as "").
  bool has_input(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
  bool has_output(size_t i) const { return i < outputs.size() && outputs[i] != nullptr; }
  // "node 'conv1' (Conv)" for messages.
  std::string describe() const;
};

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  std::string name;
  int64_t ir_version = 0;
  std::map<std::string, int64_t> opset_imports;  // domain -> version
  std::vector<Value*> inputs;                    // runtime inputs (not initializers), in order
  std::vector<Value*> declared_inputs;           // every graph input as the file lists them,
                                                 // initializers included (for export)
  std::string producer_name, producer_version, doc_string;
  std::vector<std::pair<std::string, std::string>> metadata;  // model metadata_props
  std::vector<Value*> outputs;

  // Looks a value up by name, creating it when absent.
  Value* get_or_create_value(const std::string& value_name);
  Value* find_value(const std::string& value_name) const;
  // A fresh value with a unique name derived from `hint`.
  Value* create_unique_value(const std::string& hint);
  Node* add_node(std::unique_ptr<Node> node);  // wires producers and consumers
  // Marks the node erased and unlinks it from its inputs' consumer lists.
  void erase_node(Node* node);
  // Every consumer of `from` (and graph-output role) now reads `to`.
  void replace_all_uses(Value* from, Value* to);
  void replace_input(Node* node, size_t slot, Value* value);

  // Live nodes in insertion order (not necessarily topological).
  std::vector<Node*> nodes() const;
  // Topological order of live nodes; fails with the names on a cycle.
  Result<std::vector<Node*>> topological_order() const;
  const std::vector<std::unique_ptr<Value>>& values() const { return values_; }
  // Drops erased nodes and values nobody uses.
  void compact();

 private:
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Value>> values_;
  std::map<std::string, Value*> by_name_;
  int64_t unique_counter_ = 0;
};

}  // namespace keel
