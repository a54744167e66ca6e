#pragma once

#include <cstdint>

namespace anvil {

// IEEE half and bfloat16 conversions, round to nearest even (written here because g++ 12 has no
// std::float16_t and no Debian C++ library offers them without pulling in a large framework).
float half_to_float(std::uint16_t bits);
std::uint16_t float_to_half(float value);
float bfloat16_to_float(std::uint16_t bits);
std::uint16_t float_to_bfloat16(float value);

}  // namespace anvil
