#include "serve/repository.hpp"

#include <algorithm>
#include <filesystem>

#include "serve/log.hpp"
#include "serve/model_config.hpp"

namespace keel::serve {

namespace fs = std::filesystem;

namespace {

std::string file_stamp(const fs::path& p) {
  std::error_code ec;
  const auto size = fs::file_size(p, ec);
  if (ec) return "-";
  const auto time = fs::last_write_time(p, ec);
  return std::to_string(size) + "@" + std::to_string(ec ? 0 : time.time_since_epoch().count());
}

bool is_version_name(const std::string& s) {
  return !s.empty() && s.size() < 19 && std::all_of(s.begin(), s.end(), ::isdigit);
}

}  // namespace

Repository::Repository(RepositoryOptions options, MetricsRegistry& metrics)
    : options_(std::move(options)), metrics_(metrics) {}

Repository::~Repository() { stop(); }

std::map<std::string, Repository::Source> Repository::discover(
    std::map<std::string, std::string>* errors) const {
  std::map<std::string, Source> found;
  // A model folder: the newest numeric version folder with a model.onnx, or model.onnx itself.
  auto from_folder = [&](const std::string& name, const fs::path& dir) {
    std::error_code ec;
    Source src;
    src.dir = dir.string();
    int64_t best = -1;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const std::string v = e.path().filename().string();
      if (!e.is_directory(ec) || !is_version_name(v)) continue;
      if (!fs::exists(e.path() / "model.onnx", ec)) continue;
      const int64_t n = std::stoll(v);
      if (n > best) {
        best = n;
        src.version = std::to_string(n);
        src.onnx = (e.path() / "model.onnx").string();
      }
    }
    if (best < 0 && fs::exists(dir / "model.onnx", ec)) {
      src.version = "1";
      src.onnx = (dir / "model.onnx").string();
    }
    if (src.onnx.empty()) {
      (*errors)[name] = "no version folder with a model.onnx in '" + dir.string() + "'";
      return;
    }
    src.fingerprint =
        src.version + ":" + file_stamp(src.onnx) + ":" + file_stamp(dir / "config.pbtxt");
    found[name] = src;
  };
  std::error_code ec;
  if (!options_.model_path.empty()) {
    const fs::path p(options_.model_path);
    std::string name = options_.model_name;
    if (name.empty()) name = (fs::is_directory(p, ec) ? p.filename() : p.stem()).string();
    if (fs::is_directory(p, ec)) {
      from_folder(name, p);
    } else if (fs::exists(p, ec)) {
      Source src{p.parent_path().string(), p.string(), "1", ""};
      src.fingerprint = "1:" + file_stamp(p);
      src.dir.clear();  // a bare file has no config.pbtxt
      found[name] = src;
    } else {
      (*errors)[name] = "'" + p.string() + "' does not exist";
    }
    return found;
  }
  for (const auto& e : fs::directory_iterator(options_.repository_dir, ec)) {
    if (e.is_directory(ec)) from_folder(e.path().filename().string(), e.path());
  }
  if (ec)
    (*errors)[""] = "cannot read the repository '" + options_.repository_dir + "': " + ec.message();
  return found;
}

Result<std::shared_ptr<ModelRunner>> Repository::load(const std::string& name, const Source& src) {
  const auto t0 = Clock::now();
  const std::string config_path =
      src.dir.empty() ? "" : (fs::path(src.dir) / "config.pbtxt").string();
  inference::ModelConfig config;
  if (!config_path.empty()) {
    KEEL_ASSIGN_OR_RETURN(config, read_config_file(config_path));
  }
  KEEL_ASSIGN_OR_RETURN(ModelOptions mo,
                        model_options_from_config(config, options_.model_defaults));
  KEEL_ASSIGN_OR_RETURN(std::shared_ptr<const Model> model, Model::load_file(src.onnx, mo));
  KEEL_ASSIGN_OR_RETURN(ServedModelConfig served, complete_config(std::move(config), name, *model,
                                                                  options_.default_max_batch_size));
  auto metrics = metrics_.get(name, src.version);
  KEEL_ASSIGN_OR_RETURN(auto runner,
                        ModelRunner::start(src.version, std::move(model), std::move(served),
                                           options_.arena, metrics));
  metrics->load_us = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count());
  return runner;
}

