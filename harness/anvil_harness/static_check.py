"""Static checks on a candidate's source, before any of its code runs.

These are the first line of the anti-reward-hacking protocol (DESIGN.md, verification step 1);
the dispatch guard is the authoritative second line for what actually runs in forward.
"""

import ast

ALLOWED_IMPORTS = {
    "torch", "torch.nn", "torch.nn.functional", "numpy", "ctypes", "math", "typing", "functools",
    "itertools", "dataclasses", "__future__", "anvil_rt", "anvil_rt.cpp", "triton", "triton.language",
}

# torch.<name>(...) calls a candidate may make outside __init__: allocation and metadata.
ALLOWED_TORCH_CALLS = {
    "empty", "empty_like", "empty_strided", "zeros", "zeros_like", "Size", "device", "is_tensor",
    "get_num_threads", "finfo", "iinfo",
}
ALLOWED_NUMPY_CALLS = {"empty", "empty_like", "zeros", "zeros_like", "dtype", "finfo", "iinfo"}

FORBIDDEN_BUILTINS = {
    "open": "reads or writes files",
    "eval": "executes hidden code",
    "exec": "executes hidden code",
    "compile": "executes hidden code",
    "__import__": "imports modules around the import allow-list",
    "globals": "reaches other modules' state",
    "locals": "reaches other frames' state",
    "vars": "reaches other objects' state",
    "getattr": "hides which attribute is used",
    "setattr": "patches objects at run time",
    "delattr": "patches objects at run time",
    "breakpoint": "stops the process",
    "input": "reads standard input",
}

# Names that are also ordinary parameter names (`def forward(self, input)`): only a call is flagged.
CALL_ONLY_BUILTINS = {"input", "vars", "compile"}

# Methods that move data out of the framework's sight (the dispatch guard cannot see NumPy).
FORBIDDEN_METHODS = {"numpy": "hides compute from the dispatch guard: pass data_ptr() to a kernel instead",
                     "tolist": "computes in Python: pass data_ptr() to a kernel instead"}

FORBIDDEN_ATTRIBUTES = {
    "__globals__", "__builtins__", "__subclasses__", "__code__", "__closure__", "f_back", "f_globals",
    "f_locals", "_getframe", "__dict__", "_python_dispatch", "_C", "environ",
}

# Deserialising data can smuggle precomputed results in, wherever it appears.
FORBIDDEN_LOADERS = {("torch", "load"), ("np", "load"), ("numpy", "load"), ("np", "fromfile"), ("numpy", "fromfile")}

TORCH_ALIASES = {"torch"}
NUMPY_ALIASES = {"np", "numpy"}


class _Checker(ast.NodeVisitor):
    def __init__(self):
        self.violations = []
        self.function_stack = []
        self.defines_model_new = False
        self.functional_aliases = {"F"}

    def add(self, node, rule, message):
        self.violations.append({"rule": rule, "line": node.lineno, "column": node.col_offset + 1, "message": message})

    def visit_Import(self, node):
        for alias in node.names:
            self._check_import(node, alias.name)
            if alias.name == "torch.nn.functional" and alias.asname:
                self.functional_aliases.add(alias.asname)

    def visit_ImportFrom(self, node):
        module = node.module or ""
        if node.level:
            self.add(node, "import", "relative imports are not allowed in a candidate")
            return
        self._check_import(node, module)
        for alias in node.names:
            if module == "torch.nn" and alias.name == "functional":
                self.functional_aliases.add(alias.asname or alias.name)

    def _check_import(self, node, name):
        if name not in ALLOWED_IMPORTS:
            self.add(node, "import", f"import of {name!r} is not allowed (allowed: {', '.join(sorted(ALLOWED_IMPORTS))})")

    def visit_Try(self, node):
        self.add(node, "try-except", "try/except is not allowed: it can hide a fallback to framework code")
        self.generic_visit(node)

    visit_TryStar = visit_Try

    def visit_ClassDef(self, node):
        if node.name == "ModelNew":
            self.defines_model_new = True
            for base in node.bases:
                if isinstance(base, ast.Name) and base.id == "Model":
                    self.add(node, "subclass-model", "ModelNew must not subclass the reference Model")
        self.generic_visit(node)

    def visit_FunctionDef(self, node):
        self.function_stack.append(node.name)
        self.generic_visit(node)
        self.function_stack.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Attribute(self, node):
        if node.attr in FORBIDDEN_ATTRIBUTES:
            self.add(node, "attribute", f"access to .{node.attr} is not allowed in a candidate")
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id in FORBIDDEN_BUILTINS and node.id not in CALL_ONLY_BUILTINS:
            self.add(node, "builtin", f"{node.id} is not allowed in a candidate: it {FORBIDDEN_BUILTINS[node.id]}")

    def visit_Call(self, node):
        if isinstance(node.func, ast.Name) and node.func.id in CALL_ONLY_BUILTINS:
            name = node.func.id
            self.add(node, "builtin", f"{name}() is not allowed in a candidate: it {FORBIDDEN_BUILTINS[name]}")
        if isinstance(node.func, ast.Attribute) and node.func.attr in FORBIDDEN_METHODS and self._in_compute_function():
            method = node.func.attr
            self.add(node, "framework-call", f".{method}() {FORBIDDEN_METHODS[method]}")
        chain = tuple(_attribute_chain(node.func))
        if chain in FORBIDDEN_LOADERS:
            self.add(node, "loader", f"{'.'.join(chain)}() is not allowed: a candidate computes its outputs, it does not load them")
        if self._in_compute_function():
            self._check_framework_call(node)
        self.generic_visit(node)

    def _in_compute_function(self):
        # Weight set-up in __init__ may use the framework; everything that can run in forward may not.
        return bool(self.function_stack) and "__init__" not in self.function_stack

    def _check_framework_call(self, node):
        chain = _attribute_chain(node.func)
        if len(chain) < 2:
            return
        root, name = chain[0], chain[-1]
        if (root in TORCH_ALIASES and chain[1:3] == ["nn", "functional"]) or root in self.functional_aliases:
            self.add(node, "framework-call", f"{'.'.join(chain)}() is framework compute; write it in a kernel")
        elif root in TORCH_ALIASES and len(chain) == 2 and name not in ALLOWED_TORCH_CALLS:
            self.add(node, "framework-call", f"torch.{name}() is framework compute; write it in a kernel")
        elif root in NUMPY_ALIASES and len(chain) == 2 and name not in ALLOWED_NUMPY_CALLS:
            self.add(node, "framework-call", f"{root}.{name}() is NumPy compute; write it in a kernel")


def _attribute_chain(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return list(reversed(parts))
    return []


def check_source(source, filename="candidate.py"):
    """Returns (violations, api_error): api_error is a message when the file is not a candidate."""
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        return [], f"{filename}:{exc.lineno}:{exc.offset}: syntax error: {exc.msg}"
    checker = _Checker()
    checker.visit(tree)
    if not checker.defines_model_new:
        return checker.violations, f"{filename} defines no class ModelNew"
    return checker.violations, None
