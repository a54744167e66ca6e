import torch
import torch.nn as nn


class Model(nn.Module):
    """LayerNorm over the last dimension with a learned affine transform.

    Dynamic task: the number of rows (`batch`) varies; the normalized size is fixed by the
    constructor. Weight and bias are randomized so that an ignored affine transform fails.
    """

    def __init__(self, normalized_size, eps):
        super().__init__()
        self.ln = nn.LayerNorm(normalized_size, eps=eps)
        with torch.no_grad():
            self.ln.weight.copy_(1.0 + 0.1 * torch.randn(normalized_size))
            self.ln.bias.copy_(0.1 * torch.randn(normalized_size))

    def forward(self, x):
        return self.ln(x)


normalized_size = 1024


def dynamic_dims():
    return {"batch": (1, 8192)}


def get_inputs(batch=4096):
    return [torch.randn(batch, normalized_size)]


def get_init_inputs():
    return [normalized_size, 1e-5]
