"""The Anthropic SDK's async client, without the rest of the SDK: start-up is part of every evaluation.

`import anthropic` runs the package's `__init__`, which loads every client (Vertex, Bedrock, Foundry, AWS),
every helper and every type: seconds on a busy machine. We load the modules the async client needs
(`anthropic._client`, `anthropic._exceptions`) under a bare package entry that runs the real `__init__` only
if some code later asks it for another name. Should the SDK's layout change, we fall back to `import anthropic`.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

NAMES = ("AsyncAnthropic", "APIError", "APIStatusError", "APITimeoutError", "APIConnectionError",
         "APIResponseValidationError")

_lock = threading.Lock()
_loaded: types.SimpleNamespace | None = None


def _load_lean() -> types.SimpleNamespace:
    """The client and its exceptions, from the SDK's own modules, without running the package `__init__`.

    The package entry stays a bare module that completes itself (runs the real `__init__`) the first time
    code asks it for a name it lacks, so `import anthropic; anthropic.X` elsewhere still works.
    """
    spec = importlib.util.find_spec("anthropic")
    if spec is None or spec.submodule_search_locations is None or spec.loader is None:
        raise ImportError("the anthropic package is not installed")
    bare = types.ModuleType("anthropic")
    bare.__path__ = list(spec.submodule_search_locations)
    bare.__spec__, bare.__file__, bare.__package__, bare.__loader__ = spec, spec.origin, "anthropic", spec.loader

    def complete(name: str) -> Any:
        """Run the real package `__init__` in the bare module, once, then answer the name asked for (a
        submodule or a dunder probe is not such a name: the import system asks for those first)."""
        if name.startswith("__") or importlib.util.find_spec(f"anthropic.{name}") is not None:
            raise AttributeError(name)
        bare.__dict__.pop("__getattr__", None)
        spec.loader.exec_module(bare)
        return getattr(bare, name)

    bare.__getattr__ = complete  # type: ignore[attr-defined]
    sys.modules["anthropic"] = bare
    try:
        client = importlib.import_module("anthropic._client")
        errors = importlib.import_module("anthropic._exceptions")
        importlib.import_module("anthropic._utils._logs").setup_logging()  # as the package __init__ does
    except BaseException:
        if sys.modules.get("anthropic") is bare:
            del sys.modules["anthropic"]
        raise
    return types.SimpleNamespace(**{name: getattr(client, name, None) or getattr(errors, name) for name in NAMES})


def _load() -> types.SimpleNamespace:
    if "anthropic" in sys.modules:  # already imported whole: nothing to save
        full = sys.modules["anthropic"]
        return types.SimpleNamespace(**{name: getattr(full, name) for name in NAMES})
    try:
        return _load_lean()
    except Exception:  # a layout we do not know: the whole package, as documented
        for name in [m for m in sys.modules if m == "anthropic" or m.startswith("anthropic.")]:
            del sys.modules[name]
        full = importlib.import_module("anthropic")
        return types.SimpleNamespace(**{name: getattr(full, name) for name in NAMES})


def client_sdk() -> Any:
    """The async client class and the exception classes the backend catches (loaded once, thread-safe)."""
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = _load()
        return _loaded
