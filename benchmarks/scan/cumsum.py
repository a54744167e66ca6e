import torch
import torch.nn as nn


class Model(nn.Module):
    """Inclusive prefix sum along the last dimension of a (rows, n) tensor.

    Dynamic task: both the number of rows and the scan length vary.
    """

    def __init__(self):
        super().__init__()

    def forward(self, x):
        return torch.cumsum(x, dim=-1)


def dynamic_dims():
    return {"rows": (1, 1024), "n": (1, 16384)}


def get_inputs(rows=256, n=8192):
    return [torch.randn(rows, n)]


def get_init_inputs():
    return []
