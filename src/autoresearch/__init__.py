"""autoresearch: make agent skills better by experiment.

Measure a SKILL.md on binary evals, change one section at a time, keep a change only when the pass
rate rose beyond noise, and log every attempt. The CLI (`autoresearch`) is a thin layer over this
library, whose public API is re-exported here:

    from autoresearch import load_suite, evaluate_sync, run_loop, LoopConfig, Budget

Names load on first use, so `import autoresearch` stays cheap for the commands an agent runs often.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from . import sim as _sim  # noqa: F401  the offline world registers the `sim` backend with the model registry
from . import targets as _targets  # noqa: F401  the harnesses register themselves as judge and mutator backends

__version__ = "0.1.0"

_PUBLIC = {
    "load_suite": "suite.suite", "Suite": "suite.suite", "Eval": "suite.suite", "Input": "suite.suite",
    "load_skill": "suite.skill", "parse_skill": "suite.skill", "SkillDocument": "suite.skill",
    "ModelSpec": "models", "open_model": "models",
    "evaluate": "evaluate.runner", "evaluate_sync": "evaluate.runner", "EvalResult": "evaluate.runner",
    "Models": "evaluate.runner", "Budget": "evaluate.cost", "estimate": "evaluate.cost",
    "KeepRule": "decide.stats", "Rate": "decide.intervals",
    "LoopConfig": "runs.config", "RunDir": "runs.journal",
    "run_loop": "loop.experiment", "Experiment": "loop.experiment", "finalize_run": "loop.finalize",
    "import_promptfoo": "importers.promptfoo", "import_skill_creator": "importers.skill_creator",
    "import_trigger_set": "importers.triggers",
    "AutoresearchError": "errors", "InputError": "errors",
}
__all__ = [
    "AutoresearchError", "Budget", "Eval", "EvalResult", "Experiment", "Input", "InputError", "KeepRule",
    "LoopConfig", "ModelSpec", "Models", "Rate", "RunDir", "SkillDocument", "Suite", "estimate", "evaluate",
    "evaluate_sync", "finalize_run", "import_promptfoo", "import_skill_creator", "import_trigger_set",
    "load_skill", "load_suite", "open_model", "parse_skill", "run_loop",
]

if TYPE_CHECKING:  # the same names, for type checkers and editors
    from .decide.intervals import Rate
    from .decide.stats import KeepRule
    from .errors import AutoresearchError, InputError
    from .evaluate.cost import Budget, estimate
    from .evaluate.runner import EvalResult, Models, evaluate, evaluate_sync
    from .importers.promptfoo import import_promptfoo
    from .importers.skill_creator import import_skill_creator
    from .importers.triggers import import_trigger_set
    from .loop.experiment import Experiment, run_loop
    from .loop.finalize import finalize_run
    from .models import ModelSpec, open_model
    from .runs.config import LoopConfig
    from .runs.journal import RunDir
    from .suite.skill import SkillDocument, load_skill, parse_skill
    from .suite.suite import Eval, Input, Suite, load_suite


def __getattr__(name: str) -> Any:
    """Load a public name from its wing on first use."""
    if name not in _PUBLIC:
        raise AttributeError(f"module 'autoresearch' has no attribute {name!r}")
    value = getattr(import_module(f".{_PUBLIC[name]}", __name__), name)
    globals()[name] = value
    return value
