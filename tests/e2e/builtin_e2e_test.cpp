// End to end: `anvil generate --llm builtin` with the real binary, real task references, real
// compiles and the real Verifier. No LLM anywhere: the rule-based Designer plans the sketch, the
// lowering writes the C++, the tuning search verifies each configuration.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/process.hpp"
#include "core/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kBenchmarks = fs::path(ANVIL_SOURCE_DIR) / "benchmarks";

struct AnvilRun {
  int exit_code = -1;
  std::string out, err;
};

AnvilRun run_anvil(std::vector<std::string> args) {
  args.insert(args.begin(), ANVIL_BINARY);
  auto run = anvil::run_captured(args, std::chrono::seconds(600), {});
  return {run.outcome.exit_code, run.out, run.err};
}

json read_json(const fs::path& path) {
  std::ifstream in(path);
  return json::parse(in);
}

fs::path only_run_dir(const fs::path& root) {
  std::vector<fs::path> dirs;
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.is_directory()) dirs.push_back(entry.path());
  EXPECT_EQ(dirs.size(), 1u);
  return dirs.empty() ? fs::path() : dirs.front();
}

TEST(BuiltinE2E, GeneratesTunesAndStoresAVerifiedKernel) {
  anvil::TempDir work("anvil-builtin-e2e");
  auto db = work.path() / "anvil.db";
  auto run = run_anvil({"generate", "--llm", "builtin", "--task",
                        (kBenchmarks / "softmax" / "softmax_rows.py").string(), "--out",
                        (work.path() / "runs").string(), "--db", db.string(), "--tune-configs", "2",
                        "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  auto report = json::parse(run.out);
  EXPECT_EQ(report[0]["status"], "success");
  EXPECT_EQ(report[0]["model"], "builtin");
  ASSERT_TRUE(report[0]["speedup"].is_number()) << report.dump(2);

  auto dir = only_run_dir(work.path() / "runs");
  auto tuning = read_json(dir / "tuning.json");
  ASSERT_EQ(tuning["trials"].size(), 2u) << tuning.dump(2);
  for (const auto& trial : tuning["trials"]) {
    EXPECT_EQ(trial["status"], "pass") << trial.dump();
    EXPECT_GT(trial["seconds"].get<double>(), 0.0);
    EXPECT_TRUE(trial["speedup"].is_number());
  }
  // The kept configuration is the fastest of those that passed.
  int best = tuning["best_attempt"];
  double kept = tuning["trials"][best - 1]["speedup"];
  for (const auto& trial : tuning["trials"]) EXPECT_LE(trial["speedup"].get<double>(), kept);
  EXPECT_TRUE(fs::exists(dir / "best" / "candidate.py"));
  EXPECT_TRUE(fs::exists(dir / "best" / "sketch.txt"));

  // The verified kernel is in the database, with its sketch.
  auto listed = run_anvil({"db", "--db", db.string(), "list"});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("softmax_rows"), std::string::npos) << listed.out;
}

TEST(BuiltinE2E, UnsupportedOperatorEndsWithItsNameAndTheLlmHint) {
  anvil::TempDir work("anvil-builtin-e2e");
  auto task = work.path() / "conv.py";
  std::ofstream(task) << "import torch\nimport torch.nn as nn\n\n\n"
                         "class Model(nn.Module):\n"
                         "    def __init__(self):\n"
                         "        super().__init__()\n"
                         "        self.conv = nn.Conv2d(3, 4, 3)\n\n"
                         "    def forward(self, x):\n"
                         "        return self.conv(x)\n\n\n"
                         "def get_inputs():\n    return [torch.randn(2, 3, 16, 16)]\n\n\n"
                         "def get_init_inputs():\n    return []\n";
  auto run = run_anvil({"generate", "--llm", "builtin", "--task", task.string(), "--out",
                        (work.path() / "runs").string(), "--db", (work.path() / "a.db").string()});
  EXPECT_NE(run.exit_code, 0);
  EXPECT_NE(run.err.find("aten::convolution"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("--llm openai"), std::string::npos) << run.err;
}

TEST(BuiltinE2E, DesignsACheckedSketchForEveryBenchmarkTask) {
  int tasks = 0;
  for (const auto& entry : fs::recursive_directory_iterator(kBenchmarks)) {
    if (entry.path().extension() != ".py") continue;
    ++tasks;
    auto run = run_anvil({"sketch", "design", entry.path().string()});
    EXPECT_EQ(run.exit_code, 0) << entry.path() << "\n" << run.out << run.err;
    EXPECT_NE(run.out.find("sketch "), std::string::npos);
  }
  EXPECT_GE(tasks, 40);
}

}  // namespace
