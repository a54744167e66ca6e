#include "verify/verifier.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <random>

#include "core/error.hpp"
#include "core/temp_dir.hpp"
#include "verify/describe.hpp"
#include "verify/harness_runner.hpp"
#include "verify/shape_cases.hpp"

namespace anvil::verify {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Held while timing: only one timing job on the machine at a time (DESIGN.md, step 7).
class MachineTimingLock {
 public:
  MachineTimingLock() {
    fd_ = open((fs::temp_directory_path() / "anvil-timing.lock").c_str(), O_RDWR | O_CREAT, 0666);
    if (fd_ >= 0) flock(fd_, LOCK_EX);
  }
  ~MachineTimingLock() {
    if (fd_ >= 0) close(fd_);  // closing releases the lock
  }
  MachineTimingLock(const MachineTimingLock&) = delete;
  MachineTimingLock& operator=(const MachineTimingLock&) = delete;

 private:
  int fd_ = -1;
};

int online_cpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  return static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
}

void write_json(const fs::path& path, const json& value) { std::ofstream(path) << value.dump(2); }

// The verdict so far; each stage either returns normally or fills `result` and stops.
struct Run {
  const VerifyRequest& request;
  const HarnessRunner& harness;
  fs::path work;
  VerifyResult& result;
  std::uint64_t init_seed = 0;
  int threads = 1;
  std::vector<ShapeCase> cases;
  std::vector<std::string> notes;  // the candidate process's remarks (unmatched parameters, ...)

  std::map<std::string, std::string> thread_env() const {
    return {{"OMP_NUM_THREADS", std::to_string(threads)}};
  }

  void fail(const std::string& stage, const std::string& error_class, const std::string& message,
            const std::string& evidence = {}) {
    result.passed = false;
    result.stage = stage;
    result.error_class = error_class;
    result.message = message;
    result.evidence = evidence;
  }

  // Turns a candidate-side process outcome into a verdict; true when the process succeeded.
  bool accept_candidate_process(const HarnessOutcome& outcome, const std::string& default_stage) {
    std::string stage = stage_of(outcome.last_progress, default_stage);
    const auto& p = outcome.process;
    if (p.kind == ProcessOutcome::Kind::timed_out) {
      fail(stage, kTimeout,
           fmt::format("the candidate did not finish within {} s ({}) and was killed with its "
                       "process group",
                       harness.settings().timeout_s, describe_progress(outcome.last_progress)),
           outcome.stderr_tail());
      return false;
    }
    if (p.kind == ProcessOutcome::Kind::signaled) {
      fail(stage, kCrash,
           fmt::format("the candidate process crashed with {} ({})", signal_name(p.signal),
                       describe_progress(outcome.last_progress)),
           outcome.stderr_tail(30));
      return false;
    }
    if (p.kind == ProcessOutcome::Kind::failed_to_start) {
      throw UsageError("cannot start the harness: " + p.start_error,
                       "check the Python interpreter (--python, ANVIL_PYTHON) with `anvil doctor`");
    }
    if (!outcome.result) {
      fail(stage, kRuntime, "the candidate process " + p.describe() + " without a result",
           outcome.stderr_tail(30));
      return false;
    }
    if (outcome.ok()) return true;
    const auto& r = *outcome.result;
    auto error_class = r.value("error_class", std::string(kRuntime));
    if (error_class == "usage") throw UsageError(r.value("message", "the task is broken"));
    if (error_class == kCompile || (error_class == kApi && stage == kStageBuild))
      stage = kStageBuild;
    fail(stage, error_class, first_line(r.value("message", "")), r.value("message", ""));
    result.violations = r.value("violations", json::array());
    return false;
  }

  static std::string first_line(const std::string& text) {
    auto end = text.find('\n');
    if (end == std::string::npos || end + 1 == text.size()) return text;
    return text.substr(0, end) + " (details in evidence)";
  }

  static std::string stage_of(const std::string& progress, const std::string& fallback) {
    if (progress.rfind("build", 0) == 0) return kStageBuild;
    if (progress.rfind("correctness", 0) == 0) return kStageCorrectness;
    if (progress.rfind("timing", 0) == 0) return kStageTiming;
    return fallback;
  }

  static std::string describe_progress(const std::string& progress) {
    return progress.empty() ? "before it reported any progress" : "while in: " + progress;
  }

  HarnessOutcome run_trusted(const std::string& command, const std::string& dir,
                             std::vector<std::string> args) {
    return harness.run({command, std::move(args), work / dir, false, {}, {}, {}});
  }

  bool static_checks() {
    auto outcome = run_trusted("static", "static", {"--candidate", request.candidate.string()});
    if (outcome.ok()) return true;
    if (!outcome.result) require_success(outcome, "the static check");
    const auto& r = *outcome.result;
    fail(kStageStatic, r.value("error_class", std::string(kViolation)), r.value("message", ""));
    result.violations = r.value("violations", json::array());
    return false;
  }

