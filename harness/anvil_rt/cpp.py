"""Build C++ kernel sources into shared objects and load them with ctypes.

    from anvil_rt import cpp
    lib = cpp.load(SOURCE)            # g++ -O3 -march=native -fopenmp -shared -fPIC
    lib.my_kernel(ctypes.c_void_p(x.data_ptr()), ctypes.c_int64(x.numel()))

Shared objects are cached by a hash of source, compiler, compiler version and flags, so a
candidate is compiled once per machine however many processes load it. Settings come from the
environment the Verifier prepares: ANVIL_CXX, ANVIL_CXXFLAGS, ANVIL_CACHE_DIR, ANVIL_BUILD_LOG.
"""

import ctypes
import hashlib
import os
import shlex
import subprocess
import tempfile

DEFAULT_CXX = "g++"
DEFAULT_FLAGS = "-O3 -march=native -fopenmp -shared -fPIC"


class CompileError(RuntimeError):
    """A kernel source did not compile; `output` holds the compiler's diagnostics."""

    def __init__(self, command, output):
        self.command = command
        self.output = output
        errors = [line for line in output.splitlines() if "error" in line]
        headline = errors[0] if errors else "the compiler exited with an error"
        super().__init__(f"C++ compilation failed: {headline}\n$ {' '.join(command)}\n{output}")


def compiler():
    return os.environ.get("ANVIL_CXX", DEFAULT_CXX)


def flags():
    return shlex.split(os.environ.get("ANVIL_CXXFLAGS", DEFAULT_FLAGS))


def cache_dir():
    default = os.path.join(os.path.expanduser("~"), ".cache", "anvil", "cpp")
    return os.environ.get("ANVIL_CACHE_DIR", default)


_version_cache = {}


def _compiler_version(cxx):
    if cxx not in _version_cache:
        done = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=False)
        _version_cache[cxx] = done.stdout.splitlines()[0] if done.returncode == 0 and done.stdout else cxx
    return _version_cache[cxx]


def _log(text):
    path = os.environ.get("ANVIL_BUILD_LOG")
    if path:
        with open(path, "a") as log:
            log.write(text)


def build(source, extra_flags=()):
    """Compiles `source` (or reuses the cached build) and returns the shared object's path."""
    cxx = compiler()
    all_flags = flags() + list(extra_flags)
    key = hashlib.sha256("\0".join([source, cxx, _compiler_version(cxx)] + all_flags).encode()).hexdigest()[:24]
    folder = cache_dir()
    os.makedirs(folder, exist_ok=True)
    target = os.path.join(folder, f"kernel_{key}.so")
    if os.path.exists(target):
        _log(f"cache hit: {target}\n")
        return target
    with tempfile.TemporaryDirectory(prefix="anvil_cpp_") as work:
        src = os.path.join(work, "kernel.cpp")
        with open(src, "w") as f:
            f.write(source)
        partial = os.path.join(folder, f".kernel_{key}.{os.getpid()}.so")
        command = [cxx, *all_flags, src, "-o", partial]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        _log(f"$ {' '.join(command)}\n{done.stdout}{done.stderr}")
        if done.returncode != 0:
            raise CompileError(command, (done.stdout + done.stderr).strip())
        # Rename is atomic: concurrent builders of the same source never see half a file.
        os.replace(partial, target)
    return target


def load(source, extra_flags=()):
    """Compiles (or reuses) `source` and returns it as a ctypes.CDLL."""
    return ctypes.CDLL(build(source, extra_flags))


class SketchKernel:
    """A kernel lowered from a Unified Sketch (`anvil generate --llm builtin`).

    The lowered C++ defines `int ENTRY(void* const* tensors, const int64_t* dims)`: the data of
    every sketch tensor in declaration order, and their shapes concatenated. It returns 0, 1 when
    the shapes disagree with the sketch's declarations, 2 when an index read from data is out of
    range. Calling the kernel checks dtypes and contiguity first, so a wrong tensor is an error
    with its name, never a wild read.
    """

    def __init__(self, source, entry, names, dtypes):
        self.entry = entry
        self.names = list(names)
        self.dtypes = list(dtypes)
        self._function = getattr(load(source), entry)
        self._function.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self._function.restype = ctypes.c_int

    def __call__(self, *tensors):
        if len(tensors) != len(self.names):
            raise TypeError(f"{self.entry} takes {len(self.names)} tensors ({', '.join(self.names)}), got {len(tensors)}")
        for name, dtype, tensor in zip(self.names, self.dtypes, tensors):
            if tensor.dtype != dtype:
                raise TypeError(f"{self.entry}: tensor '{name}' must be {dtype}, got {tensor.dtype}")
            if not tensor.is_contiguous():
                raise ValueError(f"{self.entry}: tensor '{name}' must be contiguous")
        pointers = (ctypes.c_void_p * len(tensors))(*[t.data_ptr() for t in tensors])
        dims = [int(d) for t in tensors for d in t.shape]
        shape_array = (ctypes.c_int64 * max(1, len(dims)))(*dims)
        status = self._function(pointers, shape_array)
        if status == 1:
            shapes = ", ".join(f"{n}{tuple(t.shape)}" for n, t in zip(self.names, tensors))
            raise ValueError(f"{self.entry}: the shapes disagree with the sketch's declarations: {shapes}")
        if status == 2:
            raise IndexError(f"{self.entry}: an index read from the data is out of range")
        if status != 0:
            raise RuntimeError(f"{self.entry} returned status {status}")


def declare_tensor(module, dotted_name, shape, dtype):
    """Declares a parameter (float dtypes) or buffer named like Model's `dotted_name` (e.g.
    "ln.weight"), creating the submodules on the way, so the Verifier can copy Model's values."""
    import torch

    *path, leaf = dotted_name.split(".")
    for part in path:
        if part not in module._modules:
            module.add_module(part, torch.nn.Module())
        module = module._modules[part]
    value = torch.empty(shape, dtype=dtype)
    if value.is_floating_point():
        module.register_parameter(leaf, torch.nn.Parameter(value, requires_grad=False))
    else:
        module.register_buffer(leaf, value)


def tensor_at(module, dotted_name):
    """The parameter or buffer `dotted_name` of a module tree (names may be digits: "0.weight")."""
    *path, leaf = dotted_name.split(".")
    for part in path:
        module = module._modules[part]
    return getattr(module, leaf)
