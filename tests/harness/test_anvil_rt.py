"""anvil_rt.cpp builds real shared objects, caches them, and reports compiler errors."""

import ctypes
import os

import pytest

from anvil_rt import cpp

SOURCE = 'extern "C" int add_one(int v) { return v + 1; }\n'


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ANVIL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ANVIL_BUILD_LOG", str(tmp_path / "build.log"))
    return tmp_path


def test_load_compiles_and_calls(private_cache):
    lib = cpp.load(SOURCE)
    lib.add_one.argtypes = [ctypes.c_int]
    assert lib.add_one(41) == 42
    log = (private_cache / "build.log").read_text()
    assert "-fopenmp" in log and "-march=native" in log


def test_second_load_hits_the_cache(private_cache):
    first = cpp.build(SOURCE)
    mtime = os.path.getmtime(first)
    assert cpp.build(SOURCE) == first
    assert os.path.getmtime(first) == mtime
    assert "cache hit" in (private_cache / "build.log").read_text()


def test_flags_are_part_of_the_cache_key(monkeypatch):
    default = cpp.build(SOURCE)
    monkeypatch.setenv("ANVIL_CXXFLAGS", "-O1 -shared -fPIC")
    assert cpp.build(SOURCE) != default


def test_compile_error_carries_compiler_output():
    with pytest.raises(cpp.CompileError) as info:
        cpp.load('extern "C" int broken() { return missing_symbol; }')
    assert "missing_symbol" in str(info.value)
    assert "missing_symbol" in info.value.output
    assert str(info.value).startswith("C++ compilation failed:")


# A hand-written unit with the ABI of a lowered sketch: y = x + 1 over `n` floats, status 1 when
# the two shapes differ.
SKETCH_ABI = r'''
#include <cstdint>
extern "C" int anvil_add_one(void* const* tensors, const std::int64_t* dims) {
    if (dims[0] != dims[1]) return 1;
    const float* x = static_cast<const float*>(tensors[0]);
    float* y = static_cast<float*>(tensors[1]);
    for (std::int64_t i = 0; i < dims[0]; ++i) y[i] = x[i] + 1.0f;
    return 0;
}
'''


def test_sketch_kernel_passes_pointers_and_shapes():
    import torch

    kernel = cpp.SketchKernel(SKETCH_ABI, "anvil_add_one", ["x", "y"], [torch.float32, torch.float32])
    x = torch.arange(5, dtype=torch.float32)
    y = torch.empty(5)
    kernel(x, y)
    assert torch.equal(y, x + 1)


def test_sketch_kernel_refuses_wrong_dtype_layout_and_shape():
    import torch

    kernel = cpp.SketchKernel(SKETCH_ABI, "anvil_add_one", ["x", "y"], [torch.float32, torch.float32])
    with pytest.raises(TypeError, match="'x' must be torch.float32"):
        kernel(torch.zeros(4, dtype=torch.float64), torch.empty(4))
    with pytest.raises(ValueError, match="'x' must be contiguous"):
        kernel(torch.zeros(4, 2)[:, 0], torch.empty(4))
    with pytest.raises(ValueError, match="disagree"):
        kernel(torch.zeros(4), torch.empty(3))


def test_declared_tensors_mirror_model_names():
    import torch

    model = torch.nn.Module()
    cpp.declare_tensor(model, "ln.weight", [3], torch.float32)
    cpp.declare_tensor(model, "bn.num_batches_tracked", [], torch.int64)
    keys = set(model.state_dict())
    assert keys == {"ln.weight", "bn.num_batches_tracked"}
    assert isinstance(cpp.tensor_at(model, "ln.weight"), torch.nn.Parameter)
    assert cpp.tensor_at(model, "bn.num_batches_tracked").dtype == torch.int64
