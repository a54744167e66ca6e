import torch
import torch.nn as nn


class Model(nn.Module):
    """gelu(x @ W^T + b): an nn.Linear (`linear`) followed by exact GELU.

    Eager runs aten::t (weight view), aten::addmm (bias folded into the GEMM) and aten::gelu.
    Sized at ~0.13 GFLOP: eager addmm here is reference BLAS at ~3 GFLOP/s (a 2048 x 1024 x 1024
    linear would take ~0.9 s per forward). K = 512 keeps randn inputs within the reference's own
    rounding budget.
    """

    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x):
        return torch.nn.functional.gelu(self.linear(x))


batch_size = 512
in_features = 512
out_features = 256


def get_inputs():
    return [torch.randn(batch_size, in_features)]


def get_init_inputs():
    return [in_features, out_features]
