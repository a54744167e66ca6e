import torch
import torch.nn as nn


class Model(nn.Module):
    """BatchNorm2d in inference mode: (x - running_mean) / sqrt(running_var + eps) * weight + bias,
    per channel of an NCHW tensor.

    The module is put in eval mode in __init__, so it uses the running statistics and does not
    update them. Running mean / var, weight and bias are all randomized so that a kernel which
    ignores any of them (or computes batch statistics instead) fails. Eager runs
    aten::empty.memory_format and aten::native_batch_norm (training=False).
    """

    def __init__(self, num_features):
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features)
        with torch.no_grad():
            self.bn.running_mean.copy_(0.5 * torch.randn(num_features))
            self.bn.running_var.copy_(0.5 + torch.rand(num_features))
            self.bn.weight.copy_(1.0 + 0.1 * torch.randn(num_features))
            self.bn.bias.copy_(0.1 * torch.randn(num_features))
        self.bn.eval()

    def forward(self, x):
        return self.bn(x)


batch_size = 32
num_features = 64
height = 56
width = 56


def get_inputs():
    return [torch.randn(batch_size, num_features, height, width)]


def get_init_inputs():
    return [num_features]
