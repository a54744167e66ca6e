#pragma once

#include <filesystem>

namespace anvil {

// The folder holding harness/, knowledge/, prompts/ and benchmarks/: $ANVIL_HOME, else
// <executable>/../share/anvil when installed, else the source tree Anvil was built from.
std::filesystem::path anvil_home();

std::filesystem::path harness_dir();

}  // namespace anvil
