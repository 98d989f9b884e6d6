"""A matrix: one suite measured on several targets (harnesses, models) in one command, evals x targets.

Each target gets its own models (its harness's local server, say) and runs the same inputs and runs;
targets run at once, the suite's concurrency shared between them. Rates carry an interval on outputs:
the evals of one output pass and fail together, so the overall rate's Wilson interval is taken on the
effective number of outputs (the cell count over the design effect of the outputs' clustering).
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..evaluate.cells import PASS, Cell
from ..evaluate.runner import EvalResult, Models, evaluate
from ..suite.suite import Suite
from ..targets import is_harness

MATRIX_SCHEMA = "autoresearch.matrix/1"


@dataclass(frozen=True)
class TargetRun:
    """One target's column of the matrix: the suite as run on it and its scored cells."""

    suite: Suite
    result: EvalResult

    @property
    def name(self) -> str:
        return self.suite.model.name


def output_rate(cells: Sequence[Cell]) -> dict[str, Any]:
    """Pass rate of `cells` with a 95% interval on outputs (input x run): Wilson on the effective sample size.

    The design effect is the variance of the rate with outputs as clusters over its variance as if every
    cell were independent, between 1 and the largest output's cell count (when the rate is 0 or 1 there is
    no variance to compare, and the worst case, whole outputs, is taken)."""
    scored = [c for c in cells if c.status != "error"]
    outputs: dict = {}
    for c in scored:
        row = outputs.setdefault((c.input_id, c.run), [0, 0])
        row[0] += c.status == PASS
        row[1] += 1
    n, passed = len(scored), sum(c.status == PASS for c in scored)
    errors = len(cells) - n
    if not n:
        return {"passed": 0, "failed": 0, "errors": errors, "rate": 0.0, "low": 0.0, "high": 1.0, "outputs": 0}
    p, largest, groups = passed / n, max(size for _, size in outputs.values()), len(outputs)
    if 0 < p < 1 and groups > 1:
        clustered = groups / (groups - 1) * sum((x - p * size) ** 2 for x, size in outputs.values()) / n ** 2
        effect = min(largest, max(1.0, clustered / (p * (1 - p) / n)))
    else:
        effect = float(largest)
    effective = n / effect
    low, high = _wilson_real(p, effective)
    return {"passed": passed, "failed": n - passed, "errors": errors, "rate": round(p, 6), "low": round(low, 6),
            "high": round(high, 6), "outputs": groups}


def _wilson_real(p: float, n: float, z: float = 1.959964) -> tuple[float, float]:
    """Wilson's interval for a rate `p` on a (possibly fractional) sample size `n`."""
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