void Repository::scan() {
  std::map<std::string, std::string> errors;
  const auto sources = discover(&errors);
  for (const auto& [name, err] : errors) {
    std::lock_guard lock(mutex_);
    Entry& e = models_[name];
    if (e.error != err) Log::write("error", "model_load_failed", {{"model", name}, {"error", err}});
    e.error = err;
  }
  for (const auto& [name, src] : sources) {
    {
      std::lock_guard lock(mutex_);
      auto it = models_.find(name);
      if (it != models_.end() && it->second.fingerprint == src.fingerprint) continue;
    }
    Log::write("info", "model_loading",
               {{"model", name}, {"version", src.version}, {"path", src.onnx}});
    auto runner = load(name, src);
    std::lock_guard lock(mutex_);
    Entry& e = models_[name];
    e.fingerprint = src.fingerprint;  // a failed file is not retried until it changes
    if (!runner.is_ok()) {
      e.error = runner.status().message();
      Log::write("error", "model_load_failed",
                 {{"model", name}, {"version", src.version}, {"error", e.error}});
      continue;
    }
    e.error.clear();
    if (e.runner) {
      Log::write("info", "model_unloading", {{"model", name}, {"version", e.runner->version()}});
      retired_.push_back(std::move(e.runner));
    }
    e.runner = std::move(*runner);
    Log::write("info", "model_ready", {{"model", name}, {"version", src.version}});
  }
  // A model folder that disappeared (poll mode): unload it.
  {
    std::lock_guard lock(mutex_);
    for (auto it = models_.begin(); it != models_.end();) {
      if (!sources.count(it->first) && !errors.count(it->first)) {
        if (it->second.runner) {
          Log::write("info", "model_unloading",
                     {{"model", it->first}, {"version", it->second.runner->version()}});
          retired_.push_back(std::move(it->second.runner));
        }
        it = models_.erase(it);
      } else {
        ++it;
      }
    }
  }
  reap_retired();
}

void Repository::reap_retired() {
  std::vector<std::shared_ptr<ModelRunner>> done;
  {
    std::lock_guard lock(mutex_);
    for (auto it = retired_.begin(); it != retired_.end();) {
      // Only the repository holds it (no request can reach it) and its queue is empty.
      if (it->use_count() == 1 && (*it)->idle()) {
        done.push_back(std::move(*it));
        it = retired_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& r : done) r->join();
}

std::shared_ptr<ModelRunner> Repository::find(const std::string& model, const std::string& version,
                                              Outcome* why) const {
  std::lock_guard lock(mutex_);
  auto it = models_.find(model);
  if (it == models_.end()) {
    *why = Outcome::error(Code::kNotFound, "unknown model '" + model + "'");
    return nullptr;
  }
  if (!it->second.runner) {
    *why = Outcome::error(Code::kUnavailable,
                          "model '" + model + "' is not ready" +
                              (it->second.error.empty() ? "" : ": " + it->second.error));
    return nullptr;
  }
  if (!version.empty() && version != it->second.runner->version()) {
    *why = Outcome::error(Code::kNotFound, "model '" + model + "' has no version '" + version +
                                               "' (serving version " +
                                               it->second.runner->version() + ")");
    return nullptr;
  }
  return it->second.runner;
}

std::vector<ModelStatus> Repository::status() const {
  std::lock_guard lock(mutex_);
  std::vector<ModelStatus> out;
  for (const auto& [name, e] : models_) {
    out.push_back({name, e.runner ? e.runner->version() : "", e.runner != nullptr, e.error});
  }
  return out;
}

bool Repository::any_ready() const {
  std::lock_guard lock(mutex_);
  for (const auto& [name, e] : models_) {
    if (e.runner) return true;
  }
  return false;
}

void Repository::stop_accepting() {
  std::lock_guard lock(mutex_);
  for (auto& [name, e] : models_) {
    if (e.runner) e.runner->stop_accepting();
  }
}

void Repository::cancel_queued(const Outcome& why) {
  std::lock_guard lock(mutex_);
  for (auto& [name, e] : models_) {
    if (e.runner) e.runner->cancel_queued(why);
  }
  for (auto& r : retired_) r->cancel_queued(why);
}

bool Repository::idle() const {
  std::lock_guard lock(mutex_);
  for (const auto& [name, e] : models_) {
    if (e.runner && !e.runner->idle()) return false;
  }
  for (const auto& r : retired_) {
    if (!r->idle()) return false;
  }
  return true;
}

void Repository::stop() {
  std::map<std::string, Entry> models;
  std::vector<std::shared_ptr<ModelRunner>> retired;
  {
    std::lock_guard lock(mutex_);
    models.swap(models_);
    retired.swap(retired_);
  }
  for (auto& [name, e] : models) {
    if (e.runner) e.runner->join();
  }
  for (auto& r : retired) r->join();
}

}  // namespace keel::serve
