import torch
import torch.nn as nn


class Model(nn.Module):
    """Single-precision GEMM: C = A @ B with A (M, K), B (K, N)."""

    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        return torch.matmul(a, b)


M = 512
K = 512
N = 512


def get_inputs():
    return [torch.randn(M, K), torch.randn(K, N)]


def get_init_inputs():
    return []
