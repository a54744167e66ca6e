# Task: benchmarks/softmax/softmax_rows.py (softmax over the last dim of float32 [batch, n];
# dynamic: batch in [1, 1024], n in [1, 16384]).
# Strategy: one block per row (grid = rows), online softmax. Pass 1: every thread keeps a running
# (max m, sum s of exp(x - m)) over its strided elements (one expf per element; the sum is rescaled
# by exp(m_old - m_new) only when the max grows), then the block merges the (m, s) pairs with warp
# shuffles and one shared-memory step. Pass 2 re-reads the row (an L1/L2 hit: 64 KB at most) and
# writes exp(x - m) * (1 / s). Block size grows with n (32 threads for n <= 256, up to 1024 for
# n > 4096: ~8-16 elements per thread), always a multiple of 32. Loads are float4 when n % 4 == 0
# and both pointers are 16-byte aligned, otherwise scalar (still coalesced): any n works, tails
# included, since every loop is bounded by n itself. -inf entries add nothing (no -inf - -inf);
# a NaN anywhere makes its row NaN, as in PyTorch.
# Device: the cuda backend gives CUDA tensors (today's task files build CPU tensors; the cuda
# verifier adapter is to move them to the GPU), so forward asserts x.is_cuda and launches on
# torch's current stream.
# Status: compiled with nvcc 13.0 for sm_90; not yet run by Anvil's verifier (its cuda adapter
# does not exist). Run on an H100 through a stand-in for anvil_rt.cuda: see
# knowledge/cuda-c/README.md, "How the examples were checked".
# Measured on an H100 (PyTorch 2.11), default case 512 x 4096: GPU time per call (CUDA-graph
# replay) 7.8 us vs eager 7.7 us; per call with a device synchronisation 29-34 us vs eager 22 us
# (host overhead, suggestions/launch_overhead.md). Max relative error 5e-7 vs eager CPU and CUDA.
import ctypes

import torch
import torch.nn as nn
from anvil_rt import cuda

SOURCE = r"""
#include <cmath>
#include <cstdint>
#include <cuda_runtime.h>

struct MaxSum {
    float m;  // running maximum
    float s;  // sum of exp(x - m) over the elements seen
};

__device__ __forceinline__ void add_value(MaxSum& a, float v) {
    if (v > a.m) {                             // new maximum: rescale the sum so far
        a.s = a.s * expf(a.m - v) + 1.0f;      // a.m = -inf at the start: 0 * 0 + 1
        a.m = v;
    } else if (v != -INFINITY) {               // -inf adds exp(-inf) = 0; skipping it avoids -inf - -inf
        a.s += expf(v - a.m);                  // NaN v lands here and makes s NaN (row NaN, as PyTorch)
    }
}

__device__ __forceinline__ MaxSum merge(MaxSum a, MaxSum b) {
    const float m = fmaxf(a.m, b.m);
    if (m == -INFINITY) return {m, a.s + b.s}; // both sides saw only -inf: nothing to rescale
    return {m, a.s * expf(a.m - m) + b.s * expf(b.m - m)};
}

__device__ __forceinline__ MaxSum warp_merge(MaxSum v) {
    #pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        MaxSum o;
        o.m = __shfl_xor_sync(0xffffffffu, v.m, offset);
        o.s = __shfl_xor_sync(0xffffffffu, v.s, offset);
        v = merge(v, o);
    }
    return v;                                   // every lane holds the warp's result
}

// blockDim.x must be a multiple of 32 (at most 1024); every thread gets the block's result.
__device__ MaxSum block_merge(MaxSum v) {
    __shared__ MaxSum partial[32];
    __shared__ MaxSum result;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_merge(v);
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < (int)(blockDim.x >> 5) ? partial[lane] : MaxSum{-INFINITY, 0.0f};
        v = warp_merge(v);
        if (lane == 0) result = v;
    }
    __syncthreads();
    return result;
}

template <bool VEC4>
__global__ void softmax_rows_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n) {
    const float* xr = x + (int64_t)blockIdx.x * n;
    float* yr = y + (int64_t)blockIdx.x * n;
    MaxSum acc{-INFINITY, 0.0f};
    if (VEC4) {
        const float4* x4 = reinterpret_cast<const float4*>(xr);
        for (int64_t i = threadIdx.x; i < n / 4; i += blockDim.x) {
            const float4 v = x4[i];
            add_value(acc, v.x);
            add_value(acc, v.y);
            add_value(acc, v.z);
            add_value(acc, v.w);
        }
    } else {
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) add_value(acc, xr[i]);
    }
    const MaxSum row = block_merge(acc);
    const float m = row.m, inv = 1.0f / row.s;
    if (VEC4) {
        const float4* x4 = reinterpret_cast<const float4*>(xr);
        float4* y4 = reinterpret_cast<float4*>(yr);
        for (int64_t i = threadIdx.x; i < n / 4; i += blockDim.x) {
            float4 v = x4[i];
            v.x = expf(v.x - m) * inv;
            v.y = expf(v.y - m) * inv;
            v.z = expf(v.z - m) * inv;
            v.w = expf(v.w - m) * inv;
            y4[i] = v;
        }
    } else {
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] = expf(xr[i] - m) * inv;
    }
}

extern "C" int softmax_rows_f32(const float* x, float* y, int64_t rows, int64_t n, void* stream_handle) {
    if (rows <= 0 || n <= 0) return 0;
    cudaStream_t stream = (cudaStream_t)stream_handle;
    int threads = 32;                          // ~8 elements per thread, 32..1024 threads
    while (threads < 1024 && (int64_t)threads * 8 < n) threads *= 2;
    const bool vec4 = n % 4 == 0 &&
        ((reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(y)) & 15) == 0;
    if (vec4)
        softmax_rows_kernel<true><<<(unsigned)rows, threads, 0, stream>>>(x, y, n);
    else
        softmax_rows_kernel<false><<<(unsigned)rows, threads, 0, stream>>>(x, y, n);
    return (int)cudaGetLastError();
}

extern "C" const char* error_string(int code) { return cudaGetErrorString((cudaError_t)code); }
"""

_lib = cuda.load(SOURCE)
_lib.softmax_rows_f32.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
_lib.softmax_rows_f32.restype = ctypes.c_int
_lib.error_string.argtypes = [ctypes.c_int]
_lib.error_string.restype = ctypes.c_char_p


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        assert x.is_cuda and x.dtype == torch.float32 and x.is_contiguous()
        y = torch.empty_like(x)
        n = x.shape[-1]
        if x.numel() > 0:
            stream = torch.cuda.current_stream(x.device).cuda_stream
            err = _lib.softmax_rows_f32(x.data_ptr(), y.data_ptr(), x.numel() // n, n, stream)
            assert err == 0, _lib.error_string(err).decode()
        return y
