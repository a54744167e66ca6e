#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "verify/verify_result.hpp"

namespace anvil::verify {

struct SketchRunRequest {
  std::filesystem::path sketch_file;
  std::string sketch_name;  // empty: the file's first sketch
  std::filesystem::path task;
  std::map<std::string, double> constants;  // constexpr overrides (--const name=value)
  std::uint64_t seed = 0;
};

struct SketchRunResult {
  bool checked = false;     // parsed and checked without errors
  bool ran = false;         // the interpreter ran to the end (no run-time error)
  bool matched = false;     // the interpreter's outputs pass the Verifier's metric
  std::string diagnostics;  // rendered check diagnostics (warnings included)
  std::string message;      // the verdict, or the first mismatch / run-time error
  std::vector<OutputCheck> outputs;
};

// Checks the sketch, binds the task's inputs (forward's arguments, then the Model's parameters
// and buffers) to the sketch's input tensors in declaration order, runs the interpreter on the
// default shape case and compares its outputs with the reference's using the Verifier's metric.
// Throws UsageError for a missing file, a broken task or inputs that cannot be bound.
SketchRunResult run_sketch_against_task(const SketchRunRequest& request, const Settings& settings);

}  // namespace anvil::verify
