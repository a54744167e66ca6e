#include "verify/describe.hpp"

#include "core/error.hpp"
#include "core/temp_dir.hpp"

namespace anvil::verify {

TaskSpec describe_task(const HarnessRunner& harness, const std::filesystem::path& task,
                       const std::filesystem::path& workdir, std::uint64_t seed) {
  if (!std::filesystem::is_regular_file(task)) {
    throw UsageError("task file not found: " + task.string(),
                     "pass the path of a Python task file");
  }
  auto absolute = std::filesystem::absolute(task);
  auto outcome = harness.run({"describe",
                              {"--task", absolute.string(), "--seed", std::to_string(seed)},
                              workdir,
                              false,
                              {},
                              {},
                              {}});
  require_success(outcome, "describing the task " + absolute.string());
  return parse_task_spec(outcome.result->at("spec"));
}

TaskSpec describe_task(const std::filesystem::path& task, const Settings& settings) {
  TempDir scratch("anvil-describe");
  Sandbox none;
  HarnessRunner harness(settings, none);
  return describe_task(harness, task, scratch.path(), 0);
}

}  // namespace anvil::verify
