// IEEE half (float16) and bfloat16 bits to and from float, rounding to nearest even: the one
// converter every part of keel uses (casts, constant folding, initializers, shape values).
#pragma once

#include <bit>
#include <cstdint>

namespace keel {

// IEEE binary16 from binary64 with round-to-nearest-even (one rounding, so no double-rounding
// error through float); overflow gives infinity, NaN stays NaN.
inline uint16_t half_bits_from_double(double value) {
  const uint64_t u = std::bit_cast<uint64_t>(value);
  const uint16_t sign = static_cast<uint16_t>((u >> 48) & 0x8000u);
  const int exp = static_cast<int>((u >> 52) & 0x7FF);
  const uint64_t mant = u & ((uint64_t{1} << 52) - 1);
  if (exp == 0x7FF) return sign | (mant ? 0x7E00 : 0x7C00);
  if (exp == 0 && mant == 0) return sign;
  // value = 1.mant * 2^(exp-1023) (double subnormals are far below half's range).
  const int e = exp - 1023;
  if (e > 15) return sign | 0x7C00;
  uint64_t sig = mant | (uint64_t{1} << 52);  // 53 significant bits
  int shift;                                  // bits to drop to reach the half mantissa
  uint16_t half_exp;
  if (e >= -14) {
    shift = 52 - 10;
    half_exp = static_cast<uint16_t>(e + 15);
  } else {
    shift = 52 - 10 + (-14 - e);  // subnormal half
    half_exp = 0;
    if (shift > 63) return sign;
  }
  uint64_t kept = sig >> shift;
  const uint64_t rest = sig & ((uint64_t{1} << shift) - 1);
  const uint64_t halfway = uint64_t{1} << (shift - 1);
  if (rest > halfway || (rest == halfway && (kept & 1))) ++kept;
  // For normals kept includes the implicit bit (0x400); a carry may bump the exponent.
  uint32_t bits;
  if (half_exp == 0) {
    bits = static_cast<uint32_t>(kept);  // may round up into the smallest normal: still right
  } else {
    bits = (static_cast<uint32_t>(half_exp) << 10) + static_cast<uint32_t>(kept - 0x400);
  }
  if (bits >= 0x7C00) return sign | 0x7C00;
  return sign | static_cast<uint16_t>(bits);
}

inline uint16_t half_bits_from_float(float value) {
  return half_bits_from_double(static_cast<double>(value));
}

inline float half_bits_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {
    // Subnormal half: normalise.
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400u) == 0);
    bits = sign | (static_cast<uint32_t>(112 - e) << 23) | ((mant & 0x3FFu) << 13);
  }
  return std::bit_cast<float>(bits);
}

// bfloat16 keeps float's exponent: round the low 16 bits to nearest even; NaN stays quiet NaN.
inline uint16_t bfloat16_bits_from_float(float value) {
  const uint32_t u = std::bit_cast<uint32_t>(value);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  return static_cast<uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

inline float bfloat16_bits_to_float(uint16_t b) {
  return std::bit_cast<float>(static_cast<uint32_t>(b) << 16);
}

}  // namespace keel
