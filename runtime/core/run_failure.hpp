// Errors that only the data of a run reveals: an index out of range in a run-time tensor, an
// allocation that fails inside a kernel. A kernel's run() returns nothing (the planner has
// validated everything that can be known before), so it reports such an error here instead of
// writing zeros or aborting. The executor owns one RunFailure per run and makes it current on its
// thread; keel::parallel_for carries the current one into its workers. The first report wins;
// the executor ends the run with it after the step, naming the node.
#pragma once

#include <atomic>
#include <mutex>

#include "core/status.hpp"

namespace keel {

class RunFailure {
 public:
  void report(Status status);  // thread-safe; later reports are dropped
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  const Status& status() const { return status_; }  // once failed()

 private:
  std::atomic<bool> failed_{false};
  std::mutex mutex_;
  Status status_;
};

// The run in progress on this thread, or nullptr.
RunFailure* current_run_failure();

// Makes `failure` current on this thread for the scope (restores the previous one after).
class ScopedRunFailure {
 public:
  explicit ScopedRunFailure(RunFailure* failure);
  ~ScopedRunFailure();
  ScopedRunFailure(const ScopedRunFailure&) = delete;
  ScopedRunFailure& operator=(const ScopedRunFailure&) = delete;

 private:
  RunFailure* previous_;
};

// Reports to the current run; false when no run is in progress on this thread (the caller then
// goes on as safely as it can: it has no one to tell).
bool report_run_failure(Status status);

}  // namespace keel
