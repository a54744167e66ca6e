// Prelude of every C++ unit lowered from a sketch (src/sketch/lower_cpp.hpp): dtype conversions,
// math that vectorizes under `#pragma omp simd` without -ffast-math, and small runtime helpers.
// Everything is inline and branch-free where it sits in element loops: glibc's expf/logf/erff do
// not vectorize, so these versions are written out (max relative error about 1e-7 for float).
// Not trapping on FP exceptions changes no result; it lets the compiler turn the selects of the
// math below into vector blends instead of branches (-ffast-math is never needed).
// Every helper is always_inline: a helper called from two loops of one kernel (the full tile and
// the tail) is otherwise left out of line by the inliner's size limits, and a call in a loop
// stops `omp simd` from vectorizing it (gelu ran 20x slower than eager that way).
#pragma GCC optimize("no-trapping-math")
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace {

using anvil_u32 = std::uint32_t;
using anvil_u64 = std::uint64_t;

// memcpy, not std::bit_cast: candidates build with the compiler's default standard (C++17 for
// g++ 12), and the copy compiles to a register move all the same.
template <typename To, typename From>
[[gnu::always_inline]] inline To anvil_bit_copy(From value) {
  static_assert(sizeof(To) == sizeof(From), "bit copies keep the size");
  To out;
  std::memcpy(&out, &value, sizeof(To));
  return out;
}
[[gnu::always_inline]] inline float anvil_bits_f(anvil_u32 bits) { return anvil_bit_copy<float>(bits); }
[[gnu::always_inline]] inline anvil_u32 anvil_f_bits(float value) { return anvil_bit_copy<anvil_u32>(value); }
[[gnu::always_inline]] inline double anvil_bits_d(anvil_u64 bits) { return anvil_bit_copy<double>(bits); }
[[gnu::always_inline]] inline anvil_u64 anvil_d_bits(double value) { return anvil_bit_copy<anvil_u64>(value); }

constexpr float anvil_inf_f = std::numeric_limits<float>::infinity();
constexpr double anvil_inf_d = std::numeric_limits<double>::infinity();

// ---- f16 / bf16 (IEEE binary16 and bfloat16 bit patterns, round to nearest even) ----------

[[gnu::always_inline]] inline float anvil_h2f(std::uint16_t h) {
  const anvil_u32 shifted_exp = 0x7c00u << 13;
  anvil_u32 bits = (anvil_u32(h) & 0x7fffu) << 13;
  const anvil_u32 exp = bits & shifted_exp;
  bits += (127u - 15u) << 23;
  const anvil_u32 special = bits + ((128u - 16u) << 23);                         // inf, NaN
  const float sub = anvil_bits_f(bits + (1u << 23)) - anvil_bits_f(113u << 23);  // subnormal
  bits = exp == shifted_exp ? special : bits;
  bits = exp == 0 ? anvil_f_bits(sub) : bits;
  return anvil_bits_f(bits | ((anvil_u32(h) & 0x8000u) << 16));
}

[[gnu::always_inline]] inline std::uint16_t anvil_f2h(float value) {
  const anvil_u32 f16max = (127u + 16u) << 23;
  const anvil_u32 denorm_magic_bits = ((127u - 15u) + (23u - 10u) + 1u) << 23;
  anvil_u32 bits = anvil_f_bits(value);
  const anvil_u32 sign = bits & 0x80000000u;
  bits ^= sign;
  const anvil_u32 special = bits > 0x7f800000u ? 0x7e00u : 0x7c00u;
  const anvil_u32 sub =
      anvil_f_bits(anvil_bits_f(bits) + anvil_bits_f(denorm_magic_bits)) - denorm_magic_bits;
  const anvil_u32 mant_odd = (bits >> 13) & 1u;
  const anvil_u32 normal = (bits + (anvil_u32(15 - 127) << 23) + 0xfffu + mant_odd) >> 13;
  anvil_u32 out = bits < (113u << 23) ? sub : normal;
  out = bits >= f16max ? special : out;
  return static_cast<std::uint16_t>(out | (sign >> 16));
}

[[gnu::always_inline]] inline float anvil_bf2f(std::uint16_t b) { return anvil_bits_f(anvil_u32(b) << 16); }

[[gnu::always_inline]] inline std::uint16_t anvil_f2bf(float value) {
  const anvil_u32 bits = anvil_f_bits(value);
  const anvil_u32 rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
  return static_cast<std::uint16_t>(value != value ? (bits >> 16) | 0x40u : rounded);
}

// A float rounded to the nearest f16 / bf16 value (what an f16 element holds).
[[gnu::always_inline]] inline float anvil_rh(float value) { return anvil_h2f(anvil_f2h(value)); }
[[gnu::always_inline]] inline float anvil_rbf(float value) { return anvil_bf2f(anvil_f2bf(value)); }

// ---- NaN-propagating max / min (the sketch's max and min) ----------------------------------

[[gnu::always_inline]] inline float anvil_max(float a, float b) { return (a >= b || a != a) ? a : b; }
[[gnu::always_inline]] inline float anvil_min(float a, float b) { return (a <= b || a != a) ? a : b; }
[[gnu::always_inline]] inline double anvil_max(double a, double b) { return (a >= b || a != a) ? a : b; }
[[gnu::always_inline]] inline double anvil_min(double a, double b) { return (a <= b || a != a) ? a : b; }
[[gnu::always_inline]] inline std::int64_t anvil_max(std::int64_t a, std::int64_t b) { return a < b ? b : a; }
[[gnu::always_inline]] inline std::int64_t anvil_min(std::int64_t a, std::int64_t b) { return b < a ? b : a; }

#pragma omp declare reduction(anvil_fmax:float                        \
                              : omp_out = anvil_max(omp_out, omp_in)) \
    initializer(omp_priv = -anvil_inf_f)
