import torch
import torch.nn as nn


class Model(nn.Module):
    """Index of the minimum over the first dimension: (rows, cols) float -> (cols,) int64.

    Reducing dim 0 of a row-major tensor is a column-wise (strided) reduction: a kernel keeps
    one running minimum per column while streaming rows. randn inputs make ties practically
    impossible, so the int64 output (compared exactly) is unambiguous. Eager runs a single
    aten::argmin.
    """

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return torch.argmin(x, dim=self.dim)


rows = 2048
cols = 4096


def get_inputs():
    return [torch.randn(rows, cols)]


def get_init_inputs():
    return [0]
