#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/task_spec.hpp"
#include "retrieval/kernel_index.hpp"
#include "store/kernel_store.hpp"

namespace anvil::exec {

struct SeedReport {
  int added = 0;
  int skipped = 0;
  std::vector<std::string> problems;  // examples that could not be stored, and why
};

// The logic embedder [retrieval].embeddings chooses: built-in, or the endpoint's (the
// feature_extractor role's [llm] settings with [retrieval].embedding_model).
retrieval::Embedder make_embedder(const Settings& settings);

// Seeds the kernel database from every knowledge/<dsl>/examples/<frontend>/*.py that has a
// metadata file beside it (<name>.json: task, category, sketch, backend).
SeedReport seed_database(store::Database& db, const Settings& settings);

// The backend a DSL's kernels run on when the metadata does not say (cpp -> cpu, cuda-c -> cuda).
std::string default_backend(const std::string& dsl);

struct Retrieved {
  std::vector<retrieval::SearchHit> hits;
  std::vector<store::KernelRecord> records;  // the hits' kernels, same order
};

Retrieved retrieve_similar(store::Database& db, const TaskSpec& spec, const TaskFeatures& features,
                           const std::string& dsl, const std::string& backend, int k,
                           const Settings& settings);

}  // namespace anvil::exec
