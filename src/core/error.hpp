#pragma once

#include <stdexcept>
#include <string>

namespace anvil {

// An error a user can act on: what failed and where (the message), and what to try (the hint).
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, std::string hint = {});
  const std::string& hint() const { return hint_; }

 private:
  std::string hint_;
};

// The user's request or environment is wrong (bad flag, missing file, missing Python): exit 2.
class UsageError : public Error {
 public:
  using Error::Error;
};

}  // namespace anvil
