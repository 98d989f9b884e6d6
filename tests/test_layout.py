"""The house's rules, read from the code: each wing imports only the wings below it, and no module imports itself back.

The wings and what each may import are stated in each wing's `__init__.py`; this test holds the code to them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "autoresearch"
BASE = {"errors", "fsio", "prompts", "keywords", "install", "sandbox", "procs"}
# What each wing may import, besides itself and the base modules. Lower wings come first.
MAY_IMPORT = {
    "models": set(),
    "sim": {"models"},
    "suite": {"models"},
    "decide": {"suite", "models"},
    "importers": {"decide", "suite", "models"},
    "targets": {"sim", "suite", "models"},
    "evaluate": {"targets", "decide", "suite", "sim", "models"},
    "runs": {"evaluate", "targets", "decide", "suite", "sim", "models"},
    "review": {"runs", "evaluate", "targets", "decide", "suite", "sim", "models"},
    "loop": {"review", "runs", "evaluate", "targets", "decide", "suite", "importers", "sim", "models"},
    "cli": {"loop", "review", "runs", "evaluate", "targets", "decide", "suite", "importers", "sim", "models"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module of the package that `path` imports, at the top or inside a function (names resolved)."""
    here = module_name(path)
    package = here.split(".") if path.name == "__init__.py" else here.split(".")[:-1]
    package = [p for p in package if p]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + (node.module.split(".") if node.module else []))
            elif node.module and node.module.startswith("autoresearch"):
                target = node.module.removeprefix("autoresearch").lstrip(".")
            else:
                continue
            for alias in node.names:  # `from . import sim` imports a module
                candidate = f"{target}.{alias.name}" if target else alias.name
                found.add(candidate if resolves(candidate) else target)
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("autoresearch").lstrip(".") for a in node.names
                         if a.name.startswith("autoresearch."))
    return {m for m in found if m}


def resolves(module: str) -> bool:
    path = PACKAGE.joinpath(*module.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def wing(module: str) -> str:
    head = module.split(".")[0]
    return head if head in MAY_IMPORT else "base"


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_lives_in_a_wing_or_is_a_base_module():
    strays = [m for m in MODULES if wing(m) == "base" and m not in BASE | {"", "__main__"}]
    assert not strays, f"modules outside every wing: {strays}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m not in ("", "__main__")))
def test_a_wing_imports_only_the_wings_below_it(module):
    mine = wing(module)
    allowed = BASE | {mine} | (MAY_IMPORT.get(mine, set()))
    wrong = sorted(m for m in imported_modules(MODULES[module]) if wing(m) not in allowed and m not in allowed)
    assert not wrong, f"{module} ({mine}) imports {wrong}; it may import {sorted(allowed)}"


def test_no_import_circle_between_modules():
    # A package loading one of its own modules on demand (the model registry) is a parent using a child: no circle.
    graph = {m: {i for i in imported_modules(p) if i in MODULES and i != m and not i.startswith(m + ".")}
             for m, p in MODULES.items() if m not in ("", "__main__")}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1  # on the current path
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join(trail[trail.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2  # done

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_each_wing_says_what_it_may_import():
    for name in MAY_IMPORT:
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text())) or ""
        assert "May import" in doc, f"{name}/__init__.py does not say what it may import"


def test_the_public_api_is_what_the_package_lists():
    import autoresearch

    for name in autoresearch.__all__:
        assert getattr(autoresearch, name) is not None
    assert sorted(autoresearch.__all__) == sorted(autoresearch._PUBLIC)
