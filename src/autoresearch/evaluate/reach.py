"""Can each role's model answer at all? Checked before anything runs, so an eval never drops out silently.

A judge that cannot answer (an `anthropic:` model with no key, a harness binary that is not installed)
would turn every judge cell into an error: the eval then vanishes from every rate and every `try` is
refused for errors. `validate` prints these as warnings with the suite's line; `run`, `eval` and `try`
refuse before the baseline (exit 2). Also: a judge that is the very model under test, named with its line.
"""

from __future__ import annotations

import os

from ..errors import AutoresearchError, InputError, Problem
from ..models import HARNESS_BACKENDS, ModelSpec, role_spec
from ..suite.suite import Suite


def _lines(suite: Suite) -> dict[str, int | None]:
    """The lines of `model:`, `judge:` and `mutator:` in the suite file (None when absent or unreadable)."""
    from ..suite.yamlsource import LocatedDict, load_located

    try:
        data = load_located(suite.path.read_text(encoding="utf-8"), str(suite.path))
    except (OSError, ValueError, AutoresearchError):
        return {}
    if not isinstance(data, LocatedDict):
        return {}
    return {key: data.line_of(key) if key in data else None for key in ("model", "judge", "mutator")}


def unreachable(spec: ModelSpec) -> str | None:
    """Why a model cannot answer a single call from here (None when nothing is known against it)."""
    if spec.backend == "anthropic" and not (os.environ.get("ANTHROPIC_API_KEY")
                                            or os.environ.get("ANTHROPIC_AUTH_TOKEN")):
        return "ANTHROPIC_API_KEY is not set"
    if spec.backend in HARNESS_BACKENDS:
        from ..targets.harness import find_binary
        from ..targets.model_mode import flavour_of

        try:
            find_binary(flavour_of(spec), spec.option("binary"))
        except InputError as exc:
            return exc.problems[0].message
    return None


def role_specs(suite: Suite, roles: tuple[str, ...] = ("judge", "mutator")) -> list[tuple[str, ModelSpec, str]]:
    """(role, model, what it does) for each role in play: the suite's judge if any eval is judged, every eval's
    own judge model, and the mutator."""
    out = []
    judged = [e for e in suite.evals if e.judge]
    if "judge" in roles and any(e.judge and not e.judge.model for e in judged):
        out.append(("judge", suite.judge_model or role_spec(suite.model, "judge"), "the judge"))
    if "judge" in roles:
        for ev in judged:
            if ev.judge.model:
                out.append(("judge", ev.judge.model, f"the judge of eval {ev.id}"))
    if "mutator" in roles:
        out.append(("mutator", suite.mutator_model or role_spec(suite.model, "mutator"), "the mutator"))
    return out


def unreachable_roles(suite: Suite, roles: tuple[str, ...] = ("judge", "mutator")) -> list[Problem]:
    """Each role model that cannot answer, located at its line (`judge:`/`mutator:`, else `model:` it defaults to)."""
    lines = _lines(suite)
    problems, seen = [], set()
    for role, spec, what in role_specs(suite, roles):
        why = unreachable(spec)
        if not why or (what, spec.name) in seen:
            continue
        seen.add((what, spec.name))
        named = (suite.judge_model if role == "judge" else suite.mutator_model) is not None
        default = "" if named else " (by default the target's model)"
        fix = ("Set ANTHROPIC_API_KEY, or name a judge you can reach (`judge: claude-code` answers on your Claude "
               "Code login)" if spec.backend == "anthropic" else f"Install it, or name another {role}")
        problems.append(Problem(str(suite.path), f"{what} {spec.name}{default} cannot answer: {why}; nothing would "
                                f"score its evals. {fix}", lines.get(role) if named else lines.get("model"), role,
                                "warning"))
    return problems


def self_judged(suite: Suite) -> list[Problem]:
    """A warning, with its line, when the suite's judge really is the model under test (not a simulator)."""
    judge = suite.judge_model or role_spec(suite.model, "judge")
    simulated = suite.model.backend == "sim" or suite.model.name.endswith(":sim")
    if simulated or judge.name != suite.model.name or not any(e.judge and not e.judge.model for e in suite.evals):
        return []
    lines = _lines(suite)
    return [Problem(str(suite.path), f"the judge is the model under test ({suite.model.name}); a separate judge "
                    "(`judge:` or --judge-model) is less likely to grade its own habits kindly",
                    lines.get("judge") if suite.judge_model is not None else lines.get("model"), "judge", "warning")]


def refusal(problems: list[Problem]) -> str:
    """One message for `run`, `eval` and `try` to stop on when a role cannot answer."""
    return "error: " + "; ".join(str(p).replace(" warning:", "", 1) for p in problems) + ". Nothing was run."


def unscored_evals(suite: Suite, result) -> list[dict]:
    """Evals whose every train cell is an error (a judge that cannot answer, a crashing check): missing from every
    rate, so `next` names them instead of hiding them."""
    out = []
    for ev in suite.evals:
        cells = result.select(split="train", eval_id=ev.id)
        if cells and all(c.status == "error" for c in cells):
            out.append({"id": ev.id, "errors": len(cells), "reason": cells[0].reason})
    return out
