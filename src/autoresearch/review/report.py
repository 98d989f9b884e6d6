"""Human and machine views of results: the per-eval table and the stable JSON schema."""

from __future__ import annotations

import hashlib
import html
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..decide.stats import Rate
from ..evaluate.runner import EvalResult
from ..runs.journal import best_entry
from ..suite.suite import Suite
from .keepcost import keep_cost_text

EVAL_SCHEMA = "autoresearch.eval/1"


def _row(name: str, kind: str, rate: Rate, width: int) -> str:
    if not rate.n:  # 0/0 is not a pass rate of 0%: nothing was scored
        errors = f"  {rate.errors} error{'s' if rate.errors != 1 else ''}" if rate.errors else ""
        return f"  {name:<{width}}  {kind:<16} {'no data':>7}  {'':<15}  {0:>5}/{0:<5}{errors}"
    lo, hi = rate.interval
    errors = f"  {rate.errors} error{'s' if rate.errors != 1 else ''}" if rate.errors else ""
    return f"  {name:<{width}}  {kind:<16} {rate.value:6.1%}  [{lo:4.0%} – {hi:4.0%}]  {rate.passed:>5}/{rate.n:<5}{errors}"


def _split_cluster(split: str) -> str:
    """How a split's interval is clustered: the holdout's is about new inputs (by input), train's about
    these inputs (by output)."""
    return "input" if split == "holdout" else "output"


def eval_table(suite: Suite, result: EvalResult) -> str:
    """The per-eval table, then the rate per split and overall, each with its 95% interval: by output (these
    inputs), the holdout's by input (new inputs)."""
    width = max([len(e.id) for e in suite.evals] + [len("overall")])
    lines = [f"  {'eval':<{width}}  {'check':<16} {'pass':>6}  {'95% interval':<15}  {'passed/n'}"]
    per_eval = result.by("eval_id")
    for ev in suite.evals:
        lines.append(_row(ev.id, ev.kind, per_eval.get(ev.id, Rate(0, 0)), width))
    lines.append("")
    for split in ("train", "holdout"):
        if any(s == split for s in result.splits.values()):
            lines.append(_row(split, "", result.rate(split=split, by=_split_cluster(split)), width))
    lines.append(_row("overall", "", result.rate(), width))
    lines.append("  intervals count an output's evals as one cluster (they pass and fail together)"
                 + ("; the holdout's is about new inputs (clustered by input)" if "holdout" in result.splits.values()
                    else ""))
    return "\n".join(lines)


def flakiness_of(result: EvalResult, runs: int) -> dict:
    """Per-input flakiness and the evals' correlation of one evaluation (see `stats.flakiness`)."""
    from ..decide.stats import flakiness
    from ..evaluate.cells import cells_map

    return flakiness(cells_map(result.cells), runs)


def profile_text(profile: dict, train_only: bool = False, limit: int = 8) -> str:
    """Flaky inputs, inputs with no signal, and the evals' correlation, for people (eval, next)."""
    k, runs = profile.get("k", profile["runs"]), profile["runs"]
    rows = profile["inputs"]
    where = "train inputs" if train_only else "inputs"
    lines = [f"{where}: pass^{k} is the chance that {k} runs all pass every eval; flip: the chance two runs disagree on an eval"]
    flaky = [r for r in rows if r["flip_rate"] > 0]
    for r in flaky[:limit]:
        lines.append(f"  {str(r['input']):<24} {r['all_pass']:>3}/{r['outputs']:<3} outputs pass all  "
                     f"pass^{k} {r['pass_k']:.2f}  flip {r['flip_rate']:.2f}")
    if len(flaky) > limit:
        lines.append(f"  ... and {len(flaky) - limit} more flaky inputs")
    for state in ("always passes", "never passes"):
        ids = [str(r["input"]) for r in rows if r["state"] == state]
        if ids:
            lines.append(f"  {state} (no signal for the keep rule): {', '.join(ids)}")
    rho = profile["correlation"]
    if rho is not None:
        line = f"evals of one output: correlation {rho:.2f}"
        if profile["suggest_runs"]:
            per = profile["evals_per_output"] / (1 + (profile["evals_per_output"] - 1) * rho)
            line += (f" (high: each output counts as about {per:.1f} independent checks, not "
                     f"{profile['evals_per_output']}; for the keep rule's power, use about {profile['suggest_runs']} "
                     f"runs instead of {runs})")
        lines.append(line)
    return "\n".join(lines)


def failing_thresholds(suite: Suite, result: EvalResult, threshold: float | None,
                       eval_thresholds: dict[str, float] | None = None) -> list[str]:
    """Which thresholds (overall, then per eval: the command line's over the suite's) are missed, in words."""
    misses = []
    overall = result.rate()
    if threshold is not None and overall.value < threshold:
        misses.append(f"overall pass rate {overall.value:.1%} is below the threshold {threshold:.1%}")
    per_eval = result.by("eval_id")
    for ev in suite.evals:
        limit = (eval_thresholds or {}).get(ev.id, ev.threshold)
        if limit is not None and ev.id in per_eval and per_eval[ev.id].value < limit:
            misses.append(f"eval '{ev.id}' pass rate {per_eval[ev.id].value:.1%} is below its threshold {limit:.1%}")
    return misses


