"""`eval` on several targets (a matrix) or against another arm, and the thresholds every form gates on."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .common import EXIT_BELOW, EXIT_ERROR, EXIT_OK, _open_models, _progress, _skill_and_inputs, _with_models, echo


def _eval_matrix(suite: Any, names: tuple[str, ...], judge_model: str | None, batch: bool, no_cache: bool,
                 skill_file: Path | None, split: str, runs: int | None, concurrency: int | None,
                 thresholds: tuple[str, ...], json_file: Path | None, junit_file: Path | None, html_file: Path | None,
                 compare_file: Path | None, against: str | None) -> None:
    """`eval` on several targets: one table evals x targets; JSON, JUnit and HTML carry every target."""
    import asyncio
    import dataclasses
    import json

    from ..fsio import atomic_write
    from ..review.matrix import evaluate_matrix, matrix_html, matrix_json, matrix_junit, matrix_table
    from ..review.report import counted, failing_thresholds

    context = click.get_current_context()
    for given, flag in ((context.meta.get("triggers_only"), "--triggers"), (compare_file, "--compare"),
                        (against, "--against")):
        if given:
            raise click.UsageError(f"{flag} takes one target; give one --model (a matrix runs several)")
    overall, per_eval = _parse_thresholds(thresholds, suite)
    if names:
        suites = [_with_models(suite, name, judge_model, None, batch) for name in names]
    else:
        suites = [_with_models(dataclasses.replace(suite, model=spec), None, judge_model, None, batch)
                  for spec in suite.targets]
    twice = sorted({s.model.name for s in suites if [t.model.name for t in suites].count(s.model.name) > 1})
    if twice:
        raise click.BadParameter(f"{', '.join(twice)} named twice: each target is one column of the matrix",
                                 param_hint="--model" if names else f"{suite.path}: targets")
    for warning in dict.fromkeys(w for s in suites for w in s.warnings):
        echo(str(warning), err=True)
    skill_path, skill_text, inputs = _skill_and_inputs(suite, skill_file, split)
    update, close = _progress(f"eval {suite.name} on {len(suites)} targets")
    try:
        columns = asyncio.run(evaluate_matrix(suites, skill_text, lambda s: _open_models(s, no_cache),
                                              runs=range(runs or suite.runs), inputs=inputs,
                                              concurrency=concurrency, on_progress=update,
                                              on_estimate=lambda line: echo(f"estimate: {line}", err=True)))
    finally:
        close()
    calls = sum(c.result.spend.calls for c in columns)
    echo(f"{suite.name}: {skill_path} on {counted(len(columns), 'target')}, {counted(len(inputs), 'input')} x "
         f"{counted(runs or suite.runs, 'run')}, {counted(calls, 'model call')} made "
         f"({', '.join(f'{c.name} {c.result.spend.calls}' for c in columns)}), "
         f"{max(c.result.seconds for c in columns):.1f}s")
    echo(matrix_table(suite, columns))
    data = matrix_json(suite, columns, skill_text, skill_path)
    if json_file:
        atomic_write(json_file, json.dumps(data, indent=1) + "\n")
    if junit_file:
        atomic_write(junit_file, matrix_junit(columns))
    if html_file:
        atomic_write(html_file, matrix_html(data))
    errors = [(c.name, e) for c in columns for e in c.result.errors]
    if errors:
        name, first = errors[0]
        echo(f"\n{len(errors)} cell(s) are errors, not fails; the first: {name} {first.input_id}/"
             f"{first.eval_id} run {first.run}: {first.reason}", err=True)
        sys.exit(EXIT_ERROR)
    misses = [f"{c.name}: {miss}" for c in columns
              for miss in failing_thresholds(c.suite, c.result, overall if overall is not None else suite.threshold,
                                             per_eval)]
    for miss in misses:
        echo(f"below threshold: {miss}", err=True)
    sys.exit(EXIT_BELOW if misses else EXIT_OK)


def uplift_table_text(uplift: Any, other: Any) -> str:
    """The uplift table, with what the other arm cost."""
    from ..review.uplift import uplift_table

    return uplift_table(uplift) + f"\n(the other arm, {uplift.versus}: {other.spend.calls} model calls, {other.seconds:.1f}s)"


def _parse_thresholds(values: tuple[str, ...], suite: Any, extra: tuple[str, ...] = ()) -> tuple[float | None, dict[str, float]]:
    overall, per_eval = None, {}
    known = {e.id for e in suite.evals} | set(extra)
    for value in values:
        name, _, rate = value.rpartition("=")
        try:
            number = float(rate)
        except ValueError:
            raise click.BadParameter(f"{value!r}: give a rate such as 0.9, or EVAL=0.8", param_hint="--threshold")
        if not 0 <= number <= 1:
            raise click.BadParameter(f"{value!r}: a rate is between 0 and 1", param_hint="--threshold")
        if name and name not in known:
            raise click.BadParameter(f"{value!r}: no eval {name!r} in {suite.path}", param_hint="--threshold")
        if name:
            per_eval[name] = number
        else:
            overall = number
    return overall, per_eval
