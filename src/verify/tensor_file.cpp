#include "verify/tensor_file.hpp"

#include <fmt/format.h>

#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/float16.hpp"
#include "core/process.hpp"

namespace anvil::verify {
namespace {

struct DTypeInfo {
  DType dtype;
  std::string_view name;
  std::size_t size;
  bool floating;
};

constexpr std::array<DTypeInfo, 10> kDTypes{{
    {DType::float16, "float16", 2, true},
    {DType::bfloat16, "bfloat16", 2, true},
    {DType::float32, "float32", 4, true},
    {DType::float64, "float64", 8, true},
    {DType::int8, "int8", 1, false},
    {DType::uint8, "uint8", 1, false},
    {DType::int16, "int16", 2, false},
    {DType::int32, "int32", 4, false},
    {DType::int64, "int64", 8, false},
    {DType::boolean, "bool", 1, false},
}};

const DTypeInfo& info(DType dtype) {
  for (const auto& entry : kDTypes) {
    if (entry.dtype == dtype) return entry;
  }
  return kDTypes[2];
}

template <typename T>
T load(const std::vector<std::byte>& bytes, std::size_t index) {
  T value;
  std::memcpy(&value, bytes.data() + index * sizeof(T), sizeof(T));
  return value;
}

template <typename T>
void store(std::vector<std::byte>& bytes, std::size_t index, T value) {
  std::memcpy(bytes.data() + index * sizeof(T), &value, sizeof(T));
}

}  // namespace

std::optional<DType> parse_dtype(std::string_view name) {
  for (const auto& entry : kDTypes) {
    if (entry.name == name) return entry.dtype;
  }
  return std::nullopt;
}

std::string_view dtype_name(DType dtype) { return info(dtype).name; }
std::size_t dtype_size(DType dtype) { return info(dtype).size; }
bool is_floating(DType dtype) { return info(dtype).floating; }

std::size_t HostTensor::size() const {
  std::size_t n = 1;
  for (auto d : shape) n *= static_cast<std::size_t>(d);
  return n;
}

double HostTensor::value(std::size_t i) const {
  switch (dtype) {
    case DType::float16:
      return half_to_float(load<std::uint16_t>(bytes, i));
    case DType::bfloat16:
      return bfloat16_to_float(load<std::uint16_t>(bytes, i));
    case DType::float32:
      return load<float>(bytes, i);
    case DType::float64:
      return load<double>(bytes, i);
    default:
      return static_cast<double>(integer(i));
  }
}

std::int64_t HostTensor::integer(std::size_t i) const {
  switch (dtype) {
    case DType::int8:
      return load<std::int8_t>(bytes, i);
    case DType::uint8:
      return load<std::uint8_t>(bytes, i);
    case DType::boolean:
      return load<std::uint8_t>(bytes, i) != 0;
    case DType::int16:
      return load<std::int16_t>(bytes, i);
    case DType::int32:
      return load<std::int32_t>(bytes, i);
    case DType::int64:
      return load<std::int64_t>(bytes, i);
    default:
      return static_cast<std::int64_t>(value(i));
  }
}

HostTensor HostTensor::from_doubles(DType dtype, std::vector<std::int64_t> shape,
                                    const std::vector<double>& values) {
  HostTensor t{dtype, std::move(shape), {}};
  t.bytes.resize(values.size() * dtype_size(dtype));
  for (std::size_t i = 0; i < values.size(); ++i) {
    double v = values[i];
    switch (dtype) {
      case DType::float16:
        store(t.bytes, i, float_to_half(static_cast<float>(v)));
        break;
      case DType::bfloat16:
        store(t.bytes, i, float_to_bfloat16(static_cast<float>(v)));
        break;
      case DType::float32:
        store(t.bytes, i, static_cast<float>(v));
        break;
      case DType::float64:
        store(t.bytes, i, v);
        break;
      case DType::int8:
        store(t.bytes, i, static_cast<std::int8_t>(v));
        break;
      case DType::uint8:
        store(t.bytes, i, static_cast<std::uint8_t>(v));
        break;
      case DType::boolean:
        store(t.bytes, i, static_cast<std::uint8_t>(v != 0));
        break;
      case DType::int16:
        store(t.bytes, i, static_cast<std::int16_t>(v));
        break;
      case DType::int32:
        store(t.bytes, i, static_cast<std::int32_t>(v));
        break;
      case DType::int64:
        store(t.bytes, i, static_cast<std::int64_t>(v));
        break;
    }
  }
  return t;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

std::vector<HostTensor> read_output_set(const std::filesystem::path& prefix) {
  auto manifest_path = std::filesystem::path(prefix.string() + ".json");
  auto blob_path = std::filesystem::path(prefix.string() + ".bin");
  if (!std::filesystem::exists(manifest_path)) {
    throw Error("missing output manifest " + manifest_path.string(),
                "the process that should have written it ended early; see its log");
  }
  nlohmann::json manifest;
  try {
    manifest = nlohmann::json::parse(read_text_file(manifest_path));
  } catch (const nlohmann::json::exception& e) {
    throw Error("malformed output manifest " + manifest_path.string() + ": " + e.what());
  }
  std::string blob = read_text_file(blob_path);
  std::vector<HostTensor> tensors;
  for (const auto& entry : manifest.at("outputs")) {
    auto name = entry.at("dtype").get<std::string>();
    auto dtype = parse_dtype(name);
    if (!dtype)
      throw Error(fmt::format("{}: unsupported dtype '{}'", manifest_path.string(), name));
    HostTensor tensor{*dtype, entry.at("shape").get<std::vector<std::int64_t>>(), {}};
    auto offset = entry.at("offset").get<std::size_t>();
    auto nbytes = entry.at("nbytes").get<std::size_t>();
    if (offset + nbytes > blob.size() || nbytes != tensor.size() * dtype_size(*dtype)) {
      throw Error(
          fmt::format("{}: output bytes do not match its shape and dtype", manifest_path.string()));
    }
    tensor.bytes.resize(nbytes);
    std::memcpy(tensor.bytes.data(), blob.data() + offset, nbytes);
    tensors.push_back(std::move(tensor));
  }
  return tensors;
}

}  // namespace anvil::verify
