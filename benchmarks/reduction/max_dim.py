import torch
import torch.nn as nn


class Model(nn.Module):
    """Max over the middle dimension of a 3-D tensor, returning (values, indices).

    The reduced dimension is strided (not the innermost one), unlike reduction/sum_dim.
    """

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        values, indices = torch.max(x, dim=self.dim)
        return values, indices


batch_size = 32
reduce_dim = 512
inner_dim = 512


def get_inputs():
    return [torch.randn(batch_size, reduce_dim, inner_dim)]


def get_init_inputs():
    return [1]
