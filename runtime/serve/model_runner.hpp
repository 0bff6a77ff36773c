// One loaded version of a served model: its session, its bounded queue and its instances.
//
// submit() checks a request against the model's configuration and queues it (or refuses it at
// once: 400 for a malformed request, 503 when the queue is full or the runner is stopping).
// Each instance is a thread that forms a batch when it is free: the oldest request and, with
// dynamic batching, the queued requests whose non-batch dims agree, up to max_batch_size,
// waiting at most max_queue_delay_microseconds for more. A batch of one runs on the request's
// own bytes; a larger one copies each request's rows once into the batch and hands every
// request back views of exactly its rows of the outputs. All instances run in the process's
// one task arena, so they share its threads instead of oversubscribing the cores.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "keel/keel.hpp"
#include "serve/inference.hpp"
#include "serve/metrics.hpp"
#include "serve/model_config.hpp"

namespace keel::serve {

class ModelRunner {
 public:
  // Creates the session in `arena` (a tbb::task_arena*), warms it up (a run of zeros at batch
  // 1 and, for a batching model, a plan for max_batch_size) and starts the instances.
  static Result<std::shared_ptr<ModelRunner>> start(std::string version,
                                                    std::shared_ptr<const Model> model,
                                                    ServedModelConfig config, void* arena,
                                                    std::shared_ptr<ModelMetrics> metrics);
  ~ModelRunner();

  void submit(InferRequest request, InferDone done);
  // Stops taking requests; queued and running ones finish. Returns at once.
  void stop_accepting();
  // Answers every queued (not yet running) request with `why` (shutdown past its timeout).
  void cancel_queued(const Outcome& why);
  // True when nothing is queued or running.
  bool idle() const;
  // Stops the instances after the queue has drained (blocks).
  void join();

  const std::string& version() const { return version_; }
  const ServedModelConfig& config() const { return config_; }
  const Model& model() const { return *model_; }

 private:
  struct Pending {
    InferRequest request;
    InferDone done;
    int64_t rows = 1;  // batch rows of this request (1 without batching)
  };
  ModelRunner() = default;
  Status validate(const InferRequest& r, int64_t* rows) const;
  void instance_loop();
  // Takes the next batch under `lock`; empty when stopping and drained.
  std::vector<Pending> take_batch(std::unique_lock<std::mutex>& lock);
  void execute(std::vector<Pending>& batch);
  void finish(Pending& p, InferResult result, FailureReason reason);

  std::string version_;
  std::shared_ptr<const Model> model_;
  std::unique_ptr<Session> session_;
  ServedModelConfig config_;
  std::shared_ptr<ModelMetrics> metrics_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  int running_ = 0;
  bool accepting_ = true;
  bool stopping_ = false;
  std::vector<std::thread> instances_;
};

}  // namespace keel::serve
