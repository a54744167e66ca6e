# Strategy: eager runs four full-tensor kernels (pow, mean, rsqrt+add, two muls) and writes three
# temporaries; here each row is one OpenMP task with two sweeps: sum of squares (four independent
# FMA accumulators), then y = (x * rstd) * w (same rounding order as the reference). An 8 KB row
# stays in L1 between the sweeps, so DRAM/L3 traffic is one read and one write per element.
# Masked tails handle any row length.
import ctypes

import torch
import torch.nn as nn
from anvil_rt import cpp

SOURCE = r"""
#include <cmath>
#include <cstdint>
#include <immintrin.h>

extern "C" void rmsnorm_f32(const float* __restrict x, const float* __restrict w, float* __restrict y,
                            int64_t rows, int64_t n, float eps) {
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
        const float* xr = x + r * n;
        float* yr = y + r * n;
#if defined(__AVX512F__)
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        int64_t i = 0;
        for (; i + 64 <= n; i += 64) {
            const __m512 v0 = _mm512_loadu_ps(xr + i), v1 = _mm512_loadu_ps(xr + i + 16);
            const __m512 v2 = _mm512_loadu_ps(xr + i + 32), v3 = _mm512_loadu_ps(xr + i + 48);
            a0 = _mm512_fmadd_ps(v0, v0, a0);
            a1 = _mm512_fmadd_ps(v1, v1, a1);
            a2 = _mm512_fmadd_ps(v2, v2, a2);
            a3 = _mm512_fmadd_ps(v3, v3, a3);
        }
        for (; i < n; i += 16) {
            const int64_t left = n - i;
            const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            const __m512 v = _mm512_maskz_loadu_ps(m, xr + i);
            a0 = _mm512_fmadd_ps(v, v, a0);
        }
        const float ms = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3))) / (float)n;
        const __m512 vs = _mm512_set1_ps(1.0f / std::sqrt(ms + eps));
        for (i = 0; i + 16 <= n; i += 16)
            _mm512_storeu_ps(yr + i, _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(xr + i), vs), _mm512_loadu_ps(w + i)));
        if (i < n) {
            const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
            _mm512_mask_storeu_ps(yr + i, m, _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, xr + i), vs),
                                                           _mm512_maskz_loadu_ps(m, w + i)));
        }
#else
        float s = 0.0f;
        #pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < n; ++i) s += xr[i] * xr[i];
        const float rstd = 1.0f / std::sqrt(s / (float)n + eps);
        #pragma omp simd
        for (int64_t i = 0; i < n; ++i) yr[i] = xr[i] * rstd * w[i];
#endif
    }
}
"""

_lib = cpp.load(SOURCE)
_lib.rmsnorm_f32.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int64, ctypes.c_int64, ctypes.c_float]
_lib.rmsnorm_f32.restype = None


class ModelNew(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = float(eps)
        self.weight = nn.Parameter(torch.ones(dim))  # overwritten with the task's values by the Verifier

    def forward(self, x):
        assert x.dtype == torch.float32 and x.is_contiguous()
        n = self.weight.shape[0]
        y = torch.empty_like(x)
        _lib.rmsnorm_f32(x.data_ptr(), self.weight.data_ptr(), y.data_ptr(), x.numel() // n, n, self.eps)
        return y