def read_result(path: Path) -> dict:
    """An `eval --json` result, or an InputError naming the file."""
    from ..errors import input_error

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
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


def failures_text(result: EvalResult, evals: set[str] = frozenset(), inputs: set[str] = frozenset(),
                  limit: int | None = None) -> str:
    """Each failing (input, run): its failed evals with their reasons, then the output in full; optionally only
    the failures of some evals or inputs, and at most `limit` of them."""
    groups: dict[tuple[str, int], list] = {}
    for c in result.cells:
        if c.status != "pass" and (not evals or c.eval_id in evals) and (not inputs or c.input_id in inputs):
            groups.setdefault((c.input_id, c.run), []).append(c)
    if not groups:
        return "no failing cells" + (" among those chosen" if evals or inputs else "")
    more = len(groups) - limit if limit is not None and len(groups) > limit else 0
    groups = dict(list(groups.items())[:limit]) if more else groups
    parts = []
    for (input_id, run), cells in groups.items():
        lines = [f"=== {input_id} run {run}: {len(cells)} failing ==="]
        lines += [f"  {c.status.upper()} {c.eval_id}: {c.reason}" for c in cells]
        output = result.outputs.get((input_id, run))
        lines += ["--- output ---", output.rstrip("\n") if output is not None else "(no output: the model call failed)"]
        trace = result.traces.get((input_id, run))
        if trace:
            from ..models.outcome import Outcome

            lines += ["--- what the agent did ---", Outcome.from_dict(trace).trace_text(limit=100_000)]
        parts.append("\n".join(lines))
    if more:
        parts.append(f"... and {more} more failing input x run (--limit)")
    return "\n\n".join(parts)


def runs_note(e: dict) -> str:
    """On which runs a decided attempt's two scores were taken: `runs 0-2 of 16, raced out`."""
    runs = sorted(e["runs"])
    if not runs:
        return "no runs"
    span = f"run {runs[0]}" if len(runs) == 1 else \
        f"runs {runs[0]}-{runs[-1]}" if runs == list(range(runs[0], runs[-1] + 1)) else f"{len(runs)} runs"
    return f"{span} (same cells for both{', raced out' if e.get('raced') else ''})"


def p_text(value: float) -> str:
    """A p-value for people: `< 0.0001` or `= 0.0123`."""
    return "< 0.0001" if value < 0.0001 else f"= {value:.4f}"


def _pct(rate: dict | None) -> str:
    if rate and "passed" in rate and not rate["passed"] + rate.get("failed", 0):
        return "no data"
    return f"{rate['rate']:.1%}" if rate else "–"


def rate_ci(rate: dict | None) -> str:
    """A rate with its 95% interval and count, as every holdout rate is printed: `43.8% [31–57%] (14/32)`."""
    if not rate:
        return "–"
    n = rate["passed"] + rate["failed"]
    if not n:
        return "no data"
    where = " on new inputs" if rate.get("interval_by") == "input" else ""
    return f"{rate['rate']:.1%} [{rate['low']:.0%}–{rate['high']:.0%}{where}] ({rate['passed']}/{n})"


def render_changelog(entries: list[dict], name: str) -> str:
    """The human log of a run: every attempt, kept or not, with its hypothesis, scores, reason and diff."""
    keeps = sum(e["decision"] == "keep" for e in entries)
    lines = [f"# Changelog of the autoresearch run on {name}", "",
             f"{counted(len(entries) - 1, 'experiment')} after the baseline, {keeps} kept. Every attempt is listed, kept or not.", ""]
    for e in entries:
        if e["decision"] == "baseline":
            lines += ["## #0 baseline", "", f"- train: {_pct(e['scores']['train'])}, holdout: "
                      f"{rate_ci(e['scores'].get('holdout'))}", ""]
            continue
        near = " (near miss)" if e.get("near_miss") else ""
        lines += [f"## #{e['id']} {e['decision']}{near}: `{e['section']}`", ""]
        if e["hypothesis"]:
            lines.append(f"- hypothesis ({e['kind']}): {e['hypothesis']}")
        if e["decision"] in ("keep", "discard"):
            lines.append(f"- train: {_pct(e['best_scores']['train'])} -> {_pct(decision_score(e))} "
                         f"({e['wins']} wins, {e['losses']} losses on paired checks, p {p_text(e['p_value'])},"
                         f" runs {len(e['runs'])}{', raced out' if e['raced'] else ''})")
            if e["decision"] == "keep":
                lines.append(f"- train on fresh runs (not used to decide): {_pct(e['scores']['train'])}")
                lines.append(f"- holdout: {rate_ci(e['best_scores'].get('holdout'))} -> "
                             f"{rate_ci(e['scores'].get('holdout'))}"
                             + (f"; against the baseline: {holdout_words(e['holdout_test'])}"
                                if (e.get("holdout_test") or {}).get("verdict") else ""))
            lines += _error_and_flip_lines(e)
        lines.append(f"- decision: **{e['decision']}**: {e['reason']}")
        if near:
            lines.append("- near miss: it gained, with p just above the level; a variant may be worth trying")
        if e["motivation"]:
            lines.append("- motivated by failures: " + "; ".join(e["motivation"]))
        lines.append(f"- spent: {e['calls']} model calls, ${e['cost']:.4f}, {e['seconds']:.1f}s")
        if e["diff"]:
            lines += ["", "```diff", e["diff"].rstrip("\n"), "```"]
        lines.append("")
    return "\n".join(lines)


