"""Output files round-trip bit for bit; aliasing and mutation checks are exact."""

import json

import numpy as np
import torch

from anvil_harness.tensors import as_output_list, bit_equal, spans_overlap, write_outputs


def test_write_outputs_layout(tmp_path):
    a = torch.tensor([[1.0, float("nan")], [float("-inf"), -0.0]])
    b = torch.tensor([1, 2, 3], dtype=torch.int64)
    c = torch.tensor([0.5, 1.5], dtype=torch.bfloat16)
    write_outputs(str(tmp_path / "x"), [a.t(), b, c])  # a non-contiguous view is written contiguously
    manifest = json.loads((tmp_path / "x.json").read_text())["outputs"]
    assert [m["dtype"] for m in manifest] == ["float32", "int64", "bfloat16"]
    assert manifest[0]["shape"] == [2, 2]
    assert [m["offset"] for m in manifest] == [0, 16, 40]
    blob = (tmp_path / "x.bin").read_bytes()
    assert np.frombuffer(blob[:16], dtype=np.float32).view(np.uint32).tolist() == a.t().contiguous().view(torch.int32).numpy().view(np.uint32).reshape(-1).tolist()
    assert np.frombuffer(blob[16:40], dtype=np.int64).tolist() == [1, 2, 3]
    assert np.frombuffer(blob[40:44], dtype=np.uint16).tolist() == c.view(torch.int16).numpy().view(np.uint16).tolist()


def test_scalars_and_arrays_become_tensors():
    outs = as_output_list((np.float32(2.5), np.arange(3), 7))
    assert [tuple(t.shape) for t in outs] == [(), (3,), ()]
    assert outs[0].dtype == torch.float32


def test_bit_equal_sees_nan_payloads_and_signed_zero():
    a = torch.tensor([0.0, float("nan")])
    assert bit_equal(a, a.clone())
    assert not bit_equal(a, torch.tensor([-0.0, float("nan")]))


def test_spans_overlap_for_views_and_neighbours():
    base = torch.empty(100)
    assert spans_overlap(base[10:20], base[15:30])
    assert not spans_overlap(base[0:10], base[10:20])
    assert spans_overlap(base.view(10, 10)[:, 0], base[55:56])
    assert not spans_overlap(torch.empty(4), torch.empty(4))
    assert not spans_overlap(torch.empty(0), base)
