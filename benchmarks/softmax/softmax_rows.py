import torch
import torch.nn as nn


class Model(nn.Module):
    """Softmax over the last dimension of a (batch, n) tensor.

    Dynamic task: both the number of rows and the row length vary.
    """

    def __init__(self):
        super().__init__()

    def forward(self, x):
        return torch.softmax(x, dim=-1)


def dynamic_dims():
    return {"batch": (1, 1024), "n": (1, 16384)}


def get_inputs(batch=512, n=4096):
    return [torch.randn(batch, n)]


def get_init_inputs():
    return []
