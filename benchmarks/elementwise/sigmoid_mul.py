import torch
import torch.nn as nn


class Model(nn.Module):
    """Gating: x * sigmoid(y), two same-shape inputs.

    Replaces a hardsigmoid gate: torch 1.13 keeps F.hardsigmoid as one aten::hardsigmoid (it is
    not decomposed into clamp/mul), so a two-input sigmoid gate exercises elementwise fusion of
    simple ops instead. Eager runs aten::sigmoid then aten::mul.Tensor.
    """

    def __init__(self):
        super().__init__()

    def forward(self, x, y):
        return x * torch.sigmoid(y)


batch_size = 4096
dim = 2048


def get_inputs():
    return [torch.randn(batch_size, dim), torch.randn(batch_size, dim)]


def get_init_inputs():
    return []
