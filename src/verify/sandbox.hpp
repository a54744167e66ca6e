#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace anvil::verify {

// How untrusted candidate code is confined. With bubblewrap: no network, its own PID namespace
// (so nothing it starts outlives it), the file system read-only except the folders it is given.
struct Sandbox {
  enum class Kind { bwrap, none };
  Kind kind = Kind::none;
  bool network_isolated = false;
  std::string note;  // what was chosen and why, for doctor and reports

  // `readable` files stay visible even where they live under the sandbox's private /tmp.
  std::vector<std::string> wrap(const std::vector<std::string>& argv,
                                const std::vector<std::filesystem::path>& writable,
                                const std::vector<std::filesystem::path>& readable) const;
};

// setting: "auto" (bubblewrap when it works here, else none with a note), "bwrap" (required:
// throws UsageError when unusable) or "none". Probes bubblewrap once per process.
Sandbox choose_sandbox(const std::string& setting);

}  // namespace anvil::verify
