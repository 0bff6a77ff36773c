// The C++ session API as an embedding application sees it: the thread count is honoured, an
// application's own task arena is used, nothing spins after run returns, run_into writes into
// preallocated outputs, and many threads share one session with bit-identical results.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <tbb/task_arena.h>
#include <tbb/task_scheduler_observer.h>
#include <xmmintrin.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "keel/keel.hpp"
#include "support/model_builder.hpp"

namespace keel {
namespace {

const std::string kModel = std::string(KEEL_MODELS_DIR) + "/resnet_tiny/model.onnx";

std::shared_ptr<const Model> load_model() {
  auto m = Model::load_file(kModel);
  EXPECT_TRUE(m.is_ok()) << m.status().to_string();
  return m.is_ok() ? *m : nullptr;
}

// One float32 input per model input (dynamic dims = `batch`) filled with a fixed pattern.
std::vector<NamedTensor> make_feeds(const Model& model, int64_t batch = 1) {
  std::vector<NamedTensor> feeds;
  for (const IoInfo& in : model.inputs()) {
    Shape shape;
    for (int64_t d : in.shape) shape.push_back(d < 0 ? batch : d);
    auto t = Tensor::allocate(in.dtype, shape);
    EXPECT_TRUE(t.is_ok());
    EXPECT_EQ(in.dtype, DataType::kFloat32);
    float* p = static_cast<float*>(t->data());
    for (int64_t i = 0; i < t->numel(); ++i) p[i] = static_cast<float>((i * 37) % 101) / 50.f - 1;
    feeds.push_back({in.name, std::move(*t)});
  }
  return feeds;
}

bool bit_identical(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].dtype() != b[i].dtype() || a[i].shape() != b[i].shape() ||
        std::memcmp(a[i].data(), b[i].data(), a[i].nbytes()) != 0) {
      return false;
    }
  }
  return true;
}

std::unique_ptr<Session> make_session(std::shared_ptr<const Model> model, int threads,
                                      tbb::task_arena* arena = nullptr) {
  SessionOptions options;
  options.threads = threads;
  options.tbb_task_arena = arena;
  auto s = Session::create(std::move(model), options);
  EXPECT_TRUE(s.is_ok()) << s.status().to_string();
  return s.is_ok() ? std::move(*s) : nullptr;
}

std::vector<Tensor> run_once(const Session& session, const std::vector<NamedTensor>& feeds) {
  auto out = session.run(feeds);
  EXPECT_TRUE(out.is_ok()) << out.status().to_string();
  return out.is_ok() ? std::move(*out) : std::vector<Tensor>{};
}

// Counts the distinct threads that enter one arena (the caller's thread included).
class ThreadCounter final : public tbb::task_scheduler_observer {
 public:
  explicit ThreadCounter(tbb::task_arena& arena) : tbb::task_scheduler_observer(arena) {
    observe(true);
  }
  ~ThreadCounter() override { observe(false); }
  void on_scheduler_entry(bool) override {
    std::lock_guard lock(mutex_);
    ids_.insert(std::this_thread::get_id());
  }
  size_t count() {
    std::lock_guard lock(mutex_);
    return ids_.size();
  }

 private:
  std::mutex mutex_;
  std::set<std::thread::id> ids_;
};

