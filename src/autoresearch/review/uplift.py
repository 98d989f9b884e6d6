"""Uplift: does the skill help at all? The skill against no skill (or another version) on the same cells.

Both arms run the same inputs and runs; each (input, eval, run) cell is paired across them. The unit
of evidence is an output (one input, one run), as in the keep rule: the difference's interval is
clustered by output and the verdict comes from the flip test on whole outputs, both ways. Per-eval
verdicts are Holm-corrected across evals. "Could detect" is the smallest gain the test would find
with 80% power given the spread seen (never below the fewest all-one-way outputs that reach alpha).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import NormalDist
from typing import Any

from ..decide.stats import Cells, pair, scored_pairs
from ..evaluate.cells import cells_map
from ..targets import SkillUnderTest

NO_SKILL = "none"
POWER = 0.8
HELPS, NO_EFFECT, HURTS = "helps", "no detectable effect", "hurts"
TRIGGERS_NOTE = ("uplift does not apply to trigger suites: without the skill installed there is nothing to trigger, "
                 "so recall and precision have no no-skill arm to compare with")


@dataclass(frozen=True)
class Difference:
    """Skill minus the other arm on the cells both scored: rates, the difference and its 95% interval on outputs."""

    skill: float
    other: float
    difference: float
    low: float
    high: float
    p_helps: float  # one-sided flip test: a gain this large if the skill made no difference
    p_hurts: float
    detectable: float | None  # the gain the test finds with 80% power at this spread; None: too few outputs for any
    cells: int
    outputs: int
    verdict: str = NO_EFFECT

    def to_dict(self) -> dict[str, Any]:
        return {"with_skill": round(self.skill, 6), "without": round(self.other, 6),
                "difference": round(self.difference, 6), "low": round(self.low, 6), "high": round(self.high, 6),
                "p_helps": round(self.p_helps, 6), "p_hurts": round(self.p_hurts, 6),
                "detectable": None if self.detectable is None else round(self.detectable, 6), "cells": self.cells,
                "outputs": self.outputs,
                "verdict": self.verdict}


@dataclass(frozen=True)
class Uplift:
    """The uplift of one evaluation over its other arm: overall and per eval, and what the other arm was."""

    against: str  # "none" or the other SKILL.md's path
    alpha: float
    overall: Difference
    evals: dict[str, Difference]

    @property
    def versus(self) -> str:
        return "no skill" if self.against == NO_SKILL else self.against

    def to_dict(self) -> dict[str, Any]:
        return {"against": self.against, "alpha": self.alpha, "overall": self.overall.to_dict(),
                "evals": {k: v.to_dict() for k, v in self.evals.items()}}


def other_arm(suite: Any, against: str) -> SkillUnderTest:
    """The arm the skill is compared with: nothing installed (`none`), or another version of the SKILL.md."""
    if against == NO_SKILL:
        return SkillUnderTest("", suite.skill_path.parent, suite.distractors, installed=False)
    from ..suite.userfiles import read_user_text

    return SkillUnderTest(read_user_text(Path(against)), suite.skill_path.parent, suite.distractors)


def _outputs(skill: Cells, other: Cells) -> list[tuple[int, int]]:
    """Per output (input, run): (skill passes minus other passes, cells paired) over the cells both scored."""
    by_output: dict = {}
    for key, passed, theirs in scored_pairs(skill, other):
        row = by_output.setdefault((key[0], key[-1]), [0, 0])
        row[0] += int(passed) - int(theirs)
        row[1] += 1
    return [(d, n) for d, n in by_output.values()]


def _minimum_wins(alpha: float) -> int:
    """The fewest outputs, all one way, that reach `alpha` in the flip test (2^-k < alpha)."""
    return max(1, math.ceil(math.log2(1 / alpha) + 1e-9))


def difference(skill: Cells, other: Cells, alpha: float) -> Difference:
    """The paired difference skill - other on whole outputs: its rates, its 95% interval (cluster-robust, with
    half a discordant cell each way added so that no data never reads as certainty) and its two one-sided tests."""
    outputs = _outputs(skill, other)
    n = sum(size for _, size in outputs)
    paired = pair(skill, other)
    if not n:
        return Difference(0.0, 0.0, 0.0, -1.0, 1.0, 1.0, 1.0, None, 0, 0)
    total = sum(d for d, _ in outputs)
    estimate = total / n
    weighted = [(d, size, 1.0) for d, size in outputs] + [(1, 1, 0.5), (-1, 1, 0.5)]
    cells = sum(w * size for _, size, w in weighted)
    centre = sum(w * d for d, _, w in weighted) / cells
    groups = len(outputs) + 1
    spread = sum(w * (d - centre * size) ** 2 for d, size, w in weighted)
    se = math.sqrt(groups / max(1, groups - 1) * spread) / cells
    z = NormalDist().inv_cdf(0.975)
    null_se = math.sqrt(sum(w * d * d for d, _, w in weighted)) / cells
    power = NormalDist().inv_cdf(1 - alpha) + NormalDist().inv_cdf(POWER)
    floor = _minimum_wins(alpha)
    detectable = None if len(outputs) < floor else min(1.0, max(power * null_se, floor / n))
    return Difference(paired.candidate_rate, paired.best_rate, estimate, max(-1.0, centre - z * se),
                      min(1.0, centre + z * se), paired.p_value, paired.p_worse, detectable, n, len(outputs))


def holm_adjusted(p_values: dict[str, float]) -> dict[str, float]:
    """Holm's adjusted p-values: reject at alpha exactly where Holm's step-down procedure would."""
    ordered = sorted(p_values.items(), key=lambda kv: kv[1])
    adjusted, running = {}, 0.0
    for rank, (key, p) in enumerate(ordered):
        running = max(running, min(1.0, (len(ordered) - rank) * p))
        adjusted[key] = running
    return adjusted


def measure(skill_cells: list, other_cells: list, eval_ids: list[str], against: str, alpha: float) -> Uplift:
    """The uplift of one arm's cells over the other's: overall at `alpha`; per eval with Holm-adjusted p-values."""
    mine, theirs = cells_map(skill_cells), cells_map(other_cells)
    overall = difference(mine, theirs, alpha)
    per_eval = {e: difference({k: v for k, v in mine.items() if k[1] == e}, theirs, alpha) for e in eval_ids}
    helps = holm_adjusted({e: d.p_helps for e, d in per_eval.items()})
    hurts = holm_adjusted({e: d.p_hurts for e, d in per_eval.items()})
    per_eval = {e: replace(d, p_helps=helps[e], p_hurts=hurts[e]) for e, d in per_eval.items()}
    return Uplift(against, alpha, _judged(overall, alpha), {e: _judged(d, alpha) for e, d in per_eval.items()})


def _judged(diff: Difference, alpha: float) -> Difference:
    return replace(diff, verdict=HELPS if diff.p_helps < alpha else HURTS if diff.p_hurts < alpha else NO_EFFECT)


def _points(value: float, sign: bool = True) -> str:
    return f"{100 * value:+.1f}" if sign else f"{100 * value:.1f}"


def detectable_text(d: Difference, alpha: float) -> str:
    """The gain the test could detect, in words: points, or why none (too few outputs to ever reach alpha)."""
    if d.detectable is None:
        return f"none: {d.outputs} outputs, {_minimum_wins(alpha)} needed"
    return f"{_points(d.detectable, False)} points"


def _row(name: str, d: Difference, width: int, alpha: float) -> str:
    p = d.p_helps if d.verdict == HELPS else d.p_hurts if d.verdict == HURTS else min(d.p_helps, d.p_hurts)
    return (f"  {name:<{width}}  {d.skill:6.1%}  {d.other:6.1%}  {_points(d.difference):>6} "
            f"[{_points(d.low):>6}, {_points(d.high):>6}]  {d.verdict:<20} (p {p:.3f})  {detectable_text(d, alpha)}")


def uplift_table(uplift: Uplift) -> str:
    """Per eval and overall: both rates, the difference in points with its interval, the verdict, the detectable gain."""
    width = max([len(e) for e in uplift.evals] + [len("overall")])
    lines = [f"uplift over {uplift.versus} (same inputs and runs; difference = with skill - {uplift.versus}, in "
             f"points, 95% interval on outputs; verdict: paired flip test at {uplift.alpha:g}, per eval "
             f"Holm-adjusted p; could detect: the gain found with {POWER:.0%} power)",
             f"  {'eval':<{width}}  {'skill':>6}  {'other':>6}  {'diff':>6} {'[95% interval]':<16}  "
             f"{'verdict':<31}  could detect"]
    lines += [_row(e, d, width, uplift.alpha) for e, d in uplift.evals.items()]
    lines += ["", _row("overall", uplift.overall, width, uplift.alpha)]
    o = uplift.overall
    lines.append(f"the skill adds {_points(o.difference)} points over {uplift.versus} "
                 f"({o.skill:.1%} vs {o.other:.1%} on {o.outputs} outputs): {o.verdict}")
    return "\n".join(lines)


def run_uplift_line(entries: list[dict]) -> str | None:
    """`run --uplift`: what the best adds over no skill, and what the baseline added, from the journal."""
    from ..runs.journal import best_entry

    base, best = entries[0].get("uplift"), best_entry(entries).get("uplift") if entries else None
    if not base:
        return None
    best = best or base
    return (f"the skill adds {_points(best['overall']['difference'])} points over no skill "
            f"(baseline: {_points(base['overall']['difference'])}); the best {best['overall']['with_skill']:.1%} vs "
            f"no skill {best['overall']['without']:.1%} on the same runs: {best['overall']['verdict']}")


def uplift_misses(uplift: Uplift, points: float | None) -> list[str]:
    """`--threshold uplift=POINTS`: the overall uplift must be at least POINTS percentage points."""
    if points is None or 100 * uplift.overall.difference >= points:
        return []
    return [f"uplift over {uplift.versus} is {_points(uplift.overall.difference)} points, below the threshold of "
            f"{points:+g} points"]


def split_thresholds(values: tuple[str, ...]) -> tuple[tuple[str, ...], float | None]:
    """The `uplift=POINTS` threshold apart from the rate thresholds; a bad number is a usage error (ValueError)."""
    rest, points = [], None
    for value in values:
        name, _, number = value.rpartition("=")
        if name != "uplift":
            rest.append(value)
            continue
        try:
            points = float(number)
        except ValueError:
            raise ValueError(f"{value!r}: give the uplift in percentage points, such as uplift=5") from None
    return tuple(rest), points


def junit_testsuite(suite_name: str, uplift: Uplift, points: float | None):
    """A JUnit testsuite for the uplift: one testcase per eval and one overall; a failure where the skill hurts,
    or where the overall misses `--threshold uplift=POINTS`."""
    import xml.etree.ElementTree as ET

    rows = list(uplift.evals.items()) + [("overall", uplift.overall)]
    misses = uplift_misses(uplift, points)
    node = ET.Element("testsuite", name=f"{suite_name}.uplift", tests=str(len(rows)))
    failures = 0
    for name, d in rows:
        case = ET.SubElement(node, "testcase", classname=f"{suite_name}.uplift", name=name, time="0")
        text = (f"{d.skill:.1%} with the skill vs {d.other:.1%} with {uplift.versus}: {_points(d.difference)} points "
                f"[{_points(d.low)}, {_points(d.high)}], {d.verdict}")
        why = text if d.verdict == HURTS else misses[0] if name == "overall" and misses else ""
        if why:
            failures += 1
            ET.SubElement(case, "failure", type="uplift", message=why)
        ET.SubElement(case, "system-out").text = text
    node.set("failures", str(failures))
    node.set("errors", "0")
    return node


def with_testsuite(junit: str, node) -> str:
    """A JUnit document with one more testsuite, its totals updated."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(junit)
    root.append(node)
    for key in ("tests", "failures", "errors"):
        root.set(key, str(sum(int(s.get(key, "0")) for s in root.findall("testsuite"))))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
