import torch
import torch.nn as nn


class Model(nn.Module):
    """Masked prefix sum along dim 1: cumsum(x * mask), with a bool mask (about half True).

    The bool input is promoted to float by the multiply. Eager runs aten::mul.Tensor (float *
    bool) then aten::cumsum.
    """

    def __init__(self):
        super().__init__()

    def forward(self, x, mask):
        return torch.cumsum(x * mask, dim=1)


rows = 512
n = 4096


def get_inputs():
    return [torch.randn(rows, n), torch.rand(rows, n) > 0.5]


def get_init_inputs():
    return []
