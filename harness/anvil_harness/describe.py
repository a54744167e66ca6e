"""`describe`: the TaskSpec of a task, with the operator graph traced from one reference run."""

import numpy as np
import torch

from .guard import OpRecorder
from .tensors import as_output_list, describe_value


def describe(task, seed):
    dims = task.dynamic_dims()
    defaults = {d["name"]: d["default"] for d in dims}
    inputs = task.make_inputs(defaults, seed)
    reference = task.make_reference(seed)
    with torch.no_grad():
        if task.frontend == "torch":
            ops, result = _trace_torch(reference, inputs)
        else:
            ops, result = _trace_numpy(reference, inputs)
    names = task.forward_parameter_names(len(inputs))
    return {
        "task": task.path,
        "frontend": task.frontend,
        "init_inputs": [describe_value(v) for v in task.init_inputs()],
        "inputs": [dict(describe_value(v), name=n) for n, v in zip(names, inputs)],
        "outputs": [describe_value(t) for t in as_output_list(result)],
        "dynamic_dims": dims,
        "parameters": _parameters(reference),
        "op_graph": ops,
    }


def _trace_torch(model, inputs):
    recorder = OpRecorder(describe_value)
    with recorder:
        result = model(*inputs)
    return recorder.ops, result


def _parameters(reference):
    if not isinstance(reference, torch.nn.Module):
        return []
    named = list(reference.named_parameters()) + list(reference.named_buffers())
    return [{"name": n, "shape": list(t.shape), "dtype": describe_value(t)["dtype"]} for n, t in named]


class _TracedArray(np.ndarray):
    """An ndarray that reports each NumPy function and ufunc applied to it (NEP 13 and NEP 18)."""

    ops = None

    def __array_ufunc__(self, ufunc, method, *args, **kwargs):
        result = getattr(ufunc, method)(*_plain(args), **_plain(kwargs))
        name = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
        return _record(name, args, result)

    def __array_function__(self, func, types, args, kwargs):
        result = func(*_plain(args), **_plain(kwargs))
        return _record(f"numpy.{func.__name__}", args, result)


def _plain(value):
    if isinstance(value, _TracedArray):
        return value.view(np.ndarray)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _traced(value):
    if isinstance(value, np.ndarray) and not isinstance(value, _TracedArray):
        return value.view(_TracedArray)
    if isinstance(value, tuple):
        return tuple(_traced(v) for v in value)
    return value


def _record(name, args, result):
    flat = [a for a in args if isinstance(a, (np.ndarray, np.generic, int, float))]
    results = result if isinstance(result, tuple) else (result,)
    _TracedArray.ops.append(
        {
            "op": name,
            "inputs": [describe_value(np.asarray(_plain(a))) for a in flat],
            "outputs": [describe_value(np.asarray(_plain(r))) for r in results if r is not None],
        }
    )
    return _traced(result)


def _trace_numpy(reference, inputs):
    _TracedArray.ops = []
    try:
        result = reference(*[_traced(v) for v in inputs])
        return _TracedArray.ops, _plain(result)
    finally:
        _TracedArray.ops = None