def _cached_note(entries: list[dict]) -> str:
    cached = sum(e.get("cached", 0) for e in entries)
    return f" (and {cached} answers from the cache, free)" if cached else ""


def decision_score(e: dict) -> dict | None:
    """The candidate's train score on the runs its decision used (older journals: `train`)."""
    return e["scores"].get("train_decision", e["scores"].get("train"))


def _error_and_flip_lines(e: dict) -> list[str]:
    lines = []
    errors = e.get("errors") or {}
    if errors.get("candidate") or errors.get("best"):
        lines.append(f"- error cells: candidate {errors['candidate']}, best {errors['best']} (of {errors['cells']})")
    if e.get("flips"):
        lines.append("- passing -> failing: " + ", ".join(
            f"{f['input']}/{f['eval']} {f['before']}/{f['runs']} -> {f['after']}/{f['runs']}" for f in e["flips"]))

    lines += [f"- {guard_note(v)}" for v in (e.get("guards") or {}).values() if "verdict" in v]
    lines += [f"- holdout on guard {name}: {_pct(rate)}" for name, rate in (e.get("guard_holdout") or {}).items()]
    return lines


def holdout_words(test: dict | None) -> str:
    """A holdout comparison in plain words: better / no different / WORSE (overfitting), with its numbers."""
    if not test or not test.get("verdict"):
        return "not measured"
    word = {"better": "better", "no different": "no different", "worse": "WORSE (overfitting)"}[test["verdict"]]
    p = test["p_better"] if test["verdict"] == "better" else test["p_worse"]
    return f"{word}: {test['before']:.1%} -> {test['after']:.1%} ({test['wins']} better, {test['losses']} worse " \
           f"paired checks, p {p_text(p)})"


def holdout_findings(entries: list[dict]) -> list[str]:
    """What a reader must know about generalisation: the holdout verdict, train up while holdout down."""
    base, best = entries[0], best_entry(entries)
    lines = []
    if best is not base and base["scores"].get("holdout"):
        lines.append(f"holdout verdict, best against baseline: {holdout_words(best.get('holdout_test'))}")
        train_up = best["scores"]["train"]["rate"] > base["scores"]["train"]["rate"]
        holdout_down = (best["scores"].get("holdout") or {}).get("rate", 1) < base["scores"]["holdout"]["rate"]
        if train_up and holdout_down:
            lines.append("WARNING: train went up while holdout went down: the gain may fit the train inputs only")
    elif best is base and len(entries) > 1:
        lines.append("holdout verdict: no keep, the best is the baseline")
    elif not base["scores"].get("holdout"):
        lines.append("no holdout inputs: nothing tells a general gain from fitting the train inputs")
    return lines


SMALL_SUITE = 20  # train inputs under which a keep says "better on these inputs", hardly "better in general"


def suite_size_findings(entries: list[dict]) -> list[str]:
    """What a small suite can show, said once where a reader weighs the result (the report), not on every line."""
    train_inputs = (entries[0].get("inputs") or {}).get("train")
    if train_inputs is None or train_inputs >= SMALL_SUITE:
        return []
    return [f"{train_inputs} train inputs: each keep is a gain on these inputs; with fewer than {SMALL_SUITE}, "
            "whether it is a general gain rests on the holdout verdict above"]


def counted(n: float, noun: str, plural: str | None = None) -> str:
    """`1 section`, `2 sections`: a number with its noun in the right form."""
    return f"{n:g} {noun if n == 1 else plural or noun + 's'}"


def _uplift_line(entries: list[dict]) -> str | None:
    from .uplift import run_uplift_line

    return run_uplift_line(entries)


def status_text(run_id: str, entries: list[dict], config: dict, state: str = "") -> str:
    """Whether it runs, best score, experiments, keeps and discards, spend, train beside holdout."""
    if not entries:
        return f"run {run_id}: no experiments yet" + (f"\n  state: {state}" if state else "")
    decisions = Counter(e["decision"] for e in entries[1:])
    base = entries[0]
    best = best_entry(entries)
    calls = sum(e["calls"] for e in entries)
    tokens = sum(sum(e["tokens"].values()) for e in entries)
    cost = sum(e["cost"] for e in entries)
    seconds = sum(e["seconds"] for e in entries)
    budget = config.get("config", {}).get("budget", {})
    limits = ", ".join(f"{k} {v}" for k, v in budget.items() if v is not None) or "none"
    return "\n".join([
        f"run {run_id}",
        *([f"  state: {state}"] if state else []),
        f"  experiments: {len(entries) - 1} ({decisions['keep']} kept, {decisions['discard']} discarded, "
        f"{decisions['refused']} refused" + (f", {decisions['error']} failed" if decisions["error"] else "") + ")",
        f"  train:   baseline {_pct(base['scores']['train'])} -> best {_pct(best['scores']['train'])} (#{best['id']}"
        f"{', on runs not used to select it' if best is not base else ''})",
        f"  holdout: baseline {rate_ci(base['scores'].get('holdout'))} -> best {rate_ci(best['scores'].get('holdout'))}",
        f"  spent: {calls} model calls made{_cached_note(entries)}, {tokens} tokens, ${cost:.4f}, {seconds:.1f}s (budget: {limits})",
        *([f"  {keep_cost_text(entries)}"] if keep_cost_text(entries) else []),
        f"  last: #{entries[-1]['id']} {entries[-1]['decision']}: {entries[-1]['reason']}",
        *(f"  {line}" for line in holdout_findings(entries)),
        *(f"  {line}" for line in ran_lines(config)),
        *([f"  uplift: {_uplift_line(entries)}"] if _uplift_line(entries) else []),
        *(f"  {line}" for line in refusal_findings(entries)),
    ])


