import torch
import torch.nn as nn


class Model(nn.Module):
    """LeakyReLU with negative slope 0.01: x if x > 0 else 0.01 * x.

    Eager runs a single aten::leaky_relu.
    """

    def __init__(self, negative_slope):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return torch.nn.functional.leaky_relu(x, self.negative_slope)


batch_size = 8192
dim = 2048


def get_inputs():
    return [torch.randn(batch_size, dim)]


def get_init_inputs():
    return [0.01]
