# Strategy: eager accumulates each row sequentially in double (one dependent add per element).
# We keep the double accumulation (so results round to the same floats, even where the running
# sum crosses zero) but vectorize it: 8 floats are widened to doubles, scanned in-register with a
# log-step shift-and-add (valignq), and offset by a broadcast carry. The carry update only adds
# the block total (computed off the critical path), so the loop-carried chain is one add per 8
# elements instead of 8. Rows go to OpenMP threads; when there are fewer rows than threads (a
# single long row), each row is split into per-thread chunks: chunk totals first (a vectorized
# double sum), then every thread scans its chunk starting from the sum of the earlier chunks -
# still one double accumulation, no float re-rounding of partial results. Masked tails: any n.
import ctypes

import torch
import torch.nn as nn
from anvil_rt import cpp

SOURCE = r"""
#include <cstdint>
#include <immintrin.h>
#include <omp.h>

#if defined(__AVX512F__)
static inline __mmask8 tail_mask8(int64_t left) {
    return left >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << left) - 1);
}

// Inclusive prefix sum of 8 doubles in-register.
static inline __m512d scan8(__m512d v) {
    const __m512i z = _mm512_setzero_si512();
    v = _mm512_add_pd(v, _mm512_castsi512_pd(_mm512_alignr_epi64(_mm512_castpd_si512(v), z, 7)));
    v = _mm512_add_pd(v, _mm512_castsi512_pd(_mm512_alignr_epi64(_mm512_castpd_si512(v), z, 6)));
    v = _mm512_add_pd(v, _mm512_castsi512_pd(_mm512_alignr_epi64(_mm512_castpd_si512(v), z, 4)));
    return v;
}

// y[0..n) = carry + inclusive prefix sums of x[0..n), accumulated in double.
static void scan_chunk(const float* __restrict x, float* __restrict y, int64_t n, double carry0) {
    const __m512i last = _mm512_set1_epi64(7);
    __m512d carry = _mm512_set1_pd(carry0);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512d p0 = scan8(_mm512_cvtps_pd(_mm256_loadu_ps(x + i)));
        const __m512d p1 = scan8(_mm512_cvtps_pd(_mm256_loadu_ps(x + i + 8)));
        const __m512d t0 = _mm512_permutexvar_pd(last, p0);
        const __m512d t1 = _mm512_permutexvar_pd(last, p1);
        _mm256_storeu_ps(y + i, _mm512_cvtpd_ps(_mm512_add_pd(p0, carry)));
        const __m512d c1 = _mm512_add_pd(carry, t0);
        _mm256_storeu_ps(y + i + 8, _mm512_cvtpd_ps(_mm512_add_pd(p1, c1)));
        carry = _mm512_add_pd(carry, _mm512_add_pd(t0, t1));
    }
    for (; i < n; i += 8) {
        const __mmask8 m = tail_mask8(n - i);
        const __m512d p = scan8(_mm512_cvtps_pd(_mm256_maskz_loadu_ps(m, x + i)));
        _mm256_mask_storeu_ps(y + i, m, _mm512_cvtpd_ps(_mm512_add_pd(p, carry)));
        carry = _mm512_add_pd(carry, _mm512_permutexvar_pd(last, p));
    }
}

static double chunk_sum(const float* __restrict x, int64_t n) {
    __m512d a0 = _mm512_setzero_pd(), a1 = _mm512_setzero_pd();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm512_add_pd(a0, _mm512_cvtps_pd(_mm256_loadu_ps(x + i)));
        a1 = _mm512_add_pd(a1, _mm512_cvtps_pd(_mm256_loadu_ps(x + i + 8)));
    }
    for (; i < n; i += 8) a0 = _mm512_add_pd(a0, _mm512_cvtps_pd(_mm256_maskz_loadu_ps(tail_mask8(n - i), x + i)));
    return _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
}
#else
static void scan_chunk(const float* __restrict x, float* __restrict y, int64_t n, double carry) {
    for (int64_t i = 0; i < n; ++i) { carry += x[i]; y[i] = (float)carry; }
}
static double chunk_sum(const float* __restrict x, int64_t n) {
    double s = 0.0;
    #pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; ++i) s += x[i];
    return s;
}
#endif

extern "C" void cumsum_f32(const float* __restrict x, float* __restrict y, int64_t rows, int64_t n) {
    const int threads = omp_get_max_threads();
    if (rows >= threads || n < 8192 || threads == 1) {
        #pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < rows; ++r) scan_chunk(x + r * n, y + r * n, n, 0.0);
        return;
    }
    double totals[256];
    const int parts = threads < 256 ? threads : 256;
    for (int64_t r = 0; r < rows; ++r) {
        const float* xr = x + r * n;
        float* yr = y + r * n;
        #pragma omp parallel num_threads(parts)
        {
            const int t = omp_get_thread_num();
            const int nt = omp_get_num_threads();
            const int64_t per = ((n + nt - 1) / nt + 15) / 16 * 16;
            const int64_t lo = t * per < n ? t * per : n;
            const int64_t hi = lo + per < n ? lo + per : n;
            totals[t] = chunk_sum(xr + lo, hi - lo);
            #pragma omp barrier
            double carry = 0.0;
            for (int k = 0; k < t; ++k) carry += totals[k];
            scan_chunk(xr + lo, yr + lo, hi - lo, carry);
        }
    }
}
"""

_lib = cpp.load(SOURCE)
_lib.cumsum_f32.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64]
_lib.cumsum_f32.restype = None


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        assert x.dtype == torch.float32 and x.is_contiguous()
        y = torch.empty_like(x)
        n = x.shape[-1]
        if x.numel() > 0:
            _lib.cumsum_f32(x.data_ptr(), y.data_ptr(), x.numel() // n, n)
        return y
