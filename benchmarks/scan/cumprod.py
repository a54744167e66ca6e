import torch
import torch.nn as nn


class Model(nn.Module):
    """Inclusive prefix product along dim 1.

    Inputs are uniform in [0.99, 1.01], so a 4096-term running product stays within about
    e^(+-1.5) (no overflow, underflow or sign changes) and its relative error is well defined.
    Eager runs a single aten::cumprod.
    """

    def __init__(self):
        super().__init__()

    def forward(self, x):
        return torch.cumprod(x, dim=1)


rows = 512
n = 4096


def get_inputs():
    return [0.99 + 0.02 * torch.rand(rows, n)]


def get_init_inputs():
    return []
