"""The Anthropic SDK's async client, without the rest of the SDK: start-up is part of every evaluation.

`import anthropic` runs the package's `__init__`, which loads every client (Vertex, Bedrock, Foundry, AWS),
every helper and every type: seconds on a busy machine. And the SDK's own modules import its `types` and
`resources` packages, whose `__init__`s import some 2,000 modules to re-export their names. So we load the
SDK's packages lazily: the `anthropic` package is a bare entry, and a package whose `__init__` only re-exports
names of its own submodules is an entry that imports the one submodule a name asks for. Any other name runs
the real `__init__` first, so `import anthropic; anthropic.X` elsewhere still works. Every module that does
run is the SDK's own, unchanged. Should the SDK's layout change, we fall back to `import anthropic`.
"""

from __future__ import annotations

import ast
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
import types
from typing import Any

NAMES = ("AsyncAnthropic", "APIError", "APIStatusError", "APITimeoutError", "APIConnectionError",
         "APIResponseValidationError")
PACKAGE = "anthropic"

_lock = threading.Lock()
_loaded: types.SimpleNamespace | None = None


def reexports(source: str) -> tuple[dict[str, tuple[str, str]], list[str] | None] | None:
    """What a package `__init__` re-exports, name -> (submodule, name in it), and its literal `__all__`, when that
    is all it does (a docstring and `from __future__` aside); None when it does anything else."""
    table: dict[str, tuple[str, str]] = {}
    everything = None
    for node in ast.parse(source).body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__all__"]:
            everything = list(ast.literal_eval(node.value))
            continue
        if not (isinstance(node, ast.ImportFrom) and node.level == 1 and node.module):
            return None
        for alias in node.names:
            if alias.name == "*":
                return None
            table[alias.asname or alias.name] = (node.module, alias.name)
    submodules = {module.split(".")[0] for module, _ in table.values()}
    return None if submodules & set(table) else (table, everything)  # a name shadows a submodule: load as written


class LazyPackage(importlib.abc.Loader):
    """Loads a package as an entry that imports a submodule only when a name it re-exports is asked for, and
    runs the real `__init__` (`real`) the first time any other name is asked for."""

    def __init__(self, real: importlib.abc.Loader, names: dict[str, tuple[str, str]], everything: list[str] | None):
        self.real, self.names, self.everything = real, names, everything

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        if self.everything is not None:
            module.__all__ = self.everything

        def answer(name: str) -> Any:
            if name in self.names:
                submodule, attribute = self.names[name]
                value = getattr(importlib.import_module(f"{module.__name__}.{submodule}"), attribute)
                setattr(module, name, value)
                return value
            if name.isidentifier() and not name.startswith("__") \
                    and importlib.util.find_spec(f"{module.__name__}.{name}") is not None:
                return importlib.import_module(f"{module.__name__}.{name}")  # a submodule, as after a plain import
            module.__dict__.pop("__getattr__", None)
            self.real.exec_module(module)
            return getattr(module, name)

        module.__getattr__ = answer  # type: ignore[attr-defined]


class LazyFinder(importlib.abc.MetaPathFinder):
    """Finds the SDK's packages as the other finders do, and loads the top one bare and the re-exporting ones lazily."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name != PACKAGE and not name.startswith(PACKAGE + "."):
            return None
        spec = next((found for finder in sys.meta_path if finder is not self and hasattr(finder, "find_spec")
                     for found in [finder.find_spec(name, path, target)] if found is not None), None)
        if spec is None or spec.submodule_search_locations is None or spec.loader is None or not spec.has_location:
            return spec
        if name == PACKAGE:
            spec.loader = LazyPackage(spec.loader, {}, None)
            return spec
        try:
            source = spec.loader.get_source(name)  # type: ignore[attr-defined]
            found = reexports(source) if source is not None else None
        except (AttributeError, ImportError, OSError, SyntaxError, ValueError):  # no source to read: load as written
            found = None
        if found is not None:
            spec.loader = LazyPackage(spec.loader, *found)
        return spec


def _load_lean() -> types.SimpleNamespace:
    """The client and its exceptions, from the SDK's own modules, loading only the packages' parts they use."""
    if importlib.util.find_spec(PACKAGE) is None:
        raise ImportError("the anthropic package is not installed")
    finder = LazyFinder()
    sys.meta_path.insert(0, finder)
    try:
        client = importlib.import_module("anthropic._client")
        errors = importlib.import_module("anthropic._exceptions")
        importlib.import_module("anthropic._utils._logs").setup_logging()  # as the package __init__ does
    except BaseException:
        sys.meta_path.remove(finder)
        raise
    return types.SimpleNamespace(**{name: getattr(client, name, None) or getattr(errors, name) for name in NAMES})


def _load() -> types.SimpleNamespace:
    if PACKAGE in sys.modules:  # already imported whole: nothing to save
        full = sys.modules[PACKAGE]
        return types.SimpleNamespace(**{name: getattr(full, name) for name in NAMES})
    try:
        return _load_lean()
    except Exception:  # a layout we do not know: the whole package, as documented
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]
        full = importlib.import_module(PACKAGE)
        return types.SimpleNamespace(**{name: getattr(full, name) for name in NAMES})


def client_sdk() -> Any:
    """The async client class and the exception classes the backend catches (loaded once, thread-safe)."""
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = _load()
        return _loaded
