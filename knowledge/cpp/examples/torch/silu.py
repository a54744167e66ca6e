# Strategy: silu(x) = x / (1 + exp(-x)) is one read and one write per element, so the only thing
# worth optimizing is the arithmetic: a branch-free AVX-512 exp (Cody-Waite reduction, Cephes
# polynomial in Estrin form, vscalefps for 2^n so overflow -> inf -> x/inf = -0 stays correct),
# then a true division (rcp14 + Newton would give NaN at exp = inf). Relative error ~2 ulp
# everywhere, including the x << 0 tail where silu is tiny. Masked tail handles any n; a scalar
# std::exp path keeps the source compiling without AVX-512.
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

static inline __m512 exp512(__m512 x) {
    x = _mm512_min_ps(S(89.0f), _mm512_max_ps(S(-104.0f), x));  // NaN is the second operand: it passes through
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

static inline __m512 silu512(__m512 v) {
    const __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), v));
    return _mm512_div_ps(v, _mm512_add_ps(e, S(1.0f)));
}
#endif

extern "C" void silu_f32(const float* __restrict x, float* __restrict y, int64_t n) {
#if defined(__AVX512F__)
    const int64_t nv = n / 16;
    #pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nv; ++b)
        _mm512_storeu_ps(y + 16 * b, silu512(_mm512_loadu_ps(x + 16 * b)));
    if (n % 16) {
        const __mmask16 m = (__mmask16)((1u << (n % 16)) - 1);
        _mm512_mask_storeu_ps(y + 16 * nv, m, silu512(_mm512_maskz_loadu_ps(m, x + 16 * nv)));
    }
#else
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] / (1.0f + std::exp(-x[i]));
#endif
}
"""

_lib = cpp.load(SOURCE)
_lib.silu_f32.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
_lib.silu_f32.restype = None


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        assert x.dtype == torch.float32 and x.is_contiguous()
        y = torch.empty_like(x)
        _lib.silu_f32(x.data_ptr(), y.data_ptr(), x.numel())
        return y
