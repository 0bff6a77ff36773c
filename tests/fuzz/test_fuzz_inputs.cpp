// Replays the committed seed corpora and every input that once crashed a fuzz target
// (tests/fuzz/regressions/<target>/) through the targets' bodies: in the normal suite they must
// return, and under the asan preset do so without a sanitizer report.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_targets.hpp"

namespace keel::fuzz {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> inputs_of(const std::string& target) {
  std::vector<fs::path> files;
  for (const char* kind : {"corpus", "regressions"}) {
    const fs::path dir = fs::path(KEEL_SOURCE_DIR) / "tests/fuzz" / kind / target;
    if (!fs::is_directory(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.is_regular_file()) files.push_back(e.path());
    }
  }
  return files;
}

void replay(const std::string& target, int (*body)(const uint8_t*, size_t)) {
  const auto files = inputs_of(target);
  ASSERT_FALSE(files.empty()) << "no seeds for " << target;
  for (const fs::path& f : files) {
    SCOPED_TRACE(f.string());
    std::ifstream in(f, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(body(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), 0);
  }
}

TEST(FuzzInputs, LoadModel) { replay("load_model", load_model); }
TEST(FuzzInputs, Npy) { replay("npy", npy); }
#ifdef KEEL_FUZZ_HAVE_SERVER
TEST(FuzzInputs, ServeRequest) { replay("serve_request", serve_request); }
#endif

}  // namespace
}  // namespace keel::fuzz
