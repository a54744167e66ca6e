import torch
import torch.nn as nn


class Model(nn.Module):
    """tanh(x * 0.5 + 0.25): a scalar scale and shift fused in front of a transcendental.

    Eager runs aten::mul.Tensor, aten::add.Tensor (both with Python scalars) and aten::tanh,
    three full passes over memory; (4096, 2048) keeps that under ~40 ms (8192 rows took ~70-80).
    """

    def __init__(self, scale, shift):
        super().__init__()
        self.scale = scale
        self.shift = shift

    def forward(self, x):
        return torch.tanh(x * self.scale + self.shift)


batch_size = 4096
dim = 2048


def get_inputs():
    return [torch.randn(batch_size, dim)]


def get_init_inputs():
    return [0.5, 0.25]