#pragma omp declare reduction(anvil_fmin:float                        \
                              : omp_out = anvil_min(omp_out, omp_in)) \
    initializer(omp_priv = anvil_inf_f)
#pragma omp declare reduction(anvil_fmax:double                       \
                              : omp_out = anvil_max(omp_out, omp_in)) \
    initializer(omp_priv = -anvil_inf_d)
#pragma omp declare reduction(anvil_fmin:double                       \
                              : omp_out = anvil_min(omp_out, omp_in)) \
    initializer(omp_priv = anvil_inf_d)

// ---- integer helpers (floor division and modulo as Python defines them) -------------------

[[gnu::always_inline]] inline std::int64_t anvil_floordiv(std::int64_t a, std::int64_t b) {
  if (b == 0) return 0;
  if (b == -1) return static_cast<std::int64_t>(0ULL - static_cast<anvil_u64>(a));
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

[[gnu::always_inline]] inline std::int64_t anvil_mod(std::int64_t a, std::int64_t b) {
  if (b == 0 || b == -1) return 0;
  std::int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

[[gnu::always_inline]] inline std::int64_t anvil_ceildiv(std::int64_t a, std::int64_t b) { return -anvil_floordiv(-a, b); }

[[gnu::always_inline]] inline std::int64_t anvil_ipow(std::int64_t base, std::int64_t exponent) {
  std::int64_t result = 1;
  for (std::int64_t e = exponent; e > 0; --e) result *= base;
  return result;
}

// float/double -> integer as `cast` does (truncation); non-finite and out-of-range give 0 instead
// of undefined behaviour.
[[gnu::always_inline]] inline std::int64_t anvil_f2i(double value) {
  const bool ok = value > -9.2233720368547758e18 && value < 9.2233720368547758e18;
  return ok ? static_cast<std::int64_t>(value) : 0;
}

// ---- float math ---------------------------------------------------------------------------

// sqrt by Newton steps and a final fma correction (correctly rounded in practice): the builtin
// sets errno, which keeps g++ from vectorizing it unless -fno-math-errno is given.
[[gnu::always_inline]] inline float anvil_sqrt(float x) {
  const bool tiny = x < 1.0e-30f;
  const float xs = tiny ? x * 18446744073709551616.0f : x;  // 2^64
  float r = anvil_bits_f(0x5f375a86u - (anvil_f_bits(xs) >> 1));
  const float half = 0.5f * xs;
  r = r * __builtin_fmaf(-half * r, r, 1.5f);
  r = r * __builtin_fmaf(-half * r, r, 1.5f);
  r = r * __builtin_fmaf(-half * r, r, 1.5f);
  float s = xs * r;
  s = __builtin_fmaf(__builtin_fmaf(-s, s, xs), 0.5f * r, s);
  float result = tiny ? s * 2.3283064365386963e-10f : s;  // 2^-32
  result = (x == 0.0f || x == anvil_inf_f) ? x : result;
  return (x < 0.0f || x != x) ? std::numeric_limits<float>::quiet_NaN() : result;
}

[[gnu::always_inline]] inline double anvil_sqrt(double x) {
  const bool tiny = x < 1.0e-300;
  const double xs = tiny ? x * 1.3407807929942597e+154 : x;  // 2^512
  double r = anvil_bits_d(0x5fe6eb50c7b537a9ULL - (anvil_d_bits(xs) >> 1));
  const double half = 0.5 * xs;
  for (int i = 0; i < 5; ++i) r = r * __builtin_fma(-half * r, r, 1.5);
  double s = xs * r;
  s = __builtin_fma(__builtin_fma(-s, s, xs), 0.5 * r, s);
  double result = tiny ? s * 8.6361685550944446e-78 : s;  // 2^-256
  result = (x == 0.0 || x == anvil_inf_d) ? x : result;
  return (x < 0.0 || x != x) ? std::numeric_limits<double>::quiet_NaN() : result;
}
[[gnu::always_inline]] inline float anvil_rsqrt(float x) { return 1.0f / anvil_sqrt(x); }
[[gnu::always_inline]] inline double anvil_rsqrt(double x) { return 1.0 / anvil_sqrt(x); }

// value * 2^n for integral n in [-252, 254], in two normal steps (subnormal and near-overflow
// results stay right).
[[gnu::always_inline]] inline float anvil_scale2(float value, float n) {
  const float half = __builtin_truncf(n * 0.5f);
  const float rest = n - half;
  return value * anvil_bits_f(anvil_u32(std::int32_t(half) + 127) << 23) *
         anvil_bits_f(anvil_u32(std::int32_t(rest) + 127) << 23);
}

[[gnu::always_inline]] inline float anvil_exp(float x) {
  const float xc = std::min(std::max(x, -104.0f), 89.0f);
  const float n = __builtin_rintf(xc * 1.44269504088896341f);
  float r = __builtin_fmaf(n, -0.693359375f, xc);
  r = __builtin_fmaf(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = __builtin_fmaf(p, r, 1.3981999507e-3f);
  p = __builtin_fmaf(p, r, 8.3334519073e-3f);
  p = __builtin_fmaf(p, r, 4.1665795894e-2f);
  p = __builtin_fmaf(p, r, 1.6666665459e-1f);
  p = __builtin_fmaf(p, r, 5.0000001201e-1f);
  const float er = __builtin_fmaf(p, r * r, r) + 1.0f;
  float result = anvil_scale2(er, n);
  result = x > 88.7228394f ? anvil_inf_f : result;
  result = x < -103.972084f ? 0.0f : result;
  return x != x ? x : result;
}

[[gnu::always_inline]] inline float anvil_log(float x) {
  const bool tiny = x < 1.17549435e-38f;  // subnormal (or <= 0, handled below)
  const float xs = tiny ? x * 8388608.0f : x;
  const anvil_u32 bits = anvil_f_bits(xs);
  float e = float(std::int32_t(bits >> 23) - 126) - (tiny ? 23.0f : 0.0f);
  float m = anvil_bits_f((bits & 0x007fffffu) | 0x3f000000u);  // [0.5, 1)
  const bool low = m < 0.707106781186547524f;
  e = low ? e - 1.0f : e;
  m = low ? m + m - 1.0f : m - 1.0f;
  const float z = m * m;
  float p = 7.0376836292e-2f;
  p = __builtin_fmaf(p, m, -1.1514610310e-1f);
  p = __builtin_fmaf(p, m, 1.1676998740e-1f);
  p = __builtin_fmaf(p, m, -1.2420140846e-1f);
  p = __builtin_fmaf(p, m, 1.4249322787e-1f);
  p = __builtin_fmaf(p, m, -1.6668057665e-1f);
  p = __builtin_fmaf(p, m, 2.0000714765e-1f);
  p = __builtin_fmaf(p, m, -2.4999993993e-1f);
  p = __builtin_fmaf(p, m, 3.3333331174e-1f);
  float y = p * m * z;
  y = __builtin_fmaf(e, -2.12194440e-4f, y);
  y = __builtin_fmaf(z, -0.5f, y);
  float result = m + y;
  result = __builtin_fmaf(e, 0.693359375f, result);
  result = x == anvil_inf_f ? anvil_inf_f : result;
  result = x == 0.0f ? -anvil_inf_f : result;
  result = x < 0.0f ? std::numeric_limits<float>::quiet_NaN() : result;
  return x != x ? x : result;
}

[[gnu::always_inline]] inline float anvil_tanh(float x) {
  const float a = std::fabs(x);
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = __builtin_fmaf(p, z, 2.06390887954e-2f);
  p = __builtin_fmaf(p, z, -5.37397155531e-2f);
  p = __builtin_fmaf(p, z, 1.33314422036e-1f);
  p = __builtin_fmaf(p, z, -3.33332819422e-1f);
  const float small = __builtin_fmaf(p * z, x, x);
  const float big = 1.0f - 2.0f / (anvil_exp(2.0f * std::min(a, 10.0f)) + 1.0f);
  const float signed_big = std::copysign(big, x);
  return a < 0.625f ? small : signed_big;  // NaN: a < 0.625 is false, copysign(NaN) is NaN
}

// erfc(a) for a >= 1 (as exp(-a^2) / a * G(1 / a), G fitted on [0.1, 1]); 0 beyond a = 10.
[[gnu::always_inline]] inline float anvil_erfc_tail(float a) {
  const float ac = std::min(std::max(a, 1.0f), 10.0f);
  const float u = 1.0f / ac;
  const float t = (u - 0.55f) * 2.22222222222222222f;
  float g = -1.0246771180412767e-5f;
  g = __builtin_fmaf(g, t, 1.8441852576147405e-5f);
  g = __builtin_fmaf(g, t, 1.4239108073719723e-5f);
  g = __builtin_fmaf(g, t, -7.3140300892620424e-5f);
  g = __builtin_fmaf(g, t, 1.4341899769230789e-4f);
  g = __builtin_fmaf(g, t, -2.2517972831175438e-4f);
  g = __builtin_fmaf(g, t, 9.7820819897526387e-5f);
  g = __builtin_fmaf(g, t, 9.19571319719201e-4f);
  g = __builtin_fmaf(g, t, -3.9782159161807536e-3f);
  g = __builtin_fmaf(g, t, 8.9629385672544745e-3f);
  g = __builtin_fmaf(g, t, -4.1236878954298247e-3f);
  g = __builtin_fmaf(g, t, -7.6515807991430205e-2f);
  g = __builtin_fmaf(g, t, 5.0235342334606737e-1f);
  // exp(-a^2) with a^2 split into hi + lo (fma gives lo exactly) so large a keeps its accuracy.
  const float hi = ac * ac;
  const float lo = __builtin_fmaf(ac, ac, -hi);
  const float e = anvil_exp(-hi) * (1.0f - lo);
  const float result = e * u * g;
  return a >= 10.0f ? 0.0f : result;
}

// erf(a) / a for |a| < 1, fitted in a^2.
[[gnu::always_inline]] inline float anvil_erf_small_ratio(float z) {
  float p = -9.6670445714869964e-6f;
  p = __builtin_fmaf(p, z, 1.1265959025606609e-4f);
  p = __builtin_fmaf(p, z, -8.4840804055351063e-4f);
  p = __builtin_fmaf(p, z, 5.2210318078580228e-3f);
  p = __builtin_fmaf(p, z, -2.6865430727670243e-2f);
  p = __builtin_fmaf(p, z, 1.1283782495236845e-1f);
  p = __builtin_fmaf(p, z, -3.761263846802871e-1f);
  p = __builtin_fmaf(p, z, 1.1283791670615434f);
  return p;
}

[[gnu::always_inline]] inline float anvil_erf(float x) {
  const float a = std::fabs(x);
  const float small = x * anvil_erf_small_ratio(std::min(x * x, 1.0f));
  const float big = std::copysign(1.0f - anvil_erfc_tail(a), x);
  const float result = a < 1.0f ? small : big;
  return x != x ? x : result;
}

[[gnu::always_inline]] inline float anvil_sigmoid(float x) { return 1.0f / (1.0f + anvil_exp(-x)); }

// 0.5 x (1 + erf(x / sqrt 2)); for x < -sqrt 2 through erfc, which keeps the tiny values exact.
[[gnu::always_inline]] inline float anvil_gelu(float x) {
  const float s = x * 0.707106781186547524f;
  const float a = std::fabs(s);
  const float erf_small = s * anvil_erf_small_ratio(std::min(s * s, 1.0f));
  const float tail = anvil_erfc_tail(a);
  const float one_plus_erf = a < 1.0f ? 1.0f + erf_small : (s > 0 ? 2.0f - tail : tail);
  return 0.5f * x * one_plus_erf;
}

// ---- double math (exp and log vectorize; tanh and erf use libm, exact but scalar) ---------

[[gnu::always_inline]] inline double anvil_exp(double x) {
  const double xc = std::min(std::max(x, -746.0), 710.0);
  const double n = __builtin_rint(xc * 1.4426950408889634);
  double r = __builtin_fma(n, -6.93147180369123816490e-01, xc);
  r = __builtin_fma(n, -1.90821492927058770002e-10, r);
  double p = 1.0 / 6227020800.0;
  p = __builtin_fma(p, r, 1.0 / 479001600.0);
  p = __builtin_fma(p, r, 1.0 / 39916800.0);
  p = __builtin_fma(p, r, 1.0 / 3628800.0);
  p = __builtin_fma(p, r, 1.0 / 362880.0);
  p = __builtin_fma(p, r, 1.0 / 40320.0);
  p = __builtin_fma(p, r, 1.0 / 5040.0);
  p = __builtin_fma(p, r, 1.0 / 720.0);
  p = __builtin_fma(p, r, 1.0 / 120.0);
  p = __builtin_fma(p, r, 1.0 / 24.0);
  p = __builtin_fma(p, r, 1.0 / 6.0);
  p = __builtin_fma(p, r, 0.5);
  const double er = __builtin_fma(p, r * r, r) + 1.0;
  const double half = __builtin_trunc(n * 0.5);
  const double rest = n - half;
  double result = er * anvil_bits_d(anvil_u64(std::int64_t(half) + 1023) << 52) *
                  anvil_bits_d(anvil_u64(std::int64_t(rest) + 1023) << 52);
  result = x > 709.782712893384 ? anvil_inf_d : result;
  result = x < -745.2 ? 0.0 : result;
  return x != x ? x : result;
}

[[gnu::always_inline]] inline double anvil_log(double x) {
  const bool tiny = x < 2.2250738585072014e-308;
  const double xs = tiny ? x * 4503599627370496.0 : x;
  const anvil_u64 bits = anvil_d_bits(xs);
  double e = double(std::int64_t(bits >> 52) - 1022) - (tiny ? 52.0 : 0.0);
  double m = anvil_bits_d((bits & 0x000fffffffffffffULL) | 0x3fe0000000000000ULL);  // [0.5, 1)
  const bool low = m < 0.70710678118654752;
  e = low ? e - 1.0 : e;
  m = low ? m + m : m;
  const double s = (m - 1.0) / (m + 1.0);
  const double z = s * s;
  double p = 1.0 / 21.0;
  p = __builtin_fma(p, z, 1.0 / 19.0);
  p = __builtin_fma(p, z, 1.0 / 17.0);
  p = __builtin_fma(p, z, 1.0 / 15.0);
  p = __builtin_fma(p, z, 1.0 / 13.0);
  p = __builtin_fma(p, z, 1.0 / 11.0);
  p = __builtin_fma(p, z, 1.0 / 9.0);
  p = __builtin_fma(p, z, 1.0 / 7.0);
  p = __builtin_fma(p, z, 1.0 / 5.0);
  p = __builtin_fma(p, z, 1.0 / 3.0);
  const double log_m = 2.0 * __builtin_fma(s * z, p, s);
  double result = __builtin_fma(e, 6.93147180369123816490e-01,
                                __builtin_fma(e, 1.90821492927058770002e-10, log_m));
  result = x == anvil_inf_d ? anvil_inf_d : result;
  result = x == 0.0 ? -anvil_inf_d : result;
  result = x < 0.0 ? std::numeric_limits<double>::quiet_NaN() : result;
  return x != x ? x : result;
}

[[gnu::always_inline]] inline double anvil_tanh(double x) { return std::tanh(x); }
[[gnu::always_inline]] inline double anvil_erf(double x) { return std::erf(x); }
[[gnu::always_inline]] inline double anvil_sigmoid(double x) { return 1.0 / (1.0 + anvil_exp(-x)); }
[[gnu::always_inline]] inline double anvil_gelu(double x) { return 0.5 * x * (1.0 + std::erf(x * 0.70710678118654752)); }

[[gnu::always_inline]] inline float anvil_pow(float a, float b) {
  return static_cast<float>(std::pow(double(a), double(b)));
}
[[gnu::always_inline]] inline double anvil_pow(double a, double b) { return std::pow(a, b); }

// ---- runtime ------------------------------------------------------------------------------

// A zeroed (when asked), 64-byte aligned heap buffer for dims known only at run time.
template <typename T>
struct anvil_buffer {
  T* data = nullptr;
  anvil_buffer(std::int64_t count, bool zero) {
    const std::size_t n = count > 0 ? static_cast<std::size_t>(count) : 1;
    const std::size_t bytes = (n * sizeof(T) + 63) / 64 * 64;
    data = static_cast<T*>(std::aligned_alloc(64, bytes));
    if (data == nullptr) data = static_cast<T*>(std::calloc(n, sizeof(T)));
    if (zero && data != nullptr) std::memset(static_cast<void*>(data), 0, n * sizeof(T));
  }
  ~anvil_buffer() { std::free(data); }
  anvil_buffer(const anvil_buffer&) = delete;
  anvil_buffer& operator=(const anvil_buffer&) = delete;
};

// Records a run-time failure (status 2) from any thread; the first one wins.
[[gnu::always_inline]] inline void anvil_fail(int* status, int code) {
  int expected = 0;
  __atomic_compare_exchange_n(status, &expected, code, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

[[gnu::always_inline]] inline std::int64_t anvil_clamp_extent(std::int64_t start, std::int64_t stop, std::int64_t step,
                                       std::int64_t extent, std::int64_t* full) {
  *full = stop > start ? (stop - start + step - 1) / step : 0;
  const std::int64_t inside = start < extent ? (extent - start + step - 1) / step : 0;
  return std::min(*full, inside);
}

}  // namespace
