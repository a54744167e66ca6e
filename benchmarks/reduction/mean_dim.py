import torch
import torch.nn as nn


class Model(nn.Module):
    """Mean over the middle dimension of a 3-D tensor: (batch, reduce, inner) -> (batch, inner).

    The reduced dimension is strided (stride `inner`), so a kernel reads contiguous rows of the
    inner dimension and accumulates across them. Eager runs a single aten::mean.dim.
    """

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return torch.mean(x, dim=self.dim)


batch_size = 64
reduce_dim = 1024
inner_dim = 256


def get_inputs():
    return [torch.randn(batch_size, reduce_dim, inner_dim)]


def get_init_inputs():
    return [1]
