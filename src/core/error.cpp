#include "core/error.hpp"

#include <utility>

namespace anvil {

Error::Error(const std::string& message, std::string hint)
    : std::runtime_error(message), hint_(std::move(hint)) {}

}  // namespace anvil
