#pragma once

#include <string>
#include <vector>

#include "core/config.hpp"

namespace anvil::verify {

// One thing `anvil doctor` looked for: what was found, and the fix when it is missing.
struct Finding {
  std::string name;
  bool found = false;
  bool required = false;  // without it `anvil verify --dsl cpp --backend cpu` cannot work
  std::string detail;
  std::string fix;
};

std::vector<Finding> probe_toolchain(const Settings& settings);

}  // namespace anvil::verify
