#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace anvil::verify {

enum class DType { float16, bfloat16, float32, float64, int8, uint8, int16, int32, int64, boolean };

std::optional<DType> parse_dtype(std::string_view name);
std::string_view dtype_name(DType dtype);
std::size_t dtype_size(DType dtype);
bool is_floating(DType dtype);

// A tensor read back from a harness process: its bytes, exactly as the process produced them.
struct HostTensor {
  DType dtype = DType::float32;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> bytes;

  std::size_t size() const;                       // number of elements
  double value(std::size_t index) const;          // any dtype, widened to double
  std::int64_t integer(std::size_t index) const;  // integer and bool dtypes, exactly

  static HostTensor from_doubles(DType dtype, std::vector<std::int64_t> shape,
                                 const std::vector<double>& values);
};

std::string shape_text(const std::vector<std::int64_t>& shape);

// Reads `<prefix>.json` + `<prefix>.bin` as written by anvil_harness.tensors.write_outputs.
// Throws anvil::Error naming the file when it is missing or malformed.
std::vector<HostTensor> read_output_set(const std::filesystem::path& prefix);

}  // namespace anvil::verify
