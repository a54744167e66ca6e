#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <random>
#include <string>
#include <vector>

namespace anvil::verify {

struct DynamicDim {
  std::string name;
  std::int64_t low = 0;
  std::int64_t high = 0;
  std::int64_t default_value = 0;
};

// One shape case: the dynamic dims' values and the seeds of its independent input draws.
struct ShapeCase {
  std::string id;
  std::map<std::string, std::int64_t> dims;
  std::vector<std::uint64_t> draw_seeds;
};

// Static tasks get one case ("default"). Dynamic tasks get the default plus three drawn cases:
// "ones" (1 where the range allows, else the low end), "prime" (a prime per dim where the range
// holds one) and "ragged" (values that are multiples of neither 8 nor 16). Drawn values are
// log-uniform in the range, so both small and large sizes appear without huge tensors always.
// Every case gets `draws` seeds. The generator is seeded from a value no agent has seen.
std::vector<ShapeCase> draw_shape_cases(const std::vector<DynamicDim>& dims, std::mt19937_64& rng,
                                        int draws);

bool is_prime(std::int64_t n);

nlohmann::json to_json(const std::vector<ShapeCase>& cases);

}  // namespace anvil::verify
