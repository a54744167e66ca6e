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
    names = task.forward_parameter_names(len(inputs))
    with torch.no_grad():
        if task.frontend == "torch":
            ops, result, describe_tensor = _trace_torch(reference, inputs, names)
        else:
            ops, result = _trace_numpy(reference, inputs)
            describe_tensor = describe_value
    return {
        "task": task.path,
        "frontend": task.frontend,
        "init_inputs": [describe_value(v) for v in task.init_inputs()],
        "inputs": [dict(describe_tensor(v), name=n) for n, v in zip(names, inputs)],
        "outputs": [describe_tensor(t) for t in as_output_list(result)],
        "dynamic_dims": dims,
        "parameters": _parameters(reference, describe_tensor),
        "op_graph": ops,
    }


def _trace_torch(model, inputs, names):
    """Runs the reference under the recorder. Returns the operators, the result, and a describer
    that gives inputs, parameters and outputs the ids the operators refer to them by."""
    recorder = OpRecorder(describe_value)
    for name, value in zip(names, inputs):
        if isinstance(value, torch.Tensor):
            recorder.name(value, name)
    if isinstance(model, torch.nn.Module):
        for name, value in _named_tensors(model):
            recorder.name(value, name)
    with recorder:
        result = model(*inputs)
    return recorder.ops, result, recorder.summary


def _named_tensors(module):
    return list(module.named_parameters()) + list(module.named_buffers())


def _parameters(reference, describe_tensor):
    if not isinstance(reference, torch.nn.Module):
        return []
    return [
        {"name": n, "shape": list(t.shape), "dtype": describe_value(t)["dtype"], "id": describe_tensor(t).get("id")}
        for n, t in _named_tensors(reference)
    ]


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
