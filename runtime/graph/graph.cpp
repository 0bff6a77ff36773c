#include "graph/graph.hpp"

#include <algorithm>
#include <unordered_map>

namespace keel {

const char* attribute_kind_name(AttributeKind kind) {
  switch (kind) {
    case AttributeKind::kFloat: return "float";
    case AttributeKind::kInt: return "int";
    case AttributeKind::kString: return "string";
    case AttributeKind::kTensor: return "tensor";
    case AttributeKind::kFloats: return "floats";
    case AttributeKind::kInts: return "ints";
    case AttributeKind::kStrings: return "strings";
    case AttributeKind::kGraph: return "graph";
    case AttributeKind::kOther: return "other";
  }
  return "?";
}

void Value::set_constant(Tensor t) {
  type.dtype = t.dtype();
  std::vector<Dim> dims;
  for (int64_t d : t.shape()) dims.push_back(Dim{d, {}});
  type.dims = std::move(dims);
  constant = std::move(t);
}

const Attribute* Node::find_attribute(const std::string& attr_name) const {
  auto it = attributes.find(attr_name);
  return it == attributes.end() ? nullptr : &it->second;
}

std::string Node::describe() const { return "node '" + name + "' (" + op_type + ")"; }

namespace {
Status wrong_kind(const Node& n, const std::string& attr, AttributeKind want, AttributeKind got) {
  return invalid_model(n.describe() + ": attribute '" + attr + "' must be " +
                       attribute_kind_name(want) + ", found " + attribute_kind_name(got));
}
}  // namespace

Result<int64_t> Node::attr_int(const std::string& attr_name, int64_t default_value) const {
  const Attribute* a = find_attribute(attr_name);
  if (!a) return default_value;
  if (a->kind != AttributeKind::kInt)
    return wrong_kind(*this, attr_name, AttributeKind::kInt, a->kind);
  return a->i;
}

Result<float> Node::attr_float(const std::string& attr_name, float default_value) const {
  const Attribute* a = find_attribute(attr_name);
  if (!a) return default_value;
  if (a->kind != AttributeKind::kFloat) {
    return wrong_kind(*this, attr_name, AttributeKind::kFloat, a->kind);
  }
  return a->f;
}

Result<std::string> Node::attr_string(const std::string& attr_name,
                                      const std::string& default_value) const {
  const Attribute* a = find_attribute(attr_name);
  if (!a) return default_value;
  if (a->kind != AttributeKind::kString) {
    return wrong_kind(*this, attr_name, AttributeKind::kString, a->kind);
  }
  return a->s;
}

Result<std::vector<int64_t>> Node::attr_ints(const std::string& attr_name,
                                             std::vector<int64_t> default_value) const {
  const Attribute* a = find_attribute(attr_name);
  if (!a) return default_value;
  if (a->kind != AttributeKind::kInts)
    return wrong_kind(*this, attr_name, AttributeKind::kInts, a->kind);
  return a->ints;
}

Result<std::vector<float>> Node::attr_floats(const std::string& attr_name,
                                             std::vector<float> default_value) const {
  const Attribute* a = find_attribute(attr_name);
  if (!a) return default_value;
  if (a->kind != AttributeKind::kFloats) {
    return wrong_kind(*this, attr_name, AttributeKind::kFloats, a->kind);
  }
  return a->floats;
}

Value* Graph::get_or_create_value(const std::string& value_name) {
  if (Value* v = find_value(value_name)) return v;
  auto v = std::make_unique<Value>();
  v->name = value_name;
  Value* raw = v.get();
  values_.push_back(std::move(v));
  by_name_[value_name] = raw;
  return raw;
}

Value* Graph::find_value(const std::string& value_name) const {
  auto it = by_name_.find(value_name);
  return it == by_name_.end() ? nullptr : it->second;
}

Value* Graph::create_unique_value(const std::string& hint) {
  std::string candidate;
  do {
    candidate = hint + "__" + std::to_string(unique_counter_++);
  } while (find_value(candidate) != nullptr);
  return get_or_create_value(candidate);
}

Node* Graph::add_node(std::unique_ptr<Node> node) {
  Node* raw = node.get();
  for (Value* in : raw->inputs) {
    if (in) in->consumers.push_back(raw);
  }
  for (Value* out : raw->outputs) {
    if (out) out->producer = raw;
  }
  nodes_.push_back(std::move(node));
  return raw;
}

void Graph::erase_node(Node* node) {
  if (node->erased) return;
  node->erased = true;
  for (Value* in : node->inputs) {
    if (!in) continue;
    auto it = std::find(in->consumers.begin(), in->consumers.end(), node);
    if (it != in->consumers.end()) in->consumers.erase(it);
  }
  for (Value* out : node->outputs) {
    if (out && out->producer == node) out->producer = nullptr;
  }
}

void Graph::replace_input(Node* node, size_t slot, Value* value) {
  Value* old = node->inputs[slot];
  if (old) {
    auto it = std::find(old->consumers.begin(), old->consumers.end(), node);
    if (it != old->consumers.end()) old->consumers.erase(it);
  }
  node->inputs[slot] = value;
  if (value) value->consumers.push_back(node);
}

void Graph::replace_all_uses(Value* from, Value* to) {
  std::vector<Node*> consumers = from->consumers;
  for (Node* n : consumers) {
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      if (n->inputs[i] == from) replace_input(n, i, to);
    }
  }
  for (Value*& out : outputs) {
    if (out == from) {
      out = to;
      from->is_graph_output = false;
      to->is_graph_output = true;
    }
  }
}

std::vector<Node*> Graph::nodes() const {
  std::vector<Node*> live;
  live.reserve(nodes_.size());
  for (const auto& n : nodes_) {
    if (!n->erased) live.push_back(n.get());
  }
  return live;
}

Result<std::vector<Node*>> Graph::topological_order() const {
  std::vector<Node*> live = nodes();
  std::unordered_map<const Node*, int> pending;
  for (Node* n : live) {
    int count = 0;
    for (Value* in : n->inputs) {
      if (in && in->producer && !in->producer->erased) ++count;
    }
    pending[n] = count;
  }
  std::vector<Node*> order;
  order.reserve(live.size());
  std::vector<Node*> ready;
  for (Node* n : live) {
    if (pending[n] == 0) ready.push_back(n);
  }
  // Keep the model's own order among ready nodes: take them in insertion order.
  size_t head = 0;
  while (head < ready.size()) {
    Node* n = ready[head++];
    order.push_back(n);
    for (Value* out : n->outputs) {
      if (!out) continue;
      for (Node* c : out->consumers) {
        if (--pending[c] == 0) ready.push_back(c);
      }
    }
  }
  if (order.size() != live.size()) {
    std::string names;
    int listed = 0;
    for (Node* n : live) {
      if (pending[n] > 0 && listed < 5) {
        names += (listed++ ? ", " : "") + std::string("'") + n->name + "'";
      }
    }
    return invalid_model("the graph has a cycle (or an input produced by no node) through " +
                         names);
  }
  return order;
}

void Graph::compact() {
  nodes_.erase(
      std::remove_if(nodes_.begin(), nodes_.end(), [](const auto& n) { return n->erased; }),
      nodes_.end());
  auto unused = [](const std::unique_ptr<Value>& v) {
    return v->producer == nullptr && v->consumers.empty() && !v->is_graph_input &&
           !v->is_graph_output;
  };
  for (const auto& v : values_) {
    if (unused(v)) by_name_.erase(v->name);
  }
  values_.erase(std::remove_if(values_.begin(), values_.end(), unused), values_.end());
}

}  // namespace keel
