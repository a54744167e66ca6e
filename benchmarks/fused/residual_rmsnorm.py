import torch
import torch.nn as nn


class Model(nn.Module):
    """Residual add then RMSNorm over the last dimension:
    y = x + residual; y / sqrt(mean(y^2) + eps) * weight.

    The learned weight is randomized so that ignoring it fails. A fused kernel reads x and
    residual once per row instead of materializing y and its square. Eager runs aten::add.Tensor,
    aten::pow.Tensor_Scalar, aten::mean.dim, aten::add.Tensor (eps), aten::rsqrt and two
    aten::mul.Tensor.
    """

    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(1.0 + 0.1 * torch.randn(dim))

    def forward(self, x, residual):
        y = x + residual
        return y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


batch_size = 4096
dim = 2048


def get_inputs():
    return [torch.randn(batch_size, dim), torch.randn(batch_size, dim)]


def get_init_inputs():
    return [dim, 1e-6]
