#pragma once

#include <cstdint>
#include <string_view>

namespace anvil {

// 64-bit FNV-1a: a small, stable, well-known hash for trace ids and hashed embeddings (not for
// security). Written here: it is four lines, and no Debian library offers it alone.
constexpr std::uint64_t fnv1a(std::string_view text) {
  std::uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

}  // namespace anvil
