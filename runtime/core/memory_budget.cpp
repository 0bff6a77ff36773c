#include "core/memory_budget.hpp"

#include <algorithm>
#include <cstdio>

namespace keel {

namespace {
thread_local MemoryBudget* current_budget = nullptr;
}  // namespace

bool MemoryBudget::take(size_t bytes) {
  if (limit_ != 0 && (bytes > limit_ || used_ > limit_ - bytes)) {
    if (refused_ == 0) refused_ = bytes;
    return false;
  }
  used_ += bytes;
  return true;
}

Status MemoryBudget::exceeded_status(const std::string& what) const {
  return Status(StatusCode::kOutOfMemory,
                what + " needs more than max_memory_bytes (" + format_bytes(limit_) + "): " +
                    format_bytes(used_) + " in use and " + format_bytes(refused_) + " more asked");
}

MemoryBudgetScope::MemoryBudgetScope(MemoryBudget* budget) : previous_(current_budget) {
  current_budget = budget;
}

MemoryBudgetScope::~MemoryBudgetScope() { current_budget = previous_; }

bool memory_budget_take(size_t bytes) {
  return current_budget == nullptr || current_budget->take(bytes);
}

void memory_budget_give_back(size_t bytes) {
  if (current_budget != nullptr) current_budget->give_back(bytes);
}

bool memory_budget_allows(size_t bytes) {
  if (bytes > (size_t{1} << 46)) return false;
  const MemoryBudget* b = current_budget;
  return b == nullptr || b->limit() == 0 || bytes <= b->limit() - std::min(b->used(), b->limit());
}

std::string format_bytes(size_t bytes) {
  char buf[64];
  if (bytes < 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%zu bytes", bytes);
  } else if (bytes < size_t{1} << 30) {
    std::snprintf(buf, sizeof buf, "%.1f MiB (%zu bytes)", static_cast<double>(bytes) / (1 << 20),
                  bytes);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f GiB (%zu bytes)", static_cast<double>(bytes) / (1 << 30),
                  bytes);
  }
  return buf;
}

}  // namespace keel
