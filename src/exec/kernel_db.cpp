#include "exec/kernel_db.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/paths.hpp"
#include "core/process.hpp"
#include "llm/endpoint.hpp"
#include "llm/provider.hpp"
#include "retrieval/features.hpp"
#include "verify/describe.hpp"

namespace anvil::exec {
namespace {

namespace fs = std::filesystem;

store::KernelRecord example_record(const fs::path& example, const fs::path& knowledge,
                                   const std::string& dsl, const Settings& settings) {
  auto meta = nlohmann::json::parse(read_text_file(fs::path(example).replace_extension(".json")));
  fs::path task = anvil_home() / meta.at("task").get<std::string>();
  auto spec = verify::describe_task(task, settings);
  auto features = retrieval::features_from_spec(spec);
  if (meta.contains("category")) features.category = meta["category"];
  store::KernelRecord record;
  record.task_hash = llm::short_hash(read_text_file(task));
  record.task_name = task.stem().string();
  record.dsl = dsl;
  record.backend = meta.value("backend", default_backend(dsl));
  record.code = read_text_file(example);
  if (meta.contains("sketch") && meta["sketch"].is_string()) {
    record.sketch = read_text_file(knowledge / meta["sketch"].get<std::string>());
  }
  record.source = "seed:" + fs::relative(example, anvil_home()).string();
  record.model = "hand-written";
  record.verdict = {{"status", "pass"},
                    {"by", "anvil verify (tests/CMakeLists.txt benchmark tests)"}};
  retrieval::describe_for_retrieval(record, spec, features, make_embedder(settings));
  return record;
}

}  // namespace

retrieval::Embedder make_embedder(const Settings& settings) {
  if (settings.retrieval_embeddings != "endpoint") return {};
  auto config = llm::provider_config_for(settings, "feature_extractor");
  config.model = settings.embedding_model;
  return {"endpoint:" + config.model,
          [config](const std::string& text) { return llm::embed_texts(config, {text}).at(0); }};
}

std::string default_backend(const std::string& dsl) {
  if (dsl == "cuda-c" || dsl == "triton") return "cuda";
  return "cpu";
}

SeedReport seed_database(store::Database& db, const Settings& settings) {
  SeedReport report;
  store::KernelStore kernels(db);
  auto knowledge = anvil_home() / "knowledge";
  for (const auto& pack : fs::directory_iterator(knowledge)) {
    if (!fs::is_directory(pack.path() / "examples")) continue;
    std::vector<fs::path> examples;
    for (const auto& item : fs::recursive_directory_iterator(pack.path() / "examples")) {
      if (item.path().extension() == ".py") examples.push_back(item.path());
    }
    std::sort(examples.begin(), examples.end());
    for (const auto& example : examples) {
      if (!fs::exists(fs::path(example).replace_extension(".json"))) {
        ++report.skipped;
        report.problems.push_back(example.string() + ": no metadata file beside it (" +
                                  fs::path(example).replace_extension(".json").filename().string() +
                                  ")");
        continue;
      }
      try {
        auto before = kernels.count();
        kernels.add(example_record(example, knowledge, pack.path().filename().string(), settings));
        bool added = kernels.count() > before;
        (added ? report.added : report.skipped) += 1;
      } catch (const std::exception& e) {
        ++report.skipped;
        report.problems.push_back(example.string() + ": " + e.what());
      }
    }
  }
  return report;
}

Retrieved retrieve_similar(store::Database& db, const TaskSpec& spec, const TaskFeatures& features,
                           const std::string& dsl, const std::string& backend, int k,
                           const Settings& settings) {
  store::KernelStore kernels(db);
  auto embedder = make_embedder(settings);
  auto index = retrieval::KernelIndex::load(kernels, embedder);
  Retrieved retrieved;
  retrieved.hits = index.search({features, spec.inputs, dsl, backend, k, 0.25f,
                                 embedder.embed(retrieval::features_text(features))});
  for (const auto& hit : retrieved.hits) {
    if (auto record = kernels.get(hit.id)) retrieved.records.push_back(std::move(*record));
  }
  return retrieved;
}

}  // namespace anvil::exec
