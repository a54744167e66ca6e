# Task: benchmarks/elementwise/gelu.py (exact GELU, float32 [64, 16384]).
# Strategy: memory-bound elementwise map (4 bytes read + 4 written per element, ~1 flop per byte).
# One grid-stride kernel in which every thread handles one float4 per iteration (16-byte loads and
# stores, coalesced across the warp); the grid is capped at 8 blocks of 256 threads per SM (one
# full-occupancy wave), so a huge n loops instead of launching millions of blocks. A second, scalar
# launch covers the n % 4 leftover elements, and all of n when a pointer is not 16-byte aligned
# (an input view with a storage offset). y = x * 0.5 * (1 + erff(x * 1/sqrt(2))), in the same order
# as PyTorch's CUDA kernel; erff is CUDA's full-precision erf (max 2 ulp), not a fast-math intrinsic.
# Device: the cuda backend gives CUDA tensors (today's task files build CPU tensors; the cuda
# verifier adapter is to move them to the GPU), so forward asserts x.is_cuda and launches on
# torch's current stream.
# Status: compiled with nvcc 13.0 for sm_90; not yet run by Anvil's verifier (its cuda adapter
# does not exist). Run on an H100 through a stand-in for anvil_rt.cuda: see
# knowledge/cuda-c/README.md, "How the examples were checked".
# Measured on an H100 (PyTorch 2.11): GPU time per call (CUDA-graph replay) 2.6 us vs eager 2.8 us;
# per call with a device synchronisation 21-38 us vs eager 15-29 us: host overhead (stream query,
# allocation, ctypes, launch) dominates at this size (suggestions/launch_overhead.md). Accuracy:
# bit-identical to eager CUDA; against eager CPU 49 of 1,048,576 elements over tau (allowed 1048):
# both formulas lose accuracy in 1 + erf(x) for x < -3, differently (api/math_intrinsics.md).
import ctypes

import torch
import torch.nn as nn
from anvil_rt import cuda

SOURCE = r"""
#include <cstdint>
#include <cuda_runtime.h>

__device__ __forceinline__ float gelu(float v) {
    return v * 0.5f * (1.0f + erff(v * 0.70710678118654752f));
}

__global__ void gelu_vec4(const float4* __restrict__ x, float4* __restrict__ y, int64_t n4) {
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += stride) {
        float4 v = x[i];
        v.x = gelu(v.x);
        v.y = gelu(v.y);
        v.z = gelu(v.z);
        v.w = gelu(v.w);
        y[i] = v;
    }
}

__global__ void gelu_scalar(const float* __restrict__ x, float* __restrict__ y, int64_t begin, int64_t n) {
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = begin + (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        y[i] = gelu(x[i]);
}

static int sm_count() {
    static int sms = 0;                       // asked once per process
    if (sms == 0) {
        int dev = 0;
        cudaGetDevice(&dev);
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
    }
    return sms;
}

static unsigned grid_for(int64_t work, int threads) {
    const int64_t want = (work + threads - 1) / threads;
    const int64_t cap = (int64_t)sm_count() * 8;   // 8 x 256 threads = 2048 = one SM's maximum
    return (unsigned)(want < cap ? want : cap);
}

extern "C" int gelu_f32(const float* x, float* y, int64_t n, void* stream_handle) {
    if (n <= 0) return 0;
    cudaStream_t stream = (cudaStream_t)stream_handle;
    constexpr int threads = 256;
    const bool aligned = ((reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(y)) & 15) == 0;
    const int64_t n4 = aligned ? n / 4 : 0;
    if (n4 > 0)
        gelu_vec4<<<grid_for(n4, threads), threads, 0, stream>>>(
            reinterpret_cast<const float4*>(x), reinterpret_cast<float4*>(y), n4);
    if (4 * n4 < n)
        gelu_scalar<<<grid_for(n - 4 * n4, threads), threads, 0, stream>>>(x, y, 4 * n4, n);
    return (int)cudaGetLastError();           // launch errors only; faults surface at the next sync
}

extern "C" const char* error_string(int code) { return cudaGetErrorString((cudaError_t)code); }
"""

_lib = cuda.load(SOURCE)                      # nvcc -O3 -arch=sm_90, cached by source hash
_lib.gelu_f32.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p]
_lib.gelu_f32.restype = ctypes.c_int
_lib.error_string.argtypes = [ctypes.c_int]
_lib.error_string.restype = ctypes.c_char_p


class ModelNew(nn.Module):
    def __init__(self):                       # Model() takes no arguments
        super().__init__()

    def forward(self, x):
        assert x.is_cuda and x.dtype == torch.float32 and x.is_contiguous()
        y = torch.empty_like(x)               # fresh output on x's device, every call
        stream = torch.cuda.current_stream(x.device).cuda_stream
        err = _lib.gelu_f32(x.data_ptr(), y.data_ptr(), x.numel(), stream)
        assert err == 0, _lib.error_string(err).decode()
        return y
