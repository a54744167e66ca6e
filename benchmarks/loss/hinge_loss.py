import torch
import torch.nn as nn


class Model(nn.Module):
    """Mean hinge loss: mean(clamp(1 - pred * target, min=0)), a 0-d output.

    Targets are labels in {-1, +1} (randint * 2 - 1, as float); predictions are randn, so about
    84% of the terms are active (pred * target < 1). Eager runs aten::mul.Tensor, aten::rsub.Scalar,
    aten::clamp and aten::mean.
    """

    def __init__(self):
        super().__init__()

    def forward(self, predictions, targets):
        return torch.mean(torch.clamp(1 - predictions * targets, min=0))


batch_size = 8192
dim = 1024


def get_inputs():
    return [torch.randn(batch_size, dim), (torch.randint(0, 2, (batch_size, dim)) * 2 - 1).float()]


def get_init_inputs():
    return []
