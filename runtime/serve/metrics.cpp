#include "serve/metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace keel::serve {

namespace {

constexpr const char* kReasonNames[] = {"REJECTED", "INVALID", "BACKEND"};

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void family(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void sample(std::string& out, const std::string& name, const std::string& labels, double v) {
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += ' ';
  out += number(v);
  out += '\n';
}

std::string escape_label(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

void Histogram::observe_us(uint64_t us) {
  const double s = static_cast<double>(us) * 1e-6;
  size_t i = 0;
  while (i < kBounds.size() && s > kBounds[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(us, std::memory_order_relaxed);
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= kBounds.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    const std::string le = i < kBounds.size() ? number(kBounds[i]) : "+Inf";
    sample(out, name + "_bucket", labels + ",le=\"" + le + "\"", static_cast<double>(cumulative));
  }
  sample(out, name + "_sum", labels, static_cast<double>(sum_us_.load()) * 1e-6);
  sample(out, name + "_count", labels, static_cast<double>(cumulative));
}

std::shared_ptr<ModelMetrics> MetricsRegistry::get(const std::string& model,
                                                   const std::string& version) {
  std::lock_guard lock(mutex_);
  for (const auto& m : models_) {
    if (m->model == model && m->version == version) return m;
  }
  models_.push_back(std::make_shared<ModelMetrics>(model, version));
  return models_.back();
}

std::string MetricsRegistry::render() const {
  std::vector<std::shared_ptr<ModelMetrics>> models;
  {
    std::lock_guard lock(mutex_);
    models = models_;
  }
  std::vector<std::string> labels;
  for (const auto& m : models) {
    labels.push_back("model=\"" + escape_label(m->model) + "\",version=\"" +
                     escape_label(m->version) + "\"");
  }
  std::string out;
  out.reserve(8192 + models.size() * 6000);
  auto counter = [&](const char* name, const char* help, auto get) {
    family(out, name, "counter", help);
    for (size_t i = 0; i < models.size(); ++i) {
      sample(out, name, labels[i], static_cast<double>(get(*models[i])));
    }
  };
  counter("keel_inference_request_success", "Successful inference requests",
          [](const ModelMetrics& m) { return m.success.load(); });
  family(out, "keel_inference_request_failure", "counter", "Failed inference requests");
  for (size_t i = 0; i < models.size(); ++i) {
    for (size_t r = 0; r < static_cast<size_t>(FailureReason::kCount); ++r) {
      sample(out, "keel_inference_request_failure",
             labels[i] + ",reason=\"" + kReasonNames[r] + "\"",
             static_cast<double>(models[i]->failure[r].load()));
    }
  }
  counter("keel_inference_count", "Inferences performed (a batch of n counts n)",
          [](const ModelMetrics& m) { return m.inference_count.load(); });
  counter("keel_inference_exec_count", "Model executions (batches) performed",
          [](const ModelMetrics& m) { return m.exec_count.load(); });
  counter("keel_inference_request_duration_us", "Cumulative request duration in microseconds",
          [](const ModelMetrics& m) { return m.request_us.load(); });
  counter("keel_inference_queue_duration_us", "Cumulative time requests waited in the queue",
          [](const ModelMetrics& m) { return m.queue_us.load(); });
  counter("keel_inference_compute_input_duration_us",
          "Cumulative time spent gathering inputs into batches",
          [](const ModelMetrics& m) { return m.compute_input_us.load(); });
  counter("keel_inference_compute_infer_duration_us", "Cumulative time spent running the model",
          [](const ModelMetrics& m) { return m.compute_infer_us.load(); });
  counter("keel_inference_compute_output_duration_us",
          "Cumulative time spent splitting outputs into responses",
          [](const ModelMetrics& m) { return m.compute_output_us.load(); });
  family(out, "keel_inference_pending_request_count", "gauge",
         "Requests queued or running, not yet answered");
  for (size_t i = 0; i < models.size(); ++i) {
    sample(out, "keel_inference_pending_request_count", labels[i],
           static_cast<double>(models[i]->pending.load()));
  }
  family(out, "keel_model_load_duration_seconds", "gauge",
         "Time to load, fold, plan and warm up the model");
  for (size_t i = 0; i < models.size(); ++i) {
    sample(out, "keel_model_load_duration_seconds", labels[i],
           static_cast<double>(models[i]->load_us.load()) * 1e-6);
  }
  auto histogram = [&](const char* name, const char* help, const Histogram ModelMetrics::*h) {
    family(out, name, "histogram", help);
    for (size_t i = 0; i < models.size(); ++i) ((*models[i]).*h).render(out, name, labels[i]);
  };
  histogram("keel_request_latency_seconds", "Request latency, from receipt to result",
            &ModelMetrics::request_latency);
  histogram("keel_queue_latency_seconds", "Time a request waited for an instance",
            &ModelMetrics::queue_latency);
  histogram("keel_compute_latency_seconds", "Time of the model execution that served a request",
            &ModelMetrics::compute_latency);

  // Process metrics (the names Prometheus client libraries use).
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  const double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                     static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
  family(out, "process_cpu_seconds_total", "counter", "User and system CPU time");
  sample(out, "process_cpu_seconds_total", "", cpu);
  long pages = 0, resident = 0;
  std::ifstream statm("/proc/self/statm");
  statm >> pages >> resident;
  family(out, "process_resident_memory_bytes", "gauge", "Resident memory");
  sample(out, "process_resident_memory_bytes", "",
         static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)));
  return out;
}

}  // namespace keel::serve