TEST(SessionApi, ThreadCountIsHonouredAndDoesNotChangeTheBits) {
  auto model = load_model();
  ASSERT_TRUE(model);
  const auto feeds = make_feeds(*model);
  auto one = make_session(model, 1);
  auto two = make_session(model, 2);
  auto three = make_session(model, 3);
  ASSERT_TRUE(one && two && three);
  EXPECT_EQ(one->threads(), 1);
  EXPECT_EQ(two->threads(), 2);
  EXPECT_EQ(three->threads(), 3);
  const auto expected = run_once(*one, feeds);
  ASSERT_FALSE(expected.empty());
  EXPECT_TRUE(bit_identical(expected, run_once(*two, feeds)));
  EXPECT_TRUE(bit_identical(expected, run_once(*three, feeds)));

  auto all = make_session(model, 0);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->threads(), static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  EXPECT_TRUE(bit_identical(expected, run_once(*all, feeds)));

  SessionOptions negative;
  negative.threads = -1;
  auto bad = Session::create(model, negative);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(SessionApi, RunsInTheApplicationsTaskArena) {
  auto model = load_model();
  ASSERT_TRUE(model);
  const auto feeds = make_feeds(*model, 8);  // enough work for kernels to fork
  auto own = make_session(model, 1);
  ASSERT_TRUE(own);
  const auto expected = run_once(*own, feeds);

  for (int concurrency : {1, 2}) {
    tbb::task_arena arena(concurrency);
    ThreadCounter counter(arena);  // sees the threads that enter this arena, and only those
    // threads = 0 takes the arena's concurrency; threads equal to it is accepted too.
    auto a = make_session(model, 0, &arena);
    auto b = make_session(model, concurrency, &arena);  // two sessions share one arena
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->threads(), arena.max_concurrency());
    EXPECT_EQ(a->threads(), concurrency);
    EXPECT_EQ(b->threads(), concurrency);
    for (int i = 0; i < 20; ++i) {
      EXPECT_TRUE(bit_identical(expected, run_once(*a, feeds)));
      EXPECT_TRUE(bit_identical(expected, run_once(*b, feeds)));
    }
    // Every run (and planning) entered the application's arena, with at most its threads.
    const size_t entered = counter.count();
    std::printf("arena max_concurrency %d: %zu distinct threads entered it\n", concurrency,
                entered);
    EXPECT_GE(entered, 1u);
    EXPECT_LE(entered, static_cast<size_t>(concurrency));

    SessionOptions mismatch;
    mismatch.threads = concurrency + 1;
    mismatch.tbb_task_arena = &arena;
    auto bad = Session::create(model, mismatch);
    ASSERT_FALSE(bad.is_ok());
    EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(bad.status().to_string().find("max_concurrency"), std::string::npos)
        << bad.status().to_string();
  }
}

double process_cpu_ms() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
  return ms(usage.ru_utime) + ms(usage.ru_stime);
}

TEST(SessionApi, NoSpinningAfterRunReturns) {
  auto model = load_model();
  ASSERT_TRUE(model);
  const auto feeds = make_feeds(*model, 8);  // enough work for kernels to fork
  auto session = make_session(model, 2);
  ASSERT_TRUE(session);
  const double before = process_cpu_ms();
  for (int i = 0; i < 50; ++i) ASSERT_FALSE(run_once(*session, feeds).empty());
  const double busy = process_cpu_ms() - before;
  // TBB workers may spin briefly once their work is done: let them settle, then measure.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const double start = process_cpu_ms();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const double idle = process_cpu_ms() - start;
  std::printf("50 runs with 2 threads: %.1f ms CPU; then 300 ms idle: %.2f ms CPU\n", busy, idle);
  // A spinning worker would burn ~300 ms; 30 ms leaves room for a loaded machine's noise.
  EXPECT_LT(idle, 30.0);
}

TEST(SessionApi, RunIntoPreallocatedOutputsMatchesRunAndChecksThem) {
  auto model = load_model();
  ASSERT_TRUE(model);
  const auto feeds = make_feeds(*model);
  auto session = make_session(model, 2);
  ASSERT_TRUE(session);
  const auto expected = run_once(*session, feeds);
  ASSERT_EQ(expected.size(), model->outputs().size());

  // Caller memory, viewed: run_into writes there and allocates no output.
  std::vector<std::vector<float>> memory;
  std::vector<Tensor> views;
  for (const Tensor& e : expected) {
    ASSERT_EQ(e.dtype(), DataType::kFloat32);
    memory.emplace_back(static_cast<size_t>(e.numel()), -7.f);
    views.push_back(Tensor::view(DataType::kFloat32, e.shape(), memory.back().data()));
  }
  std::vector<Tensor*> outputs;
  for (Tensor& v : views) outputs.push_back(&v);
  for (int i = 0; i < 3; ++i) {
    Status st = session->run_into(feeds, outputs);
    ASSERT_TRUE(st.is_ok()) << st.to_string();
    EXPECT_TRUE(bit_identical(expected, views));
    EXPECT_EQ(views[0].data(), memory[0].data());
  }

  // Wrong shape, wrong dtype, wrong count, no tensor: InvalidArgument, the buffer untouched.
  Shape wrong_shape = expected[0].shape();
  wrong_shape.back() += 1;
  std::vector<float> big(static_cast<size_t>(expected[0].numel() * 2), -7.f);
  Tensor bad_shape = Tensor::view(DataType::kFloat32, wrong_shape, big.data());
  std::vector<Tensor*> with_bad_shape = outputs;
  with_bad_shape[0] = &bad_shape;
  Status st = session->run_into(feeds, with_bad_shape);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.to_string();
  for (float v : big) ASSERT_EQ(v, -7.f);

  Tensor bad_dtype = Tensor::view(DataType::kInt32, expected[0].shape(), big.data());
  std::vector<Tensor*> with_bad_dtype = outputs;
  with_bad_dtype[0] = &bad_dtype;
  st = session->run_into(feeds, with_bad_dtype);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.to_string();
  for (float v : big) ASSERT_EQ(v, -7.f);

  std::vector<Tensor*> too_many = outputs;
  too_many.push_back(&bad_shape);
  EXPECT_EQ(session->run_into(feeds, too_many).code(), StatusCode::kInvalidArgument);
  std::vector<Tensor*> null_output = outputs;
  null_output[0] = nullptr;
  EXPECT_EQ(session->run_into(feeds, null_output).code(), StatusCode::kInvalidArgument);

  // The session is unharmed by the rejected calls.
  ASSERT_TRUE(session->run_into(feeds, outputs).is_ok());
  EXPECT_TRUE(bit_identical(expected, views));
}

