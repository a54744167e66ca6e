#include "verify/shape_cases.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

namespace anvil::verify {
namespace {

std::int64_t log_uniform(std::int64_t low, std::int64_t high, std::mt19937_64& rng) {
  double lo = std::log(static_cast<double>(std::max<std::int64_t>(low, 1)));
  double hi = std::log(static_cast<double>(std::max<std::int64_t>(high, 1)) + 1.0);
  std::uniform_real_distribution<double> pick(lo, hi);
  auto value = static_cast<std::int64_t>(std::floor(std::exp(pick(rng))));
  return std::clamp(value, low, high);
}

// Looks outward from a drawn start for the nearest value satisfying `wanted`; falls back to the
// start when the range holds none (such a range cannot express the property).
template <typename Predicate>
std::int64_t nearest(std::int64_t start, std::int64_t low, std::int64_t high, Predicate wanted) {
  for (std::int64_t step = 0; start - step >= low || start + step <= high; ++step) {
    if (start + step <= high && wanted(start + step)) return start + step;
    if (start - step >= low && wanted(start - step)) return start - step;
  }
  return start;
}

std::int64_t ones_value(const DynamicDim& dim) {
  return dim.low <= 1 && 1 <= dim.high ? 1 : dim.low;
}

std::int64_t prime_value(const DynamicDim& dim, std::mt19937_64& rng) {
  return nearest(log_uniform(dim.low, dim.high, rng), dim.low, dim.high, is_prime);
}

std::int64_t ragged_value(const DynamicDim& dim, std::mt19937_64& rng) {
  // Odd values above 1 are multiples of neither 8 nor 16, and are not the "ones" case.
  auto ragged = [](std::int64_t v) { return v % 8 != 0 && v > 1 && v % 2 == 1; };
  return nearest(log_uniform(dim.low, dim.high, rng), dim.low, dim.high, ragged);
}

}  // namespace

bool is_prime(std::int64_t n) {
  if (n < 2) return false;
  for (std::int64_t d = 2; d * d <= n; ++d) {
    if (n % d == 0) return false;
  }
  return true;
}

std::vector<ShapeCase> draw_shape_cases(const std::vector<DynamicDim>& dims, std::mt19937_64& rng,
                                        int draws) {
  std::vector<ShapeCase> cases{{"default", {}, {}}};
  if (!dims.empty())
    cases.insert(cases.end(), {{"ones", {}, {}}, {"prime", {}, {}}, {"ragged", {}, {}}});
  for (const auto& dim : dims) {
    cases[0].dims[dim.name] = dim.default_value;
    cases[1].dims[dim.name] = ones_value(dim);
    cases[2].dims[dim.name] = prime_value(dim, rng);
    cases[3].dims[dim.name] = ragged_value(dim, rng);
  }
  for (auto& shape_case : cases) {
    for (int i = 0; i < draws; ++i) shape_case.draw_seeds.push_back(rng() >> 1);
  }
  return cases;
}

nlohmann::json to_json(const std::vector<ShapeCase>& cases) {
  auto list = nlohmann::json::array();
  for (const auto& c : cases) {
    list.push_back({{"id", c.id}, {"dims", c.dims}, {"draw_seeds", c.draw_seeds}});
  }
  return list;
}

}  // namespace anvil::verify
