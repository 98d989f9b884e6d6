"""`eval`, `validate`, `sections`: score a skill, check a suite, list a SKILL.md's sections."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .common import (
    EXIT_BELOW,
    EXIT_ERROR,
    EXIT_OK,
    _eval_model_options,
    _open_models,
    _progress,
    _remember,
    _reports_errors,
    _triggers_mode,
    _with_models,
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
              help="Exit 1 below this overall pass rate (0.9), or below a rate for one eval (owners=0.8). Repeatable.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the full results as JSON (schema autoresearch.eval/1, see the README).")
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write JUnit XML: one testcase per input x eval, with the failures' reasons.")
@click.option("--compare", "compare_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="An earlier --json result: exit 1 when the total or any eval fell beyond noise (paired "
                   "tests on whole outputs, Holm-corrected).")
@click.option("--alpha", type=click.FloatRange(0.0001, 0.5), default=0.05, show_default=True,
              help="Significance level of --compare.")
@click.option("--triggers", "triggers_only", is_flag=True, expose_value=False, callback=_remember,
              help="Measure the suite's trigger queries instead: does the agent load the skill when it should "
                   "(recall) and only then (precision)? Needs a harness target; gate with --threshold recall=0.9.")
@click.option("--show-failures", is_flag=True, help="Print each failing input x run: its failed evals' reasons "
              "and the full output.")
@click.option("--allow-outside", is_flag=True, help="Let the suite read input files and python checks from outside "
              "its own folder (a suite is code: allow only suites you trust).")
@_reports_errors
def eval_command(suite_file: Path, runs: int | None, model_name: str | None, judge_model: str | None, batch: bool, no_cache: bool, skill_file: Path | None, split: str,
                 concurrency: int | None, thresholds: tuple[str, ...], json_file: Path | None, junit_file: Path | None,
                 compare_file: Path | None, alpha: float, show_failures: bool,
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
    from ..review.report import (
        counted,
        eval_table,
        failing_thresholds,
        flakiness_of,
        profile_text,
        read_result,
        result_json,
    )
    from ..suite.suite import load_suite
    from ..suite.userfiles import read_user_text

    suite = _with_models(load_suite(suite_file, allow_outside=allow_outside), model_name, judge_model, None, batch)
    triggers = _triggers_mode(suite)
    if triggers:
        from ..evaluate.triggers import trigger_suite

        suite = trigger_suite(suite)
    overall, per_eval = _parse_thresholds(thresholds, suite, ("recall", "precision") if triggers else ())
    trigger_limits = {k: per_eval.pop(k) for k in ("recall", "precision") if k in per_eval}
    baseline = read_result(compare_file) if compare_file else None
    for warning in suite.warnings:
        click.echo(str(warning), err=True)
    skill_path = skill_file or suite.skill_path
    skill_text = read_user_text(skill_path)
    inputs = suite.inputs if split == "all" else suite.split(split)
    if not inputs:
        click.echo(f"error: {suite.path}: no {split} inputs", err=True)
        sys.exit(EXIT_ERROR)
    models = _open_models(suite, no_cache)
    update, close = _progress(f"eval {suite.name}")

    async def go() -> Any:
        try:
            if previewable(suite.model):
                cost = await estimate(suite, skill_text, models, runs or suite.runs, inputs)
                click.echo(f"estimate: {cost}", err=True)
            return await evaluate(suite, skill_text, models, runs=range(runs or suite.runs), inputs=inputs,
                                  concurrency=concurrency, on_progress=update)
        finally:
            await models.aclose()

    try:
        result = asyncio.run(go())
    finally:
        close()
    cached = f", {result.spend.cache_hits} answers from the cache" if result.spend.cache_hits else ""
    spent = f", ${result.spend.cost:.4f}" if result.spend.cost else ""
    click.echo(f"{suite.name}: {skill_path} on {suite.model.name}, {counted(len(inputs), 'input')} x "
               f"{counted(runs or suite.runs, 'run')}, {counted(result.spend.calls, 'model call')} made{cached}{spent}, "
               f"{result.seconds:.1f}s")
    data = result_json(suite, result, skill_text)
    from ..sandbox import describe

    if describe(suite.model) != "n/a":  # a harness target: which sandbox its cells ran in
        data["sandbox"] = describe(suite.model)
    if triggers:
        from ..evaluate.triggers import trigger_misses, trigger_table, triggers_json

        click.echo(trigger_table(result))
        data["triggers"] = triggers_json(result)
    else:
        click.echo(eval_table(suite, result))
        click.echo(profile_text(flakiness_of(result, runs or suite.runs)))
    if show_failures:
        from ..review.report import failures_text

        click.echo("\n" + failures_text(result))
    if json_file:
        atomic_write(json_file, json.dumps(data, indent=1) + "\n")
    if junit_file:
        from ..review.report import junit_xml

        atomic_write(junit_file, junit_xml(suite, result))
    regression = False
    if baseline is not None:
        from ..review.report import compare_results

        comparison = compare_results(data, baseline, alpha)
        click.echo(str(comparison))
        regression = comparison.regression
    errors = result.errors
    if errors:
        click.echo(f"\n{len(errors)} cell(s) are errors, not fails; the first: "
                   f"{errors[0].input_id}/{errors[0].eval_id} run {errors[0].run}: {errors[0].reason}", err=True)
        sys.exit(EXIT_ERROR)
    misses = failing_thresholds(suite, result, overall if overall is not None else suite.threshold, per_eval)
    if triggers:
        misses += trigger_misses(result, trigger_limits)
    for miss in misses:
        click.echo(f"below threshold: {miss}", err=True)
    sys.exit(EXIT_BELOW if misses or regression else EXIT_OK)


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


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--allow-outside", is_flag=True, help="Let the suite read input files and python checks from outside "
              "its own folder (a suite is code: allow only suites you trust).")
@_reports_errors
def validate(files: tuple[Path, ...], allow_outside: bool) -> None:
    """Check SKILL.md files and suite files without running anything (a python check is parsed, not run).

    A `.yaml`/`.yml` file is read as a suite (and its target skill is checked too); anything else as
    a SKILL.md. Exit code 2 when any file has an error; warnings are printed but pass. Files a suite
    reads from outside its folder are listed.
    """
    from ..errors import InputError
    from ..review.report import counted
    from ..sandbox import describe
    from ..suite.skill import load_skill, validate_skill
    from ..suite.suite import load_suite

    failed = False
    for path in files:
        try:
            if path.suffix in (".yaml", ".yml"):
                suite = load_suite(path, allow_outside=allow_outside)
                problems = list(suite.warnings)
                for outside in suite.outside:
                    click.echo(f"{path}: reads outside its folder: {outside}", err=True)
                summary = (f"suite, {counted(len(suite.inputs), 'input')} ({len(suite.split('holdout'))} holdout), "
                           f"{counted(len(suite.evals), 'eval')}, sandbox: {describe(suite.model)}")
            else:
                doc = load_skill(path)
                problems = validate_skill(doc, path.resolve().parent.name)
                summary = f"skill, {counted(len([s for s in doc.sections if s.level]), 'section')}"
        except InputError as exc:
            problems, summary = exc.problems, ""
        for problem in problems:
            click.echo(str(problem), err=True)
        bad = any(p.severity == "error" for p in problems)
        failed = failed or bad
        click.echo(f"{path}: {'invalid' if bad else 'ok'}{' (' + summary + ')' if summary and not bad else ''}")
    sys.exit(EXIT_ERROR if failed else EXIT_OK)


@click.command()
@click.argument("skill_file", metavar="SKILL.md", type=click.Path(dir_okay=False, path_type=Path))
@_reports_errors
def sections(skill_file: Path) -> None:
    """List the section ids of a SKILL.md (the names `--sections` and `try --section` take)."""
    from ..errors import input_error
    from ..suite.skill import load_skill

    if skill_file.suffix in (".yaml", ".yml"):
        raise input_error(str(skill_file), "this is a suite file, not a SKILL.md: give the skill itself (the suite's "
                                           "`skill:` names it)")
    doc = load_skill(skill_file)
    for s in doc.sections:
        if s.level == 0 and not s.body.strip():
            continue
        words = len(s.body.split())
        title = "(text before the first heading)" if s.level == 0 else f"{'#' * s.level} {s.title}"
        click.echo(f"{s.id:<40} line {s.line:<5} {words:>4} words  {title}")
