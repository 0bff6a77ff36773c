#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/npy.hpp"

namespace keel {
namespace {

TEST(Npy, RoundTripsFloatAndInt64) {
  const std::string path = std::filesystem::temp_directory_path() / "keel_npy_roundtrip.npy";
  Tensor f = Tensor::from_vector<float>({2, 3}, {1, -2, 3.5f, 4, 5, 6});
  ASSERT_TRUE(write_npy(path, f).is_ok());
  auto back = read_npy(path);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(back->dtype(), DataType::kFloat32);
  EXPECT_EQ(back->shape(), (Shape{2, 3}));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(back->data_as<float>()[i], f.data_as<float>()[i]);

  Tensor i64 = Tensor::from_vector<int64_t>({4}, {1, -2, 1LL << 40, 7});
  ASSERT_TRUE(write_npy(path, i64).is_ok());
  back = read_npy(path);
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(back->shape(), (Shape{4}));
  EXPECT_EQ(back->data_as<int64_t>()[2], 1LL << 40);

  Tensor scalar = Tensor::scalar<float>(2.5f);
  ASSERT_TRUE(write_npy(path, scalar).is_ok());
  back = read_npy(path);
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(back->shape(), Shape{});
  EXPECT_EQ(back->data_as<float>()[0], 2.5f);
  std::remove(path.c_str());
}

TEST(Npy, ReadsTheCommittedModelInputs) {
  auto t = read_npy(std::string(KEEL_SOURCE_DIR) + "/models/resnet_tiny/inputs/input.npy");
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  EXPECT_EQ(t->dtype(), DataType::kFloat32);
  EXPECT_EQ(t->rank(), 4);
}

TEST(Npy, FileNamesStayInsideTheFolder) {
  EXPECT_EQ(npy_file_name("output"), "output.npy");
  EXPECT_EQ(npy_file_name("/avgpool/ReduceMean_output_0"), "_avgpool_ReduceMean_output_0.npy");
  EXPECT_EQ(npy_file_name("../../etc/passwd"), "_.._.._etc_passwd.npy");
  EXPECT_EQ(npy_file_name(".hidden"), "_.hidden.npy");
  EXPECT_EQ(npy_file_name("a\\b:c d"), "a_b_c_d.npy");
  EXPECT_EQ(npy_file_name(""), "_.npy");
}

TEST(Npy, MalformedFilesGiveErrors) {
  const char junk[] = "not numpy";
  EXPECT_FALSE(parse_npy(junk, sizeof(junk), "junk").is_ok());
  // Valid header, truncated payload.
  std::string header = "\x93NUMPY\x01";
  header += '\0';
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (100,), }";
  dict.append(64 - 10 - dict.size() % 64 - 1 + 64, ' ');
  dict += '\n';
  header += static_cast<char>(dict.size() & 0xff);
  header += static_cast<char>(dict.size() >> 8);
  header += dict;
  header += std::string(12, '\0');
  auto r = parse_npy(header.data(), header.size(), "short");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status().to_string();
  // Fortran order and unknown dtypes are refused by name.
  std::string fortran = header;
  fortran.replace(fortran.find("False"), 5, "True ");
  EXPECT_FALSE(parse_npy(fortran.data(), fortran.size(), "f").is_ok());
  std::string complex = header;
  complex.replace(complex.find("<f4"), 3, "<c8");
  EXPECT_FALSE(parse_npy(complex.data(), complex.size(), "c").is_ok());
}

}  // namespace
}  // namespace keel
