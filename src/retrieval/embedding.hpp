#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/task_spec.hpp"

namespace anvil::retrieval {

// The built-in text embedding, needing no model: words and character trigrams hashed into
// kTextDimensions buckets (signed hashing, so collisions cancel rather than pile up), weighted by
// log(1 + count) and by kind (whole words count double: they carry the operator names), then
// L2-normalised. Term frequencies stand in for TF-IDF here: the feature texts are short and the
// rare, telling tokens (operator names) are exactly the words. Cosine similarity = dot product.
inline constexpr int kTextDimensions = 256;
std::vector<float> embed_text(const std::string& text);

// The shape embedding: rank, log2 sizes (up to 4 dims of up to 3 tensors), dtype width of the
// first input; L2-normalised, so closer shapes have a larger dot product.
inline constexpr int kShapeDimensions = 16;
std::vector<float> embed_shapes(const std::vector<TensorInfo>& inputs);

std::string features_text(const TaskFeatures& features);

// Where logic embeddings come from: the built-in one, or an endpoint's /v1/embeddings.
struct Embedder {
  std::string model = "builtin";
  std::function<std::vector<float>(const std::string&)> embed = embed_text;
};

float dot(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace anvil::retrieval
