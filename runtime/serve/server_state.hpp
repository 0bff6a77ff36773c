// What the protocol front ends share: the models, the metrics and the life-cycle state
// (ready -> draining -> stopped), with the count of requests not yet answered, which shutdown
// waits for.
#pragma once

#include <atomic>
#include <cstdint>

#include "serve/metrics.hpp"
#include "serve/repository.hpp"

namespace keel::serve {

struct ServerState {
  Repository* repository = nullptr;
  MetricsRegistry* metrics = nullptr;
  std::atomic<bool> loaded{false};    // the first scan of the repository is done
  std::atomic<bool> draining{false};  // SIGTERM: no new requests
  std::atomic<int64_t> in_flight{0};  // requests received and not yet answered

  bool live() const { return true; }
  bool ready() const { return loaded && !draining && repository->any_ready(); }
};

// Counts a request in flight for its lifetime (moved into the completion callback).
class InFlight {
 public:
  explicit InFlight(ServerState& s) : s_(&s) { s_->in_flight.fetch_add(1); }
  InFlight(InFlight&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;
  ~InFlight() {
    if (s_) s_->in_flight.fetch_sub(1);
  }

 private:
  ServerState* s_;
};

}  // namespace keel::serve
