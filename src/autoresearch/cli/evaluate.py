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
    _preflight_canary,
    _progress,
    _remember,
    _reports_errors,
    _roles_can_answer,
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
        from ..review.report import refuse_unrelated

        refuse_unrelated(baseline, compare_file, suite, suite.inputs if split == "all" else suite.split(split))
    for warning in suite.warnings:
        click.echo(str(warning), err=True)
    _roles_can_answer(suite, ("judge",))
    skill_path = skill_file or suite.skill_path
    skill_text = read_user_text(skill_path)
    inputs = suite.inputs if split == "all" else suite.split(split)
    if not inputs:
        click.echo(f"error: {suite.path}: no {split} inputs", err=True)
        sys.exit(EXIT_ERROR)
    models = _open_models(suite, no_cache)
    _preflight_canary(suite, models, mutator=False)
    update, close = _progress(f"eval {suite.name}")

    async def go() -> Any:
        try:
            if previewable(suite.model):
                cost = await estimate(suite, skill_text, models, runs or suite.runs, inputs)
                if other is not None:  # the other arm: the same cells with no skill, or another version
                    cost = cost + await estimate(suite, other.text, models, runs or suite.runs, inputs)
                click.echo(f"estimate: {cost}" + (" (both arms)" if other is not None else ""), err=True)
            if other is None:
                return await evaluate(suite, skill_text, models, runs=range(runs or suite.runs), inputs=inputs,
                                      concurrency=concurrency, on_progress=update), None
            share = max(1, (concurrency or suite.concurrency) // 2)  # both arms at once, within the bound
            return await asyncio.gather(
                evaluate(suite, skill_text, models, runs=range(runs or suite.runs), inputs=inputs, concurrency=share,
                         on_progress=update),
                evaluate(suite, other, models, runs=range(runs or suite.runs), inputs=inputs, concurrency=share))
        finally:
            await models.aclose()

    try:
        result, other_result = asyncio.run(go())
    finally:
        close()
    cached = f", {result.spend.cache_hits} answers from the cache" if result.spend.cache_hits else ""
    spent = f", ${result.spend.cost:.4f}" if result.spend.cost else ""
    click.echo(f"{suite.name}: {skill_path} on {suite.model.name}, {counted(len(inputs), 'input')} x "
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

        click.echo(trigger_table(result))
        data["triggers"] = triggers_json(result)
    else:
        click.echo(eval_table(suite, result))
        click.echo(profile_text(flakiness_of(result, runs or suite.runs)))
    uplift = None
    if other_result is not None:
        from ..review.uplift import measure

        uplift = measure(result.cells, other_result.cells, [e.id for e in suite.evals], against, alpha)
        click.echo("\n" + uplift_table_text(uplift, other_result))
        data["uplift"] = {**uplift.to_dict(), "calls": other_result.spend.calls,
                          "cells": result_json(suite, other_result, "")["cells"]}
    if show_failures:
        from ..review.report import failures_text

        click.echo("\n" + failures_text(result, set(failures_eval), set(failures_input), failures_limit))
    if json_file:
        atomic_write(json_file, json.dumps(data, indent=1) + "\n")
    if html_file:
        from ..review.matrix import TargetRun, matrix_html, matrix_json

        atomic_write(html_file, matrix_html(matrix_json(suite, [TargetRun(suite, result)], skill_text, skill_path)))
    if junit_file:
        from ..review.report import junit_xml

        junit = junit_xml(suite, result)
        if uplift is not None:
            from ..review.uplift import junit_testsuite, with_testsuite

            junit = with_testsuite(junit, junit_testsuite(suite.name, uplift, uplift_points))
        atomic_write(junit_file, junit)
    regression = False
    if baseline is not None:
        from ..review.report import compare_results

        comparison = compare_results(data, baseline, alpha)
        click.echo(str(comparison))
        regression = comparison.regression
    errors = result.errors + (other_result.errors if other_result is not None else [])
    if errors:
        click.echo(f"\n{len(errors)} cell(s) are errors, not fails; the first: "
                   f"{errors[0].input_id}/{errors[0].eval_id} run {errors[0].run}: {errors[0].reason}", err=True)
        sys.exit(EXIT_ERROR)
    misses = failing_thresholds(suite, result, overall if overall is not None else suite.threshold, per_eval)
    if triggers:
        misses += trigger_misses(result, trigger_limits)
    if uplift is not None:
        from ..review.uplift import uplift_misses

        misses += uplift_misses(uplift, uplift_points)
    for miss in misses:
        click.echo(f"below threshold: {miss}", err=True)
    sys.exit(EXIT_BELOW if misses or regression else EXIT_OK)


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
    from ..suite.userfiles import read_user_text

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
        click.echo(str(warning), err=True)
    skill_path = skill_file or suite.skill_path
    skill_text = read_user_text(skill_path)
    inputs = suite.inputs if split == "all" else suite.split(split)
    if not inputs:
        click.echo(f"error: {suite.path}: no {split} inputs", err=True)
        sys.exit(EXIT_ERROR)
    update, close = _progress(f"eval {suite.name} on {len(suites)} targets")
    try:
        columns = asyncio.run(evaluate_matrix(suites, skill_text, lambda s: _open_models(s, no_cache),
                                              runs=range(runs or suite.runs), inputs=inputs,
                                              concurrency=concurrency, on_progress=update,
                                              on_estimate=lambda line: click.echo(f"estimate: {line}", err=True)))
    finally:
        close()
    calls = sum(c.result.spend.calls for c in columns)
    click.echo(f"{suite.name}: {skill_path} on {counted(len(columns), 'target')}, {counted(len(inputs), 'input')} x "
               f"{counted(runs or suite.runs, 'run')}, {counted(calls, 'model call')} made "
               f"({', '.join(f'{c.name} {c.result.spend.calls}' for c in columns)}), "
               f"{max(c.result.seconds for c in columns):.1f}s")
    click.echo(matrix_table(suite, columns))
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
        click.echo(f"\n{len(errors)} cell(s) are errors, not fails; the first: {name} {first.input_id}/"
                   f"{first.eval_id} run {first.run}: {first.reason}", err=True)
        sys.exit(EXIT_ERROR)
    misses = [f"{c.name}: {miss}" for c in columns
              for miss in failing_thresholds(c.suite, c.result, overall if overall is not None else suite.threshold,
                                             per_eval)]
    for miss in misses:
        click.echo(f"below threshold: {miss}", err=True)
    sys.exit(EXIT_BELOW if misses else EXIT_OK)


def uplift_table_text(uplift: Any, other: Any) -> str:
    """The uplift table, with what the other arm cost."""
    from ..review.uplift import uplift_table

    return uplift_table(uplift) + f"\n(the other arm, {uplift.versus}: {other.spend.calls} model calls, {other.seconds:.1f}s)"


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
    from ..targets import describe_sandbox
    from ..suite.skill import load_skill, validate_skill
    from ..suite.suite import load_suite

    failed = False
    for path in files:
        try:
            if path.suffix in (".yaml", ".yml"):
                suite = load_suite(path, allow_outside=allow_outside)
                from ..evaluate.reach import self_judged, unreachable_roles

                problems = (list(suite.warnings) + unreachable_roles(suite) + self_judged(suite)
                            + _folder_problems_for(suite))
                for outside in suite.outside:
                    click.echo(f"{path}: reads outside its folder: {outside}", err=True)
                summary = (f"suite, {counted(len(suite.inputs), 'input')} ({len(suite.split('holdout'))} holdout), "
                           f"{counted(len(suite.evals), 'eval')}, sandbox: {describe_sandbox(suite.model)}")
            else:
                doc = load_skill(path)
                problems = validate_skill(doc, path.resolve().parent.name) + _folder_problems_for(None, path)
                summary = f"skill, {counted(len([s for s in doc.sections if s.level]), 'section')}"
        except InputError as exc:
            problems, summary = exc.problems, ""
        for problem in problems:
            click.echo(str(problem), err=True)
        bad = any(p.severity == "error" for p in problems)
        failed = failed or bad
        click.echo(f"{path}: {'invalid' if bad else 'ok'}{' (' + summary + ')' if summary and not bad else ''}")
    sys.exit(EXIT_ERROR if failed else EXIT_OK)


def _folder_problems_for(suite, skill_file: Path | None = None) -> list:
    """What a harness target will refuse in the skill folder: an error for a suite that names one, else a warning."""
    from ..targets import is_harness
    from ..targets.harness import skill_folder_problems

    if suite is None:
        return skill_folder_problems([skill_file.resolve().parent], "warning")
    if not is_harness(suite.model):
        return []
    return skill_folder_problems([suite.skill_path.parent, *suite.distractors])


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


@click.command()
@click.argument("suite_file", metavar="[SUITE]", required=False, type=click.Path(dir_okay=False, path_type=Path))
@_eval_model_options
@click.option("--allow-outside", is_flag=True, help="Let the suite read files from outside its own folder.")
@_reports_errors
def doctor(suite_file: Path | None, model_name: tuple[str, ...], judge_model: str | None, batch: bool,
           no_cache: bool, allow_outside: bool) -> None:
    """The preflight canary: does the measurement work here, before anything is paid?

    For a harness target the CLI starts with a probe skill beside yours: it must start (logged in), our
    parser must see the probe listed and loaded, your skill must be listed; the judge and mutator must
    answer one call each in the format we parse. One line per problem with its fix; exit 2 on any.
    Without SUITE, each installed harness is checked offline (`claude-code:sim`, `pi:sim`).
    """
    from ..suite.suite import load_suite

    if suite_file is None:
        failed = False
        for name in ("claude-code:sim", "pi:sim"):
            suite = _probe_suite(name)
            try:
                _preflight_canary(suite, _open_models(suite, True), mutator=False, always=True)
            except Exception as exc:
                from ..errors import AutoresearchError

                if not isinstance(exc, AutoresearchError):
                    raise
                click.echo(str(exc), err=True)
                failed = True
        sys.exit(EXIT_ERROR if failed else EXIT_OK)
    loaded = load_suite(suite_file, allow_outside=allow_outside)
    for name in model_name or (None,):  # --model may be given for several targets: each is checked
        suite = _with_models(loaded, name, judge_model, None, batch)
        _preflight_canary(suite, _open_models(suite, no_cache), mutator=True, always=True)
        click.echo(f"{suite_file}: ready on {suite.model.name}")


def _probe_suite(model: str) -> Any:
    """A one-input suite whose skill is the canary's probe, for `doctor` without a suite."""
    import tempfile

    from ..loop.canary import PROBE_NAME, PROBE_SKILL
    from ..suite.suite import load_suite

    folder = Path(tempfile.mkdtemp(prefix="autoresearch-doctor-"))
    (folder / PROBE_NAME).mkdir()
    (folder / PROBE_NAME / "SKILL.md").write_text(PROBE_SKILL, encoding="utf-8")
    (folder / "suite.yaml").write_text(f"skill: {PROBE_NAME}/SKILL.md\nmodel: {model}\nruns: 1\ninputs:\n"
                                       "  - {id: probe, text: Run the autoresearch canary probe.}\nevals:\n"
                                       "  - {id: ok, question: Does it answer, check: {type: contains, value: OK}}\n",
                                       encoding="utf-8")
    return load_suite(folder / "suite.yaml")
