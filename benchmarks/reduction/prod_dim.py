import torch
import torch.nn as nn


class Model(nn.Module):
    """Product over the last dimension: (rows, cols) -> (rows,).

    Inputs are uniform in [0.9, 1.1], so a 64-term product stays within about e^(+-2) (no
    overflow, underflow or sign changes) and its relative error is well defined. Eager runs a
    single aten::prod.dim_int.
    """

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return torch.prod(x, dim=self.dim)


rows = 32768
cols = 64


def get_inputs():
    return [0.9 + 0.2 * torch.rand(rows, cols)]


def get_init_inputs():
    return [-1]
