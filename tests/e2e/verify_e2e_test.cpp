// End to end: the real `anvil` binary verifies real candidates through real compiles and real
// child processes; each bad behaviour must be rejected at the right stage with the right class.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "candidate_template.hpp"
#include "core/process.hpp"
#include "core/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using anvil::testing::CandidateParts;
using nlohmann::json;

const fs::path kFixtures = fs::path(ANVIL_SOURCE_DIR) / "tests" / "fixtures";
const fs::path kScaleAdd = kFixtures / "tasks" / "scale_add.py";

struct AnvilRun {
  int exit_code = -1;
  json report;
  std::string out, err;
};

AnvilRun run_anvil(std::vector<std::string> args,
                   const std::map<std::string, std::string>& env = {}) {
  args.insert(args.begin(), ANVIL_BINARY);
  auto run = anvil::run_captured(args, std::chrono::seconds(300), env);
  AnvilRun result{run.outcome.exit_code, nullptr, run.out, run.err};
  auto start = run.out.find('{');
  if (start != std::string::npos)
    result.report = json::parse(run.out.substr(start), nullptr, false);
  return result;
}

AnvilRun verify_json(const fs::path& task, const fs::path& candidate,
                     std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"verify",      "--task",           task.string(),
                                "--candidate", candidate.string(), "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_anvil(args);
}

// Processes whose command line mentions `needle` (read from /proc: no procps needed).
int processes_mentioning(const std::string& needle) {
  int count = 0;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::ifstream in(entry.path() / "cmdline", std::ios::binary);
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (cmdline.find(needle) != std::string::npos) ++count;
  }
  return count;
}

class VerifyE2E : public ::testing::Test {
 protected:
  fs::path write_candidate(const std::string& name, const std::string& text) {
    auto path = scratch_.path() / (name + ".py");
    std::ofstream(path) << text;
    return path;
  }

  AnvilRun verify_scale_add(const CandidateParts& parts,
                            std::vector<std::string> extra = {"--no-timing"}) {
    return verify_json(
        kScaleAdd, write_candidate("candidate", anvil::testing::render_candidate(parts)), extra);
  }

