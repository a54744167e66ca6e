import torch
import torch.nn as nn


class Model(nn.Module):
    """Minimum over the last dimension, values only: (rows, cols) -> (rows,).

    Uses torch.amin, which has no indices output. Eager runs a single aten::amin.
    """

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return torch.amin(x, dim=self.dim)


rows = 4096
cols = 2048


def get_inputs():
    return [torch.randn(rows, cols)]


def get_init_inputs():
    return [-1]
