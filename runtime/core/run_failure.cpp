#include "core/run_failure.hpp"

namespace keel {
namespace {

thread_local RunFailure* t_current = nullptr;

}  // namespace

void RunFailure::report(Status status) {
  std::lock_guard lock(mutex_);
  if (failed_.load(std::memory_order_relaxed)) return;
  status_ = std::move(status);
  failed_.store(true, std::memory_order_release);
}

RunFailure* current_run_failure() { return t_current; }

ScopedRunFailure::ScopedRunFailure(RunFailure* failure) : previous_(t_current) {
  t_current = failure;
}

ScopedRunFailure::~ScopedRunFailure() { t_current = previous_; }

bool report_run_failure(Status status) {
  if (t_current == nullptr) return false;
  t_current->report(std::move(status));
  return true;
}

}  // namespace keel
