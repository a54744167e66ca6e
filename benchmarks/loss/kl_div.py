import torch
import torch.nn as nn


class Model(nn.Module):
    """KL divergence KL(targets || predictions) of row distributions, 'batchmean' reduction:
    sum(targets * (log(targets) - log(predictions))) / batch, a 0-d output.

    Both inputs are softmaxed in get_inputs, so every row is a probability distribution with no
    zeros (log is finite). Eager runs aten::log, then F.kl_div decomposes into
    aten::mul.Tensor (targets * log_pred), aten::xlogy.Tensor (targets * log(targets)),
    aten::sub.Tensor, aten::sum.default and aten::div.Tensor (by the batch size).
    """

    def __init__(self):
        super().__init__()

    def forward(self, predictions, targets):
        return torch.nn.functional.kl_div(torch.log(predictions), targets, reduction="batchmean")


batch_size = 4096
dim = 1024


def get_inputs():
    predictions = torch.randn(batch_size, dim).softmax(dim=-1)
    targets = torch.randn(batch_size, dim).softmax(dim=-1)
    return [predictions, targets]


def get_init_inputs():
    return []
