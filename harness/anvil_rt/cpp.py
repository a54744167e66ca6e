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
