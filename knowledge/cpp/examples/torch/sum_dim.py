# Strategy: a sum over a contiguous last dimension is pure streaming (16 MB in, 4 KB out), so the
# kernel only has to keep up with memory (here: L3) while staying accurate. Each row is summed in
# blocks of 512 floats by four independent float accumulators (hides add latency; each lane adds
# only 8 values), and block partials are widened into double. Converting every element to double
# costs 2x the instructions and cannot keep up with L3; this hybrid is as fast as a float sum and
# about as accurate as a double one, so rows whose sum cancels to ~0 still pass the relative metric. Rows are split across
# OpenMP threads; a masked load handles any row length. If the reduced dim is not innermost, the
# generic path accumulates whole contiguous inner slices in double (vectorized over the inner dim).
import ctypes

import torch
import torch.nn as nn
from anvil_rt import cpp

SOURCE = r"""
#include <cstdint>
#include <immintrin.h>

static inline double row_sum(const float* __restrict x, int64_t n) {
#if defined(__AVX512F__)
    // Blocks of 512 floats are summed in float by four independent 16-lane accumulators (each lane
    // adds only 8 values, so the float error is negligible), then widened into double partials.
    __m512d d0 = _mm512_setzero_pd(), d1 = _mm512_setzero_pd();
    int64_t i = 0;
    for (; i < n;) {
        __m512 f0 = _mm512_setzero_ps(), f1 = _mm512_setzero_ps(), f2 = _mm512_setzero_ps(), f3 = _mm512_setzero_ps();
        const int64_t end = n - i > 512 ? i + 512 : n;
        for (; i + 64 <= end; i += 64) {
            f0 = _mm512_add_ps(f0, _mm512_loadu_ps(x + i));
            f1 = _mm512_add_ps(f1, _mm512_loadu_ps(x + i + 16));
            f2 = _mm512_add_ps(f2, _mm512_loadu_ps(x + i + 32));
            f3 = _mm512_add_ps(f3, _mm512_loadu_ps(x + i + 48));
        }
        for (; i < end; i += 16) {
            const int64_t left = end - i;
            const __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            f0 = _mm512_add_ps(f0, _mm512_maskz_loadu_ps(m, x + i));
        }
        const __m512 f = _mm512_add_ps(_mm512_add_ps(f0, f1), _mm512_add_ps(f2, f3));
        d0 = _mm512_add_pd(d0, _mm512_cvtps_pd(_mm512_castps512_ps256(f)));
        d1 = _mm512_add_pd(d1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1))));
        i = end;
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(d0, d1));
#else
    double s = 0.0;
    #pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; ++i) s += x[i];
    return s;
#endif
}

// x viewed as (outer, reduce, inner), contiguous; y is (outer, inner).
extern "C" void sum_dim_f32(const float* __restrict x, float* __restrict y, int64_t outer, int64_t reduce,
                            int64_t inner) {
    if (inner == 1) {
        #pragma omp parallel for schedule(static)
        for (int64_t o = 0; o < outer; ++o) y[o] = (float)row_sum(x + o * reduce, reduce);
        return;
    }
    const int64_t BLOCK = 256;  // inner columns per task: a 2 KB double accumulator stays in L1
    const int64_t nblocks = (inner + BLOCK - 1) / BLOCK;
    #pragma omp parallel for schedule(static)
    for (int64_t task = 0; task < outer * nblocks; ++task) {
        const int64_t o = task / nblocks, j0 = (task % nblocks) * BLOCK;
        const int64_t w = inner - j0 < BLOCK ? inner - j0 : BLOCK;
        double acc[BLOCK];
        for (int64_t j = 0; j < w; ++j) acc[j] = 0.0;
        const float* base = x + o * reduce * inner + j0;
        for (int64_t r = 0; r < reduce; ++r) {
            const float* row = base + r * inner;
            #pragma omp simd
            for (int64_t j = 0; j < w; ++j) acc[j] += row[j];
        }
        for (int64_t j = 0; j < w; ++j) y[o * inner + j0 + j] = (float)acc[j];
    }
}
"""

_lib = cpp.load(SOURCE)
_lib.sum_dim_f32.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64]
_lib.sum_dim_f32.restype = None


class ModelNew(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        assert x.dtype == torch.float32 and x.is_contiguous()
        d = self.dim % x.dim()
        shape = list(x.shape)
        outer = 1
        for s in shape[:d]:
            outer *= s
        inner = 1
        for s in shape[d + 1:]:
            inner *= s
        y = torch.empty(shape[:d] + shape[d + 1:], dtype=x.dtype)
        _lib.sum_dim_f32(x.data_ptr(), y.data_ptr(), outer, shape[d], inner)
        return y
