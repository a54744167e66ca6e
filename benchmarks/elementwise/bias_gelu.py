import torch
import torch.nn as nn


class Model(nn.Module):
    """Bias add then exact GELU: gelu(x + bias), with a learned bias broadcast over the rows.

    The bias is a randomized parameter (`bias`, shape (dim,)) so that ignoring it fails.
    Eager runs aten::add.Tensor (broadcast of the (dim,) bias) then aten::gelu.
    """

    def __init__(self, dim):
        super().__init__()
        self.bias = nn.Parameter(0.5 * torch.randn(dim))

    def forward(self, x):
        return torch.nn.functional.gelu(x + self.bias)


batch_size = 4096
dim = 2048


def get_inputs():
    return [torch.randn(batch_size, dim)]


def get_init_inputs():
    return [dim]
