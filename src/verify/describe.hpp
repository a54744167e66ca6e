#pragma once

#include <cstdint>
#include <filesystem>

#include "core/config.hpp"
#include "core/task_spec.hpp"
#include "verify/harness_runner.hpp"

namespace anvil::verify {

// Runs the task's reference once under tracing and returns its TaskSpec; `seed` draws the
// example inputs. Throws UsageError when the task cannot be loaded or run.
TaskSpec describe_task(const HarnessRunner& harness, const std::filesystem::path& task,
                       const std::filesystem::path& workdir, std::uint64_t seed);

// The same, with its own scratch folder and no sandbox (the task is the user's own code).
TaskSpec describe_task(const std::filesystem::path& task, const Settings& settings);

}  // namespace anvil::verify
