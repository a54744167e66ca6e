#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "verify/metric.hpp"

namespace anvil::verify {

// Stages in protocol order; a result names the stage it ended in.
inline constexpr const char* kStageStatic = "static";
inline constexpr const char* kStageBuild = "build";
inline constexpr const char* kStageCorrectness = "correctness";
inline constexpr const char* kStageTiming = "timing";

// Error classes the Conductor routes on.
inline constexpr const char* kCompile = "compile";
inline constexpr const char* kApi = "api";
inline constexpr const char* kRuntime = "runtime";
inline constexpr const char* kCrash = "crash";
inline constexpr const char* kTimeout = "timeout";
inline constexpr const char* kNumerical = "numerical";
inline constexpr const char* kViolation = "violation";

struct OutputCheck {
  std::size_t index = 0;
  std::vector<std::int64_t> shape;
  std::string dtype;
  TensorComparison comparison;
};

struct DrawCheck {
  int draw = 0;
  bool passed = false;
  std::vector<OutputCheck> outputs;
};

struct CaseCheck {
  std::string id;
  std::map<std::string, std::int64_t> dims;
  std::vector<DrawCheck> draws;
};

struct TimingStats {
  double median_ms = 0, mean_ms = 0, stdev_ms = 0, min_ms = 0, max_ms = 0, p25_ms = 0, p75_ms = 0;
  int repeats = 0, warmup_calls = 0, threads = 0;
  double load_average = 0;  // 1-minute load average around the measurement
};

struct VerifyResult {
  bool passed = false;
  std::string stage;
  std::string error_class;  // empty when passed
  std::string message;
  nlohmann::json violations = nlohmann::json::array();
  std::string evidence;  // compiler output, stack trace or stderr tail backing the message
  std::vector<CaseCheck> cases;
  std::optional<TimingStats> candidate_timing;
  std::optional<TimingStats> reference_timing;
  std::optional<double> speedup;  // reference median / candidate median
  std::string timing_case;
  std::string task, candidate, dsl, backend;
  std::string sandbox;
  bool network_isolated = false;
  int threads = 1;                           // for correctness and both timing sides
  std::vector<std::string> timing_warnings;  // why the figures may be unreliable
  std::uint64_t seed = 0;  // revealed after the run, so a user can replay it with --seed
  double seconds = 0;
};

nlohmann::json to_json(const VerifyResult& result);

// A few lines for a terminal: verdict, stage and the first evidence, then the figures.
std::string human_report(const VerifyResult& result);

}  // namespace anvil::verify
