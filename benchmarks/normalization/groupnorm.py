import torch
import torch.nn as nn


class Model(nn.Module):
    """GroupNorm: the channels of an NCHW tensor are split into groups; each (sample, group) is
    normalized by its mean and biased variance over (C / groups) * H * W elements, then a
    per-channel affine transform is applied.

    Weight and bias are randomized so that an ignored affine transform fails. Eager runs a single
    aten::native_group_norm.
    """

    def __init__(self, num_groups, num_channels):
        super().__init__()
        self.gn = nn.GroupNorm(num_groups, num_channels)
        with torch.no_grad():
            self.gn.weight.copy_(1.0 + 0.1 * torch.randn(num_channels))
            self.gn.bias.copy_(0.1 * torch.randn(num_channels))

    def forward(self, x):
        return self.gn(x)


batch_size = 16
num_groups = 8
num_channels = 64
height = 64
width = 64


def get_inputs():
    return [torch.randn(batch_size, num_channels, height, width)]


def get_init_inputs():
    return [num_groups, num_channels]
