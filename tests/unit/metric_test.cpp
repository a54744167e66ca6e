#include "verify/metric.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace anvil::verify {
namespace {

HostTensor f32(const std::vector<double>& values) {
  return HostTensor::from_doubles(DType::float32, {static_cast<std::int64_t>(values.size())},
                                  values);
}

TEST(ElementError, RelativeToReferenceAboveEpsilon) {
  EXPECT_NEAR(element_error(2.0, 2.002, 1e-5), 0.001, 1e-12);
  EXPECT_NEAR(element_error(-4.0, -4.4, 1e-5), 0.1, 1e-12);
}

TEST(ElementError, ZerosInBothAreExact) {
  EXPECT_EQ(element_error(0.0, 0.0, 1e-5), 0.0);
  EXPECT_EQ(element_error(0.0, -0.0, 1e-5), 0.0);
}

TEST(ElementError, ZeroReferenceIsJudgedAgainstTheOutput) {
  // |ref| <= eps: the error is relative to |gen|, so a clearly non-zero output is 100% wrong.
  EXPECT_DOUBLE_EQ(element_error(0.0, 0.5, 1e-5), 1.0);
  EXPECT_DOUBLE_EQ(element_error(0.0, -3.0, 1e-5), 1.0);
}

TEST(ElementError, TinyMagnitudesNearEpsilon) {
  const double eps = 1e-5;
  // Both at or under eps: noise level for the dtype, no error.
  EXPECT_EQ(element_error(0.9e-5, -0.9e-5, eps), 0.0);
  EXPECT_EQ(element_error(eps, eps / 2, eps), 0.0) << "|ref| == eps is not above eps";
  // Reference just above eps: relative to it, so a 10% deviation counts.
  EXPECT_NEAR(element_error(1.1e-5, 0.99e-5, eps), 0.1, 1e-9);
  // Reference under eps, output just above: judged against the output.
  EXPECT_NEAR(element_error(0.5e-5, 2e-5, eps), 0.75, 1e-12);
}

TEST(FractionRule, BoundaryIsInclusive) {
  EXPECT_TRUE(fraction_within(1, 1000, 1e-3));
  EXPECT_FALSE(fraction_within(2, 1000, 1e-3));
  EXPECT_TRUE(fraction_within(4, 1000, 4e-3));
  EXPECT_FALSE(fraction_within(5, 1000, 4e-3));
  EXPECT_TRUE(fraction_within(0, 1, 1e-3));
  EXPECT_FALSE(fraction_within(1, 999, 1e-3)) << "1/999 is above 0.001";
}

TEST(CompareTensors, FractionRuleAtItsBoundary) {
  std::vector<double> ref(1000, 1.0);
  auto gen = ref;
  gen[17] = 1.5;  // one element of 1000 over tau: exactly the allowed fraction
  auto one_bad = compare_tensors(f32(ref), f32(gen));
  EXPECT_TRUE(one_bad.passed) << one_bad.reason;
  EXPECT_EQ(one_bad.over_tau, 1u);
  EXPECT_EQ(*one_bad.worst_index, 17u);
  gen[400] = 0.5;
  auto two_bad = compare_tensors(f32(ref), f32(gen));
  EXPECT_FALSE(two_bad.passed);
  EXPECT_EQ(two_bad.over_tau, 2u);
  EXPECT_NE(two_bad.reason.find("2 of 1000"), std::string::npos) << two_bad.reason;
}

TEST(CompareTensors, ErrorJustAtTauIsNotOver) {
  std::vector<double> ref{1.0, 2.0};
  auto result = compare_tensors(f32(ref), f32({1.0009765625, 2.0}));  // 2^-10 < 0.001
  EXPECT_EQ(result.over_tau, 0u);
  auto over = compare_tensors(f32(ref), f32({1.002, 2.0}));
  EXPECT_EQ(over.over_tau, 1u);
}

TEST(CompareTensors, NanAndInfMustMatchInPosition) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> ref(2000, 1.0);
  ref[3] = nan;
  ref[5] = inf;
  ref[7] = -inf;
  auto same = compare_tensors(f32(ref), f32(ref));
  EXPECT_TRUE(same.passed) << same.reason;
  EXPECT_EQ(same.nan_inf_mismatches, 0u);

  auto moved = ref;
  moved[3] = 1.0;
  moved[4] = nan;  // NaN at the wrong position: fails even though 2/2000 is within tau
  auto result = compare_tensors(f32(ref), f32(moved));
  EXPECT_FALSE(result.passed);
  EXPECT_EQ(result.nan_inf_mismatches, 2u);
  EXPECT_NE(result.reason.find("NaN/Inf"), std::string::npos);