def ran_lines(config: dict) -> list[str]:
    """What ran per role, from run.json's provenance (none for a run recorded before it existed)."""
    from ..evaluate.provenance import lines

    return lines(config["provenance"]) if config.get("provenance") else []


def section_diff(before: str, after: str, path: str = "SKILL.md") -> list[tuple[str, str]]:
    """(section id, unified diff) for every section that differs between two versions of a skill."""
    from ..suite.skill import parse_skill

    old, new = parse_skill(before, path), parse_skill(after, path)
    out = []
    if old.frontmatter_raw != new.frontmatter_raw:
        out.append(("frontmatter", _unified(old.frontmatter_raw, new.frontmatter_raw, "frontmatter")))
    new_sections = {s.id: s for s in new.sections}
    for s in old.sections:
        other = new_sections.get(s.id)
        if other is None or other.text != s.text:
            out.append((s.id, _unified(s.text, other.text if other else "", s.id)))
    for s in new.sections:
        if s.id not in {o.id for o in old.sections}:
            out.append((s.id, _unified("", s.text, s.id)))
    return out


def _unified(before: str, after: str, name: str) -> str:
    import difflib

    return "".join(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                        f"baseline/{name}", f"best/{name}"))


# -- CI: JUnit and comparison with an earlier result ------------------------------------------------

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


# -- diffs for review ------------------------------------------------------------------------------

def render_diff(changes: list[tuple[str, str]], fmt: str = "unified", title: str = "baseline -> best") -> str:
    """Section diffs as plain unified text, Markdown for a PR comment, or a standalone HTML page."""
    if fmt == "unified":
        return "".join(f"=== {section} ===\n{text}" for section, text in changes) or "no change\n"
    if fmt == "markdown":
        if not changes:
            return f"**{title}**: no change\n"
        parts = [f"### autoresearch: {title}, {len(changes)} section(s) changed\n"]
        for section, text in changes:
            parts.append(f"#### `{section}`\n\n```diff\n{text.rstrip()}\n```\n")
        return "\n".join(parts)
    body = "".join(f"<h3><code>{html.escape(section)}</code></h3>\n{diff_html(text)}\n"
                   for section, text in changes) or "<p>No change.</p>"
    return _page(f"autoresearch diff: {title}", f"<h1>{html.escape(title)}</h1>\n{body}")


def diff_html(text: str) -> str:
    """A unified diff as a <pre> block with added and removed lines coloured."""
    return f"<pre class='diff'>{_diff_html(text)}</pre>"


def _diff_html(text: str) -> str:
    out = []
    for line in text.splitlines():
        cls = "add" if line.startswith("+") and not line.startswith("+++") else \
            "del" if line.startswith("-") and not line.startswith("---") else "ctx"
        out.append(f"<span class='{cls}'>{html.escape(line)}</span>")
    return "\n".join(out)


