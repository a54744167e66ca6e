import torch
import torch.nn as nn


class Model(nn.Module):
    """L2 row normalization: x / ||x||_2 over dim 1 (keepdim).

    Dynamic task: the number of rows (`batch`) varies; the row length is fixed. Eager runs
    aten::norm.ScalarOpt_dim (one fused reduction, not pow/sum/sqrt) and aten::div.Tensor.
    """

    def __init__(self):
        super().__init__()

    def forward(self, x):
        return x / torch.norm(x, p=2, dim=1, keepdim=True)


dim = 2048


def dynamic_dims():
    return {"batch": (1, 8192)}


def get_inputs(batch=4096):
    return [torch.randn(batch, dim)]


def get_init_inputs():
    return []
