#include "core/paths.hpp"

#include <cstdlib>
#include <system_error>

#include "core/error.hpp"

namespace anvil {
namespace {

bool has_harness(const std::filesystem::path& root) {
  return std::filesystem::exists(root / "harness" / "anvil_harness" / "__main__.py");
}

}  // namespace

std::filesystem::path anvil_home() {
  if (const char* from_env = std::getenv("ANVIL_HOME"); from_env != nullptr && *from_env != '\0') {
    if (!has_harness(from_env)) {
      throw UsageError(std::string("ANVIL_HOME=") + from_env + " holds no harness/anvil_harness",
                       "point ANVIL_HOME at Anvil's source or install folder, or unset it");
    }
    return from_env;
  }
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto installed = exe.parent_path().parent_path() / "share" / "anvil";
    if (has_harness(installed)) return installed;
  }
  std::filesystem::path source(ANVIL_SOURCE_DIR);
  if (has_harness(source)) return source;
  throw UsageError("cannot find Anvil's harness folder",
                   "set ANVIL_HOME to the folder that holds harness/anvil_harness");
}

std::filesystem::path harness_dir() { return anvil_home() / "harness"; }

}  // namespace anvil
