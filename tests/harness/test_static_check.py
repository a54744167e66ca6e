"""Static checks: each rule fires on the pattern it names and stays quiet on clean candidates."""

import textwrap

from anvil_harness.static_check import check_source

CLEAN = textwrap.dedent(
    """
    import ctypes
    import torch
    import torch.nn as nn
    from anvil_rt import cpp

    _lib = cpp.load("extern \\"C\\" void k(float* y) {}")

    class ModelNew(nn.Module):
        def __init__(self, n):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(n))   # framework set-up in __init__ is fine

        def forward(self, x):
            y = torch.empty_like(x)
            _lib.k(ctypes.c_void_p(y.data_ptr()))
            return y.view(-1)
    """
)


def rules(source):
    violations, api_error = check_source(textwrap.dedent(source))
    assert api_error is None, api_error
    return [v["rule"] for v in violations]


def with_forward(body):
    return CLEAN.replace("        y = torch.empty_like(x)\n", textwrap.indent(textwrap.dedent(body), " " * 8))


def test_clean_candidate_passes():
    assert rules(CLEAN) == []


def test_torch_compute_call_in_forward():
    assert rules(with_forward("z = torch.matmul(x, x)\ny = torch.empty_like(x)\n")) == ["framework-call"]


def test_functional_aliases_are_tracked():
    source = "from torch.nn import functional as G\n" + with_forward("y = G.relu(x)\n")
    assert "framework-call" in rules(source)
    assert "framework-call" in rules(with_forward("y = torch.nn.functional.relu(x)\n"))


def test_numpy_compute_call():
    source = "import numpy as np\n" + with_forward("y = np.exp(x.numpy())\n")
    assert "framework-call" in rules(source)


def test_allocation_calls_are_allowed():
    assert rules(with_forward("y = torch.zeros(3)\ny = torch.empty(4, dtype=torch.float32)\n")) == []


def test_try_except_anywhere():
    assert rules(CLEAN + "\ntry:\n    pass\nexcept Exception:\n    pass\n") == ["try-except"]


def test_forbidden_imports_and_builtins():
    assert rules("import os\n" + CLEAN) == ["import"]
    assert rules("import subprocess\n" + CLEAN) == ["import"]
    assert "relative imports" in check_source("from . import task\n" + CLEAN)[0][0]["message"]
    assert rules(with_forward("data = open('/tmp/ref.bin').read()\ny = torch.empty_like(x)\n")) == ["builtin"]
    assert "builtin" in rules(with_forward("f = getattr(torch, 'mul')\ny = torch.empty_like(x)\n"))


def test_input_is_a_fine_parameter_name_but_not_a_call():
    source = CLEAN.replace("def forward(self, x):", "def forward(self, input):").replace("empty_like(x)", "empty_like(input)")
    assert rules(source) == []
    assert rules(with_forward("s = input()\ny = torch.empty_like(x)\n")) == ["builtin"]


def test_numpy_views_hide_compute_from_the_guard():
    assert rules(with_forward("y = torch.empty_like(x)\ny.numpy()[:] = x.numpy() * 2.0\n")) == [
        "framework-call",
        "framework-call",
    ]


def test_loading_results_and_frame_tricks():
    assert "loader" in rules(with_forward("y = torch.load('out.pt')\n"))
    assert "attribute" in rules(with_forward("g = self.forward.__globals__\ny = torch.empty_like(x)\n"))


def test_subclassing_model():
    assert "subclass-model" in rules(CLEAN.replace("class ModelNew(nn.Module)", "class ModelNew(Model)"))


def test_violations_carry_line_and_column():
    violations, _ = check_source(with_forward("z = torch.mul(x, x)\ny = torch.empty_like(x)\n"))
    assert violations[0]["line"] == 15
    assert violations[0]["column"] == 13


def test_missing_model_new_and_syntax_errors_are_api_errors():
    assert "defines no class ModelNew" in check_source("import torch\n")[1]
    assert "syntax error" in check_source("def broken(:\n")[1]
