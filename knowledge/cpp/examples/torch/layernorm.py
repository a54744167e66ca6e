# Strategy: one OpenMP task per row; a 1024-float row is 4 KB, so after the first pass it stays in
# L1 and the three sweeps (mean, centered sum of squares, normalize) cost one memory read and one
# write per element. The two-pass variance (sum of (x - mean)^2) avoids the cancellation of
# E[x^2] - mean^2. Sums use four independent 16-lane accumulators (latency hiding and a short,
# pairwise-like error path); the output is fma(fmsub(x, rstd, mean*rstd), gamma, beta): two FMAs
# per vector. Works for any row count (dynamic task, including 1) and any row length (masked tail).
import ctypes

import torch
import torch.nn as nn
from anvil_rt import cpp

SOURCE = r"""
#include <cmath>
#include <cstdint>
#include <immintrin.h>

#if defined(__AVX512F__)
static inline __mmask16 tail_mask(int64_t left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
}
#endif

extern "C" void layernorm_f32(const float* __restrict x, const float* __restrict gamma,
                              const float* __restrict beta, float* __restrict y, int64_t rows,
                              int64_t n, float eps) {
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
        const float* xr = x + r * n;
        float* yr = y + r * n;
#if defined(__AVX512F__)
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        int64_t i = 0;
        for (; i + 64 <= n; i += 64) {
            a0 = _mm512_add_ps(a0, _mm512_loadu_ps(xr + i));
            a1 = _mm512_add_ps(a1, _mm512_loadu_ps(xr + i + 16));
            a2 = _mm512_add_ps(a2, _mm512_loadu_ps(xr + i + 32));
            a3 = _mm512_add_ps(a3, _mm512_loadu_ps(xr + i + 48));
        }
        for (; i < n; i += 16) a0 = _mm512_add_ps(a0, _mm512_maskz_loadu_ps(tail_mask(n - i), xr + i));
        const float mean = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3))) / (float)n;
        const __m512 vm = _mm512_set1_ps(mean);
        a0 = a1 = a2 = a3 = _mm512_setzero_ps();
        for (i = 0; i + 64 <= n; i += 64) {
            const __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(xr + i), vm);
            const __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(xr + i + 16), vm);
            const __m512 d2 = _mm512_sub_ps(_mm512_loadu_ps(xr + i + 32), vm);
            const __m512 d3 = _mm512_sub_ps(_mm512_loadu_ps(xr + i + 48), vm);
            a0 = _mm512_fmadd_ps(d0, d0, a0);
            a1 = _mm512_fmadd_ps(d1, d1, a1);
            a2 = _mm512_fmadd_ps(d2, d2, a2);
            a3 = _mm512_fmadd_ps(d3, d3, a3);
        }
        for (; i < n; i += 16) {
            const __mmask16 m = tail_mask(n - i);
            const __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, xr + i), vm);
            a0 = _mm512_fmadd_ps(d, d, a0);
        }
        const float var = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3))) / (float)n;
        const float rstd = 1.0f / std::sqrt(var + eps);
        const __m512 vs = _mm512_set1_ps(rstd), vms = _mm512_set1_ps(mean * rstd);
        for (i = 0; i + 16 <= n; i += 16) {
            const __m512 t = _mm512_fmsub_ps(_mm512_loadu_ps(xr + i), vs, vms);
            _mm512_storeu_ps(yr + i, _mm512_fmadd_ps(t, _mm512_loadu_ps(gamma + i), _mm512_loadu_ps(beta + i)));
        }
        if (i < n) {
            const __mmask16 m = tail_mask(n - i);
            const __m512 t = _mm512_fmsub_ps(_mm512_maskz_loadu_ps(m, xr + i), vs, vms);
            _mm512_mask_storeu_ps(yr + i, m, _mm512_fmadd_ps(t, _mm512_maskz_loadu_ps(m, gamma + i), _mm512_maskz_loadu_ps(m, beta + i)));
        }
#else
        float s = 0.0f;
        #pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < n; ++i) s += xr[i];
        const float mean = s / (float)n;
        float q = 0.0f;
        #pragma omp simd reduction(+ : q)
        for (int64_t i = 0; i < n; ++i) q += (xr[i] - mean) * (xr[i] - mean);
        const float rstd = 1.0f / std::sqrt(q / (float)n + eps);
        #pragma omp simd
        for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - mean) * rstd * gamma[i] + beta[i];
#endif
    }
}
"""

_lib = cpp.load(SOURCE)
_lib.layernorm_f32.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_int64, ctypes.c_int64, ctypes.c_float]
_lib.layernorm_f32.restype = None


class ModelNew(nn.Module):
    def __init__(self, normalized_size, eps):
        super().__init__()
        # Same submodule name and parameter shapes as the task's Model, so its values are copied in.
        self.ln = nn.LayerNorm(normalized_size, eps=eps)
        self.eps = float(eps)

    def forward(self, x):
        assert x.dtype == torch.float32 and x.is_contiguous()
        n = self.ln.weight.shape[0]
        y = torch.empty_like(x)
        _lib.layernorm_f32(x.data_ptr(), self.ln.weight.data_ptr(), self.ln.bias.data_ptr(), y.data_ptr(),
                           x.numel() // n, n, self.eps)
        return y
