"""The dispatch guard: records every framework operator that runs during a candidate's forward.

It works at the ATen dispatcher, below both `torch.mul(x, x)` and `x.mul(x)`, so tensor methods,
operators (`x * y`), `torch.nn.functional` and `nn.Module` layers are all seen. Only allocation,
view and metadata operators are allowed: a candidate's compute must happen in its kernels.
"""

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
    """Traces the reference: every operator in order with its tensor shapes (for describe)."""

    def __init__(self, describe_value):
        super().__init__()
        self.ops = []
        self._describe = describe_value

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        self.ops.append(
            {
                "op": f"aten::{op_name(func)}",
                "overload": func._overloadname,
                "inputs": [_summary(a, self._describe) for a in args],
                "outputs": [_summary(r, self._describe) for r in (result if isinstance(result, (tuple, list)) else [result])],
            }
        )
        return result


def _summary(value, describe_value):
    try:
        return describe_value(value)
    except Exception:  # an exotic argument (a dtype, a device): its repr is enough for a trace
        return {"kind": "object", "repr": repr(value)[:100]}
