// Google Benchmark figures for the sketch front end and interpreter:
//   build/tests/anvil_sketch_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

#include "sketch/checker.hpp"
#include "sketch/interpreter.hpp"
#include "sketch/parser.hpp"
#include "sketch/printer.hpp"

namespace {

using namespace anvil::sketch;

// The RMSNorm example of knowledge/sketch/LANGUAGE.md, in canonical form.
std::string rmsnorm_sketch() {
  std::ifstream in(std::string(ANVIL_SOURCE_DIR) + "/tests/fixtures/sketches/rmsnorm.sketch");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

const std::string kRmsNorm = rmsnorm_sketch();

// The benchmark suite's matmul sketch (64x128 tiles, BK = 48 that does not divide K).
std::string matmul_sketch() {
  std::ifstream in(std::string(ANVIL_SOURCE_DIR) + "/knowledge/sketch/examples/matmul.sketch");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

const std::string kMatmul = matmul_sketch();

Array random_array(std::vector<std::int64_t> shape) {
  Array array{ScalarType::f32, shape, {}};
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  array.data.resize(array.size());
  for (auto& v : array.data) v = normal(rng);
  return array;
}

// A sketch source many times longer than a real one, to measure the front end's throughput.
std::string many_sketches(int copies) {
  std::string source;
  for (int i = 0; i < copies; ++i) {
    std::string one = kRmsNorm;
    one.replace(one.find("rmsnorm"), 7, "rmsnorm" + std::to_string(i));
    source += one + "\n";
  }
  return source;
}

void BM_ParseAndCheck(benchmark::State& state) {
  std::string source = many_sketches(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto parsed = parse_sketch_source(source, "bench.sketch");
    auto diagnostics = check_sketch_file(parsed.file);
    benchmark::DoNotOptimize(diagnostics);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * source.size()));
}
BENCHMARK(BM_ParseAndCheck)->Arg(1)->Arg(100);

void BM_Format(benchmark::State& state) {
  auto parsed = parse_sketch_source(many_sketches(100), "bench.sketch");
  for (auto _ : state) benchmark::DoNotOptimize(format_sketch_file(parsed.file));
}
BENCHMARK(BM_Format);

void BM_InterpretRmsNorm(benchmark::State& state) {
  auto parsed = parse_sketch_source(kRmsNorm, "rmsnorm.sketch");
  const auto rows = state.range(0);
  std::map<std::string, Array> inputs{{"x", random_array({rows, 4096})},
                                      {"weight", random_array({4096})}};
  for (auto _ : state) benchmark::DoNotOptimize(interpret(parsed.file.sketches[0], inputs));
  state.SetItemsProcessed(state.iterations() * rows * 4096);
}
BENCHMARK(BM_InterpretRmsNorm)->Arg(64)->Arg(1024)->Unit(benchmark::kMillisecond);

void BM_InterpretTiledMatmul(benchmark::State& state) {
  auto parsed = parse_sketch_source(kMatmul, "matmul.sketch");
  const auto n = state.range(0);
  std::map<std::string, Array> inputs{{"a", random_array({n, n})}, {"b", random_array({n, n})}};
  for (auto _ : state) benchmark::DoNotOptimize(interpret(parsed.file.sketches[0], inputs));
  state.SetItemsProcessed(state.iterations() * n * n * n);  // multiply-adds
}
BENCHMARK(BM_InterpretTiledMatmul)->Arg(256)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
