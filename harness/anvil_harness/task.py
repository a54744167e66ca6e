"""Loading a task file: KernelBench torch tasks, dynamic-shape tasks and NumPy tasks.

A torch task defines `class Model`, `get_inputs()` and optionally `get_init_inputs()`.
A dynamic task also defines `dynamic_dims()` -> {name: (low, high)} and takes those names
as keyword arguments (with defaults) of `get_inputs`. A NumPy task defines
`reference(*inputs)` instead of `Model`.
"""

import importlib.util
import inspect
import os
import random
import sys

import numpy as np
import torch

from .errors import HarnessError


def seed_everything(seed):
    """Seeds every generator a task may draw from, so two processes build equal inputs."""
    seed = int(seed) % (2**32)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_module(path, module_name):
    """Imports a Python file as a fresh module, with its folder importable (KernelBench style)."""
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise HarnessError("usage", f"file not found: {path}")
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


class Task:
    """A loaded task file and the operations the Verifier needs from it."""

    def __init__(self, path):
        self.path = os.path.abspath(path)
        try:
            self.module = load_module(self.path, "anvil_task")
        except HarnessError:
            raise
        except Exception as exc:  # the task itself is broken: a usage error, not a verdict
            raise HarnessError("usage", f"cannot import task {self.path}: {type(exc).__name__}: {exc}") from exc
        self.frontend = self._detect_frontend()
        if not callable(getattr(self.module, "get_inputs", None)):
            raise HarnessError("usage", f"task {self.path} defines no get_inputs()")

    def _detect_frontend(self):
        if hasattr(self.module, "Model"):
            return "torch"
        if callable(getattr(self.module, "reference", None)):
            return "numpy"
        raise HarnessError("usage", f"task {self.path} defines neither class Model nor reference(*inputs)")

    def init_inputs(self):
        get_init = getattr(self.module, "get_init_inputs", None)
        return list(get_init()) if callable(get_init) else []

    def dynamic_dims(self):
        """[{name, low, high, default}] from dynamic_dims() and get_inputs' defaults."""
        declare = getattr(self.module, "dynamic_dims", None)
        if not callable(declare):
            return []
        params = inspect.signature(self.module.get_inputs).parameters
        dims = []
        for name, bounds in declare().items():
            low, high = (int(b) for b in bounds)
            if low < 0 or high < low:
                raise HarnessError("usage", f"dynamic dim {name!r} has an empty range ({low}, {high})")
            if name not in params or params[name].default is inspect.Parameter.empty:
                raise HarnessError(
                    "usage",
                    f"dynamic dim {name!r} must be a keyword argument of get_inputs with a default value",
                )
            default = int(params[name].default)
            if not low <= default <= high:
                raise HarnessError("usage", f"default {default} of dynamic dim {name!r} is outside ({low}, {high})")
            dims.append({"name": name, "low": low, "high": high, "default": default})
        return dims

    def make_inputs(self, dims, seed):
        seed_everything(seed)
        return list(self.module.get_inputs(**dims))

    def make_reference(self, seed):
        """A callable computing the reference: the Model instance, or the NumPy function."""
        if self.frontend == "numpy":
            return self.module.reference
        seed_everything(seed)
        return self.module.Model(*self.init_inputs())

    def forward_parameter_names(self, count):
        target = self.module.reference if self.frontend == "numpy" else self.module.Model.forward
        names = [p for p in inspect.signature(target).parameters if p != "self"]
        return [names[i] if i < len(names) else f"input{i}" for i in range(count)]