_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#1d1d1f;padding:0 1em}
h1{font-size:1.5em}h2{margin-top:2em;border-bottom:1px solid #ddd}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #eee;padding:.35em .5em;text-align:left;vertical-align:top}
pre{white-space:pre-wrap;overflow-wrap:anywhere}
pre.diff,pre.output,pre.skill{background:#f7f7f7;padding:.6em;max-height:40em;overflow:auto}
.add{color:#116329;background:#dafbe1}
.del{color:#82071e;background:#ffebe9}.ctx{color:#555}.keep{color:#116329;font-weight:600}
.discard{color:#82071e}.refused{color:#777}.bar{background:#e5e5e5;height:.7em;width:10em;display:inline-block}
.bar span{background:#2f7bf6;height:100%;display:block}svg text{font:11px system-ui,sans-serif}
.stats span{margin-right:2em}.meta td:first-child{color:#555;width:10em}
.regression td.worse{color:#82071e;font-weight:600;background:#ffebe9}
.warn{background:#fff4e5;border-left:4px solid #d97706;padding:.5em .8em}
.pass{color:#116329}.fail{color:#82071e}.error{color:#8a4b00}ul.verdicts{margin:.2em 0;padding-left:1.2em}
.heavy{content-visibility:auto;contain-intrinsic-size:auto 3000px}"""


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>\n{body}\n</body></html>\n")


# -- the HTML report of a run --------------------------------------------------------------------

def _steps(points: list[tuple[float, float]]) -> str:
    """Polyline points drawn as steps: a level holds until the next point changes it."""
    out: list[str] = []
    for i, (px, py) in enumerate(points):
        if i:
            out.append(f"{px:.1f},{points[i - 1][1]:.1f}")
        out.append(f"{px:.1f},{py:.1f}")
    return " ".join(out)


def _chart(entries: list[dict]) -> str:
    """Inline SVG: each attempt's train score (keep, discard), best train and holdout as steps; refusals apart."""
    width, height, left, top, bottom = 900, 320, 60, 15, 50
    plot_bottom = height - bottom
    n = max(1, entries[-1]["id"])
    x = lambda i: left + (width - left - 15) * i / n
    y = lambda r: top + (plot_bottom - top) * (1 - r)
    parts = [f"<svg id='score-chart' xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
             f"viewBox='0 0 {width} {height}' role='img' aria-label='pass rate over experiments'>"]
    for tick in range(0, 101, 25):
        parts.append(f"<line x1='{left}' x2='{width - 15}' y1='{y(tick / 100):.1f}' y2='{y(tick / 100):.1f}' "
                     f"stroke='#eee'/><text x='{left - 8}' y='{y(tick / 100) + 4:.1f}' text-anchor='end'>{tick}%</text>")
    band = plot_bottom + 16  # refused proposals have no score: drawn in a band of their own, not at 0%
    parts.append(f"<text x='{left - 8}' y='{band + 4}' text-anchor='end' fill='#999'>refused</text>")
    for e in entries[:: max(1, len(entries) // 15)]:
        parts.append(f"<text x='{x(e['id']):.1f}' y='{height - 8}' text-anchor='middle'>#{e['id']}</text>")
    best, holdout, best_rate, holdout_rate = [], [], None, None
    for e in entries:
        if e["decision"] in ("baseline", "keep"):
            best_rate = e["scores"]["train"]["rate"]
            holdout_rate = (e["scores"].get("holdout") or {}).get("rate", holdout_rate)
        best.append((x(e["id"]), y(best_rate)))
        if holdout_rate is not None:
            holdout.append((x(e["id"]), y(holdout_rate)))
    parts.append(f"<polyline class='train-line' points='{_steps(best)}' fill='none' stroke='#2f7bf6' stroke-width='2'/>")
    if holdout:
        parts.append(f"<polyline class='holdout-line' points='{_steps(holdout)}' fill='none' stroke='#d97706' "
                     f"stroke-width='2' stroke-dasharray='6 4'/>")
    for e in entries:
        rate = (decision_score(e) or {}).get("rate")
        if e["decision"] in ("refused", "error") or rate is None:
            parts.append(f"<text class='mark refused' x='{x(e['id']):.1f}' y='{band + 4}' text-anchor='middle' "
                         f"fill='#999'>×<title>#{e['id']} {e['decision']}: {html.escape(e['reason'])}</title></text>")
            continue
        color = {"keep": "#16a34a", "baseline": "#2f7bf6", "discard": "#dc2626"}[e["decision"]]
        fill = color if e["decision"] != "discard" else "white"
        parts.append(f"<circle class='mark {e['decision']}' cx='{x(e['id']):.1f}' cy='{y(rate):.1f}' r='4.5' "
                     f"fill='{fill}' stroke='{color}' stroke-width='2'><title>#{e['id']} {e['decision']}: "
                     f"{rate:.1%} on {len(e['runs'])} runs</title></circle>")
    legend = [("#2f7bf6", "best, train"), ("#d97706", "best, holdout"), ("#16a34a", "keep"), ("#dc2626", "discard")]
    for i, (color, label) in enumerate(legend):
        parts.append(f"<rect x='{left + 10 + i * 120}' y='{top}' width='10' height='10' fill='{color}'/>"
                     f"<text x='{left + 24 + i * 120}' y='{top + 9}'>{label}</text>")
    parts.append(f"<text x='{left + 10 + len(legend) * 120}' y='{top + 9}' fill='#999'>× refused</text>")
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class RunFiles:
    """What a report reads besides the journal: baseline and best SKILL.md, the best version's cells."""

    baseline: str = ""
    best: str = ""
    best_cells: tuple = ()
    best_outputs: dict | None = None  # (input id, run) -> output text, or a harness Outcome's dict
    regressed: dict | None = None  # split -> eval ids worse than the baseline beyond noise; None: cells not stored


def run_files(run_dir: Any, entries: list[dict] | None = None, cells: bool = True) -> RunFiles:
    """Read a run directory's baseline, best and (with `cells`) the best version's train cells, whatever exists."""
    def text(name: str) -> str:
        path = run_dir.path / name
        return path.read_text(encoding="utf-8") if path.exists() else ""

    entries = run_dir.entries() if entries is None else entries
    digest = best_entry(entries)["skill_after"] if entries and cells else ""
    stored = run_dir.load_cells(digest) if digest else None
    cells_found, outputs = stored or ([], {})
    outcomes = {**outputs, **(run_dir.load_traces(digest) if digest else {})}
    return RunFiles(text("baseline/SKILL.md"), text("best/SKILL.md") or text("baseline/SKILL.md"), tuple(cells_found),
                    outcomes, regressed_evals(run_dir, entries) if entries else None)


def regressed_evals(run_dir: Any, entries: list[dict], alpha: float = 0.05) -> dict | None:
    """Per split, the evals on which the best is worse than the baseline beyond noise: a sign test per eval on
    the cells both versions scored, Holm-corrected across evals (as `eval --compare`). None when not stored."""
    from ..decide.stats import eval_drops
    from ..evaluate.cells import cells_map

    base, best = entries[0]["skill_after"], best_entry(entries)["skill_after"]
    found = {}
    for split in ("train", "holdout"):
        before, after = run_dir.load_cells(base, split), run_dir.load_cells(best, split)
        if before is None or after is None:
            if split == "train":
                return None
            continue
        found[split] = {d.eval_id for d in eval_drops(cells_map(after[0]), cells_map(before[0]), alpha)}
    return found


def _meta(config: dict, entries: list[dict], state: str) -> str:
    from ..evaluate.provenance import short

    info = config.get("info") or {}
    ran = config.get("provenance") or {}
    shown = {role: short(ran[role]) if role in ran else str(info.get("model" if role == "target" else role, ""))
             for role in ("target", "judge", "mutator")}
    rows = [("suite", f"{info.get('suite', '')} <small>{html.escape(str(config.get('suite', '')))}</small>"),
            ("model", html.escape(shown["target"])), ("judge", html.escape(shown["judge"])),
            ("mutator", html.escape(shown["mutator"])),
            ("inputs", f"{info['train']} train, {info['holdout']} holdout; {info['evals']} evals; {info['runs']} runs "
                       "per input" if "train" in info else ""),
            ("started", html.escape(str(config.get("created", ""))[:19].replace("T", " ")) + " UTC"
             if config.get("created") else ""),
            ("last attempt", html.escape(str(entries[-1].get("timestamp", ""))[:19].replace("T", " "))),
            ("state", f"<span id='run-state'>{html.escape(state)}</span>" if state else "")]
    return "<table class='meta'>" + "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows if v) + "</table>"


def _eval_rows(base: dict, best: dict, regressed: dict | None = None) -> str:
    """Per eval: train and holdout for baseline and best; a drop the per-eval test finds is marked a regression
    (with no stored cells to test, any drop is)."""
    rows = []
    for eval_id in base.get("per_eval", {}):
        values = [base["per_eval"].get(eval_id), best.get("per_eval", {}).get(eval_id),
                  base.get("per_eval_holdout", {}).get(eval_id), best.get("per_eval_holdout", {}).get(eval_id)]
        worse = [False, values[1] is not None and values[0] is not None and values[1] < values[0] - 1e-9,
                 False, values[3] is not None and values[2] is not None and values[3] < values[2] - 1e-9]
        if regressed is not None:
            worse = [False, worse[1] and eval_id in regressed.get("train", ()), False,
                     worse[3] and eval_id in regressed.get("holdout", ())]
        cells = "".join(f"<td{' class=worse' if w else ''}>{'–' if v is None else f'{v:.1%}'}</td>"
                        for v, w in zip(values, worse))
        bar = values[1] if values[1] is not None else values[0] or 0
        rows.append(f"<tr class='eval-row{' regression' if any(worse) else ''}'><td>{html.escape(eval_id)}</td>"
                    f"{cells}<td><span class='bar'><span style='width:{bar * 100:.0f}%'></span></span></td></tr>")
    return ("<table id='evals'><tr><th>eval</th><th>train, baseline</th><th>train, best</th><th>holdout, baseline</th>"
            f"<th>holdout, best</th><th></th></tr>{''.join(rows)}</table>")


def _output_html(value: Any) -> str:
    """An output in full: the text, and for harness targets whatever else was recorded (tool calls, files)."""
    if isinstance(value, str):
        return f"<pre class='output'>{html.escape(value)}</pre>"
    if isinstance(value, dict):  # a harness Outcome: the final text, then what the agent did
        esc = html.escape
        facts = [f"{value['turns']} turns" if value.get("turns") else "",
                 {True: "skill used", False: "skill NOT used"}.get(value.get("skill_used"), ""),
                 f"stop: {value['stop_reason']}" if value.get("stop_reason") else "",
                 f"${value['cost']:.4f}" if value.get("cost") else "",
                 f"{value['seconds']:.1f}s" if value.get("seconds") else ""]
        calls = "".join(f"<li><code>{esc(c.get('name', ''))}</code> <small>{esc(json.dumps(c.get('input', {}), ensure_ascii=False))}"
                        f"</small>{_tool_result_html(c)}</li>" for c in value.get("tool_calls") or [])
        files = "".join(f"<details class='file'><summary><code>{esc(path)}</code></summary><pre class='output'>"
                        f"{esc(str(content))}</pre></details>" for path, content in sorted((value.get("files") or {}).items()))
        return (f"<pre class='output'>{esc(str(value.get('text', '')))}</pre>"
                + (f"<p><small>{esc(' · '.join(f for f in facts if f))}</small></p>" if any(facts) else "")
                + (f"<p>tool calls:</p><ol class='tool-calls'>{calls}</ol>" if calls else "")
                + (f"<p>files:</p>{files}" if files else ""))
    return "<p><small>no output recorded</small></p>"


def _tool_result_html(call: dict) -> str:
    """What a tool call returned, under it: its exit code or error mark, and its output (as stored, capped)."""
    from ..models.outcome import ToolCall

    shown = ToolCall(str(call.get("name", "")), output=call.get("output"), is_error=call.get("is_error"),
                     exit_code=call.get("exit_code"))
    if not shown.result_text():
        return ""
    head = shown.result_text().split(":", 1)[0]
    return (f"<br><small class='tool-result{' error' if shown.is_error else ''}'>returned {html.escape(head)}</small>"
            + (f"<pre class='output'>{html.escape(shown.output)}</pre>" if shown.output else ""))


def outputs_table(cells: list, outputs: dict, splits: dict[str, str] | None = None, only_failing: bool = False,
                  limit: int | None = None) -> str:
    """Every input x run with its full output and each eval's verdict and reason (optionally failing ones only)."""
    groups: dict[tuple[str, int], list] = {}
    for c in cells:
        groups.setdefault((c.input_id, c.run), []).append(c)
    keys = [k for k, group in groups.items() if not only_failing or any(c.status != "pass" for c in group)]
    shown = keys if limit is None else keys[:limit]
    rows = []
    for input_id, run in shown:
        verdicts = "".join(f"<li class='{c.status}'>{'✓' if c.status == 'pass' else '✗'} {html.escape(c.eval_id)}"
                           + ("" if c.status == "pass" else f": <small>{html.escape(c.reason)}</small>") + "</li>"
                           for c in groups[(input_id, run)])
        split = f"<br><small>{html.escape((splits or {}).get(input_id, ''))}</small>" if splits else ""
        rows.append(f"<tr class='output-row'><td><code>{html.escape(input_id)}</code>{split}</td><td>{run}</td>"
                    f"<td><ul class='verdicts'>{verdicts}</ul>{_output_html(outputs.get((input_id, run)))}</td></tr>")
    more = f"<p><small>{len(keys) - len(shown)} more not shown.</small></p>" if len(shown) < len(keys) else ""
    if not rows:
        return "<p>None.</p>"
    return (f"<table class='outputs'><tr><th>input</th><th>run</th><th>evals and output</th></tr>{''.join(rows)}"
            f"</table>{more}")


def report_body(run_id: str, entries: list[dict], config: dict, files: RunFiles = RunFiles(), state: str = "",
                live: bool = False) -> str:
    """The report's content, shared by the static report and the live dashboard (`live`: which has its own
    outputs browser, so it leaves out the failing outputs, and fetches each attempt's diff when opened)."""
    esc = html.escape
    base, best = entries[0], best_entry(entries)
    counts = Counter(e["decision"] for e in entries[1:])
    stats = (f"<p class='stats'><span>train {_pct(base['scores']['train'])} → <b>{_pct(best['scores']['train'])}</b></span>"
             f"<span>holdout {rate_ci(base['scores'].get('holdout'))} → <b>{rate_ci(best['scores'].get('holdout'))}</b></span>"
             f"<span>{len(entries) - 1} experiments: {counts['keep']} kept, {counts['discard']} discarded, "
             f"{counts['refused']} refused</span><span>{sum(e['calls'] for e in entries)} calls, "
             f"${sum(e['cost'] for e in entries):.4f}</span>"
             + (f"<span class='keep-cost'>{esc(keep_cost_text(entries) or '')}</span>" if len(entries) > 1 else "")
             + "</p>")
    base_holdout, best_holdout = base["scores"].get("holdout"), best["scores"].get("holdout")
    warn = ""
    if base_holdout and best_holdout and best_holdout["rate"] < base_holdout["rate"]:
        warn = (f"<p class='warn holdout-drop'>Holdout fell from {_pct(base_holdout)} to {_pct(best_holdout)} while "
                "train rose: the changes may fit the train inputs only.</p>")
    regressions = [k for k in base.get("per_eval", {}) if best.get("per_eval", {}).get(k, 1) < base["per_eval"][k] - 1e-9
                   or best.get("per_eval_holdout", {}).get(k, 1) < base.get("per_eval_holdout", {}).get(k, 0) - 1e-9]
    if files.regressed is not None:  # a drop within noise is not a regression
        regressions = [k for k in regressions if any(k in ids for ids in files.regressed.values())]
    if regressions:
        warn += (f"<p class='warn'>Regressed evals: {esc(', '.join(regressions))} (worse than the baseline beyond "
                 "noise, per-eval sign test; marked below).</p>")
    findings = "".join(f"<li>{esc(line)}</li>" for line in holdout_findings(entries) + suite_size_findings(entries))
    findings = f"<ul id='holdout'>{findings}</ul>" if findings else ""
    profile = base.get("profile")
    profile_html = f"<h2>Inputs of the baseline: flaky, no signal</h2>\n<pre id='inputs'>{esc(profile_text(profile))}</pre>" \
        if profile else ""
    attempt_rows = []
    for e in entries[1:]:
        scores = "" if e["decision"] in ("refused", "error") else \
            (f"{_pct(e['best_scores']['train'])} → {_pct(decision_score(e))} (p {p_text(e['p_value'])})"
             f"<br><small>{esc(runs_note(e))}</small>")
        diff = "" if not e["diff"] else f"<details class='diff' data-id='{e['id']}'><summary>diff</summary></details>" \
            if live else f"<details><summary>diff</summary>{diff_html(e['diff'])}</details>"
        notes = "".join(f"<br><small class='flips'>{esc(line[2:])}</small>" for line in _error_and_flip_lines(e))
        attempt_rows.append(
            f"<tr class='attempt-row'><td>#{e['id']}</td><td><code>{esc(e['section'] or '')}</code></td>"
            f"<td>{esc(e['kind'] or '')}</td><td class='{e['decision']}'>{e['decision']}</td><td>{scores}</td>"
            f"<td>{esc(e['hypothesis'])}<br><small>{esc(e['reason'])}</small>{notes}{diff}</td></tr>")
    changes = section_diff(files.baseline, files.best) if files.baseline and files.best else []
    overall = "".join(f"<h3><code>{esc(section)}</code></h3>{diff_html(text)}"
                      for section, text in changes) or "<p>No change from the baseline.</p>"
    final = f"<details><summary>the final SKILL.md</summary><pre class='skill'>{esc(files.best)}</pre></details>" \
        if files.best else ""
    failing = outputs_table(list(files.best_cells), files.best_outputs or {}, only_failing=True, limit=100) \
        if files.best_cells else "<p>The best version's outputs were not stored.</p>"
    failing_section = (f"<h2>Failing outputs of the best version (train)</h2>\n<div id='failing-outputs' "
                       f"class='heavy'>{failing}</div>") if not live else ""
    uplift = f"<p id='uplift'>{esc(_uplift_line(entries))}</p>" if _uplift_line(entries) else ""
    return (f"<h1>autoresearch run {esc(run_id)}</h1>\n{_meta(config, entries, state)}\n{stats}\n{uplift}{warn}\n{findings}\n"
            f"<h2>Pass rate over experiments</h2>\n{_chart(entries)}\n<p><small>Lines: the best version's train "
            "and holdout pass rates, as steps. Dots: each candidate's train score on the runs it was evaluated on; "
            "racing stops hopeless candidates after a few runs, so a discarded dot can sit above the line on little "
            "evidence. ×: a refused proposal (no score).</small></p>\n"
            f"<h2>Per eval: baseline and best (#{best['id']})</h2>\n{_eval_rows(base, best, files.regressed)}\n"
            f"<h2>Baseline → best</h2>\n{overall}\n{final}\n"
            "<h2>Every attempt</h2>\n<div class='heavy'><table id='attempts'><tr><th>#</th><th>section</th><th>kind</th>"
            "<th>decision</th><th>train (same runs)</th><th>hypothesis, reason and diff</th></tr>"
            f"{''.join(attempt_rows)}</table></div>\n{failing_section}\n{profile_html}")


def html_report(run_id: str, entries: list[dict], config: dict, files: RunFiles = RunFiles(), state: str = "") -> str:
    """A single static HTML file, readable without JS: setup, chart, per-eval rows, diffs, attempts, failures."""
    if not entries:
        return _page(f"autoresearch run {run_id}", f"<h1>Run {html.escape(run_id)}</h1><p>No experiments yet.</p>")
    return _page(f"autoresearch run {run_id}", report_body(run_id, entries, config, files, state))


def guard_note(verdict: dict) -> str:
    """One guard's figures in a line: verdict, rates, wins and losses, and the evals that fell."""
    fell = ", ".join(f"{d['eval']} {d['before']}/{d['n']}->{d['after']}/{d['n']}" for d in verdict["evals"])
    return (f"guard {verdict['target']} {verdict['verdict']}: {verdict['before']:.1%} -> {verdict['after']:.1%} "
            f"({verdict['wins']} wins, {verdict['losses']} losses, p worse {verdict['p_worse']:.3f})"
            + (f", fell: {fell}" if fell else ""))


def refusal_kind(reason: str) -> str:
    """A refusal reason without the words it quotes: what the guard objected to."""
    return reason.split(': "', 1)[0]


REFUSALS_DOMINATE = 0.5  # share of proposals refused, at least MIN_REFUSED of them, that status calls out
MIN_REFUSED = 3


def refusal_findings(entries: list[dict]) -> list[str]:
    """Say so when refusals dominate a run: it may end on a plateau having measured almost nothing."""
    attempts = [e for e in entries[1:] if e["decision"] in ("keep", "discard", "refused")]
    refused = [e for e in attempts if e["decision"] == "refused"]
    if len(refused) < MIN_REFUSED or len(refused) < REFUSALS_DOMINATE * len(attempts):
        return []
    common, n = Counter(refusal_kind(e["reason"]) for e in refused).most_common(1)[0]
    return [f"REFUSALS DOMINATE: {len(refused)} of {len(attempts)} proposals were refused before any evaluation "
            f"({n} x {common}); a stop on plateau then means untested, not no better. Each reason (with the "
            "words a guard matched) is in the journal and in `autoresearch next`"]
