"""What actually ran, per role (target, judge, mutator): backend, model, and for a harness its binary, version
and package. run.json, journal lines, `eval --json`, JUnit, summary.md, report.html, view and status all show
this one record, so no report can name a model that did not run.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import InputError
from ..models import HARNESS_BACKENDS, ModelSpec, role_spec
from ..suite.suite import Suite

ROLES = ("target", "judge", "mutator")


def describe(spec: ModelSpec, role: str) -> dict[str, Any]:
    """One role's model as it runs: backend, model, and the harness binary, version and package (or the SDK)."""
    model = spec.name.split(":", 1)[1] if ":" in spec.name else ""
    out: dict[str, Any] = {"name": spec.name, "backend": spec.backend, "model": model or "default"}
    if spec.backend in HARNESS_BACKENDS:
        from ..targets.harness import find_binary
        from ..targets.model_mode import flavour_of, harness_identity

        out["mode"] = "agent" if role == "target" else "model (one turn, no tools, empty folder)"
        if model == "sim":
            out["model"] = "sim (the simulator, through the real binary)"
        try:
            binary = find_binary(flavour_of(spec), spec.option("binary"))
        except InputError as exc:
            return {**out, "binary": None, "version": None, "package": None, "problem": exc.problems[0].message}
        package, version = harness_identity(binary)
        return {**out, "binary": binary, "version": version, "package": package or flavour_of(spec).package}
    if spec.backend == "anthropic":
        from importlib.metadata import PackageNotFoundError, version

        try:
            sdk = version("anthropic")
        except PackageNotFoundError:
            sdk = None
        return {**out, "package": "anthropic (Python SDK)", "version": sdk,
                "endpoint": os.environ.get("ANTHROPIC_BASE_URL") or "https://api.anthropic.com"}
    if spec.backend == "sim":
        from .. import __version__

        return {**out, "model": "sim (the offline simulator)", "package": "autoresearch", "version": __version__}
    return out  # command: the command line is the name


def role_models(suite: Suite) -> dict[str, ModelSpec]:
    """The model each role runs: the suite's (or command line's), else the target's model in that role."""
    return {"target": suite.model, "judge": suite.judge_model or role_spec(suite.model, "judge"),
            "mutator": suite.mutator_model or role_spec(suite.model, "mutator")}


def provenance(suite: Suite, roles: tuple[str, ...] = ROLES) -> dict[str, Any]:
    """Per role what runs (`eval` has no mutator); evals with a judge model of their own are under `eval_judges`."""
    out: dict[str, Any] = {role: describe(spec, role) for role, spec in role_models(suite).items() if role in roles}
    own = {ev.id: describe(ev.judge.model, "judge") for ev in suite.evals if ev.judge and ev.judge.model}
    if own:
        out["eval_judges"] = own
    return out


def short(role: dict[str, Any]) -> str:
    """One role on one line: `claude-code:sim (@anthropic-ai/claude-code 2.1.197, /path/claude)`."""
    details = [f"{role['package']} {role['version'] or ''}".strip() if role.get("package") else "",
               role.get("binary") or role.get("endpoint") or ""]
    details = [d for d in details if d]
    return role["name"] + (f" ({', '.join(details)})" if details else "")


def lines(record: dict[str, Any]) -> list[str]:
    """`target: ...`, `judge: ...`, `mutator: ...` (and eval judges): for status, summary.md and reports."""
    out = [f"{role}: {short(record[role])}" for role in ROLES if role in record]
    out += [f"judge of {eval_id}: {short(role)}" for eval_id, role in (record.get("eval_judges") or {}).items()]
    return out


def compact(record: dict[str, Any]) -> dict[str, str]:
    """Per role `name@version` for a journal line (the full record is in run.json)."""
    return {role: record[role]["name"] + (f"@{record[role]['version']}" if record[role].get("version") else "")
            for role in ROLES if role in record}


def version_changes(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What changed between a run's recorded harnesses and those found now (binary or version), one line each."""
    out = []
    for role in ROLES:
        old, new = before.get(role) or {}, now.get(role) or {}
        if not old or old.get("name") != new.get("name"):
            continue
        if (old.get("version"), old.get("binary")) != (new.get("version"), new.get("binary")) and new.get("binary"):
            out.append(f"the {role} was {short(old)}, now {short(new)}")
    return out