async def evaluate_matrix(suites: Sequence[Suite], skill: str, open_models: Callable[[Suite], Models], *,
                          runs: Sequence[int], inputs: Sequence | None = None, concurrency: int | None = None,
                          on_progress: Callable[[int, int], None] | None = None,
                          on_estimate: Callable[[str], None] | None = None) -> list[TargetRun]:
    """Score `skill` on every target at once (one suite per target), the concurrency shared between them;
    `on_estimate` first hears what every target will take (calls, tokens, dollars)."""
    share = max(1, (concurrency or suites[0].concurrency) // len(suites))
    done = [0] * len(suites)
    items = list(inputs if inputs is not None else suites[0].inputs)
    total = len(items) * len(runs) * len(suites)

    def progress(index: int) -> Callable[[int, int], None]:
        def update(count: int, _: int) -> None:
            done[index] = count
            if on_progress:
                on_progress(sum(done), total)
        return update

    models = [open_models(s) for s in suites]
    harnesses = [i for i, s in enumerate(suites) if is_harness(s.model)] if on_estimate else []

    async def estimate(firsts: dict[int, EvalResult]) -> None:
        """One preview line for every target, a harness's calls per run measured on its first cell."""
        from ..evaluate.cost import Estimate, calls_per_run, target_estimate

        each = [await target_estimate(s, skill, m, len(runs), items, calls_per_run(firsts.get(i)))
                for i, (s, m) in enumerate(zip(suites, models))]
        total = sum(each, Estimate(0, 0, 0, 0.0, True))
        on_estimate(f"{len(suites)} targets: {total}; " + ", ".join(f"{s.model.name} {e.calls}"
                                                                   for s, e in zip(suites, each)))

    from ..evaluate.cost import FirstCells

    firsts = FirstCells(len(harnesses), estimate)
    try:
        if on_estimate and not harnesses:
            await estimate({})
        results = await asyncio.gather(*(evaluate(s, skill, m, runs=runs, inputs=items, concurrency=share,
                                                  on_progress=progress(i),
                                                  on_first=firsts.hook(i) if i in harnesses else None)
                                         for i, (s, m) in enumerate(zip(suites, models))))
    finally:
        for m in models:
            await m.aclose()
    return [TargetRun(s, r) for s, r in zip(suites, results)]


def matrix_rates(suite: Suite, columns: Sequence[TargetRun]) -> dict[str, Any]:
    """{"evals": {eval: {target: rate}}, "overall": {target: rate}}, every rate with its interval on outputs."""
    return {"evals": {ev.id: {c.name: output_rate(c.result.select(eval_id=ev.id)) for c in columns}
                      for ev in suite.evals},
            "overall": {c.name: output_rate(c.result.cells) for c in columns}}


def _cell_text(rate: dict) -> str:
    return f"{rate['rate']:6.1%} [{rate['low']:4.0%}–{rate['high']:4.0%}]"


def matrix_table(suite: Suite, columns: Sequence[TargetRun]) -> str:
    """Evals down, targets across: each rate with its 95% interval on outputs; the overall per target last."""
    rates = matrix_rates(suite, columns)
    width = max([len(e.id) for e in suite.evals] + [len("overall")])
    cell = max([len(c.name) for c in columns] + [len(_cell_text({"rate": 1, "low": 1, "high": 1}))])
    lines = [f"  {'eval':<{width}}  " + "  ".join(f"{c.name:<{cell}}" for c in columns)]
    for ev in suite.evals:
        lines.append(f"  {ev.id:<{width}}  " + "  ".join(f"{_cell_text(rates['evals'][ev.id][c.name]):<{cell}}"
                                                        for c in columns))
    lines.append("")
    lines.append(f"  {'overall':<{width}}  " + "  ".join(f"{_cell_text(rates['overall'][c.name]):<{cell}}"
                                                        for c in columns))
    return "\n".join(lines)


def matrix_json(suite: Suite, columns: Sequence[TargetRun], skill_text: str,
                skill_path: Any = None) -> dict[str, Any]:
    """The matrix as JSON (schema `autoresearch.matrix/1`): the rates, then each target's full eval/1 result;
    `skill_path`: the SKILL.md measured when it is not the suite's own (eval --skill)."""
    from .results import result_json

    return {"schema": MATRIX_SCHEMA, "suite": suite.name, "suite_path": str(suite.path),
            "skill_path": str(skill_path or suite.skill_path), "skill_sha256": hashlib.sha256(skill_text.encode()).hexdigest(),
            "targets": [c.name for c in columns], "matrix": matrix_rates(suite, columns),
            "results": {c.name: result_json(c.suite, c.result, skill_text) for c in columns}}


def matrix_junit(columns: Sequence[TargetRun]) -> str:
    """JUnit with a testsuite per target (named `SUITE@TARGET`), each as `eval --junit` writes it for one target."""
    import dataclasses
    import xml.etree.ElementTree as ET

    from .results import junit_xml

    root = ET.Element("testsuites", name="autoresearch")
    for c in columns:
        named = dataclasses.replace(c.suite, name=f"{c.suite.name}@{c.name}")
        root.extend(ET.fromstring(junit_xml(named, c.result)).findall("testsuite"))
    for key in ("tests", "failures", "errors"):
        root.set(key, str(sum(int(s.get(key, "0")) for s in root.findall("testsuite"))))
    root.set("time", f"{sum(c.result.seconds for c in columns):.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def matrix_html(data: dict[str, Any]) -> str:
    """A standalone page of a matrix JSON: evals x targets, each rate with its interval, overall per target."""
    from .html import _page

    esc = html.escape
    targets = data["targets"]

    def cell(rate: dict, target: str) -> str:
        return (f"<td class='rate' data-target='{esc(target)}' data-rate='{rate['rate']:.6f}'>{rate['rate']:.1%} "
                f"<small>[{rate['low']:.0%}–{rate['high']:.0%}]</small></td>")

    head = "".join(f"<th>{esc(t)}</th>" for t in targets)
    rows = "".join(f"<tr class='matrix-row' data-eval='{esc(e)}'><td>{esc(e)}</td>"
                   + "".join(cell(by[t], t) for t in targets) + "</tr>"
                   for e, by in data["matrix"]["evals"].items())
    overall = "<tr class='matrix-overall'><td><b>overall</b></td>" + "".join(
        cell(data["matrix"]["overall"][t], t) for t in targets) + "</tr>"
    spend = "".join(f"<li>{esc(t)}: {r['spend']['calls']} model calls, {r['seconds']:.1f}s</li>"
                    for t, r in data["results"].items())
    body = (f"<h1>autoresearch matrix: {esc(str(data['suite']))}</h1>"
            f"<p>{esc(str(data['skill_path']))} on {len(targets)} targets; each rate with its 95% interval on "
            f"outputs (input x run)</p><table id='matrix'><tr><th>eval</th>{head}</tr>{rows}{overall}</table>"
            f"<h2>Spend</h2><ul>{spend}</ul>")
    return _page(f"autoresearch matrix: {data['suite']}", body)
