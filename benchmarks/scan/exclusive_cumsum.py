import torch
import torch.nn as nn


class Model(nn.Module):
    """Exclusive prefix sum along dim 1, written as cumsum(x) - x: out[i, j] = sum(x[i, :j]).

    The first column is exactly zero in exact arithmetic (x - x in eager). Dynamic task: the
    number of rows varies; the scan length is fixed. Eager runs aten::cumsum then
    aten::sub.Tensor.
    """

    def __init__(self):
        super().__init__()

    def forward(self, x):
        return torch.cumsum(x, dim=1) - x


n = 4096


def dynamic_dims():
    return {"rows": (1, 1024)}


def get_inputs(rows=512):
    return [torch.randn(rows, n)]


def get_init_inputs():
    return []
