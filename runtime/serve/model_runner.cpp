#include "serve/model_runner.hpp"

#include <algorithm>
#include <cstring>

#include "serve/datatype.hpp"

namespace keel::serve {

namespace {

uint64_t micros(Clock::duration d) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

std::string shape_string(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

const InputTensor* find_input(const InferRequest& r, const std::string& name) {
  for (const InputTensor& in : r.inputs) {
    if (in.name == name) return &in;
  }
  return nullptr;
}

// Two requests can share a batch when every input agrees on dtype and non-batch dims.
bool batchable_together(const InferRequest& a, const InferRequest& b,
                        const std::vector<TensorConfig>& inputs) {
  for (const TensorConfig& t : inputs) {
    const InputTensor* x = find_input(a, t.name);
    const InputTensor* y = find_input(b, t.name);
    if (!x || !y || x->shape.size() != y->shape.size()) return false;
    if (!std::equal(x->shape.begin() + 1, x->shape.end(), y->shape.begin() + 1)) return false;
  }
  return true;
}

InferResult failure(Outcome why) {
  InferResult r;
  r.status = std::move(why);
  return r;
}

}  // namespace

Result<std::shared_ptr<ModelRunner>> ModelRunner::start(std::string version,
                                                        std::shared_ptr<const Model> model,
                                                        ServedModelConfig config, void* arena,
                                                        std::shared_ptr<ModelMetrics> metrics) {
  std::shared_ptr<ModelRunner> r(new ModelRunner());
  r->version_ = std::move(version);
  r->model_ = model;
  r->config_ = std::move(config);
  r->metrics_ = std::move(metrics);
  SessionOptions so;
  so.tbb_task_arena = arena;
  KEEL_ASSIGN_OR_RETURN(r->session_, Session::create(model, so));
  // Warm-up: one run of zeros at batch 1 (dynamic non-batch dims as 1), and the plan for a
  // full batch, so the first requests pay neither.
  const int mbs = r->config_.max_batch_size;
  auto zeros = [&](int64_t rows) -> Result<std::vector<NamedTensor>> {
    std::vector<NamedTensor> feeds;
    for (const TensorConfig& t : r->config_.inputs) {
      std::vector<int64_t> shape;
      if (mbs > 0) shape.push_back(rows);
      for (int64_t d : t.dims) shape.push_back(d < 0 ? 1 : d);
      KEEL_ASSIGN_OR_RETURN(Tensor z, Tensor::allocate(t.dtype, shape));
      feeds.push_back({t.name, std::move(z)});
    }
    return feeds;
  };
  KEEL_ASSIGN_OR_RETURN(auto one, zeros(1));
  auto out = r->session_->run(one);
  if (!out.is_ok()) return Status(out.status().code(), "warm-up run: " + out.status().message());
  if (mbs > 1) {
    KEEL_ASSIGN_OR_RETURN(auto full, zeros(mbs));
    KEEL_RETURN_IF_ERROR(r->session_->prepare(full));
  }
  for (int i = 0; i < r->config_.instances; ++i) {
    r->instances_.emplace_back([raw = r.get()] { raw->instance_loop(); });
  }
  return r;
}

ModelRunner::~ModelRunner() { join(); }

Status ModelRunner::validate(const InferRequest& r, int64_t* rows) const {
  const int mbs = config_.max_batch_size;
  *rows = 1;
  bool rows_known = false;
  for (size_t i = 0; i < r.inputs.size(); ++i) {
    const InputTensor& in = r.inputs[i];
    for (size_t j = 0; j < i; ++j) {
      if (r.inputs[j].name == in.name)
        return invalid_argument("input '" + in.name + "' is given twice");
    }
    const TensorConfig* t = nullptr;
    for (const TensorConfig& c : config_.inputs) t = c.name == in.name ? &c : t;
    if (!t) {
      std::string names;
      for (const TensorConfig& c : config_.inputs)
        names += (names.empty() ? "'" : ", '") + c.name + "'";
      return invalid_argument("unknown input '" + in.name + "' (the model's inputs: " + names +
                              ")");
    }
    if (in.dtype != t->dtype) {
      return invalid_argument("input '" + in.name + "' has datatype " + datatype_name(in.dtype) +
                              ", the model expects " + datatype_name(t->dtype));
    }
    const size_t rank = t->dims.size() + (mbs > 0 ? 1 : 0);
    if (in.shape.size() != rank) {
      return invalid_argument("input '" + in.name + "' has shape " + shape_string(in.shape) +
                              ", the model expects rank " + std::to_string(rank) +
                              (mbs > 0 ? " (the batch dim first)" : ""));
    }
    for (size_t d = 0; d < in.shape.size(); ++d) {
      if (in.shape[d] < 0) {
        return invalid_argument("input '" + in.name + "' has a negative dim in " +
                                shape_string(in.shape));
      }
    }
    if (mbs > 0) {
      if (in.shape[0] < 1 || in.shape[0] > mbs) {
        return invalid_argument("input '" + in.name + "' has batch size " +
                                std::to_string(in.shape[0]) + ", the model takes 1 to " +
                                std::to_string(mbs));
      }
      if (rows_known && in.shape[0] != *rows) {
        return invalid_argument("inputs disagree on the batch size (" + std::to_string(*rows) +
                                " and " + std::to_string(in.shape[0]) + ")");
      }
      *rows = in.shape[0];
      rows_known = true;
    }
    for (size_t d = 0; d < t->dims.size(); ++d) {
      const int64_t got = in.shape[d + (mbs > 0 ? 1 : 0)];
      if (t->dims[d] >= 0 && got != t->dims[d]) {
        std::vector<int64_t> want = t->dims;
        if (mbs > 0) want.insert(want.begin(), -1);
        return invalid_argument("input '" + in.name + "' has shape " + shape_string(in.shape) +
                                ", the model expects " + shape_string(want));
      }
    }
    auto n = checked_numel(Shape(in.shape.begin(), in.shape.end()));
    const size_t elem = dtype_size(in.dtype);
    if (!n || static_cast<uint64_t>(*n) > (uint64_t{1} << 40) / elem) {
      return invalid_argument("input '" + in.name + "' has shape " + shape_string(in.shape) +
                              ", too large");
    }
    if (static_cast<uint64_t>(*n) * elem != in.bytes) {
      return invalid_argument("input '" + in.name + "' has " + std::to_string(in.bytes) +
                              " bytes of data; its shape " + shape_string(in.shape) + " of " +
                              datatype_name(in.dtype) + " needs " +
                              std::to_string(static_cast<uint64_t>(*n) * elem));
    }
  }
  for (const TensorConfig& c : config_.inputs) {
    if (!find_input(r, c.name)) return invalid_argument("input '" + c.name + "' is missing");
  }
  for (size_t i = 0; i < r.outputs.size(); ++i) {
    bool known = false;
    for (const TensorConfig& c : config_.outputs) known = known || c.name == r.outputs[i].name;
    if (!known) return invalid_argument("unknown output '" + r.outputs[i].name + "'");
    for (size_t j = 0; j < i; ++j) {
      if (r.outputs[j].name == r.outputs[i].name) {
        return invalid_argument("output '" + r.outputs[i].name + "' is requested twice");
      }
    }
  }
  return Status::ok();
}

void ModelRunner::submit(InferRequest request, InferDone done) {
  Pending p{std::move(request), std::move(done), 1};
  metrics_->pending.fetch_add(1, std::memory_order_relaxed);
  Status st = validate(p.request, &p.rows);
  if (!st.is_ok()) return finish(p, failure(Outcome::of(st)), FailureReason::kInvalid);
  Outcome refused;
  {
    std::lock_guard lock(mutex_);
    if (!accepting_) {
      refused = Outcome::error(Code::kUnavailable, "model '" + config_.name + "' version " +
                                                       version_ + " is shutting down");
    } else if (config_.max_queue_size > 0 && queue_.size() >= config_.max_queue_size) {
      refused = Outcome::error(Code::kUnavailable,
                               "the queue of model '" + config_.name + "' is full (" +
                                   std::to_string(config_.max_queue_size) + " requests)");
    } else {
      queue_.push_back(std::move(p));
    }
  }
  if (!refused.ok()) return finish(p, failure(refused), FailureReason::kRejected);
  wake_.notify_one();
}

void ModelRunner::finish(Pending& p, InferResult result, FailureReason reason) {
  result.model = config_.name;
  result.version = version_;
  result.id = p.request.id;
  const uint64_t us = micros(Clock::now() - p.request.received);
  if (result.status.ok()) {
    metrics_->success.fetch_add(1, std::memory_order_relaxed);
    metrics_->request_us.fetch_add(us, std::memory_order_relaxed);
    metrics_->request_latency.observe_us(us);
  } else {
    metrics_->fail(reason);
  }
  metrics_->pending.fetch_sub(1, std::memory_order_relaxed);
  InferDone done = std::move(p.done);
  done(std::move(result));
}

void ModelRunner::stop_accepting() {
  std::lock_guard lock(mutex_);
  accepting_ = false;
}

void ModelRunner::cancel_queued(const Outcome& why) {
  std::deque<Pending> queued;
  {
    std::lock_guard lock(mutex_);
    accepting_ = false;
    queued.swap(queue_);
  }
  for (Pending& p : queued) finish(p, failure(why), FailureReason::kRejected);
}

bool ModelRunner::idle() const {
  std::lock_guard lock(mutex_);
  return queue_.empty() && running_ == 0;
}

void ModelRunner::join() {
  {
    std::lock_guard lock(mutex_);
    accepting_ = false;
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : instances_) {
    if (t.joinable()) t.join();
  }
  instances_.clear();
}

std::vector<ModelRunner::Pending> ModelRunner::take_batch(std::unique_lock<std::mutex>& lock) {
  const int mbs = config_.max_batch_size;
  const bool batching = config_.dynamic_batching && mbs > 1;
  const int64_t enough = config_.preferred_batch_sizes.empty()
                             ? mbs
                             : *std::max_element(config_.preferred_batch_sizes.begin(),
                                                 config_.preferred_batch_sizes.end());
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return {};
    // Requests older than their queue timeout are refused (REJECT, the default action).
    const auto now = Clock::now();
    for (auto it = queue_.begin(); it != queue_.end();) {
      const uint64_t timeout =
          it->request.timeout_us ? it->request.timeout_us : config_.default_timeout_us;
      if (timeout && !config_.delay_on_timeout && micros(now - it->request.received) > timeout) {
        Pending p = std::move(*it);
        it = queue_.erase(it);
        lock.unlock();
        finish(p,
               failure(Outcome::error(Code::kUnavailable,
                                      "the request waited longer than its timeout")),
               FailureReason::kRejected);
        lock.lock();
        it = queue_.begin();
      } else {
        ++it;
      }
    }
    if (queue_.empty()) continue;
    std::vector<Pending> batch;
    if (!batching) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
      return batch;
    }
    // Rows available now for a batch led by the oldest request.
    int64_t rows = 0;
    for (const Pending& p : queue_) {
      if (rows + p.rows > mbs) break;
      if (batchable_together(queue_.front().request, p.request, config_.inputs)) rows += p.rows;
    }
    const auto deadline =
        queue_.front().request.received + std::chrono::microseconds(config_.max_queue_delay_us);
    if (rows < enough && !stopping_ && config_.max_queue_delay_us > 0 && Clock::now() < deadline) {
      wake_.wait_until(lock, deadline);
      continue;  // re-evaluate: more requests, a timeout or the deadline
    }
    // The lead first (the requests after it are compared with it once it has left the queue).
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
    rows = batch[0].rows;
    for (auto it = queue_.begin(); it != queue_.end() && rows < mbs;) {
      if (rows + it->rows <= mbs &&
          batchable_together(batch[0].request, it->request, config_.inputs)) {
        rows += it->rows;
        batch.push_back(std::move(*it));
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    return batch;
  }
}

void ModelRunner::instance_loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    std::vector<Pending> batch = take_batch(lock);
    if (batch.empty()) return;
    ++running_;
    lock.unlock();
    execute(batch);
    lock.lock();
    --running_;
  }
}

