#pragma once

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "core/task_spec.hpp"
#include "retrieval/embedding.hpp"
#include "store/kernel_store.hpp"

namespace anvil::retrieval {

struct SearchQuery {
  TaskFeatures features;
  std::vector<TensorInfo> inputs;
  std::string dsl;
  std::string backend;
  int k = 3;
  float threshold = 0.25f;          // minimum cosine similarity of the logic embeddings
  std::vector<float> logic_vector;  // the features' embedding; empty: the built-in one
};

struct SearchHit {
  std::int64_t id = 0;
  std::string task_name, op_name, op_type, category, dsl, backend;
  float score_logic = 0;
  float score_shape = 0;
};

// The seed's hierarchical search (Algorithm 2) over kernels held in memory: (1) the query's
// features, (2) their embedding, kept when the cosine similarity reaches the threshold, (3) a hard
// filter on DSL, backend and operator type, (4) ranking by shape similarity, top k. The filter is
// applied first as a partition lookup — the same result, without scoring kernels it would drop.
class KernelIndex {
 public:
  // Loads every kernel's embeddings in `embedder`'s space; kernels stored before that space was
  // used are embedded now, and the vectors saved.
  static KernelIndex load(store::KernelStore& store, const Embedder& embedder = {});
  void add(const store::KernelRecord& record);
  std::vector<SearchHit> search(const SearchQuery& query) const;
  std::size_t size() const { return size_; }

 private:
  struct Entry {
    std::int64_t id;
    std::string task_name, op_name, category;
  };
  // One partition per (dsl, backend, op_type); embeddings stored contiguously, row after row, so
  // scoring streams through memory.
  struct Partition {
    std::vector<Entry> entries;
    std::size_t width = 0;     // dimensions of the logic embeddings (fixed by the first row)
    std::vector<float> logic;  // entries.size() x width
    std::vector<float> shape;  // entries.size() x kShapeDimensions
  };
  using Key = std::tuple<std::string, std::string, std::string>;  // dsl, backend, op_type
  std::map<Key, Partition> partitions_;
  std::size_t size_ = 0;
};

// A record's retrieval fields and embeddings from a task's spec and features.
void describe_for_retrieval(store::KernelRecord& record, const TaskSpec& spec,
                            const TaskFeatures& features, const Embedder& embedder = {});

}  // namespace anvil::retrieval
