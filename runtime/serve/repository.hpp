// The models a server hosts: a Triton-layout repository (DIR/<model>/<version>/model.onnx and
// an optional DIR/<model>/config.pbtxt) or one model given by path. Triton's default version
// policy: the newest version folder is served. In poll mode a rescan loads a new version, or a
// changed file, beside the one serving and swaps it in once it is warm, so no request fails
// during a reload; the old runner drains and stops when nothing refers to it any more. A model
// that fails to load is reported and leaves the others alone.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "serve/inference.hpp"
#include "serve/metrics.hpp"
#include "serve/model_runner.hpp"

namespace keel::serve {

struct RepositoryOptions {
  std::string repository_dir;  // a repository, or empty with model_path set
  std::string model_path;      // one model: a .onnx file, or a folder holding one model
  std::string model_name;      // its name (default: the file's or folder's stem)
  int default_max_batch_size = 4;
  ModelOptions model_defaults;  // before each model's config.pbtxt parameters (precision)
  void* arena = nullptr;        // the tbb::task_arena every session runs in
};

struct ModelStatus {
  std::string name;
  std::string version;  // the serving version, empty when none
  bool ready = false;
  std::string error;  // why the last load failed
};

class Repository {
 public:
  Repository(RepositoryOptions options, MetricsRegistry& metrics);
  ~Repository();
  // Scans and loads what is new or changed; returns when every load is done.
  void scan();
  // The runner serving (model, version); nullptr with the reason (404) when there is none.
  std::shared_ptr<ModelRunner> find(const std::string& model, const std::string& version,
                                    Outcome* why) const;
  std::vector<ModelStatus> status() const;
  // Some model serves (one that failed to load does not hold the others back).
  bool any_ready() const;
  // Shutdown: refuse new requests everywhere, then wait for the queues (bounded by the
  // caller), then stop every instance.
  void stop_accepting();
  // Answers every queued request with `why` (the drain's time is up).
  void cancel_queued(const Outcome& why);
  bool idle() const;
  void stop();

 private:
  struct Source {
    std::string dir;          // the model's folder (config.pbtxt lives here)
    std::string onnx;         // the model file of the newest version
    std::string version;      // its version folder name ("1" for a bare file)
    std::string fingerprint;  // version + sizes and times of the files: a change reloads
  };
  std::map<std::string, Source> discover(std::map<std::string, std::string>* errors) const;
  Result<std::shared_ptr<ModelRunner>> load(const std::string& name, const Source& src);
  void reap_retired();

  struct Entry {
    std::shared_ptr<ModelRunner> runner;
    std::string fingerprint;
    std::string error;
  };
  RepositoryOptions options_;
  MetricsRegistry& metrics_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> models_;
  std::vector<std::shared_ptr<ModelRunner>> retired_;  // swapped out, draining
};

}  // namespace keel::serve
