import torch
import torch.nn as nn


class Model(nn.Module):
    """Matrix-vector product: y = A @ x with A (M, K), x (K, 1) -> y (M, 1).

    Memory bound: the 64 MB matrix is streamed once, two flops per element. Inputs are
    torch.rand (non-negative): with randn, each of the only M = 4096 outputs is a 4096-term dot
    product that crosses zero, and the reference's own float32 rounding already puts 1-2 of
    them (up to ~5e-4 of the output) over tau, leaving no margin for a candidate's rounding.
    Eager runs a single aten::mm.
    """

    def __init__(self):
        super().__init__()

    def forward(self, a, x):
        return torch.matmul(a, x)


M = 4096
K = 4096


def get_inputs():
    return [torch.rand(M, K), torch.rand(K, 1)]


def get_init_inputs():
    return []
