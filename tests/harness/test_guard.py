"""The dispatch guard sees compute however it is spelled, and lets allocation and views through."""

import torch
import torch.nn.functional as F

from anvil_harness.guard import DispatchGuard


def ops_during(fn):
    guard = DispatchGuard()
    with torch.no_grad(), guard:
        fn()
    return guard.violations


X = torch.randn(8, 8)


def test_function_method_and_operator_forms_are_all_seen():
    assert ops_during(lambda: torch.mul(X, X)) == ["mul"]
    assert ops_during(lambda: X.mul(X)) == ["mul"]
    assert ops_during(lambda: X * X) == ["mul"]
    assert ops_during(lambda: F.relu(X)) == ["relu"]
    assert ops_during(lambda: torch.nn.Linear(8, 8)(X)) != []


def test_copies_and_scalar_reads_are_compute():
    assert ops_during(lambda: X.t().contiguous()) == ["clone"]
    assert ops_during(lambda: X.sum().item()) == ["sum", "_local_scalar_dense"]
    assert ops_during(lambda: X.to(torch.float64)) == ["_to_copy"]


def test_allocation_views_and_metadata_are_allowed():
    def allowed():
        y = torch.empty_like(X)
        torch.zeros(3)
        y.view(64).reshape(8, 8).t().unsqueeze(0).squeeze(0)
        X[1:3, 2]
        X.size(0), X.shape, X.stride(), X.is_contiguous(), X.data_ptr()
        X.contiguous()  # already contiguous: no copy happens

    assert ops_during(allowed) == []


def test_recorder_links_operators_by_tensor_ids():
    from anvil_harness.guard import OpRecorder
    from anvil_harness.tensors import describe_value

    x = torch.randn(4, 6)
    recorder = OpRecorder(describe_value)
    recorder.name(x, "x")
    with torch.no_grad(), recorder:
        torch.softmax(x * 2.0, dim=1)
    mul, softmax = recorder.ops
    assert mul["op"] == "aten::mul" and mul["inputs"][0]["ref"] == "x"
    assert mul["inputs"][1] == {"kind": "scalar", "type": "float", "value": 2.0}
    # softmax reads the product: the same id links the two operators.
    assert softmax["inputs"][0]["id"] == mul["outputs"][0]["id"] != mul["inputs"][0]["id"]
    assert softmax["inputs"][1]["value"] == 1
