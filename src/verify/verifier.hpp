#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "core/config.hpp"
#include "verify/verify_result.hpp"

namespace anvil::verify {

struct VerifyRequest {
  std::filesystem::path task;
  std::filesystem::path candidate;
  std::string dsl = "cpp";
  std::string backend = "cpu";
  std::optional<std::uint64_t> seed;  // replay a run; normally drawn fresh and unseen
  bool measure_timing = true;
  std::filesystem::path artifacts_dir;  // when set: logs and cases are kept here
};

// The (dsl, backend) pairs this build can verify.
bool is_supported_target(const std::string& dsl, const std::string& backend);
std::string supported_targets_text();

// Runs the whole verification protocol of DESIGN.md. A rejected candidate is a result with
// passed == false; a broken task, a bad request or a missing tool throws UsageError.
VerifyResult verify_candidate(const VerifyRequest& request, const Settings& settings);

}  // namespace anvil::verify
