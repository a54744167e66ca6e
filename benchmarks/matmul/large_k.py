import torch
import torch.nn as nn


class Model(nn.Module):
    """GEMM with a long inner dimension: C = A @ B with A (M, 8192), B (8192, N), small M, N.

    Each output is an 8192-term dot product, so a kernel must split or stream K rather than keep
    it in one tile. Inputs are torch.rand (non-negative): with randn, outputs cross zero and the
    float32 rounding of an 8192-term dot product alone exceeds the verifier's 1e-3 tolerance on
    elements near zero (~4e-4 of the outputs for the reference alone, so a float candidate's own
    rounding on top can exceed the 1e-3 budget); non-negative data keeps every output large and
    the task well conditioned. Sized at ~0.27 GFLOP (eager GEMM here is reference BLAS at
    ~5 GFLOP/s). Eager runs a single aten::mm.
    """

    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        return torch.matmul(a, b)


M = 128
K = 8192
N = 128


def get_inputs():
    return [torch.rand(M, K), torch.rand(K, N)]


def get_init_inputs():
    return []
