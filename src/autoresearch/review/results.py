"""Results for machines: the stable `eval --json` schema, JUnit, and `--compare` against an earlier result."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..evaluate.runner import EvalResult
from ..suite.suite import Suite
from .report import _split_cluster

EVAL_SCHEMA = "autoresearch.eval/1"


def read_result(path: Path) -> dict:
    """An `eval --json` result, or an InputError naming the file."""
    from ..errors import input_error

    from ..suite.userfiles import read_user_text

    text = read_user_text(Path(path), "result file not found", limit=1024 * 1024 * 1024)  # a FIFO: a message
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise input_error(str(path), f"not a readable JSON result: {exc}") from None
    if isinstance(data, dict) and data.get("schema") == "autoresearch.matrix/1":
        raise input_error(str(path), "a matrix result (one suite on several targets): compare or view one target "
                          "at a time (eval --model TARGET --json), or open the page `eval --html FILE` writes")
    if not isinstance(data, dict) or data.get("schema") != EVAL_SCHEMA or not isinstance(data.get("cells"), list):
        raise input_error(str(path), f"not an `autoresearch eval --json` result (schema {EVAL_SCHEMA})")
    return data


def result_json(suite: Suite, result: EvalResult, skill_text: str) -> dict[str, Any]:
    """The documented, stable JSON form of one evaluation (schema `autoresearch.eval/1`)."""
    splits = sorted(set(result.splits.values()))
    return {
        "schema": EVAL_SCHEMA,
        "suite": suite.name,
        "suite_path": str(suite.path),
        "skill_path": str(suite.skill_path),
        "skill_sha256": hashlib.sha256(skill_text.encode()).hexdigest(),
        "model": suite.model.name,
        "runs": sorted({c.run for c in result.cells}),
        "overall": result.rate().to_dict(),
        "splits": {s: result.rate(split=s, by=_split_cluster(s)).to_dict() for s in splits},
        "evals": {k: v.to_dict() for k, v in result.by("eval_id").items()},
        "inputs": {k: {"split": result.splits[k], **v.to_dict()} for k, v in result.by("input_id").items()},
        "cells": [{"input": c.input_id, "eval": c.eval_id, "run": c.run, "status": c.status, "reason": c.reason}
                  for c in result.cells],
        "outcomes": [{"input": key[0], "run": key[1], **result.traces.get(key, {"text": text})}
                     for key, text in sorted(result.outputs.items(), key=lambda kv: (kv[0][1], kv[0][0]))],
        "spend": {"calls": result.spend.calls, "input_tokens": result.spend.usage.input_tokens,
                  "output_tokens": result.spend.usage.output_tokens,
                  "cache_read_input_tokens": result.spend.usage.cache_read_input_tokens,
                  "cache_creation_input_tokens": result.spend.usage.cache_creation_input_tokens,
                  "cost_usd": round(result.spend.cost, 6)},
        "seconds": round(result.seconds, 3),
    }


def junit_xml(suite: Suite, result: EvalResult) -> str:
    """One testcase per input x eval: failed when any run failed (reasons listed), error on any error."""
    import xml.etree.ElementTree as ET

    groups: dict[tuple[str, str], list] = {}
    for c in result.cells:
        groups.setdefault((c.input_id, c.eval_id), []).append(c)
    failures = sum(any(c.status == "fail" for c in cells) and not any(c.status == "error" for c in cells)
                   for cells in groups.values())
    errors = sum(any(c.status == "error" for c in cells) for cells in groups.values())
    root = ET.Element("testsuites", name="autoresearch", tests=str(len(groups)), failures=str(failures),
                      errors=str(errors), time=f"{result.seconds:.3f}")
    node = ET.SubElement(root, "testsuite", name=suite.name, tests=str(len(groups)), failures=str(failures),
                         errors=str(errors), time=f"{result.seconds:.3f}")
    from ..evaluate.provenance import provenance

    properties = ET.SubElement(node, "properties")
    for role, record in provenance(suite, ("target", "judge")).items():
        for name, value in (record.items() if role != "eval_judges" else ()):
            ET.SubElement(properties, "property", name=f"{role}.{name}", value="" if value is None else str(value))
    for (input_id, eval_id), cells in groups.items():
        case = ET.SubElement(node, "testcase", classname=f"{suite.name}.{input_id}", name=eval_id, time="0")
        passed = sum(c.status == "pass" for c in cells)
        bad = [c for c in cells if c.status == "error"] or [c for c in cells if c.status == "fail"]
        if bad:
            kind = "error" if bad[0].status == "error" else "failure"
            element = ET.SubElement(case, kind, type=bad[0].status,
                                    message=f"{eval_id} on {input_id}: {passed}/{len(cells)} runs passed")
            element.text = "\n".join(f"run {c.run}: {c.reason}" for c in bad)
        ET.SubElement(case, "system-out").text = f"pass rate {passed}/{len(cells)}"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


@dataclass(frozen=True)
class Comparison:
    wins: int
    losses: int
    p_value: float  # one-sided: the chance of a drop this large if nothing got worse (whole outputs flipped)
    regression: bool
    before: float
    after: float
    per_eval: dict[str, tuple[float, float]]
    dropped: tuple = ()  # EvalDrop: evals that fell beyond noise (Holm-corrected with the overall test)
    flips: tuple = ()  # (input, eval) pairs that went from mostly passing to mostly failing

    def __str__(self) -> str:
        verdict = "REGRESSION beyond noise" if self.regression else "no regression beyond noise"
        lines = [f"compared with the baseline on {self.wins + self.losses} changed checks: {self.before:.1%} -> "
                 f"{self.after:.1%}, {self.wins} better, {self.losses} worse, p = {self.p_value:.4f}: {verdict}"]
        lines += [f"  REGRESSION in eval {d}" for d in self.dropped]
        lines += [f"  {k:<24} {a:6.1%} -> {b:6.1%}" for k, (a, b) in sorted(self.per_eval.items())]
        if self.flips:
            lines.append("  passing -> failing: " + ", ".join(
                f"{f['input']}/{f['eval']} {f['before']}/{f['runs']} -> {f['after']}/{f['runs']}" for f in self.flips[:10])
                + (f" and {len(self.flips) - 10} more" if len(self.flips) > 10 else ""))
        return "\n".join(lines)


def refuse_unrelated(baseline: dict[str, Any], path: Path, suite: Suite, inputs: Any) -> None:
    """Before any call: a `--compare` result sharing no (input, eval) with this evaluation compares nothing."""
    from ..errors import input_error

    mine = {(i.id, e.id) for i in inputs for e in suite.evals if e.applies_to(i.id)}
    if not any((c.get("input"), c.get("eval")) in mine for c in baseline["cells"]):
        raise input_error(str(path), f"nothing in common with this evaluation: no (input, eval) of {suite.path} "
                          f"is in it (it is a result of suite {baseline.get('suite', '?')!r}); compare with an "
                          "earlier result of the same suite")


def compare_results(current: dict[str, Any], baseline: dict[str, Any], alpha: float = 0.05) -> Comparison:
    """Pair two eval JSON results cell by cell; a regression is the total or any eval falling beyond noise.

    The total is tested by flipping whole outputs, each eval by its own sign test; Holm's correction
    across the total and every eval keeps an unchanged skill's chance of failing the build at `alpha`.
    """
    from ..decide.stats import eval_changes, holm, input_flips, pair

    def cells(data: dict[str, Any]) -> dict:
        return {(c["input"], c["eval"], c["run"]): c["status"] == "pass" for c in data["cells"] if c["status"] != "error"}

    mine, theirs = cells(current), cells(baseline)
    paired = pair(mine, theirs)
    per_eval = {}
    for eval_id in sorted({k[1] for k in mine} & {k[1] for k in theirs}):
        common = [k for k in mine if k[1] == eval_id and k in theirs]
        if common:
            per_eval[eval_id] = (sum(theirs[k] for k in common) / len(common), sum(mine[k] for k in common) / len(common))
    p = paired.p_worse
    changes = eval_changes(mine, theirs)
    rejected = set(holm({"": p, **{c.eval_id: c.p_value for c in changes}}, alpha))
    dropped = tuple(c for c in changes if c.eval_id in rejected)
    return Comparison(paired.wins, paired.losses, p, bool(rejected), paired.best_rate, paired.candidate_rate,
                      per_eval, dropped, tuple(input_flips(mine, theirs)))
