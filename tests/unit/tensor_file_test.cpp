#include "verify/tensor_file.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "core/error.hpp"
#include "core/float16.hpp"
#include "core/temp_dir.hpp"

namespace anvil::verify {
namespace {

using anvil::bfloat16_to_float;
using anvil::float_to_bfloat16;
using anvil::float_to_half;
using anvil::half_to_float;

TEST(HalfConversion, ExactValuesRoundTrip) {
  for (float v : {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.960464477539063e-08f,
                  0.333251953125f}) {
    EXPECT_EQ(half_to_float(float_to_half(v)), v) << v;
  }
  EXPECT_EQ(float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(half_to_float(0x7bff), 65504.0f);
  EXPECT_TRUE(std::isinf(half_to_float(float_to_half(1e6f))));
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(NAN))));
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24)) << "smallest subnormal";
}

TEST(HalfConversion, RoundsToNearest) {
  // 1 + 2^-11 is halfway between 1 and the next half (1 + 2^-10): ties go to even (1.0).
  EXPECT_EQ(half_to_float(float_to_half(1.0f + std::ldexp(1.0f, -11))), 1.0f);
  EXPECT_EQ(half_to_float(float_to_half(1.0f + 0.0009f)), 1.0f + std::ldexp(1.0f, -10));
}

TEST(Bfloat16Conversion, KeepsExponentRangeAndRounds) {
  EXPECT_EQ(bfloat16_to_float(float_to_bfloat16(1.0f)), 1.0f);
  float huge = bfloat16_to_float(float_to_bfloat16(3.0e38f));  // beyond float16, fine in bf16
  EXPECT_TRUE(std::isfinite(huge));
  EXPECT_LT(std::fabs(huge - 3.0e38f) / 3.0e38f, std::ldexp(1.0f, -8));
  EXPECT_EQ(bfloat16_to_float(float_to_bfloat16(1.0f + 0.003f)), 1.0f)
      << "under half a bf16 ulp (2^-8)";
  EXPECT_EQ(bfloat16_to_float(float_to_bfloat16(1.0f + 0.005f)), 1.0f + 0.0078125f);
  EXPECT_TRUE(std::isnan(bfloat16_to_float(float_to_bfloat16(NAN))));
}

TEST(ReadOutputSet, ReadsHarnessLayout) {
  TempDir dir("anvil-test");
  auto prefix = dir.path() / "case.0";
  float values[3] = {1.5f, -2.0f, 3.25f};
  std::int64_t index = 42;
  {
    std::ofstream bin(prefix.string() + ".bin", std::ios::binary);
    bin.write(reinterpret_cast<const char*>(values), sizeof values);
    bin.write(reinterpret_cast<const char*>(&index), sizeof index);
  }
  std::ofstream(prefix.string() + ".json")
      << R"({"outputs": [{"dtype": "float32", "shape": [3], "offset": 0, "nbytes": 12},)"
      << R"( {"dtype": "int64", "shape": [], "offset": 12, "nbytes": 8}]})";
  auto tensors = read_output_set(prefix);
  ASSERT_EQ(tensors.size(), 2u);
  EXPECT_EQ(tensors[0].shape, (std::vector<std::int64_t>{3}));
  EXPECT_EQ(tensors[0].value(2), 3.25);
  EXPECT_EQ(tensors[1].size(), 1u) << "a 0-d tensor has one element";
  EXPECT_EQ(tensors[1].integer(0), 42);
}

TEST(ReadOutputSet, RejectsMissingAndInconsistentFiles) {
  TempDir dir("anvil-test");
  EXPECT_THROW(read_output_set(dir.path() / "absent"), Error);
  auto prefix = dir.path() / "bad";
  std::ofstream(prefix.string() + ".bin") << "1234";
  std::ofstream(prefix.string() + ".json")
      << R"({"outputs": [{"dtype": "float32", "shape": [4], "offset": 0, "nbytes": 4}]})";
  EXPECT_THROW(read_output_set(prefix), Error);
  std::ofstream(prefix.string() + ".json")
      << R"({"outputs": [{"dtype": "complex64", "shape": [1], "offset": 0, "nbytes": 8}]})";
  EXPECT_THROW(read_output_set(prefix), Error);
}

}  // namespace
}  // namespace anvil::verify