  void plan_cases(std::mt19937_64& rng) {
    auto spec = describe_task(harness, request.task, work / "describe", rng() >> 1);
    std::vector<DynamicDim> dims;
    for (const auto& d : spec.dynamic_dims)
      dims.push_back({d.name, d.low, d.high, d.default_value});
    cases = draw_shape_cases(dims, rng, harness.settings().draws);
  }

  fs::path write_cases(const std::string& dir) {
    fs::create_directories(work / dir / "out");
    auto path = work / dir / "cases.json";
    write_json(path, to_json(cases));
    return path;
  }

  bool run_candidate() {
    auto cases_path = write_cases("candidate");
    HarnessCall call{
        "candidate",
        {"--task", request.task.string(), "--candidate", request.candidate.string(), "--cases",
         cases_path.string(), "--out", (work / "candidate" / "out").string(), "--init-seed",
         std::to_string(init_seed), "--threads", std::to_string(threads)},
        work / "candidate",
        true,
        {},
        {request.task, request.candidate},
        thread_env()};
    call.env["ANVIL_BUILD_LOG"] = (work / "candidate" / "build.log").string();
    auto outcome = harness.run(call);
    keep_artifact(work / "candidate" / "build.log", "build.log");
    keep_artifact(outcome.stderr_path, "candidate.stderr.log");
    if (!accept_candidate_process(outcome, kStageBuild)) return false;
    notes = outcome.result->value("notes", std::vector<std::string>{});
    return true;
  }

  void run_reference() {
    auto cases_path = write_cases("reference");
    auto outcome = harness.run({"reference",
                                {"--task", request.task.string(), "--cases", cases_path.string(),
                                 "--out", (work / "reference" / "out").string(), "--init-seed",
                                 std::to_string(init_seed), "--threads", std::to_string(threads)},
                                work / "reference",
                                false,
                                {},
                                {},
                                thread_env()});
    keep_artifact(outcome.stderr_path, "reference.stderr.log");
    require_success(outcome, "running the reference of " + request.task.string());
  }

  bool compare_outputs() {
    for (const auto& shape_case : cases) {
      CaseCheck check{shape_case.id, shape_case.dims, {}};
      for (int draw = 0; draw < static_cast<int>(shape_case.draw_seeds.size()); ++draw) {
        auto name = fmt::format("{}.{}", shape_case.id, draw);
        auto reference = read_output_set(work / "reference" / "out" / name);
        auto generated = read_output_set(work / "candidate" / "out" / name);
        check.draws.push_back(compare_draw(reference, generated, draw));
        if (!check.draws.back().passed) {
          result.cases.push_back(check);
          report_mismatch(shape_case, check.draws.back(), reference.size(), generated.size());
          return false;
        }
      }
      result.cases.push_back(std::move(check));
    }
    return true;
  }

  static DrawCheck compare_draw(const std::vector<HostTensor>& reference,
                                const std::vector<HostTensor>& generated, int draw) {
    DrawCheck check{draw, reference.size() == generated.size(), {}};
    for (std::size_t i = 0; i < std::min(reference.size(), generated.size()); ++i) {
      OutputCheck output{i, generated[i].shape, std::string(dtype_name(generated[i].dtype)),
                         compare_tensors(reference[i], generated[i])};
      check.passed = check.passed && output.comparison.passed;
      check.outputs.push_back(std::move(output));
    }
    return check;
  }

  void report_mismatch(const ShapeCase& shape_case, const DrawCheck& draw, std::size_t expected,
                       std::size_t got) {
    auto where =
        fmt::format("case {} {} draw {}", shape_case.id, json(shape_case.dims).dump(), draw.draw);
    if (expected != got) {
      fail(kStageCorrectness, kApi,
           fmt::format("{}: the candidate returned {} outputs, the reference {}", where, got,
                       expected));
      return;
    }
    for (const auto& output : draw.outputs) {
      const auto& c = output.comparison;
      if (c.passed) continue;
      std::string worst;
      if (c.worst_index) {
        worst = fmt::format("; worst element {}: reference {:.8g}, candidate {:.8g}",
                            index_text(output.shape, *c.worst_index), c.worst_reference,
                            c.worst_generated);
      }
      std::string note = notes.empty() ? "" : fmt::format(" (note: {})", fmt::join(notes, "; "));
      fail(kStageCorrectness, c.interface_mismatch ? kApi : kNumerical,
           fmt::format("{}, output {}: {}{}{}", where, output.index, c.reason, worst, note));
      return;
    }
  }

