import torch
import torch.nn as nn


class Model(nn.Module):
    """Frobenius normalization: x / ||x||_F, a whole-tensor reduction to a scalar, then a scale.

    Global dependency: every output element needs the norm of all 8M inputs, so a kernel makes
    a full reduction pass before the scaling pass. Eager runs aten::norm.ScalarOpt_dim (p='fro'
    is dispatched as a 2-norm over all dimensions) and aten::div.Tensor by the 0-d norm.
    """

    def __init__(self):
        super().__init__()

    def forward(self, x):
        return x / torch.norm(x, p="fro")


batch_size = 4096
dim = 2048


def get_inputs():
    return [torch.randn(batch_size, dim)]


def get_init_inputs():
    return []
