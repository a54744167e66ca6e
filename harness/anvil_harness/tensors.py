"""Values crossing process boundaries: outputs are written as a JSON manifest plus raw bytes.

The C++ Verifier reads these files (src/verify/tensor_file.cpp) and applies the metric; the
layout is: `<prefix>.json` = {"outputs": [{dtype, shape, offset, nbytes}]}, `<prefix>.bin` =
the tensors' contiguous little-endian bytes, one after another.
"""

import json

import numpy as np
import torch

from .errors import HarnessError

DTYPE_NAMES = {
    torch.float16: "float16",
    torch.bfloat16: "bfloat16",
    torch.float32: "float32",
    torch.float64: "float64",
    torch.int8: "int8",
    torch.uint8: "uint8",
    torch.int16: "int16",
    torch.int32: "int32",
    torch.int64: "int64",
    torch.bool: "bool",
}

# Same-width integer types, so any tensor can be compared bit for bit.
_BIT_VIEWS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def dtype_name(dtype):
    if dtype not in DTYPE_NAMES:
        raise HarnessError("api", f"unsupported dtype {dtype}: supported are {sorted(DTYPE_NAMES.values())}")
    return DTYPE_NAMES[dtype]


def as_tensor(value):
    """Converts an output value (tensor, NumPy array, Python or NumPy scalar) to a CPU tensor."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, (bool, int, float, np.generic)):
        return torch.tensor(np.asarray(value))
    raise HarnessError("api", f"an output has type {type(value).__name__}; expected tensors, arrays or scalars")


def as_output_list(result):
    if isinstance(result, (tuple, list)):
        return [as_tensor(v) for v in result]
    return [as_tensor(result)]


def to_candidate_value(value):
    """NumPy tasks: the candidate receives tensors (sharing memory with the arrays)."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    return value


def write_outputs(prefix, tensors):
    entries = []
    offset = 0
    with open(prefix + ".bin", "wb") as blob:
        for tensor in tensors:
            raw = tensor.detach().cpu().contiguous()
            name = dtype_name(raw.dtype)
            data = raw.view(_BIT_VIEWS[raw.element_size()]).numpy().tobytes() if raw.dtype != torch.bool else raw.numpy().tobytes()
            blob.write(data)
            entries.append({"dtype": name, "shape": list(raw.shape), "offset": offset, "nbytes": len(data)})
            offset += len(data)
    with open(prefix + ".json", "w") as manifest:
        json.dump({"outputs": entries}, manifest)


def describe_value(value):
    if isinstance(value, torch.Tensor):
        return {"kind": "tensor", "shape": list(value.shape), "dtype": dtype_name(value.dtype)}
    if isinstance(value, np.ndarray):
        return {"kind": "tensor", "shape": list(value.shape), "dtype": str(value.dtype)}
    if isinstance(value, (bool, int, float, str)) or value is None:
        return {"kind": "scalar", "type": type(value).__name__, "value": value}
    if isinstance(value, (tuple, list)):
        return {"kind": "sequence", "items": [describe_value(v) for v in value]}
    return {"kind": "object", "type": type(value).__name__, "repr": repr(value)[:200]}


def snapshot(values):
    return [v.detach().clone() if isinstance(v, torch.Tensor) else None for v in values]


def bit_equal(a, b):
    """Equality that treats NaN payloads as data: an input is unchanged only if every bit is."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype == torch.bool:
        return torch.equal(a, b)
    view = _BIT_VIEWS[a.element_size()]
    return torch.equal(a.contiguous().view(view), b.contiguous().view(view))


def memory_span(tensor):
    """[start, end) byte range a tensor may touch (torch strides are never negative)."""
    if tensor.numel() == 0:
        return None
    start = tensor.data_ptr()
    reach = sum((size - 1) * stride for size, stride in zip(tensor.shape, tensor.stride()))
    return (start, start + (reach + 1) * tensor.element_size())


def spans_overlap(a, b):
    sa, sb = memory_span(a), memory_span(b)
    if sa is None or sb is None:
        return False
    return sa[0] < sb[1] and sb[0] < sa[1]
