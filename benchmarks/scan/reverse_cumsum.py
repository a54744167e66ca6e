import torch
import torch.nn as nn


class Model(nn.Module):
    """Reverse (suffix) inclusive prefix sum along dim 1: out[i, j] = sum(x[i, j:]).

    Written as flip / cumsum / flip, so eager materializes two flipped copies: it runs
    aten::flip, aten::cumsum, aten::flip. A kernel can scan each row right to left in one pass.
    """

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return x.flip(self.dim).cumsum(self.dim).flip(self.dim)


rows = 512
n = 4096


def get_inputs():
    return [torch.randn(rows, n)]


def get_init_inputs():
    return [1]
