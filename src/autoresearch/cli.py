"""The `autoresearch` command line: a thin layer over the library. Heavy imports stay inside commands.

Exit codes: 0 ok, 1 below a threshold (or a regression), 2 bad input or errors in the results.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any, Callable

import click

EXIT_OK, EXIT_BELOW, EXIT_ERROR = 0, 1, 2


def _reports_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's AutoresearchError into one clear message on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .errors import AutoresearchError

        try:
            return fn(*args, **kwargs)
        except AutoresearchError as exc:
            click.echo(f"error: {exc}" if "\n" not in str(exc) else f"error:\n{exc}", err=True)
            sys.exit(EXIT_ERROR)

    return wrapper


def _progress(label: str) -> tuple[Callable[[int, int], None] | None, Callable[[], None]]:
    """A progress bar on stderr when it is a terminal; nothing otherwise (CI logs stay clean)."""
    if not sys.stderr.isatty():
        return None, lambda: None
    state: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in state:
            state["bar"] = click.progressbar(length=total, label=label, file=sys.stderr, show_eta=True)
            state["bar"].__enter__()
        state["bar"].update(done - state.get("done", 0))
        state["done"] = done

    def close() -> None:
        if "bar" in state:
            state["bar"].__exit__(None, None, None)

    return update, close


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="autoresearch")
def main() -> None:
    """Make agent skills better by experiment.

    Score a SKILL.md on binary evals (`eval`), then let the loop change one section at a time and
    keep only changes that beat noise (`run`). Every attempt is logged. Start with
    `autoresearch eval evals/meeting-notes.yaml`, which runs on the embedded offline simulator.
    """


@main.command("eval")
@click.argument("suite_file", metavar="SUITE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--runs", type=click.IntRange(1, 1000), help="Samples per input (default: the suite's `runs`).")
@click.option("--model", "model_name", metavar="NAME", help="Target model, e.g. sim (default: the suite's).")
@click.option("--skill", "skill_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Score this SKILL.md instead of the suite's target.")
@click.option("--split", type=click.Choice(["train", "holdout", "all"]), default="all", show_default=True,
              help="Which inputs to run.")
@click.option("--concurrency", type=click.IntRange(1, 1024), help="Model calls in flight at once.")
@click.option("--threshold", type=click.FloatRange(0, 1), help="Exit 1 when the overall pass rate is below this.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the full results as JSON (schema autoresearch.eval/1).")
@_reports_errors
def eval_command(suite_file: Path, runs: int | None, model_name: str | None, skill_file: Path | None, split: str,
                 concurrency: int | None, threshold: float | None, json_file: Path | None) -> None:
    """Score a skill with an eval suite and print the pass rate per eval.

    Exit code 0 when every threshold is met, 1 when one is not, 2 on bad input or when any cell
    is an error (a failed model call, an unparseable judge answer, a crashed check).
    """
    import dataclasses
    import json

    from .journal import atomic_write
    from .models import ModelSpec
    from .report import eval_table, failing_thresholds, result_json
    from .runner import evaluate_sync
    from .suite import load_suite

    suite = load_suite(suite_file)
    if model_name:
        suite = dataclasses.replace(suite, model=ModelSpec(model_name, suite.model.max_tokens,
                                                           suite.model.temperature, suite.model.seed))
    for warning in suite.warnings:
        click.echo(str(warning), err=True)
    skill_path = skill_file or suite.skill_path
    skill_text = skill_path.read_text(encoding="utf-8")
    inputs = suite.inputs if split == "all" else suite.split(split)
    if not inputs:
        click.echo(f"error: {suite.path}: no {split} inputs", err=True)
        sys.exit(EXIT_ERROR)
    update, close = _progress(f"eval {suite.name}")
    try:
        result = evaluate_sync(suite, skill_text, runs=range(runs or suite.runs), inputs=inputs,
                               concurrency=concurrency, on_progress=update)
    finally:
        close()
    click.echo(f"{suite.name}: {skill_path} on {suite.model.name}, {len(inputs)} inputs x "
               f"{runs or suite.runs} runs, {result.spend.calls} model calls, {result.seconds:.1f}s")
    click.echo(eval_table(suite, result))
    if json_file:
        atomic_write(json_file, json.dumps(result_json(suite, result, skill_text), indent=1) + "\n")
    errors = result.errors
    if errors:
        click.echo(f"\n{len(errors)} cell(s) are errors, not fails; the first: "
                   f"{errors[0].input_id}/{errors[0].eval_id} run {errors[0].run}: {errors[0].reason}", err=True)
        sys.exit(EXIT_ERROR)
    misses = failing_thresholds(suite, result, threshold if threshold is not None else suite.threshold)
    for miss in misses:
        click.echo(f"below threshold: {miss}", err=True)
    sys.exit(EXIT_BELOW if misses else EXIT_OK)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@_reports_errors
def validate(files: tuple[Path, ...]) -> None:
    """Check SKILL.md files and suite files without running anything.

    A `.yaml`/`.yml` file is read as a suite (and its target skill is checked too); anything else as
    a SKILL.md. Exit code 2 when any file has an error; warnings are printed but pass.
    """
    from .errors import InputError
    from .skill import load_skill, validate_skill
    from .suite import load_suite

    failed = False
    for path in files:
        try:
            if path.suffix in (".yaml", ".yml"):
                suite = load_suite(path)
                problems = list(suite.warnings)
                summary = f"suite, {len(suite.inputs)} inputs ({len(suite.split('holdout'))} holdout), {len(suite.evals)} evals"
            else:
                doc = load_skill(path)
                problems = validate_skill(doc, path.resolve().parent.name)
                summary = f"skill, {len([s for s in doc.sections if s.level])} sections"
        except InputError as exc:
            problems, summary = exc.problems, ""
        for problem in problems:
            click.echo(str(problem), err=True)
        bad = any(p.severity == "error" for p in problems)
        failed = failed or bad
        click.echo(f"{path}: {'invalid' if bad else 'ok'}{' (' + summary + ')' if summary and not bad else ''}")
    sys.exit(EXIT_ERROR if failed else EXIT_OK)


@main.command()
@click.argument("skill_file", metavar="SKILL.md", type=click.Path(dir_okay=False, path_type=Path))
@_reports_errors
def sections(skill_file: Path) -> None:
    """List the section ids of a SKILL.md (the names `--sections` and `try --section` take)."""
    from .skill import load_skill

    doc = load_skill(skill_file)
    for s in doc.sections:
        if s.level == 0 and not s.body.strip():
            continue
        words = len(s.body.split())
        title = "(text before the first heading)" if s.level == 0 else f"{'#' * s.level} {s.title}"
        click.echo(f"{s.id:<40} line {s.line:<5} {words:>4} words  {title}")
