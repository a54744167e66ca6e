import torch
import torch.nn as nn


class Model(nn.Module):
    """L1 row normalization: x / sum(|x|, dim=1, keepdim=True).

    Each row is reduced once and then rescaled (a two-pass kernel over rows). Eager runs
    aten::abs, aten::sum.dim_IntList and aten::div.Tensor.
    """

    def __init__(self):
        super().__init__()

    def forward(self, x):
        return x / torch.sum(torch.abs(x), dim=1, keepdim=True)


batch_size = 4096
dim = 2048


def get_inputs():
    return [torch.randn(batch_size, dim)]


def get_init_inputs():
    return []
