#include <cstring>
#include <vector>

#include "fuzz_targets.hpp"
#include "keel/keel.hpp"

namespace keel::fuzz {

namespace {

// Small enough that one input runs in well under a second under ASan, large enough for real
// graphs: every model is loaded with this limit (the loader and planner must refuse, not
// allocate, past it).
constexpr size_t kMemoryLimit = size_t{32} << 20;
constexpr int64_t kMaxInputElements = int64_t{1} << 14;

// Deterministic input values: floats in [-2, 2], integers in [0, 3] (plausible indices, sizes
// and axes), alternating booleans.
void fill(Tensor& t, uint32_t seed) {
  uint32_t s = seed * 2654435761u + 1;
  auto next = [&s] {
    s = s * 1664525u + 1013904223u;
    return s >> 8;
  };
  auto* bytes = static_cast<uint8_t*>(t.data());
  const size_t esize = t.numel() > 0 ? t.nbytes() / static_cast<size_t>(t.numel()) : 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    uint8_t* p = bytes + static_cast<size_t>(i) * esize;
    switch (t.dtype()) {
      case DataType::kFloat32: {
        const float v = static_cast<float>(next() % 4001) / 1000.0f - 2.0f;
        std::memcpy(p, &v, sizeof v);
        break;
      }
      case DataType::kFloat64: {
        const double v = static_cast<double>(next() % 4001) / 1000.0 - 2.0;
        std::memcpy(p, &v, sizeof v);
        break;
      }
      case DataType::kBool: *p = static_cast<uint8_t>(i & 1); break;
      default: {
        // Integers of any width, little-endian: the low byte carries the value.
        std::memset(p, 0, esize);
        *p = static_cast<uint8_t>(next() % 4);
      }
    }
  }
}

}  // namespace

int load_model(const uint8_t* data, size_t size) {
  ModelOptions options;
  options.max_memory_bytes = kMemoryLimit;
  auto model = Model::load_bytes(data, size, options);
  if (!model.is_ok()) return 0;
  SessionOptions session_options;
  session_options.threads = 1;
  auto session = Session::create(*model, session_options);
  if (!session.is_ok()) return 0;

  std::vector<NamedTensor> feeds;
  int64_t total = 0;
  uint32_t seed = 0;
  for (const IoInfo& in : (*model)->inputs()) {
    Shape shape = in.rank_known ? Shape(in.shape) : Shape{2};
    for (int64_t& d : shape) d = d < 0 ? 2 : d;
    int64_t n = 1;
    for (int64_t d : shape) {
      if (d > kMaxInputElements || n > kMaxInputElements) return 0;
      n *= d;
    }
    total += n;
    if (total > kMaxInputElements) return 0;
    const DataType dtype = in.dtype == DataType::kUndefined ? DataType::kFloat32 : in.dtype;
    auto t = Tensor::allocate(dtype, shape);
    if (!t.is_ok()) return 0;
    fill(*t, seed++);
    feeds.push_back({in.name, std::move(*t)});
  }
  auto outputs = (*session)->run(feeds);
  (void)outputs;  // a run may fail (a bad index, a shape no input fits): it must not crash
  return 0;
}

}  // namespace keel::fuzz
