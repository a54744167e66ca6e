#include "verify/shape_cases.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

namespace anvil::verify {
namespace {

TEST(ShapeCases, StaticTaskHasOneDefaultCaseWithTwoDraws) {
  std::mt19937_64 rng(1);
  auto cases = draw_shape_cases({}, rng, 2);
  ASSERT_EQ(cases.size(), 1u);
  EXPECT_EQ(cases[0].id, "default");
  ASSERT_EQ(cases[0].draw_seeds.size(), 2u);
  EXPECT_NE(cases[0].draw_seeds[0], cases[0].draw_seeds[1]);
}

TEST(ShapeCases, DynamicCasesCoverOnesPrimesAndRaggedSizes) {
  std::vector<DynamicDim> dims{{"batch", 1, 4096, 128}, {"n", 1, 100000, 1024}};
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    std::mt19937_64 rng(seed);
    auto cases = draw_shape_cases(dims, rng, 3);
    ASSERT_EQ(cases.size(), 4u);
    EXPECT_EQ(cases[0].dims.at("batch"), 128);
    EXPECT_EQ(cases[1].id, "ones");
    EXPECT_EQ(cases[1].dims.at("n"), 1);
    for (const auto& [name, value] : cases[2].dims)
      EXPECT_TRUE(is_prime(value)) << name << "=" << value;
    for (const auto& [name, value] : cases[3].dims) {
      EXPECT_NE(value % 8, 0) << name << "=" << value;
      EXPECT_NE(value % 16, 0);
      EXPECT_GT(value, 1);
    }
    for (const auto& c : cases) {
      EXPECT_EQ(c.draw_seeds.size(), 3u);
      for (const auto& [name, value] : c.dims) {
        const auto& dim = name == "batch" ? dims[0] : dims[1];
        EXPECT_GE(value, dim.low);
        EXPECT_LE(value, dim.high);
      }
    }
  }
}

TEST(ShapeCases, OnesFallsBackToLowWhenOneIsOutsideTheRange) {
  std::mt19937_64 rng(3);
  auto cases = draw_shape_cases({{"n", 64, 70, 64}}, rng, 2);
  EXPECT_EQ(cases[1].dims.at("n"), 64);
  EXPECT_EQ(cases[2].dims.at("n"), 67) << "the only prime in [64, 70]";
  EXPECT_TRUE(cases[3].dims.at("n") == 65 || cases[3].dims.at("n") == 67 ||
              cases[3].dims.at("n") == 69);
}

TEST(ShapeCases, SameSeedSameCasesDifferentSeedDifferentDraws) {
  std::vector<DynamicDim> dims{{"n", 1, 1 << 20, 4096}};
  std::mt19937_64 a(99), b(99), c(100);
  auto first = to_json(draw_shape_cases(dims, a, 2));
  EXPECT_EQ(first, to_json(draw_shape_cases(dims, b, 2)));
  EXPECT_NE(first, to_json(draw_shape_cases(dims, c, 2)));
}

TEST(ShapeCases, LogUniformDrawsReachSmallAndLargeSizes) {
  std::vector<DynamicDim> dims{{"n", 1, 1 << 20, 4096}};
  std::set<int> magnitudes;  // decades of the drawn prime sizes
  for (std::uint64_t seed = 0; seed < 300; ++seed) {
    std::mt19937_64 rng(seed);
    auto value = draw_shape_cases(dims, rng, 2)[2].dims.at("n");
    magnitudes.insert(static_cast<int>(std::log10(static_cast<double>(value))));
  }
  EXPECT_GE(magnitudes.size(), 5u);
}

TEST(IsPrime, SmallNumbers) {
  EXPECT_FALSE(is_prime(0));
  EXPECT_FALSE(is_prime(1));
  EXPECT_TRUE(is_prime(2));
  EXPECT_TRUE(is_prime(97));
  EXPECT_FALSE(is_prime(91));
}

}  // namespace
}  // namespace anvil::verify
