import torch
import torch.nn as nn


class Model(nn.Module):
    """GEMM with a transposed left operand: C = A^T @ B with A (K, M), B (K, N) -> C (M, N).

    A is stored K-major, so A^T is a non-contiguous view: a kernel must read A by columns or
    pack it. Eager runs aten::permute (`.T` is a
    view, no copy) then aten::mm. Sized at ~0.27 GFLOP (eager
    GEMM here is reference BLAS at ~5 GFLOP/s); K = 1024 with randn inputs leaves ~2e-4 of the
    elements over tau from the reference's own float32 rounding, within the 1e-3 budget.
    """

    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        return torch.matmul(a.T, b)


M = 256
K = 1024
N = 512


def get_inputs():
    return [torch.randn(K, M), torch.randn(K, N)]


def get_init_inputs():
    return []