  auto flipped = ref;
  flipped[5] = -inf;  // wrong sign of infinity
  EXPECT_FALSE(compare_tensors(f32(ref), f32(flipped)).passed);
  auto finite = ref;
  finite[7] = -3.0e38;  // huge but finite is not -Inf
  EXPECT_FALSE(compare_tensors(f32(ref), f32(finite)).passed);
}

TEST(CompareTensors, Float16Threshold) {
  EXPECT_DOUBLE_EQ(default_tolerance(DType::float16).tau, 4e-3);
  std::vector<double> ref(100, 1.0);
  auto gen = ref;
  for (auto& v : gen) v = 1.0 + 3 * 0.0009765625;  // 3 half ulps: 0.29% error, within 0.4%
  auto ok = compare_tensors(HostTensor::from_doubles(DType::float16, {100}, ref),
                            HostTensor::from_doubles(DType::float16, {100}, gen));
  EXPECT_TRUE(ok.passed) << ok.reason;
  for (auto& v : gen) v = 1.0 + 5 * 0.0009765625;  // 0.49%: over
  auto bad = compare_tensors(HostTensor::from_doubles(DType::float16, {100}, ref),
                             HostTensor::from_doubles(DType::float16, {100}, gen));
  EXPECT_FALSE(bad.passed);
  // The same 0.49% error would fail float32's 0.1% as well, but pass bfloat16's 1.6%.
  auto bf16 = compare_tensors(HostTensor::from_doubles(DType::bfloat16, {100}, ref),
                              HostTensor::from_doubles(DType::bfloat16, {100}, {gen}));
  EXPECT_TRUE(bf16.passed) << bf16.reason;
}

TEST(CompareTensors, Bfloat16Threshold) {
  EXPECT_DOUBLE_EQ(default_tolerance(DType::bfloat16).tau, 1.6e-2);
  std::vector<double> ref(100, 1.0);
  std::vector<double> gen(100, 1.0 + 0.0078125);  // one bf16 ulp at 1.0: 0.78%
  EXPECT_TRUE(compare_tensors(HostTensor::from_doubles(DType::bfloat16, {100}, ref),
                              HostTensor::from_doubles(DType::bfloat16, {100}, gen))
                  .passed);
  std::vector<double> far(100, 1.0 + 5 * 0.0078125);  // five bf16 ulps: 3.9%
  EXPECT_FALSE(compare_tensors(HostTensor::from_doubles(DType::bfloat16, {100}, ref),
                               HostTensor::from_doubles(DType::bfloat16, {100}, far))
                   .passed);
}

TEST(CompareTensors, ShapeAndDtypeMismatchAreInterfaceErrors) {
  auto a = HostTensor::from_doubles(DType::float32, {2, 3}, std::vector<double>(6, 1.0));
  auto b = HostTensor::from_doubles(DType::float32, {3, 2}, std::vector<double>(6, 1.0));
  auto shape = compare_tensors(a, b);
  EXPECT_FALSE(shape.passed);
  EXPECT_TRUE(shape.interface_mismatch);
  EXPECT_NE(shape.reason.find("[3, 2]"), std::string::npos);
  auto c = HostTensor::from_doubles(DType::float64, {2, 3}, std::vector<double>(6, 1.0));
  EXPECT_TRUE(compare_tensors(a, c).interface_mismatch);
}

TEST(CompareTensors, IntegersMustMatchExactly) {
  auto ref = HostTensor::from_doubles(DType::int64, {4}, {1, 2, 3, 9007199254740993.0});
  EXPECT_TRUE(compare_tensors(ref, ref).passed);
  auto off = HostTensor::from_doubles(DType::int64, {4}, {1, 2, 4, 9007199254740993.0});
  auto result = compare_tensors(ref, off);
  EXPECT_FALSE(result.passed);
  EXPECT_EQ(result.over_tau, 1u);
  EXPECT_EQ(*result.worst_index, 2u);
}

TEST(IndexText, RowMajorCoordinates) {
  EXPECT_EQ(index_text({4, 5}, 13), "[2, 3]");
  EXPECT_EQ(index_text({2, 3, 4}, 23), "[1, 2, 3]");
  EXPECT_EQ(index_text({}, 0), "[]");
}

}  // namespace
}  // namespace anvil::verify