int concurrent_runs() {
  const char* env = std::getenv("KEEL_CONCURRENT_RUNS");
  const int n = env ? std::atoi(env) : 0;
  return n > 0 ? n : 1000;
}

TEST(SessionApi, EightThreadsShareOneSessionWithIdenticalBits) {
  auto model = load_model();
  ASSERT_TRUE(model);
  const auto feeds = make_feeds(*model);
  auto session = make_session(model, 2);
  ASSERT_TRUE(session);
  const auto expected = run_once(*session, feeds);
  ASSERT_FALSE(expected.empty());
  const int runs = concurrent_runs();
  std::atomic<int> mismatches{0}, failures{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::vector<Tensor> mine;  // this thread's preallocated outputs (for run_into)
      std::vector<Tensor*> ptrs;
      for (const Tensor& e : expected) {
        auto a = Tensor::allocate(e.dtype(), e.shape());
        if (!a.is_ok()) return (void)++failures;
        mine.push_back(std::move(*a));
      }
      for (Tensor& m : mine) ptrs.push_back(&m);
      for (int i = 0; i < runs; ++i) {
        if (t % 2 == 0) {  // half of the threads use run, half run_into
          auto out = session->run(feeds);
          if (!out.is_ok()) {
            ++failures;
          } else if (!bit_identical(*out, expected)) {
            ++mismatches;
          }
        } else {
          for (Tensor& m : mine) std::memset(m.data(), 0xff, m.nbytes());
          if (!session->run_into(feeds, ptrs).is_ok()) {
            ++failures;
          } else if (!bit_identical(mine, expected)) {
            ++mismatches;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("8 threads x %d runs on one session: %.2f s\n", runs, seconds);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
}

// Subnormal values read and compute as zero inside runs (core/flush_denormals.hpp), on the
// session's workers and on the calling thread while it runs, and the caller's own MXCSR is the
// same after the call: an application that relies on gradual underflow keeps it.
TEST(SessionApi, SubnormalsAreFlushedInsideRunsOnly) {
  testing::ModelBuilder b;
  b.input("x", {4});
  b.node("Add", {"x", "x"}, {"y"});
  b.output("y");
  const std::string bytes = b.bytes();
  auto model = Model::load_bytes(bytes.data(), bytes.size());
  ASSERT_TRUE(model.is_ok()) << model.status().to_string();
  const unsigned csr_before = _mm_getcsr();
  ASSERT_EQ(csr_before & 0x8040u, 0u) << "the test expects gradual underflow outside keel";
  for (int threads : {1, 2}) {
    SessionOptions o;
    o.threads = threads;
    auto session = Session::create(*model, o);
    ASSERT_TRUE(session.is_ok());
    Tensor x = Tensor::allocate(DataType::kFloat32, {4}).value();
    const float in[4] = {1e-39f, 1e-30f, -3e-39f, 1.0f};  // 1e-39 and -3e-39 are subnormal
    std::memcpy(x.data(), in, sizeof in);
    auto y = (*session)->run({{"x", x}});
    ASSERT_TRUE(y.is_ok()) << y.status().to_string();
    const float* out = (*y)[0].data_as<float>();
    EXPECT_EQ(out[0], 0.0f);
    EXPECT_EQ(out[1], 2e-30f);
    EXPECT_EQ(out[2], 0.0f);
    EXPECT_EQ(out[3], 2.0f);
    EXPECT_EQ(_mm_getcsr(), csr_before) << "the caller's floating-point state changed";
  }
  // Outside keel the same sum keeps its subnormal result.
  volatile float tiny = 1e-39f;
  EXPECT_GT(tiny + tiny, 0.0f);
}

}  // namespace
}  // namespace keel
