# Task: benchmarks/normalization/rmsnorm.py (y = x * rsqrt(mean(x^2) + eps) * weight over the
# last dim; float32 x [2048, 2048], weight [2048], eps 1e-6).
# Strategy: eager runs five kernels (pow, mean, add, rsqrt, two muls) and writes temporaries; here
# one kernel, one block per row (grid = rows). Pass 1: each thread sums the squares of its strided
# elements with fmaf (8 per thread at n = 2048: 256 threads), the block combines the partial sums
# with warp shuffles (__shfl_down_sync) and one shared-memory step; float is enough because the
# terms are all positive (no cancellation) and the tree keeps the error ~log2(n) ulp. Pass 2
# re-reads the row (an 8 KB L1 hit) and writes (x * rstd) * w, PyTorch's rounding order.
# float4 loads when n % 4 == 0 and x, weight, y are 16-byte aligned; scalar loops otherwise, so
# any dim works. `self.weight` mirrors Model's parameter name and shape, so the Verifier copies
# Model's values in; it is created on the GPU, so the copy lands there whatever the adapter does.
# Device: the cuda backend gives CUDA tensors (today's task files build CPU tensors; the cuda
# verifier adapter is to move them to the GPU), so forward asserts x.is_cuda and launches on
# torch's current stream.
# Status: compiled with nvcc 13.0 for sm_90; not yet run by Anvil's verifier (its cuda adapter
# does not exist). Run on an H100 through a stand-in for anvil_rt.cuda: see
# knowledge/cuda-c/README.md, "How the examples were checked".
# Measured on an H100 (PyTorch 2.11), 2048 x 2048: GPU time per call (CUDA-graph replay) 8.2 us
# vs eager 46.6 us (5.7x); per call with a device synchronisation 29-38 us vs eager 78-100 us
# (2.5-2.7x). Max relative error 4e-7 vs eager CPU and CUDA.
import ctypes

import torch
import torch.nn as nn
from anvil_rt import cuda

SOURCE = r"""
#include <cstdint>
#include <cuda_runtime.h>

// blockDim.x must be a multiple of 32 (at most 1024); every thread gets the block's sum.
__device__ float block_sum(float v) {
    __shared__ float partial[32];
    __shared__ float total;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    #pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
    if (lane == 0) partial[warp] = v;          // lane 0 holds its warp's sum
    __syncthreads();
    if (warp == 0) {
        v = lane < (int)(blockDim.x >> 5) ? partial[lane] : 0.0f;
        #pragma unroll
        for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
        if (lane == 0) total = v;
    }
    __syncthreads();
    return total;
}

template <bool VEC4>
__global__ void rmsnorm_kernel(const float* __restrict__ x, const float* __restrict__ w,
                               float* __restrict__ y, int64_t n, float eps) {
    const float* xr = x + (int64_t)blockIdx.x * n;
    float* yr = y + (int64_t)blockIdx.x * n;
    float ss = 0.0f;
    if (VEC4) {
        const float4* x4 = reinterpret_cast<const float4*>(xr);
        for (int64_t i = threadIdx.x; i < n / 4; i += blockDim.x) {
            const float4 v = x4[i];
            ss = fmaf(v.x, v.x, ss);
            ss = fmaf(v.y, v.y, ss);
            ss = fmaf(v.z, v.z, ss);
            ss = fmaf(v.w, v.w, ss);
        }
    } else {
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) ss = fmaf(xr[i], xr[i], ss);
    }
    const float rstd = rsqrtf(block_sum(ss) / (float)n + eps);
    if (VEC4) {
        const float4* x4 = reinterpret_cast<const float4*>(xr);
        const float4* w4 = reinterpret_cast<const float4*>(w);
        float4* y4 = reinterpret_cast<float4*>(yr);
        for (int64_t i = threadIdx.x; i < n / 4; i += blockDim.x) {
            const float4 v = x4[i], g = w4[i];
            y4[i] = make_float4(v.x * rstd * g.x, v.y * rstd * g.y, v.z * rstd * g.z, v.w * rstd * g.w);
        }
    } else {
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] = xr[i] * rstd * w[i];
    }
}

extern "C" int rmsnorm_f32(const float* x, const float* w, float* y, int64_t rows, int64_t n, float eps,
                           void* stream_handle) {
    if (rows <= 0 || n <= 0) return 0;
    cudaStream_t stream = (cudaStream_t)stream_handle;
    int threads = 32;                          // ~8 elements per thread, 32..1024 threads
    while (threads < 1024 && (int64_t)threads * 8 < n) threads *= 2;
    const bool vec4 = n % 4 == 0 && ((reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(w) |
                                      reinterpret_cast<uintptr_t>(y)) & 15) == 0;
    if (vec4)
        rmsnorm_kernel<true><<<(unsigned)rows, threads, 0, stream>>>(x, w, y, n, eps);
    else
        rmsnorm_kernel<false><<<(unsigned)rows, threads, 0, stream>>>(x, w, y, n, eps);
    return (int)cudaGetLastError();
}

extern "C" const char* error_string(int code) { return cudaGetErrorString((cudaError_t)code); }
"""

_lib = cuda.load(SOURCE)
_lib.rmsnorm_f32.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int64, ctypes.c_int64, ctypes.c_float, ctypes.c_void_p]
_lib.rmsnorm_f32.restype = ctypes.c_int
_lib.error_string.argtypes = [ctypes.c_int]
_lib.error_string.restype = ctypes.c_char_p


class ModelNew(nn.Module):
    def __init__(self, dim, eps):              # same arguments as Model(dim, eps)
        super().__init__()
        self.eps = float(eps)
        # Same name and shape as Model.weight; created on the GPU, overwritten with Model's values.
        self.weight = nn.Parameter(torch.ones(dim, device="cuda"))

    def forward(self, x):
        w = self.weight
        assert x.is_cuda and x.dtype == torch.float32 and x.is_contiguous()
        assert w.device == x.device and w.is_contiguous()
        n = w.shape[0]
        y = torch.empty_like(x)
        if x.numel() > 0:
            stream = torch.cuda.current_stream(x.device).cuda_stream
            err = _lib.rmsnorm_f32(x.data_ptr(), w.data_ptr(), y.data_ptr(), x.numel() // n, n, self.eps, stream)
            assert err == 0, _lib.error_string(err).decode()
        return y
