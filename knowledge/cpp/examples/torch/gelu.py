# Strategy: exact GELU is x * Phi(x). std::erf does not vectorize, and the textbook
# 0.5 * x * (1 + erf(x/sqrt2)) loses all relative accuracy for x << 0 (1 + erf cancels; eager
# PyTorch is 100% off below x ~ -5.5). Instead we evaluate Phi(-|x|) = 0.5 * erfc(|x|/sqrt2)
# with the Numerical-Recipes form t * exp(-z^2 + P(t)), t = 1/(1 + z/2), whose fractional error
# is < 1.2e-7 for every z >= 0, and use gelu(x) = max(x, 0) - |x| * Phi(-|x|) (exact identity).
# Result: relative error <= 2e-5 over the whole float range (1e-6 for |x| < 4).
# Speed: AVX-512 intrinsics, branch-free; the 1/(1+z/2) uses rcp14 + one Newton step (the divider
# is the slowest unit), P(t) and exp's polynomial use Estrin's scheme (short dependency chains keep
# both FMA pipes busy), exp scales with vscalefps (handles underflow). Masked tail, so any n works.
# A plain scalar path (std::erfc) keeps the source compiling on machines without AVX-512.
import ctypes

import torch
import torch.nn as nn
from anvil_rt import cpp

SOURCE = r"""
#include <cmath>
#include <cstdint>
#include <immintrin.h>

#if defined(__AVX512F__)
#define S(c) _mm512_set1_ps(c)

// exp(x) for x <= 88: 2^n * e^r, r = x - n ln2 in [-ln2/2, ln2/2] (Cody-Waite), Cephes
// polynomial (about 1 ulp) evaluated Estrin-style; vscalefps applies 2^n and underflows gently.
static inline __m512 exp512(__m512 x) {
    x = _mm512_max_ps(S(-104.0f), x);  // NaN is the second operand: it passes through
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, S(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, S(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, S(1.428606765330187045e-06f), r);
    const __m512 r2 = _mm512_mul_ps(r, r);
    const __m512 lo = _mm512_fmadd_ps(S(1.6666665459e-1f), r, S(5.0000001201e-1f));
    __m512 hi = _mm512_fmadd_ps(S(8.3334519073e-3f), r, S(4.1665795894e-2f));
    hi = _mm512_fmadd_ps(S(1.3981999507e-3f), r2, hi);
    __m512 p = _mm512_fmadd_ps(hi, r2, lo);
    p = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, S(1.0f)));
    return _mm512_scalef_ps(p, n);
}

static inline __m512 gelu512(__m512 v) {
    const __m512 ax = _mm512_abs_ps(v);
    const __m512 z = _mm512_mul_ps(ax, S(0.70710678118654752f));
    const __m512 d = _mm512_fmadd_ps(S(0.5f), z, S(1.0f));
    __m512 t = _mm512_rcp14_ps(d);
    t = _mm512_mul_ps(t, _mm512_fnmadd_ps(d, t, S(2.0f)));          // Newton: ~1 ulp
    // P(t) = sum c_k t^k, k = 0..9, Estrin: (a0 + a1 t^2) + t^4 (a2 + a3 t^2) + t^8 a4.
    // c0 absorbs the 0.5 of Phi = 0.5 erfc: exp(y - ln2) = 0.5 exp(y).
    const __m512 t2 = _mm512_mul_ps(t, t);
    const __m512 t4 = _mm512_mul_ps(t2, t2);
    const __m512 t8 = _mm512_mul_ps(t4, t4);
    __m512 a0 = _mm512_fmadd_ps(S(1.00002368f), t, S(-1.26551223f - 0.69314718055994531f));
    const __m512 a1 = _mm512_fmadd_ps(S(0.09678418f), t, S(0.37409196f));
    __m512 a2 = _mm512_fmadd_ps(S(0.27886807f), t, S(-0.18628806f));
    const __m512 a3 = _mm512_fmadd_ps(S(1.48851587f), t, S(-1.13520398f));
    const __m512 a4 = _mm512_fmadd_ps(S(0.17087277f), t, S(-0.82215223f));
    a0 = _mm512_fmadd_ps(a1, t2, a0);
    a2 = _mm512_fmadd_ps(a3, t2, a2);
    a0 = _mm512_fmadd_ps(a2, t4, a0);
    const __m512 p = _mm512_fmadd_ps(a4, t8, a0);
    // fnmadd keeps z*z exact inside the exponent, so the far tail stays relatively accurate.
    const __m512 half_erfc = _mm512_mul_ps(t, exp512(_mm512_fnmadd_ps(z, z, p)));
    return _mm512_fnmadd_ps(ax, half_erfc, _mm512_max_ps(v, _mm512_setzero_ps()));
}
#endif

extern "C" void gelu_f32(const float* __restrict x, float* __restrict y, int64_t n) {
#if defined(__AVX512F__)
    const int64_t nv = n / 16;
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nv; ++b)
        _mm512_storeu_ps(y + 16 * b, gelu512(_mm512_loadu_ps(x + 16 * b)));
    if (n % 16) {
        const __mmask16 m = (__mmask16)((1u << (n % 16)) - 1);
        _mm512_mask_storeu_ps(y + 16 * nv, m, gelu512(_mm512_maskz_loadu_ps(m, x + 16 * nv)));
    }
#else
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) y[i] = 0.5f * x[i] * std::erfc(-x[i] * 0.70710678118654752f);
#endif
}
"""

_lib = cpp.load(SOURCE)
_lib.gelu_f32.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
_lib.gelu_f32.restype = None


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        assert x.dtype == torch.float32 and x.is_contiguous()
        y = torch.empty_like(x)
        _lib.gelu_f32(x.data_ptr(), y.data_ptr(), x.numel())
        return y