void ModelRunner::execute(std::vector<Pending>& batch) {
  const auto t0 = Clock::now();
  int64_t total_rows = 0;
  for (const Pending& p : batch) {
    total_rows += p.rows;
    const uint64_t q = micros(t0 - p.request.received);
    metrics_->queue_us.fetch_add(q, std::memory_order_relaxed);
    metrics_->queue_latency.observe_us(q);
  }
  auto fail_all = [&](const Status& st) {
    for (Pending& p : batch) finish(p, failure(Outcome::of(st)), FailureReason::kBackend);
  };
  std::vector<NamedTensor> feeds;
  feeds.reserve(config_.inputs.size());
  for (const TensorConfig& t : config_.inputs) {
    if (batch.size() == 1) {
      // The request's own bytes, viewed in place.
      const InputTensor* in = find_input(batch[0].request, t.name);
      feeds.push_back({t.name, Tensor::view(in->dtype, Shape(in->shape.begin(), in->shape.end()),
                                            const_cast<void*>(in->data))});
      continue;
    }
    const InputTensor* first = find_input(batch[0].request, t.name);
    Shape shape(first->shape.begin(), first->shape.end());
    shape[0] = total_rows;
    auto buf = Tensor::allocate_for_overwrite(first->dtype, shape);
    if (!buf.is_ok()) return fail_all(buf.status());
    auto* dst = static_cast<std::byte*>(buf->data());
    for (const Pending& p : batch) {
      const InputTensor* in = find_input(p.request, t.name);
      std::memcpy(dst, in->data, in->bytes);
      dst += in->bytes;
    }
    feeds.push_back({t.name, std::move(*buf)});
  }
  const auto t1 = Clock::now();
  auto out = session_->run(feeds);
  const auto t2 = Clock::now();
  metrics_->exec_count.fetch_add(1, std::memory_order_relaxed);
  metrics_->inference_count.fetch_add(static_cast<uint64_t>(total_rows), std::memory_order_relaxed);
  metrics_->compute_input_us.fetch_add(micros(t1 - t0), std::memory_order_relaxed);
  metrics_->compute_infer_us.fetch_add(micros(t2 - t1), std::memory_order_relaxed);
  for (size_t i = 0; i < batch.size(); ++i) metrics_->compute_latency.observe_us(micros(t2 - t1));
  if (!out.is_ok()) return fail_all(out.status());
  auto storage = std::make_shared<std::vector<Tensor>>(std::move(*out));
  const std::vector<Tensor>& outputs = *storage;
  if (batch.size() > 1) {
    for (size_t o = 0; o < outputs.size(); ++o) {
      if (outputs[o].rank() < 1 || outputs[o].shape()[0] != total_rows) {
        return fail_all(internal_error("output '" + config_.outputs[o].name + "' has shape " +
                                       shape_to_string(outputs[o].shape()) +
                                       ", not one row per batch row"));
      }
    }
  }
  int64_t row = 0;
  std::vector<InferResult> results(batch.size());
  for (size_t b = 0; b < batch.size(); ++b) {
    const Pending& p = batch[b];
    InferResult& res = results[b];
    res.storage = storage;
    auto add = [&](size_t o, bool binary) {
      const Tensor& t = outputs[o];
      OutputTensor ot;
      ot.name = config_.outputs[o].name;
      ot.dtype = t.dtype();
      ot.shape.assign(t.shape().begin(), t.shape().end());
      ot.binary = binary;
      if (batch.size() == 1) {
        ot.data = t.data();
        ot.bytes = t.nbytes();
      } else {
        const size_t row_bytes = t.nbytes() / static_cast<size_t>(total_rows);
        ot.shape[0] = p.rows;
        ot.data = static_cast<const std::byte*>(t.data()) + static_cast<size_t>(row) * row_bytes;
        ot.bytes = static_cast<size_t>(p.rows) * row_bytes;
      }
      res.outputs.push_back(std::move(ot));
    };
    if (p.request.outputs.empty()) {
      for (size_t o = 0; o < outputs.size(); ++o) add(o, p.request.binary_by_default);
    } else {
      for (const RequestedOutput& ro : p.request.outputs) {
        for (size_t o = 0; o < config_.outputs.size(); ++o) {
          if (config_.outputs[o].name == ro.name) add(o, ro.binary);
        }
      }
    }
    row += p.rows;
  }
  metrics_->compute_output_us.fetch_add(micros(Clock::now() - t2), std::memory_order_relaxed);
  for (size_t b = 0; b < batch.size(); ++b)
    finish(batch[b], std::move(results[b]), FailureReason::kBackend);
}

}  // namespace keel::serve
