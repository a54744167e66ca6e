import torch
import torch.nn as nn


class Model(nn.Module):
    """Sum of every element of a 2-D tensor: a 0-d output.

    Inputs are torch.rand (non-negative, mean 0.5): a 0-d output is one element, so the metric
    tolerates no error above tau at all, and the sum of 16M randn values (std ~4096) would land
    near zero often enough for the reference's own float32 rounding to fail it. A sum of
    non-negative values (~8.4e6) has no cancellation. Eager runs a single aten::sum.default.
    """

    def __init__(self):
        super().__init__()

    def forward(self, x):
        return x.sum()


rows = 4096
cols = 4096


def get_inputs():
    return [torch.rand(rows, cols)]


def get_init_inputs():
    return []
