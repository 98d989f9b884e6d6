"""`eval`: score a skill with its suite; thresholds, JSON, JUnit, comparisons and failures for CI."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .arms import _eval_matrix, _parse_thresholds, uplift_table_text
from .common import (
    EXIT_BELOW,
    EXIT_ERROR,
    EXIT_OK,
    _eval_model_options,
    _open_models,
    _preflight_canary,
    _progress,
    _remember,
    _reports_errors,
    _roles_can_answer,
    _skill_and_inputs,
    _triggers_mode,
    _with_models,
    echo,
)


@click.command("eval")
@click.argument("suite_file", metavar="SUITE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--runs", type=click.IntRange(1, 1000), help="Samples per input (default: the suite's `runs`).")
@_eval_model_options
@click.option("--skill", "skill_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Score this SKILL.md instead of the suite's target.")
@click.option("--split", type=click.Choice(["train", "holdout", "all"]), default="all", show_default=True,
              help="Which inputs to run.")
@click.option("--concurrency", type=click.IntRange(1, 1024), help="Model calls in flight at once.")
@click.option("--threshold", "thresholds", multiple=True, metavar="RATE|EVAL=RATE",
              help="Exit 1 below this overall pass rate (0.9), or below a rate for one eval (owners=0.8), or with "
                   "--against below an uplift in percentage points (uplift=5). Repeatable.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the full results as JSON (schema autoresearch.eval/1, see the README).")
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write JUnit XML: one testcase per input x eval, with the failures' reasons (a testsuite "
                   "per target for a matrix).")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a standalone HTML page of the rates: evals x targets, with their intervals.")
@click.option("--compare", "compare_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="An earlier --json result: exit 1 when the total or any eval fell beyond noise (paired "
                   "tests on whole outputs, Holm-corrected).")
@click.option("--against", metavar="none|SKILL.md", help="Also run the same inputs and runs with no skill installed "
              "(`none`) or with another version of the SKILL.md, and print the skill's uplift per eval and overall: "
              "both rates, the paired difference with its interval, a verdict and the gain it could detect. "
              "Gate with --threshold uplift=POINTS.")
@click.option("--alpha", type=click.FloatRange(0.0001, 0.5), default=0.05, show_default=True,
              help="Significance level of --compare and --against.")
@click.option("--triggers", "triggers_only", is_flag=True, expose_value=False, callback=_remember,
              help="Measure the suite's trigger queries instead: does the agent load the skill when it should "
                   "(recall) and only then (precision)? Needs a harness target; gate with --threshold recall=0.9.")
@click.option("--show-failures", is_flag=True, help="Print each failing input x run: its failed evals' reasons "
              "and the full output.")
@click.option("--eval", "failures_eval", multiple=True, metavar="ID", help="With --show-failures: only failures of "
              "this eval (repeatable).")
@click.option("--input", "failures_input", multiple=True, metavar="ID", help="With --show-failures: only this input "
              "(repeatable).")
@click.option("--limit", "failures_limit", type=click.IntRange(1), help="With --show-failures: at most this many "
              "failing input x run.")
@click.option("--allow-outside", is_flag=True, help="Let the suite read input files and python checks from outside "
              "its own folder (a suite is code: allow only suites you trust).")
@click.option("--no-preflight", is_flag=True, expose_value=False, callback=_remember,
              envvar="AUTORESEARCH_NO_PREFLIGHT", show_envvar=True,
              help="Harness targets: skip the preflight canary (see `autoresearch doctor`).")
@_reports_errors
def eval_command(suite_file: Path, runs: int | None, model_name: tuple[str, ...], judge_model: str | None, batch: bool, no_cache: bool, skill_file: Path | None, split: str,
                 concurrency: int | None, thresholds: tuple[str, ...], json_file: Path | None, junit_file: Path | None,
                 html_file: Path | None,
                 compare_file: Path | None, against: str | None, alpha: float, show_failures: bool,
                 failures_eval: tuple[str, ...], failures_input: tuple[str, ...], failures_limit: int | None,
                 allow_outside: bool) -> None:
    """Score a skill with an eval suite and print the pass rate per eval.

    Exit code 0 when every threshold is met, 1 when one is not or --compare finds a regression,
    2 on bad input or when any cell is an error (a failed model call, an unparseable judge answer,
    a crashed check).
    """
    import asyncio
    import json

    from ..evaluate.cost import estimate, previewable
    from ..evaluate.runner import evaluate
    from ..fsio import atomic_write
    from ..review.report import counted, eval_table, failing_thresholds, flakiness_of, profile_text
    from ..review.results import read_result, result_json
    from ..suite.suite import load_suite

    loaded = load_suite(suite_file, allow_outside=allow_outside)
    if len(model_name) > 1 or (not model_name and len(loaded.targets) > 1):
        return _eval_matrix(loaded, model_name, judge_model, batch, no_cache, skill_file, split, runs, concurrency,
                            thresholds, json_file, junit_file, html_file, compare_file, against)
    if not model_name and loaded.targets:
        import dataclasses

        loaded = dataclasses.replace(loaded, model=loaded.targets[0])
    suite = _with_models(loaded, model_name[0] if model_name else None, judge_model, None, batch)
    triggers = _triggers_mode(suite)
    if triggers:
        from ..evaluate.triggers import trigger_suite

        suite = trigger_suite(suite)
    from ..review.uplift import TRIGGERS_NOTE, other_arm, split_thresholds

    if against and triggers:
        raise click.UsageError(f"--against: {TRIGGERS_NOTE}")
    try:
        thresholds, uplift_points = split_thresholds(thresholds)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--threshold")
    if uplift_points is not None and not against:
        raise click.BadParameter("uplift=POINTS needs --against none (or --against SKILL.md)", param_hint="--threshold")
    other = other_arm(suite, against) if against else None
    overall, per_eval = _parse_thresholds(thresholds, suite, ("recall", "precision") if triggers else ())
    trigger_limits = {k: per_eval.pop(k) for k in ("recall", "precision") if k in per_eval}
    _check_failure_filters(suite, show_failures, failures_eval, failures_input, failures_limit)
    baseline = read_result(compare_file) if compare_file else None
    if baseline is not None:
        from ..review.results import refuse_unrelated

        refuse_unrelated(baseline, compare_file, suite, suite.inputs if split == "all" else suite.split(split))
    for warning in suite.warnings:
        echo(str(warning), err=True)
    _roles_can_answer(suite, ("judge",))
    skill_path, skill_text, inputs = _skill_and_inputs(suite, skill_file, split)
    models = _open_models(suite, no_cache)
    _preflight_canary(suite, models, mutator=False)
    update, close = _progress(f"eval {suite.name}")

    async def go() -> Any:
        try:
            if previewable(suite.model):
                cost = await estimate(suite, skill_text, models, runs or suite.runs, inputs)
                if other is not None:  # the other arm: the same cells with no skill, or another version
                    cost = cost + await estimate(suite, other.text, models, runs or suite.runs, inputs)
                echo(f"estimate: {cost}" + (" (both arms)" if other is not None else ""), err=True)
            hook = _harness_preview(suite, models, [skill_text] + ([other] if other is not None else []),
                                    runs or suite.runs, inputs)
            if other is None:
                return await evaluate(suite, skill_text, models, runs=range(runs or suite.runs), inputs=inputs,
                                      concurrency=concurrency, on_progress=update, on_first=hook(0)), None
            share = max(1, (concurrency or suite.concurrency) // 2)  # both arms at once, within the bound
            return await asyncio.gather(
                evaluate(suite, skill_text, models, runs=range(runs or suite.runs), inputs=inputs, concurrency=share,
                         on_progress=update, on_first=hook(0)),
                evaluate(suite, other, models, runs=range(runs or suite.runs), inputs=inputs, concurrency=share,
                         on_first=hook(1)))
        finally:
            await models.aclose()

    try:
        result, other_result = asyncio.run(go())
    finally:
        close()
    cached = f", {result.spend.cache_hits} answers from the cache" if result.spend.cache_hits else ""
    spent = f", ${result.spend.cost:.4f}" if result.spend.cost else ""
    echo(f"{suite.name}: {skill_path} on {suite.model.name}, {counted(len(inputs), 'input')} x "
         f"{counted(runs or suite.runs, 'run')}, {counted(result.spend.calls, 'model call')} made{cached}{spent}, "
         f"{result.seconds:.1f}s")
    data = result_json(suite, result, skill_text)
    from ..evaluate.provenance import provenance

    data["provenance"] = provenance(suite, ("target", "judge"))

    from ..targets import describe_sandbox

    if describe_sandbox(suite.model) != "n/a":  # a harness target: which sandbox its cells ran in
        data["sandbox"] = describe_sandbox(suite.model)
    if triggers:
        from ..evaluate.triggers import trigger_misses, trigger_table, triggers_json

        echo(trigger_table(result))
        data["triggers"] = triggers_json(result)
    else:
        echo(eval_table(suite, result))
        echo(profile_text(flakiness_of(result, runs or suite.runs)))
    uplift = None
    if other_result is not None:
        from ..review.uplift import measure

        uplift = measure(result.cells, other_result.cells, [e.id for e in suite.evals], against, alpha)
        echo("\n" + uplift_table_text(uplift, other_result))
        data["uplift"] = {**uplift.to_dict(), "calls": other_result.spend.calls,
                          "cells": result_json(suite, other_result, "")["cells"]}
    if show_failures:
        from ..review.report import failures_text

        sealed = {i.id for i in suite.split("holdout")} if suite.holdout_sealed else set()
        chosen = (set(failures_input) or {i.id for i in suite.inputs}) - sealed if sealed else set(failures_input)
        shown = failures_text(result, set(failures_eval), chosen, failures_limit) if chosen or not sealed \
            else "no failing cells among those chosen"
        echo("\n" + shown + (f"\n(the outputs of the {len(sealed)} sealed holdout input(s) are not shown: "
                                    "they would tell a reader the holdout)" if sealed else ""))
    if json_file:
        atomic_write(json_file, json.dumps(data, indent=1) + "\n")
    if html_file:
        from ..review.matrix import TargetRun, matrix_html, matrix_json

        atomic_write(html_file, matrix_html(matrix_json(suite, [TargetRun(suite, result)], skill_text, skill_path)))
    if junit_file:
        from ..review.results import junit_xml

        junit = junit_xml(suite, result)
        if uplift is not None:
            from ..review.uplift import junit_testsuite, with_testsuite

            junit = with_testsuite(junit, junit_testsuite(suite.name, uplift, uplift_points))
        atomic_write(junit_file, junit)
    regression = False
    if baseline is not None:
        from ..review.results import compare_results

        comparison = compare_results(data, baseline, alpha)
        echo(str(comparison))
        regression = comparison.regression
    errors = result.errors + (other_result.errors if other_result is not None else [])
    if errors:
        echo(f"\n{len(errors)} cell(s) are errors, not fails; the first: "
             f"{errors[0].input_id}/{errors[0].eval_id} run {errors[0].run}: {errors[0].reason}", err=True)
        sys.exit(EXIT_ERROR)
    misses = failing_thresholds(suite, result, overall if overall is not None else suite.threshold, per_eval)
    if triggers:
        misses += trigger_misses(result, trigger_limits)
    if uplift is not None:
        from ..review.uplift import uplift_misses

        misses += uplift_misses(uplift, uplift_points)
    for miss in misses:
        echo(f"below threshold: {miss}", err=True)
    sys.exit(EXIT_BELOW if misses or regression else EXIT_OK)


def _check_failure_filters(suite: Any, shown: bool, evals: tuple[str, ...], inputs: tuple[str, ...],
                           limit: int | None) -> None:
    """--eval, --input and --limit narrow --show-failures: they need it, and name ids the suite has."""
    if (evals or inputs or limit) and not shown:
        raise click.UsageError("--eval, --input and --limit narrow --show-failures: give it too")
    for option, given, known in (("--eval", evals, {e.id for e in suite.evals}),
                                 ("--input", inputs, {i.id for i in suite.inputs})):
        unknown = [v for v in given if v not in known]
        if unknown:
            raise click.BadParameter(f"no {option[2:]} {', '.join(map(repr, unknown))} in {suite.path}; it has: "
                                     f"{', '.join(sorted(known))}", param_hint=option)


def _harness_preview(suite: Any, models: Any, arms: list, runs: int, inputs: Any) -> Any:
    """For a harness target: `on_first` hooks (by arm) that print the calls of every arm once each arm's first cell
    has measured its calls per run (the cells are kept); for a model target, hooks that do nothing (None)."""
    from ..evaluate.cost import Estimate, FirstCells, calls_per_run, target_estimate
    from ..targets import is_harness

    if not is_harness(suite.model):
        return lambda index: None

    async def ready(firsts: dict) -> None:
        each = [await target_estimate(suite, "", models, runs, inputs, calls_per_run(firsts.get(i)))
                for i in range(len(arms))]
        total = sum(each, Estimate(0, 0, 0, 0.0, True))
        echo(f"estimate: {total}" + (f" (both arms: {each[0].calls} and {each[1].calls})"
                                           if len(arms) > 1 else ""), err=True)

    return FirstCells(len(arms), ready).hook

