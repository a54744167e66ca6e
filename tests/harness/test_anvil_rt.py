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
