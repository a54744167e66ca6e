#include "verify/sketch_run.hpp"

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/process.hpp"
#include "core/temp_dir.hpp"
#include "sketch/checker.hpp"
#include "sketch/interpreter.hpp"
#include "sketch/parser.hpp"
#include "verify/harness_runner.hpp"
#include "verify/metric.hpp"
#include "verify/tensor_file.hpp"

namespace anvil::verify {
namespace {

namespace fs = std::filesystem;
using sketch::ScalarType;

ScalarType sketch_dtype(DType dtype) {
  switch (dtype) {
    case DType::float16:
      return ScalarType::f16;
    case DType::bfloat16:
      return ScalarType::bf16;
    case DType::float32:
      return ScalarType::f32;
    case DType::float64:
      return ScalarType::f64;
    case DType::int8:
      return ScalarType::i8;
    case DType::int32:
      return ScalarType::i32;
    case DType::boolean:
      return ScalarType::boolean;
    default:
      return ScalarType::i64;  // uint8 and int16 have no sketch dtype: exact in i64
  }
}

DType host_dtype(ScalarType type) {
  switch (type) {
    case ScalarType::f16:
      return DType::float16;
    case ScalarType::bf16:
      return DType::bfloat16;
    case ScalarType::f32:
      return DType::float32;
    case ScalarType::f64:
      return DType::float64;
    case ScalarType::i8:
      return DType::int8;
    case ScalarType::i32:
      return DType::int32;
    case ScalarType::i64:
      return DType::int64;
    case ScalarType::boolean:
      return DType::boolean;
  }
  return DType::float32;
}

sketch::Array to_array(const HostTensor& tensor) {
  sketch::Array array{sketch_dtype(tensor.dtype), tensor.shape, {}};
  array.data.resize(tensor.size());
  for (std::size_t i = 0; i < array.data.size(); ++i) array.data[i] = tensor.value(i);
  return array;
}

const sketch::Sketch& pick_sketch(const sketch::SketchFile& file, const std::string& name) {
  for (const auto& s : file.sketches) {
    if (name.empty() || s.name == name) return s;
  }
  throw UsageError(name.empty() ? "the file holds no sketch"
                                : "no sketch named '" + name + "' in the file");
}

// Inputs of the sketch, in declaration order: the tensors it never stores into.
std::vector<std::string> input_tensor_names(const sketch::Sketch& sketch) {
  auto outputs = sketch::output_tensor_names(sketch);
  std::vector<std::string> inputs;
  for (const auto& tensor : sketch.tensors) {
    if (std::find(outputs.begin(), outputs.end(), tensor.name) == outputs.end())
      inputs.push_back(tensor.name);
  }
  return inputs;
}

}  // namespace

SketchRunResult run_sketch_against_task(const SketchRunRequest& request, const Settings& settings) {
  if (!fs::is_regular_file(request.sketch_file)) {
    throw UsageError("sketch file not found: " + request.sketch_file.string());
  }
  std::string source = read_text_file(request.sketch_file);
  auto parsed = sketch::parse_sketch_source(source, request.sketch_file.string());
  auto diagnostics = parsed.diagnostics;
  if (parsed.ok()) {
    auto found = sketch::check_sketch_file(parsed.file);
    diagnostics.insert(diagnostics.end(), found.begin(), found.end());
  }
  SketchRunResult result;
  result.diagnostics =
      sketch::render_diagnostics(diagnostics, source, request.sketch_file.string());
  if (sketch::has_errors(diagnostics)) {
    result.message = "the sketch has errors; it was not run";
    return result;
  }
  result.checked = true;
  const auto& chosen = pick_sketch(parsed.file, request.sketch_name);

  TempDir work("anvil-sketch-run");
  HarnessRunner harness(settings, Sandbox{});
  auto outcome = harness.run(
      {"materialize",
       {"--task", fs::absolute(request.task).string(), "--seed", std::to_string(request.seed),
        "--init-seed", std::to_string(request.seed), "--out", work.path().string()},
       work.path(),
       false,
       {},
       {},
       {}});
  require_success(outcome, "running the task " + request.task.string());
  auto task_inputs = read_output_set(work.path() / "inputs");
  auto reference = read_output_set(work.path() / "outputs");
  auto input_names = outcome.result->at("inputs").get<std::vector<std::string>>();

  auto sketch_inputs = input_tensor_names(chosen);
  if (sketch_inputs.size() > task_inputs.size()) {
    throw UsageError(
        fmt::format("the sketch declares {} input tensors ({}) but the task provides {} ({})",
                    sketch_inputs.size(), fmt::join(sketch_inputs, ", "), task_inputs.size(),
                    fmt::join(input_names, ", ")),
        "declare the sketch's inputs in the order of forward's arguments, then the model's "
        "parameters");
  }
  std::map<std::string, sketch::Array> bound;
  for (std::size_t i = 0; i < sketch_inputs.size(); ++i)
    bound[sketch_inputs[i]] = to_array(task_inputs[i]);

  std::map<std::string, sketch::Array> produced;
  try {
    produced = sketch::interpret(chosen, bound, {request.constants});
  } catch (const sketch::InterpretError& e) {
    result.message = fmt::format("{}:{}:{}: run-time error: {}", request.sketch_file.string(),
                                 e.loc().line, e.loc().column, e.what());
    return result;
  }
  result.ran = true;
  auto outputs = sketch::output_tensor_names(chosen);
  if (outputs.size() != reference.size()) {
    result.message = fmt::format("the sketch has {} outputs ({}) but the reference returns {}",
                                 outputs.size(), fmt::join(outputs, ", "), reference.size());
    return result;
  }
  result.matched = true;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const auto& array = produced.at(outputs[i]);
    auto generated = HostTensor::from_doubles(host_dtype(array.dtype), array.shape, array.data);
    OutputCheck check{i, generated.shape, std::string(dtype_name(generated.dtype)),
                      compare_tensors(reference[i], generated)};
    if (!check.comparison.passed && result.matched) {
      result.matched = false;
      const auto& c = check.comparison;
      result.message =
          fmt::format("output '{}' does not match the reference: {}", outputs[i], c.reason);
      if (c.worst_index) {
        result.message += fmt::format("; worst element {}: reference {:.8g}, sketch {:.8g}",
                                      index_text(check.shape, *c.worst_index), c.worst_reference,
                                      c.worst_generated);
      }
    }
    result.outputs.push_back(std::move(check));
  }
  if (result.matched)
    result.message = fmt::format("all {} outputs match the reference", outputs.size());
  return result;
}

}  // namespace anvil::verify
