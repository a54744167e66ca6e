import torch
import torch.nn as nn


class Model(nn.Module):
    """Batched GEMM: C[b] = A[b] @ B[b] with A (batch, M, K), B (batch, K, N).

    Sized at ~0.27 GFLOP (like matmul/matmul): eager GEMM here is reference BLAS at ~5 GFLOP/s,
    so a 1 GFLOP batch would take ~230 ms per forward. K = 512 keeps randn inputs within the
    reference's own rounding budget. Eager runs a single aten::bmm.
    """

    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        return torch.bmm(a, b)


batch_size = 16
M = 128
K = 512
N = 128


def get_inputs():
    return [torch.randn(batch_size, M, K), torch.randn(batch_size, K, N)]


def get_init_inputs():
    return []
