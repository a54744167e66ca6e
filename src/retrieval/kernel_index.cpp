#include "retrieval/kernel_index.hpp"

#include <algorithm>

#include "retrieval/embedding.hpp"

namespace anvil::retrieval {

KernelIndex KernelIndex::load(store::KernelStore& store, const Embedder& embedder) {
  KernelIndex index;
  std::vector<store::KernelRecord> missing;
  store.for_each(
      [&](const store::KernelRecord& record) {
        if (record.logic_embedding.empty()) {
          missing.push_back(record);
        } else {
          index.add(record);
        }
      },
      embedder.model);
  for (auto& record : missing) {
    record.logic_embedding = embedder.embed(
        features_text({record.op_name, record.op_type, record.category, record.logic}));
    store.set_embedding(record.id, "logic", embedder.model, record.logic_embedding);
    index.add(record);
  }
  return index;
}

namespace {

// Appends `v` as one row of `width` floats (zero-padded or cut, so a malformed row cannot shift
// the ones after it).
void append_row(std::vector<float>& rows, const std::vector<float>& v, int width) {
  for (int i = 0; i < width; ++i)
    rows.push_back(i < static_cast<int>(v.size()) ? v[static_cast<std::size_t>(i)] : 0.0f);
}

// Eight independent partial sums: the compiler turns them into one SIMD accumulator without
// -ffast-math, which scoring 100k rows per query needs.
float row_dot(const float* row, const std::vector<float>& v) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::size_t n = v.size(), i = 0;
  for (; i + 8 <= n; i += 8) {
    for (std::size_t j = 0; j < 8; ++j) acc[j] += row[i + j] * v[i + j];
  }
  float sum = 0;
  for (; i < n; ++i) sum += row[i] * v[i];
  for (float a : acc) sum += a;
  return sum;
}

}  // namespace

void KernelIndex::add(const store::KernelRecord& r) {
  auto& partition = partitions_[{r.dsl, r.backend, r.op_type}];
  if (partition.entries.empty()) partition.width = r.logic_embedding.size();
  partition.entries.push_back({r.id, r.task_name, r.op_name, r.category});
  append_row(partition.logic, r.logic_embedding, static_cast<int>(partition.width));
  append_row(partition.shape, r.shape_embedding, kShapeDimensions);
  ++size_;
}

std::vector<SearchHit> KernelIndex::search(const SearchQuery& query) const {
  auto found = partitions_.find({query.dsl, query.backend, query.features.op_type});
  if (found == partitions_.end()) return {};
  const Partition& p = found->second;
  auto logic =
      query.logic_vector.empty() ? embed_text(features_text(query.features)) : query.logic_vector;
  logic.resize(p.width, 0.0f);
  auto shape = embed_shapes(query.inputs);
  struct Scored {
    std::size_t row;
    float logic, shape;
  };
  std::vector<Scored> scored;
  for (std::size_t row = 0; row < p.entries.size(); ++row) {
    float score_logic = row_dot(&p.logic[row * p.width], logic);
    if (score_logic < query.threshold) continue;
    scored.push_back({row, score_logic, row_dot(&p.shape[row * kShapeDimensions], shape)});
  }
  auto better = [&](const Scored& a, const Scored& b) {
    if (a.shape != b.shape) return a.shape > b.shape;
    if (a.logic != b.logic) return a.logic > b.logic;
    return p.entries[a.row].id < p.entries[b.row].id;
  };
  auto k = std::min(scored.size(), static_cast<std::size_t>(std::max(0, query.k)));
  std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(k), scored.end(),
                    better);
  std::vector<SearchHit> hits;
  for (std::size_t i = 0; i < k; ++i) {
    const auto& e = p.entries[scored[i].row];
    hits.push_back({e.id, e.task_name, e.op_name, query.features.op_type, e.category, query.dsl,
                    query.backend, scored[i].logic, scored[i].shape});
  }
  return hits;
}

void describe_for_retrieval(store::KernelRecord& record, const TaskSpec& spec,
                            const TaskFeatures& features, const Embedder& embedder) {
  record.op_name = features.op_name;
  record.op_type = features.op_type;
  record.category = features.category;
  record.logic = features.logic;
  record.frontend = spec.frontend;
  record.shapes = nlohmann::json::array();
  for (const auto& input : spec.inputs) {
    if (input.kind == "tensor")
      record.shapes.push_back(
          {{"name", input.name}, {"shape", input.shape}, {"dtype", input.dtype}});
  }
  record.logic_embedding = embedder.embed(features_text(features));
  record.embedding_model = embedder.model;
  record.shape_embedding = embed_shapes(spec.inputs);
}

}  // namespace anvil::retrieval
