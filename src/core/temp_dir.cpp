#include "core/temp_dir.hpp"

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <vector>

#include "core/error.hpp"

namespace anvil {

TempDir::TempDir(const std::string& prefix) {
  std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (mkdtemp(buffer.data()) == nullptr) {
    throw UsageError(
        "cannot create a temporary folder from " + pattern + ": " + std::strerror(errno),
        "check that TMPDIR points to a writable folder with free space");
  }
  path_ = buffer.data();
}

TempDir::~TempDir() {
  std::error_code ignored;  // a destructor must not throw; a leftover folder is harmless
  std::filesystem::remove_all(path_, ignored);
}

}  // namespace anvil
