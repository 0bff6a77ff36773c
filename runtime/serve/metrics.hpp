// Prometheus metrics: names parallel to Triton's (nv_inference_* -> keel_inference_*) with
// labels model and version, plus latency histograms for request, queue and compute time
// (Triton has none) and process CPU and memory. Updates are relaxed atomics, no locks.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace keel::serve {

class Histogram {
 public:
  // Upper bounds in seconds, 50 us to 10 s.
  static constexpr std::array<double, 16> kBounds = {
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
      0.025,   0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   10.0};
  void observe_us(uint64_t us);
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> counts_{};
  std::atomic<uint64_t> sum_us_{0};
};

enum class FailureReason { kRejected, kInvalid, kBackend, kCount };

struct ModelMetrics {
  ModelMetrics(std::string model, std::string version)
      : model(std::move(model)), version(std::move(version)) {}
  const std::string model, version;
  std::atomic<uint64_t> success{0};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(FailureReason::kCount)> failure{};
  std::atomic<uint64_t> inference_count{0};  // a batch of n counts n
  std::atomic<uint64_t> exec_count{0};       // model executions (batches)
  std::atomic<uint64_t> request_us{0}, queue_us{0}, compute_input_us{0}, compute_infer_us{0},
      compute_output_us{0};
  std::atomic<int64_t> pending{0};
  std::atomic<uint64_t> load_us{0};
  Histogram request_latency, queue_latency, compute_latency;

  void fail(FailureReason r) {
    failure[static_cast<size_t>(r)].fetch_add(1, std::memory_order_relaxed);
  }
};

class MetricsRegistry {
 public:
  // The metrics of (model, version), created on first use; the same object for a reloaded
  // version, so counters never go backwards.
  std::shared_ptr<ModelMetrics> get(const std::string& model, const std::string& version);
  // The Prometheus text exposition of everything.
  std::string render() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<ModelMetrics>> models_;
};

}  // namespace keel::serve