  // Runs verify with a private TMPDIR and expects Anvil to have left nothing in it.
  AnvilRun verify_scale_add_leaving_no_files(const CandidateParts& parts,
                                             std::vector<std::string> extra) {
    auto tmp = scratch_.path() / "tmp";
    fs::create_directories(tmp);
    auto candidate = write_candidate("candidate", anvil::testing::render_candidate(parts));
    std::vector<std::string> args{"verify",      "--task",           kScaleAdd.string(),
                                  "--candidate", candidate.string(), "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto run = run_anvil(args, {{"TMPDIR", tmp.string()}});
    EXPECT_TRUE(fs::is_empty(tmp)) << "temporary files left behind in " << tmp;
    return run;
  }

  static void expect_rejected(const AnvilRun& run, const std::string& stage,
                              const std::string& error_class) {
    ASSERT_EQ(run.exit_code, 1) << run.out << run.err;
    ASSERT_TRUE(run.report.is_object()) << run.out;
    EXPECT_EQ(run.report["status"], "fail");
    EXPECT_EQ(run.report["stage"], stage) << run.report.dump(2);
    EXPECT_EQ(run.report["error_class"], error_class) << run.report.dump(2);
  }

  static void expect_violation(const AnvilRun& run, const std::string& stage,
                               const std::string& rule) {
    expect_rejected(run, stage, "violation");
    ASSERT_FALSE(run.report["violations"].empty()) << run.report.dump(2);
    EXPECT_EQ(run.report["violations"][0]["rule"], rule) << run.report.dump(2);
  }

  anvil::TempDir scratch_{"anvil-e2e"};
};

TEST_F(VerifyE2E, CorrectCandidatePassesWithTimingAndSpeedup) {
  auto run = verify_scale_add(CandidateParts{}, {"--threads", "1"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const auto& r = run.report;
  EXPECT_EQ(r["status"], "pass");
  EXPECT_EQ(r["stage"], "timing");
  EXPECT_TRUE(r["error_class"].is_null());
  ASSERT_EQ(r["cases"].size(), 1u);
  ASSERT_EQ(r["cases"][0]["draws"].size(), 2u) << "two independent input draws";
  EXPECT_EQ(r["cases"][0]["draws"][0]["outputs"][0]["shape"], json({257, 129}));
  EXPECT_EQ(r["cases"][0]["draws"][0]["outputs"][0]["over_tau"], 0);
  EXPECT_GT(r["timing"]["candidate"]["median_ms"].get<double>(), 0.0);
  EXPECT_GT(r["timing"]["reference"]["median_ms"].get<double>(), 0.0);
  EXPECT_GE(r["timing"]["candidate"]["repeats"].get<int>(), 10);
  EXPECT_EQ(r["timing"]["candidate"]["threads"], 1);
  EXPECT_EQ(r["timing"]["reference"]["threads"], 1);
  double expected = r["timing"]["reference"]["median_ms"].get<double>() /
                    r["timing"]["candidate"]["median_ms"].get<double>();
  EXPECT_NEAR(r["speedup"].get<double>(), expected, 1e-9);
}

TEST_F(VerifyE2E, HarnessInstalledUnderTmpIsVisibleInTheSandbox) {
  // The sandbox gives candidates a private /tmp; an Anvil living under /tmp must still work.
  auto home = scratch_.path() / "home";
  fs::create_directories(home);
  fs::copy(fs::path(ANVIL_SOURCE_DIR) / "harness", home / "harness", fs::copy_options::recursive);
  auto candidate = write_candidate("candidate", anvil::testing::render_candidate(CandidateParts{}));
  auto run = run_anvil({"verify", "--task", kScaleAdd.string(), "--candidate", candidate.string(),
                        "--json", "--no-timing"},
                       {{"ANVIL_HOME", home.string()}});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
}

TEST_F(VerifyE2E, HumanReportNamesVerdictAndCases) {
  auto candidate = write_candidate("candidate", anvil::testing::render_candidate(CandidateParts{}));
  auto run = run_anvil(
      {"verify", "--task", kScaleAdd.string(), "--candidate", candidate.string(), "--no-timing"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("PASS"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("case default draw 1: ok"), std::string::npos) << run.out;
}

TEST_F(VerifyE2E, CorrectnessRunsWithTheTimingThreadCount) {
  // The kernel is only right when OpenMP gives it exactly two threads: correctness must run with
  // the same parallelism as timing, or races and work splitting go unchecked.
  CandidateParts parts;
  parts.kernel_body =
      "    int threads = 0;\n"
      "    #pragma omp parallel\n"
      "    {\n"
      "        #pragma omp atomic\n"
      "        threads++;\n"
      "    }\n"
      "    for (int64_t i = 0; i < n; ++i) out[i] = threads == 2 ? x[i] * alpha + y[i] : 0.0f;\n";
  auto two = verify_scale_add(parts, {"--no-timing", "--threads", "2"});
  EXPECT_EQ(two.exit_code, 0) << two.out << two.err;
  EXPECT_EQ(two.report["threads"], 2);
  auto one = verify_scale_add(parts, {"--no-timing", "--threads", "1"});
  expect_rejected(one, "correctness", "numerical");
}

TEST_F(VerifyE2E, WrongResultIsNumerical) {
  CandidateParts parts;
  parts.kernel_body = "    for (int64_t i = 0; i < n; ++i) out[i] = x[i] * alpha - y[i];\n";
  auto run = verify_scale_add(parts);
  expect_rejected(run, "correctness", "numerical");
  auto output = run.report["cases"][0]["draws"][0]["outputs"][0];
  EXPECT_FALSE(output["passed"].get<bool>());
  EXPECT_GT(output["fraction_over_tau"].get<double>(), 0.5);
  EXPECT_TRUE(output.contains("worst"));
}

TEST_F(VerifyE2E, CompileErrorCarriesCompilerOutput) {
  CandidateParts parts;
  parts.kernel_body =
      "    for (int64_t i = 0; i < n; ++i) out[i] = x[i] * alpha + undeclared_name;\n";
  auto run = verify_scale_add(parts);
  expect_rejected(run, "build", "compile");
  EXPECT_NE(run.report["evidence"].get<std::string>().find("undeclared_name"), std::string::npos)
      << run.report.dump(2);
}

TEST_F(VerifyE2E, InfiniteLoopTimesOutAndAnvilSurvives) {
  CandidateParts parts;
  parts.kernel_body = "    volatile int spin = 1;\n    while (spin) {}\n";
  auto run = verify_scale_add_leaving_no_files(parts, {"--no-timing", "--timeout", "4"});
  expect_rejected(run, "correctness", "timeout");
  EXPECT_EQ(processes_mentioning((scratch_.path() / "candidate.py").string()), 0)
      << "the hung candidate must be killed with its whole process group";
  EXPECT_NE(run.report["message"].get<std::string>().find("case=default"), std::string::npos);
}

TEST_F(VerifyE2E, SegfaultIsCrashWithSignal) {
  CandidateParts parts;
  parts.kernel_body = "    volatile float* nowhere = nullptr;\n    *nowhere = x[0];\n";
  auto run = verify_scale_add_leaving_no_files(parts, {"--no-timing"});
  expect_rejected(run, "correctness", "crash");
  EXPECT_NE(run.report["message"].get<std::string>().find("SIGSEGV"), std::string::npos);
  EXPECT_NE(run.report["evidence"].get<std::string>().find("Segmentation fault"), std::string::npos)
      << "faulthandler's stack trace is the evidence";
}

TEST_F(VerifyE2E, TorchCallInForwardIsStaticViolation) {
  CandidateParts parts;
  parts.forward_body = "        return torch.add(x * self.alpha, y)\n";
  auto run = verify_scale_add(parts);
  expect_violation(run, "static", "framework-call");
}

TEST_F(VerifyE2E, TensorMethodIsCaughtByDispatchGuard) {
  CandidateParts parts;
  parts.forward_body = "        return x.mul(self.alpha).add(y)\n";
  auto run = verify_scale_add(parts);
  expect_rejected(run, "correctness", "violation");
  auto violations = run.report["violations"].dump();
  EXPECT_NE(violations.find("aten::mul"), std::string::npos) << violations;
  EXPECT_NE(violations.find("aten::add"), std::string::npos) << violations;
}

TEST_F(VerifyE2E, TryExceptFallbackIsStaticViolation) {
  CandidateParts parts;
  parts.forward_body =
      "        try:\n"
      "            out = torch.empty_like(x)\n"
      "            _lib.scale_add(x.data_ptr(), y.data_ptr(), out.data_ptr(), self.alpha, "
      "x.numel())\n"
      "            return out\n"
      "        except Exception:\n"
      "            return x * self.alpha + y\n";
  auto run = verify_scale_add(parts);
  expect_violation(run, "static", "try-except");
}

TEST_F(VerifyE2E, WritingIntoInputIsViolation) {
  CandidateParts parts;
  parts.kernel_body =
      "    float* writable = const_cast<float*>(y);\n"
      "    for (int64_t i = 0; i < n; ++i) { out[i] = x[i] * alpha + y[i]; writable[i] = 0.0f; }\n";
  auto run = verify_scale_add(parts);
  expect_violation(run, "correctness", "input-modified");
}

TEST_F(VerifyE2E, CachedFirstOutputIsViolation) {
  CandidateParts parts;
  parts.init_extra = "        self.cached = None\n";
  parts.forward_body =
      "        if self.cached is None:\n"
      "            self.cached = torch.empty_like(x)\n"
      "            _lib.scale_add(x.data_ptr(), y.data_ptr(), self.cached.data_ptr(), self.alpha, "
      "x.numel())\n"
      "        return self.cached\n";
  auto run = verify_scale_add(parts);
  expect_violation(run, "correctness", "aliasing");
  EXPECT_NE(run.report["message"].get<std::string>().find("previous call"), std::string::npos);
}

TEST_F(VerifyE2E, ReturningAnInputIsViolation) {
  CandidateParts parts;
  parts.forward_body = "        return y\n";
  auto run = verify_scale_add(parts);
  expect_rejected(run, "correctness", "violation");
  EXPECT_NE(run.report["message"].get<std::string>().find("aliases input y"), std::string::npos);
}

TEST_F(VerifyE2E, WrongOutputShapeIsApiError) {
  CandidateParts parts;
  parts.forward_body =
      "        out = torch.empty_like(x)\n"
      "        _lib.scale_add(x.data_ptr(), y.data_ptr(), out.data_ptr(), self.alpha, x.numel())\n"
      "        return out.view(-1)\n";
  auto run = verify_scale_add(parts);
  expect_rejected(run, "correctness", "api");
}

TEST_F(VerifyE2E, SubclassingModelIsStaticViolation) {
  CandidateParts parts;
  parts.prelude = "class Model(nn.Module):\n    pass\n\n\n";
  parts.class_line = "class ModelNew(Model):\n";
  auto run = verify_scale_add(parts);
  expect_violation(run, "static", "subclass-model");
}

TEST_F(VerifyE2E, DynamicTaskChecksDefaultAndDrawnCases) {
  auto run = verify_json(kFixtures / "tasks" / "row_sum.py",
                         kFixtures / "candidates" / "row_sum.py", {"--no-timing"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const auto& cases = run.report["cases"];
  ASSERT_EQ(cases.size(), 4u);
  EXPECT_EQ(cases[0]["dims"], json({{"cols", 256}, {"rows", 64}}));
  EXPECT_EQ(cases[1]["dims"], json({{"cols", 1}, {"rows", 1}}));
  for (const auto& dim : {"rows", "cols"}) {
    auto prime = cases[2]["dims"][dim].get<int>();
    auto ragged = cases[3]["dims"][dim].get<int>();
    EXPECT_GE(prime, 2);
    for (int d = 2; d * d <= prime; ++d) EXPECT_NE(prime % d, 0) << dim << "=" << prime;
    EXPECT_NE(ragged % 8, 0) << dim << "=" << ragged;
  }
}

TEST_F(VerifyE2E, DynamicTaskCatchesMissingTailHandling) {
  std::ifstream in(kFixtures / "candidates" / "row_sum.py");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto marker = text.find("int64_t end = cols;");
  ASSERT_NE(marker, std::string::npos);
  text.replace(marker, 19, "int64_t end = cols - cols % 8;");
  auto run = verify_json(kFixtures / "tasks" / "row_sum.py", write_candidate("tail_bug", text),
                         {"--no-timing"});
  expect_rejected(run, "correctness", "numerical");
  EXPECT_NE(run.report["message"].get<std::string>().find("case ones"), std::string::npos)
      << "the size-1 case is the first that exposes a missing tail";
}

TEST_F(VerifyE2E, SameSeedReplaysSameCases) {
  auto task = kFixtures / "tasks" / "row_sum.py";
  auto candidate = kFixtures / "candidates" / "row_sum.py";
  auto first = verify_json(task, candidate, {"--no-timing", "--seed", "12345"});
  auto second = verify_json(task, candidate, {"--no-timing", "--seed", "12345"});
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_EQ(first.report["seed"], 12345);
  EXPECT_EQ(first.report["cases"], second.report["cases"]);
}

TEST_F(VerifyE2E, NumpyTaskVerifies) {
  auto run = verify_json(kFixtures / "tasks" / "numpy_axpy.py",
                         kFixtures / "candidates" / "numpy_axpy.py", {"--no-timing"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(run.report["cases"][0]["draws"][1]["outputs"][0]["elements"], 1000);
}

TEST_F(VerifyE2E, BrokenTaskIsUsageErrorNotVerdict) {
  auto run = verify_json(kFixtures / "tasks" / "broken_reference.py",
                         kFixtures / "candidates" / "row_sum.py");
  EXPECT_EQ(run.exit_code, 2) << run.out << run.err;
  EXPECT_NE(run.err.find("describing the task"), std::string::npos) << run.err;
}

TEST_F(VerifyE2E, MissingFilesAndUnknownTargetsAreUsageErrors) {
  auto candidate = kFixtures / "candidates" / "row_sum.py";
  EXPECT_EQ(verify_json("/nonexistent/task.py", candidate).exit_code, 2);
  auto run = verify_json(kScaleAdd, candidate, {"--dsl", "brainfuck"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find("--dsl cpp --backend cpu"), std::string::npos) << run.err;
  EXPECT_EQ(run_anvil({"verify", "--task"}).exit_code, 2);
}

TEST_F(VerifyE2E, DescribeJsonHasSignatureDimsAndOpGraph) {
  auto run = run_anvil({"describe", (kFixtures / "tasks" / "row_sum.py").string(), "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto& spec = run.report;
  EXPECT_EQ(spec["frontend"], "torch");
  EXPECT_EQ(spec["inputs"][0]["name"], "x");
  EXPECT_EQ(spec["inputs"][0]["shape"], json({64, 256}));
  EXPECT_EQ(spec["outputs"][0]["shape"], json({64}));
  EXPECT_EQ(spec["dynamic_dims"][0]["name"], "rows");
  EXPECT_EQ(spec["dynamic_dims"][0]["high"], 300);
  ASSERT_FALSE(spec["op_graph"].empty());
  EXPECT_EQ(spec["op_graph"][0]["op"], "aten::sum");
  EXPECT_EQ(spec["op_graph"][0]["inputs"][0]["shape"], json({64, 256}));
}

TEST_F(VerifyE2E, DescribeTracesNumpyReference) {
  auto run = run_anvil({"describe", (kFixtures / "tasks" / "numpy_axpy.py").string(), "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::vector<std::string> ops;
  for (const auto& op : run.report["op_graph"]) ops.push_back(op["op"]);
  EXPECT_EQ(ops, (std::vector<std::string>{"numpy.multiply", "numpy.add"}));
  EXPECT_EQ(run.report["frontend"], "numpy");
}

TEST_F(VerifyE2E, DoctorReportsToolsAndReadiness) {
  auto run = run_anvil({"doctor"});
  EXPECT_EQ(run.exit_code, 0) << run.out;
  EXPECT_NE(run.out.find("C++ compiler"), std::string::npos);
  EXPECT_NE(run.out.find("PyTorch"), std::string::npos);
  EXPECT_NE(run.out.find("sandbox"), std::string::npos);
  auto missing = run_anvil({"--python", "/nonexistent/python3", "doctor"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.out.find("MISSING"), std::string::npos) << missing.out;
}

TEST_F(VerifyE2E, ConfigFileSetsTimeoutAndArtifactsAreKept) {
  auto config = scratch_.path() / "anvil.toml";
  std::ofstream(config) << "[verify]\ntimeout_s = 3\n";
  CandidateParts parts;
  parts.kernel_body = "    volatile int spin = 1;\n    while (spin) {}\n";
  auto candidate = write_candidate("candidate", anvil::testing::render_candidate(parts));
  auto artifacts = scratch_.path() / "artifacts";
  auto run =
      run_anvil({"--config", config.string(), "verify", "--task", kScaleAdd.string(), "--candidate",
                 candidate.string(), "--json", "--no-timing", "--artifacts", artifacts.string()});
  expect_rejected(run, "correctness", "timeout");
  EXPECT_NE(run.report["message"].get<std::string>().find("within 3 s"), std::string::npos);
  for (const char* name : {"verify.json", "cases.json", "build.log", "candidate.stderr.log"}) {
    EXPECT_TRUE(fs::exists(artifacts / name)) << name;
  }
  std::ifstream saved(artifacts / "verify.json");
  EXPECT_EQ(json::parse(saved)["error_class"], "timeout");
}

TEST_F(VerifyE2E, SketchRunMatchesReferenceOnRaggedSizes) {
  auto sketch = kFixtures / "sketches" / "rmsnorm.sketch";
  auto task = kFixtures / "tasks" / "rmsnorm_ragged.py";
  auto run = run_anvil({"sketch", "run", sketch.string(), "--task", task.string()});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("MATCH  all 1 outputs match the reference"), std::string::npos) << run.out;
  // A smaller tile changes the tiling, not the result.
  auto retiled =
      run_anvil({"sketch", "run", sketch.string(), "--task", task.string(), "--const", "BLOCK=96"});
  EXPECT_EQ(retiled.exit_code, 0) << retiled.out << retiled.err;
}

TEST_F(VerifyE2E, SketchRunReportsAWrongDesign) {
  std::ifstream in(kFixtures / "sketches" / "rmsnorm.sketch");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto at = text.find("mul(mul(tile, scale), w)");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 24, "mul(tile, scale)");  // forgets the weight; w is then loaded but unused
  auto sketch = scratch_.path() / "forgot_weight.sketch";
  std::ofstream(sketch) << text;
  auto run = run_anvil({"sketch", "run", sketch.string(), "--task",
                        (kFixtures / "tasks" / "rmsnorm_ragged.py").string()});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_NE(run.out.find("MISMATCH  output 'y' does not match the reference"), std::string::npos)
      << run.out;
}

TEST_F(VerifyE2E, SketchCheckAndFmtExitCodes) {
  auto clean = kFixtures / "sketches" / "rmsnorm.sketch";
  auto check = run_anvil({"sketch", "check", clean.string()});
  EXPECT_EQ(check.exit_code, 0) << check.out;
  EXPECT_EQ(check.out, "");
  EXPECT_EQ(run_anvil({"sketch", "fmt", "--check", clean.string()}).exit_code, 0);
  auto broken = scratch_.path() / "broken.sketch";
  std::ofstream(broken) << "sketch b {\n  tensors:\n    x: [4] f32\n\n  store(x -> nope)\n}\n";
  auto failed = run_anvil({"sketch", "check", clean.string(), broken.string()});
  EXPECT_EQ(failed.exit_code, 1);
  EXPECT_NE(
      failed.out.find(broken.string() + ":5:14: error: 'nope' is used before it is allocated"),
      std::string::npos)
      << failed.out;
  auto messy = scratch_.path() / "messy.sketch";
  std::ofstream(messy) << "sketch m {\n    tensors:\n        x: [4] f32\n    store(x->x)\n}\n";
  EXPECT_EQ(run_anvil({"sketch", "fmt", "--check", messy.string()}).exit_code, 1);
  EXPECT_EQ(run_anvil({"sketch", "fmt", "--write", messy.string()}).exit_code, 0);
  EXPECT_EQ(run_anvil({"sketch", "fmt", "--check", messy.string()}).exit_code, 0);
  EXPECT_EQ(run_anvil({"sketch", "check", "/nonexistent.sketch"}).exit_code, 2);
}

TEST_F(VerifyE2E, DocsCheckListAndFormat) {
  auto pack = fs::path(ANVIL_SOURCE_DIR) / "knowledge" / "cpp";
  auto clean = run_anvil({"docs", "check", pack.string()});
  EXPECT_EQ(clean.exit_code, 0) << clean.out;
  EXPECT_NE(clean.out.find("0 errors"), std::string::npos);
  auto listed = run_anvil({"docs", "list"});
  EXPECT_EQ(listed.exit_code, 0);
  EXPECT_NE(listed.out.find("cpp "), std::string::npos) << listed.out;

  auto raw = scratch_.path() / "raw.md";
  std::ofstream(raw) << "# Overview\n\nThe language.\n\n## `vadd(a, b)`\n\n```c\nvoid vadd(float* "
                        "a, float* b);\n```\n"
                        "Adds vectors.\n\n## Performance tips\n\nUse wide loads.\n";
  auto out = scratch_.path() / "pack";
  auto formatted =
      run_anvil({"docs", "format", raw.string(), "--dsl", "toy", "--out", out.string()});
  ASSERT_EQ(formatted.exit_code, 0) << formatted.out << formatted.err;
  EXPECT_TRUE(fs::exists(out / "REVIEW.md"));
  EXPECT_FALSE(fs::is_empty(out / "api")) << formatted.out;
  auto again = run_anvil({"docs", "format", raw.string(), "--dsl", "toy", "--out", out.string()});
  EXPECT_EQ(again.exit_code, 2) << "an existing pack is never overwritten";

  // With an LLM (here the exec provider), every section is normalised by the model.
  auto refined = scratch_.path() / "refined";
  auto with_llm =
      run_anvil({"docs", "format", raw.string(), "--dsl", "toy", "--out", refined.string(), "--llm",
                 "exec", "--llm-cmd", "printf '```markdown\\nNormalised by the model.\\n```\\n'"});
  ASSERT_EQ(with_llm.exit_code, 0) << with_llm.out << with_llm.err;
  bool found = false;
  for (const auto& entry : fs::recursive_directory_iterator(refined)) {
    if (entry.path().extension() != ".md" || entry.path().filename() == "REVIEW.md") continue;
    std::ifstream in(entry.path());
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    found = found || text.find("Normalised by the model.") != std::string::npos;
  }
  EXPECT_TRUE(found);
}

}  // namespace
