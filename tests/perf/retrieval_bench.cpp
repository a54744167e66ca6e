// Google Benchmark: the hierarchical search over 100,000 stored kernels (all in the queried
// DSL, backend and operator type, the worst case for the filter), and loading the index.
//   build/tests/anvil_retrieval_bench
#include <benchmark/benchmark.h>

#include <random>

#include "retrieval/embedding.hpp"
#include "retrieval/features.hpp"
#include "retrieval/kernel_index.hpp"

namespace {

using namespace anvil;

const char* kOps[] = {"_softmax", "_log_softmax", "logsumexp", "softmax"};

TaskSpec random_spec(std::mt19937& rng) {
  std::uniform_int_distribution<std::int64_t> size(1, 1 << 14);
  TaskSpec spec;
  spec.inputs = {{"x", "tensor", {size(rng), size(rng)}, "float32"}};
  spec.outputs = spec.inputs;
  spec.op_graph.push_back({std::string("aten::") + kOps[rng() % 4], spec.inputs, spec.outputs});
  return spec;
}

retrieval::KernelIndex build_index(std::size_t count) {
  std::mt19937 rng(1);
  retrieval::KernelIndex index;
  for (std::size_t i = 0; i < count; ++i) {
    auto spec = random_spec(rng);
    store::KernelRecord r;
    r.id = static_cast<std::int64_t>(i + 1);
    r.task_name = "k" + std::to_string(i);
    r.dsl = "cpp";
    r.backend = "cpu";
    retrieval::describe_for_retrieval(r, spec, retrieval::features_from_spec(spec));
    index.add(r);
  }
  return index;
}

void BM_Search100k(benchmark::State& state) {
  static const auto index = build_index(100'000);
  std::mt19937 rng(2);
  auto spec = random_spec(rng);
  retrieval::SearchQuery query{
      retrieval::features_from_spec(spec), spec.inputs, "cpp", "cpu", 5, 0.25f, {}};
  for (auto _ : state) benchmark::DoNotOptimize(index.search(query));
  state.counters["kernels"] = static_cast<double>(index.size());
}
BENCHMARK(BM_Search100k)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
