#include "retrieval/embedding.hpp"

#include <cctype>
#include <cmath>
#include <map>

#include "core/hash.hpp"

namespace anvil::retrieval {
namespace {

void normalise(std::vector<float>& v) {
  double norm = 0;
  for (float x : v) norm += static_cast<double>(x) * x;
  if (norm <= 0) return;
  auto scale = static_cast<float>(1.0 / std::sqrt(norm));
  for (float& x : v) x *= scale;
}

std::vector<std::string> words_of(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!word.empty()) {
      words.push_back(word);
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(word);
  return words;
}

int dtype_bits(const std::string& dtype) {
  if (dtype.find("64") != std::string::npos) return 64;
  if (dtype.find("16") != std::string::npos) return 16;
  if (dtype.find("8") != std::string::npos || dtype == "bool") return 8;
  return 32;
}

}  // namespace

std::vector<float> embed_text(const std::string& text) {
  std::map<std::string, double> counts;
  for (const auto& word : words_of(text)) {
    counts["w:" + word] += 2.0;
    std::string padded = "#" + word + "#";
    for (std::size_t i = 0; i + 3 <= padded.size(); ++i) counts["c:" + padded.substr(i, 3)] += 1.0;
  }
  std::vector<float> v(kTextDimensions, 0.0f);
  for (const auto& [token, count] : counts) {
    auto hash = fnv1a(token);
    float sign = (hash >> 63) ? -1.0f : 1.0f;
    v[hash % kTextDimensions] += sign * static_cast<float>(std::log1p(count));
  }
  normalise(v);
  return v;
}

std::vector<float> embed_shapes(const std::vector<TensorInfo>& inputs) {
  std::vector<float> v(kShapeDimensions, 0.0f);
  int tensors = 0;
  for (const auto& input : inputs) {
    if (input.kind != "tensor" || tensors == 3) continue;
    if (tensors == 0) {
      v[0] = static_cast<float>(input.shape.size());
      v[1] = static_cast<float>(dtype_bits(input.dtype)) / 8.0f;
    }
    for (std::size_t d = 0; d < input.shape.size() && d < 4; ++d) {
      v[2 + tensors * 4 + d] =
          static_cast<float>(std::log2(1.0 + static_cast<double>(input.shape[d])));
    }
    ++tensors;
  }
  normalise(v);
  return v;
}

std::string features_text(const TaskFeatures& f) {
  return f.op_type + " " + f.category + " " + f.op_name + " " + f.op_name + " " + f.logic;
}

float dot(const std::vector<float>& a, const std::vector<float>& b) {
  float sum = 0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) sum += a[i] * b[i];
  return sum;
}

}  // namespace anvil::retrieval
