"""The dispatch guard: records every framework operator that runs during a candidate's forward.

It works at the ATen dispatcher, below both `torch.mul(x, x)` and `x.mul(x)`, so tensor methods,
operators (`x * y`), `torch.nn.functional` and `nn.Module` layers are all seen. Only allocation,
view and metadata operators are allowed: a candidate's compute must happen in its kernels.
"""

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# ATen operator names (overload packet names) that allocate, view or only read metadata.
ALLOWED_OPS = frozenset(
    {
        # allocation
        "empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided",
        "zeros", "zeros_like", "new_zeros", "zero_", "resize_",
        # views: no data is read or written
        "view", "_unsafe_view", "_reshape_alias", "reshape", "as_strided", "alias", "detach",
        "t", "transpose", "permute", "unsqueeze", "squeeze", "expand", "slice", "select",
        "narrow", "split", "split_with_sizes", "chunk", "unbind", "unfold", "diagonal",
        "view_as_real", "view_as_complex", "movedim", "flatten", "unflatten",
        # metadata
        "sym_size", "sym_stride", "sym_numel", "sym_storage_offset", "is_contiguous",
        "size", "stride", "dim", "numel", "is_same_size",
    }
)


def op_name(func):
    return func.overloadpacket.__name__


class DispatchGuard(TorchDispatchMode):
    """Collects the names of disallowed operators; it never blocks, so the report lists them all."""

    def __init__(self):
        super().__init__()
        self.violations = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = op_name(func)
        if name not in ALLOWED_OPS and name not in self.violations:
            self.violations.append(name)
        return func(*args, **(kwargs or {}))

    def violation_records(self, where):
        return [
            {
                "rule": "framework-op",
                "message": f"framework operator aten::{name} ran during {where}; compute must happen in the "
                "candidate's own kernels (allowed: allocation, views, metadata)",
            }
            for name in self.violations
        ]


class OpRecorder(TorchDispatchMode):
    """Traces the reference: every operator in order with its arguments (for describe). Each
    tensor gets an integer `id`, so the trace is a data-flow graph: an operator's input with the
    id of an earlier operator's output reads that result. Tensors named with `name()` (forward's
    inputs, the model's parameters) carry their name too."""

    def __init__(self, describe_value):
        super().__init__()
        self.ops = []
        self._describe = describe_value
        self._ids = {}  # id(tensor) -> number; the tensors are kept alive so ids are never reused
        self._alive = []
        self._names = {}

    def name(self, tensor, name):
        self._names[self.tensor_id(tensor)] = name

    def tensor_id(self, tensor):
        key = id(tensor)
        if key not in self._ids:
            self._ids[key] = len(self._ids)
            self._alive.append(tensor)
        return self._ids[key]

    def summary(self, value):
        described = _summary(value, self._describe)
        if isinstance(value, torch.Tensor):
            described["id"] = self.tensor_id(value)
            if described["id"] in self._names:
                described["ref"] = self._names[described["id"]]
        elif isinstance(value, (tuple, list)) and described.get("kind") == "sequence":
            described["items"] = [self.summary(v) for v in value]
        return described

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        results = result if isinstance(result, (tuple, list)) else [result]
        record = {
            "op": f"aten::{op_name(func)}",
            "overload": func._overloadname,
            "inputs": [self.summary(a) for a in args],
            "outputs": [self.summary(r) for r in results],
        }
        if kwargs:
            record["kwargs"] = {k: self.summary(v) for k, v in kwargs.items()}
        self.ops.append(record)
        return result


def _summary(value, describe_value):
    try:
        return describe_value(value)
    except Exception:  # an exotic argument (a dtype, a device): its repr is enough for a trace
        return {"kind": "object", "repr": repr(value)[:100]}