  bool measure_timing() {
    const auto& timed = cases.front();
    result.timing_case = timed.id;
    json case_arg{{"dims", timed.dims}, {"seed", timed.draw_seeds.front()}};
    const auto& budget = harness.settings().timing;
    json budget_arg{{"warmup_s", budget.warmup_s},
                    {"target_s", budget.target_s},
                    {"min_repeats", budget.min_repeats},
                    {"max_repeats", budget.max_repeats}};
    std::vector<std::string> common{
        "--task",      request.task.string(),     "--case",    case_arg.dump(),
        "--init-seed", std::to_string(init_seed), "--threads", std::to_string(threads),
        "--budget",    budget_arg.dump()};
    auto env = thread_env();

    MachineTimingLock lock;
    auto reference = harness.run({"time", common, work / "time-reference", false, {}, {}, env});
    require_success(reference, "timing the reference");
    auto args = common;
    args.insert(args.end(), {"--candidate", request.candidate.string()});
    auto candidate = harness.run(
        {"time", args, work / "time-candidate", true, {}, {request.task, request.candidate}, env});
    if (!accept_candidate_process(candidate, kStageTiming)) {
      if (result.stage == kStageBuild || result.stage == kStageCorrectness)
        result.stage = kStageTiming;
      return false;
    }
    result.reference_timing = parse_timing(reference.result->at("timing"));
    result.candidate_timing = parse_timing(candidate.result->at("timing"));
    result.speedup = result.reference_timing->median_ms / result.candidate_timing->median_ms;
    add_timing_warnings();
    return true;
  }

  static TimingStats parse_timing(const json& t) {
    return {t.at("median_ms"),
            t.at("mean_ms"),
            t.at("stdev_ms"),
            t.at("min_ms"),
            t.at("max_ms"),
            t.at("p25_ms"),
            t.at("p75_ms"),
            t.at("repeats"),
            t.at("warmup_calls"),
            t.at("threads"),
            t.value("load_average", 0.0)};
  }

  // Figures a user should not trust as they are: a wide spread or a busy machine.
  void add_timing_warnings() {
    for (const auto& [side, t] : {std::pair{"candidate", *result.candidate_timing},
                                  std::pair{"eager", *result.reference_timing}}) {
      if (t.p75_ms - t.p25_ms > 0.5 * t.median_ms) {
        result.timing_warnings.push_back(fmt::format(
            "{} timings spread widely (p25 {:.4g} ms, p75 {:.4g} ms): other work may be running",
            side, t.p25_ms, t.p75_ms));
      }
      if (t.load_average > online_cpus()) {
        result.timing_warnings.push_back(fmt::format(
            "load average {:.2f} on {} CPUs while timing the {}: rerun on a quiet machine",
            t.load_average, online_cpus(), side));
      }
    }
  }

  void keep_artifact(const fs::path& from, const std::string& name) {
    if (request.artifacts_dir.empty() || !fs::exists(from)) return;
    fs::create_directories(request.artifacts_dir);
    fs::copy_file(from, request.artifacts_dir / name, fs::copy_options::overwrite_existing);
  }
};

void check_request(const VerifyRequest& request) {
  if (!is_supported_target(request.dsl, request.backend)) {
    throw UsageError(
        fmt::format("unsupported target --dsl {} --backend {}", request.dsl, request.backend),
        "supported targets: " + supported_targets_text());
  }
  for (const auto& [what, path] :
       {std::pair{"task", request.task}, {"candidate", request.candidate}}) {
    if (!fs::is_regular_file(path)) {
      throw UsageError(fmt::format("{} file not found: {}", what, path.string()),
                       "pass the path of a Python file");
    }
  }
}

}  // namespace

bool is_supported_target(const std::string& dsl, const std::string& backend) {
  return dsl == "cpp" && backend == "cpu";
}

std::string supported_targets_text() { return "--dsl cpp --backend cpu"; }

VerifyResult verify_candidate(const VerifyRequest& request, const Settings& settings) {
  check_request(request);
  auto started = std::chrono::steady_clock::now();
  VerifyResult result;
  result.task = fs::absolute(request.task).string();
  result.candidate = fs::absolute(request.candidate).string();
  result.dsl = request.dsl;
  result.backend = request.backend;
  result.seed =
      request.seed.value_or(std::random_device{}() * 0x100000000ull + std::random_device{}());
  HarnessRunner harness(settings, choose_sandbox(settings.sandbox));
  result.sandbox = harness.sandbox().note;
  result.network_isolated = harness.sandbox().network_isolated;

  VerifyRequest absolute = request;
  absolute.task = fs::absolute(request.task);
  absolute.candidate = fs::absolute(request.candidate);
  TempDir work("anvil-verify");
  Run run{absolute, harness, work.path(), result, 0, 1, {}, {}};
  std::mt19937_64 rng(result.seed);
  run.init_seed = rng() >> 1;
  run.threads = settings.threads > 0 ? settings.threads : online_cpus();
  result.threads = run.threads;

  result.passed = run.static_checks();
  if (result.passed) {
    run.plan_cases(rng);
    if (!request.artifacts_dir.empty()) {
      fs::create_directories(request.artifacts_dir);
      write_json(request.artifacts_dir / "cases.json", to_json(run.cases));
    }
    // Candidate first: while its code runs, no reference output exists anywhere.
    result.passed = run.run_candidate();
    if (result.passed) {
      run.run_reference();
      result.passed = run.compare_outputs();
    }
  }
  if (result.passed) result.stage = kStageCorrectness;
  if (result.passed && request.measure_timing) {
    result.stage = kStageTiming;
    result.passed = run.measure_timing();
  }
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

}  // namespace anvil::verify
