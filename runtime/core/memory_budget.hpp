// ModelOptions::max_memory_bytes at work: while a MemoryBudgetScope is open on a thread, every
// allocate_aligned() on that thread (tensors, packed weights, folded constants) draws on its
// budget and every free on that thread gives back, so the budget follows the bytes alive; an
// allocation that would pass the limit fails before it is made (the caller reports
// OUT_OF_MEMORY as for a real failure). The load counts what parsing and the passes keep;
// planning counts what kernels pack and the plan folds, on top of the model's weights.
// Allocations on other threads (a parallel loop's workers) are not counted: the big buffers
// (initializers, packed weights, folded constants) are allocated by the loading or planning
// thread.
#pragma once

#include <cstddef>
#include <string>

#include "core/status.hpp"

namespace keel {

class MemoryBudget {
 public:
  // limit 0: no limit (the scope only counts).
  MemoryBudget(size_t limit, size_t already_used) : limit_(limit), used_(already_used) {}
  // Takes `bytes` from the budget; false (and remembered) when that would pass the limit.
  bool take(size_t bytes);
  void give_back(size_t bytes) { used_ -= bytes < used_ ? bytes : used_; }
  bool exceeded() const { return refused_ > 0; }
  size_t limit() const { return limit_; }
  size_t used() const { return used_; }
  // The status for an exceeded budget: `what` failed because it needs more than the limit.
  Status exceeded_status(const std::string& what) const;

 private:
  size_t limit_;
  size_t used_;
  size_t refused_ = 0;  // the first allocation refused
};

// Makes `budget` the calling thread's budget until the scope ends (scopes nest).
class MemoryBudgetScope {
 public:
  explicit MemoryBudgetScope(MemoryBudget* budget);
  ~MemoryBudgetScope();
  MemoryBudgetScope(const MemoryBudgetScope&) = delete;
  MemoryBudgetScope& operator=(const MemoryBudgetScope&) = delete;

 private:
  MemoryBudget* previous_;
};

// Called by allocate_aligned(): false when the calling thread's budget refuses `bytes`.
bool memory_budget_take(size_t bytes);
// Called when an aligned block is freed.
void memory_budget_give_back(size_t bytes);

// Whether an output of `bytes` could still be allocated: at most 2^46 bytes (Tensor's cap) and,
// under a budget, within what is left of it. For kernels whose preparation costs time in
// proportion to an output dim (Resize's tap tables), so they refuse before the work, not after.
bool memory_budget_allows(size_t bytes);

// "1.5 GB" style, for messages.
std::string format_bytes(size_t bytes);

}  // namespace keel
