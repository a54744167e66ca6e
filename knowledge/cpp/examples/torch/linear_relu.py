# Strategy: eager runs addmm on the reference (netlib) BLAS, single-threaded and unblocked, then a
# separate relu pass. This is the BLIS-style GEMM of matmul.py with two changes: the weight
# (out x in, row-major) is consumed as B = W^T by the packing routine (it gathers 32 weight rows
# into each k-major panel, so the micro-kernel is identical), and bias + ReLU are applied in the
# micro-kernel's store of the last K-block, so the output is written once and never re-read.
# The packed weight is rebuilt every call: the Verifier loads the task's weights after __init__,
# and caching a derived copy would go stale if the parameter changed.
import ctypes

import torch
import torch.nn as nn
from anvil_rt import cpp

SOURCE = r"""
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <immintrin.h>
#include <omp.h>


#if defined(__AVX512F__)
// Register tile MR x NR = 12 x 32: 24 zmm accumulators + 2 B vectors + 1 broadcast of 32 zmm.
// Per k step: 2 loads + 12 broadcasts feed 24 FMAs, so the two FMA pipes stay the bottleneck.
// KC = 256: a packed B micro-panel (KC x NR = 32 KB) stays in L1 while a thread sweeps its MC rows;
// a packed A block (MC x KC = 96 KB) stays in L2; the packed B block (KC x N) is shared via L2/L3.
#define MR 12
#define NR 32
#define KC 256
#define MC 96
#define MCP ((MC + MR - 1) / MR * MR)  // rows of a packed A block, padded to whole panels

// C[0:mr, 0:nr] (ldc) (+)= Ap (KC x MR, k-major) * Bp (KC x NR); epilogue: + bias, relu.
static inline void micro_kernel(int64_t kc, const float* __restrict Ap, const float* __restrict Bp,
                                float* __restrict C, int64_t ldc, int64_t mr, int64_t nr, bool accumulate,
                                const float* __restrict bias, bool relu) {
    __m512 c0[MR], c1[MR];
    for (int r = 0; r < MR; ++r) { c0[r] = _mm512_setzero_ps(); c1[r] = _mm512_setzero_ps(); }
    for (int64_t k = 0; k < kc; ++k) {
        const __m512 b0 = _mm512_loadu_ps(Bp + k * NR);
        const __m512 b1 = _mm512_loadu_ps(Bp + k * NR + 16);
        for (int r = 0; r < MR; ++r) {
            const __m512 a = _mm512_set1_ps(Ap[k * MR + r]);
            c0[r] = _mm512_fmadd_ps(a, b0, c0[r]);
            c1[r] = _mm512_fmadd_ps(a, b1, c1[r]);
        }
    }
    const __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
    const __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF : nr <= 16 ? (__mmask16)0 : (__mmask16)((1u << (nr - 16)) - 1);
    __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
    if (bias) { bias0 = _mm512_maskz_loadu_ps(m0, bias); bias1 = _mm512_maskz_loadu_ps(m1, bias + 16); }
    for (int r = 0; r < MR; ++r) {
        if (r >= mr) break;
        float* cr = C + r * ldc;
        __m512 v0 = c0[r], v1 = c1[r];
        if (accumulate) {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, cr));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, cr + 16));
        }
        if (bias) { v0 = _mm512_add_ps(v0, bias0); v1 = _mm512_add_ps(v1, bias1); }
        if (relu) { v0 = _mm512_max_ps(v0, _mm512_setzero_ps()); v1 = _mm512_max_ps(v1, _mm512_setzero_ps()); }
        _mm512_mask_storeu_ps(cr, m0, v0);
        _mm512_mask_storeu_ps(cr + 16, m1, v1);
    }
}

// C (M x N) = A (M x K, row-major) * B, where B is (K x N) row-major, or, if b_is_nk, B = W^T with
// W (N x K) row-major (nn.Linear weight). Optional bias (N) and relu fused in the last K block.
extern "C" void gemm_f32(const float* __restrict A, const float* __restrict B, const float* __restrict bias,
                         float* __restrict C, float* __restrict work, int64_t M, int64_t N, int64_t K,
                         int b_is_nk, int relu, int threads) {
    const int64_t npanels = (N + NR - 1) / NR;
    float* Bp = work;                                    // npanels * KC * NR
    float* Apool = work + npanels * KC * NR;             // threads * MCP * KC
    const int64_t mblocks = (M + MC - 1) / MC;
    #pragma omp parallel num_threads(threads)
    {
        float* Ap = Apool + (int64_t)omp_get_thread_num() * MCP * KC;
        for (int64_t pc = 0; pc < K; pc += KC) {
            const int64_t kc = K - pc < KC ? K - pc : KC;
            const bool first = pc == 0, last = pc + kc >= K;
            #pragma omp for schedule(static)
            for (int64_t jp = 0; jp < npanels; ++jp) {
                float* dst = Bp + jp * KC * NR;
                const int64_t n0 = jp * NR, nw = N - n0 < NR ? N - n0 : NR;
                if (!b_is_nk) {
                    for (int64_t k = 0; k < kc; ++k) {
                        const float* src = B + (pc + k) * N + n0;
                        for (int64_t c = 0; c < NR; ++c) dst[k * NR + c] = c < nw ? src[c] : 0.0f;
                    }
                } else {
                    for (int64_t c = 0; c < NR; ++c) {
                        if (c < nw) {
                            const float* src = B + (n0 + c) * K + pc;
                            for (int64_t k = 0; k < kc; ++k) dst[k * NR + c] = src[k];
                        } else {
                            for (int64_t k = 0; k < kc; ++k) dst[k * NR + c] = 0.0f;
                        }
                    }
                }
            }
            // implicit barrier: B block packed
            #pragma omp for schedule(static)
            for (int64_t mb = 0; mb < mblocks; ++mb) {
                const int64_t m0 = mb * MC, mc = M - m0 < MC ? M - m0 : MC;
                const int64_t mpanels = (mc + MR - 1) / MR;
                for (int64_t ip = 0; ip < mpanels; ++ip) {
                    float* dst = Ap + ip * KC * MR;
                    for (int r = 0; r < MR; ++r) {
                        const int64_t row = ip * MR + r;
                        if (row < mc) {
                            const float* src = A + (m0 + row) * K + pc;
                            for (int64_t k = 0; k < kc; ++k) dst[k * MR + r] = src[k];
                        } else {
                            for (int64_t k = 0; k < kc; ++k) dst[k * MR + r] = 0.0f;
                        }
                    }
                }
                for (int64_t jp = 0; jp < npanels; ++jp) {
                    const int64_t n0 = jp * NR, nw = N - n0 < NR ? N - n0 : NR;
                    for (int64_t ip = 0; ip < mpanels; ++ip) {
                        const int64_t r0 = ip * MR, mr = mc - r0 < MR ? mc - r0 : MR;
                        micro_kernel(kc, Ap + ip * KC * MR, Bp + jp * KC * NR, C + (m0 + r0) * N + n0, N, mr, nw,
                                     !first, last && bias ? bias + n0 : nullptr, last && relu);
                    }
                }
            }
            // implicit barrier before the next B block overwrites Bp
        }
    }
}

#else
// Portable fallback (no AVX-512): row-parallel i-k-j loops the compiler vectorizes over j.
extern "C" void gemm_f32(const float* __restrict A, const float* __restrict B, const float* __restrict bias,
                         float* __restrict C, float* __restrict work, int64_t M, int64_t N, int64_t K,
                         int b_is_nk, int relu, int threads) {
    (void)work;
    #pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < M; ++i) {
        float* c = C + i * N;
        for (int64_t j = 0; j < N; ++j) c[j] = 0.0f;
        for (int64_t k = 0; k < K; ++k) {
            const float a = A[i * K + k];
            if (b_is_nk) {
                for (int64_t j = 0; j < N; ++j) c[j] += a * B[j * K + k];
            } else {
                #pragma omp simd
                for (int64_t j = 0; j < N; ++j) c[j] += a * B[k * N + j];
            }
        }
        for (int64_t j = 0; j < N; ++j) {
            float v = c[j] + (bias ? bias[j] : 0.0f);
            c[j] = relu && v < 0.0f ? 0.0f : v;
        }
    }
}
#define MR 1
#define NR 1
#define KC 1
#define MCP 1
#endif

extern "C" int64_t gemm_work_floats(int64_t N, int64_t threads) {
    return ((N + NR - 1) / NR) * KC * NR + threads * MCP * KC;
}

extern "C" int gemm_max_threads() { return omp_get_max_threads(); }
"""

_lib = cpp.load(SOURCE)
_lib.gemm_f32.argtypes = [ctypes.c_void_p] * 5 + [ctypes.c_int64] * 3 + [ctypes.c_int] * 3
_lib.gemm_f32.restype = None
_lib.gemm_work_floats.argtypes = [ctypes.c_int64, ctypes.c_int64]
_lib.gemm_work_floats.restype = ctypes.c_int64
_lib.gemm_max_threads.argtypes = []
_lib.gemm_max_threads.restype = ctypes.c_int


class ModelNew(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        # Same submodule name and shapes as the task's Model, so the Verifier copies its weights in.
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x):
        assert x.dtype == torch.float32 and x.is_contiguous()
        w = self.linear.weight
        k = w.shape[1]
        n = w.shape[0]
        m = x.numel() // k
        y = torch.empty(list(x.shape[:-1]) + [n], dtype=torch.float32)
        threads = _lib.gemm_max_threads()
        work = torch.empty(_lib.gemm_work_floats(n, threads), dtype=torch.float32)
        _lib.gemm_f32(x.data_ptr(), w.data_ptr(), self.linear.bias.data_ptr(), y.data_ptr(), work.data_ptr(),
                      m, n, k, 1, 1, threads)
        return y
