import torch
import torch.nn as nn


class Model(nn.Module):
    """Mean cross-entropy of logits (batch, classes) against integer class targets: a 0-d output."""

    def __init__(self):
        super().__init__()
        self.loss = nn.CrossEntropyLoss()

    def forward(self, logits, targets):
        return self.loss(logits, targets)


batch_size = 4096
num_classes = 1000


def get_inputs():
    return [2.0 * torch.randn(batch_size, num_classes), torch.randint(0, num_classes, (batch_size,))]


def get_init_inputs():
    return []
