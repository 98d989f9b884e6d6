"""The `autoresearch` command line: a thin layer over the library. Heavy imports stay inside commands.

Exit codes: 0 ok, 1 below a threshold (or a regression), 2 bad input or errors in the results.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any, Callable

import click

from .stats import KeepRule  # stdlib only: cheap at start-up
EXIT_OK, EXIT_BELOW, EXIT_ERROR = 0, 1, 2
KEEP_ALPHA = KeepRule().alpha


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
        except OSError as exc:  # disk full, a read-only folder, a path that is a file: the system's words
            where = f": {exc.filename}" if exc.filename else ""
            click.echo(f"error: {exc.strerror or exc}{where}", err=True)
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


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Keep a flag that only the model layer needs in the context, out of every command's signature."""
    ctx.meta[param.name] = value
    return value


class _LiveProgress:
    """The loop's events and progress for `run`: a live line on a terminal (stderr), plain lines otherwise.

    On a terminal the progress line is redrawn in place (at most ten times a second) and each event
    line is printed above it; elsewhere (CI logs) one plain line per stage of an experiment.
    """

    def __init__(self, stream: Any = None, tty: bool | None = None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.line = ""
        self.drawn = 0.0
        self.stage: tuple[int, str, str] | None = None

    def event(self, text: str) -> None:
        self._clear()
        click.echo(text)
        self._draw(force=True)

    def progress(self, p: Any) -> None:
        from .loop import progress_line

        racing = p.stage in ("screening", "confirmation")
        stage = (p.experiment, p.stage, "" if racing else p.detail)
        if not self.tty:
            if stage != self.stage:
                click.echo(f"#{p.experiment} {p.stage}: candidate against the best, up to {p.runs} runs" if racing
                           else progress_line(type(p)(p.experiment, p.stage, detail=p.detail)))
            self.stage = stage
            return
        bar = ""
        if p.total:
            filled = round(20 * p.done / p.total)
            bar = " [" + "#" * filled + "." * (20 - filled) + "]"
        self.line = progress_line(p) + bar
        self._draw(force=stage != self.stage or p.done == p.total)
        self.stage = stage

    def _draw(self, force: bool = False) -> None:
        import time

        if not self.tty or not self.line or (not force and time.monotonic() - self.drawn < 0.1):
            return
        width = 200
        try:
            import shutil

            width = shutil.get_terminal_size((200, 24)).columns - 1
        except OSError:
            pass
        self.stream.write("\r\x1b[2K" + self.line[:width])
        self.stream.flush()
        self.drawn = time.monotonic()

    def _clear(self) -> None:
        if self.tty and self.line:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()

    def close(self) -> None:
        self._clear()
        self.line = ""


def _model_options(fn: Callable[..., Any], mutator: bool = True) -> Callable[..., Any]:
    """--model, --judge-model, --mutator-model (run only), --batch and --no-cache, shared by eval and run."""
    options = [
        click.option("--model", "model_name", metavar="NAME",
                     help="Target: sim, anthropic:<model>, claude-code[:MODEL], pi[:PROVIDER/MODEL] (`:sim` runs the "
                          "real CLI offline on the simulator) or command:<cli> (default: the suite's)."),
        click.option("--judge-model", metavar="NAME", help="Model for judge evals (default: the suite's `judge`, "
                     "else the target). A judge that is not the model under test is recommended."),
        click.option("--mutator-model", metavar="NAME", help="Model that proposes edits (default: the suite's "
                     "`mutator`, else the target)."),
        click.option("--batch", is_flag=True, help="Send anthropic calls through the Message Batches API "
                     "(half price, slower): for overnight runs."),
        click.option("--no-cache", is_flag=True, help="Do not read or write the response cache "
                     "(.autoresearch/cache)."),
        click.option("--keep-workspaces", is_flag=True, expose_value=False, callback=_remember,
                     help="Harness targets: keep each cell's workspace folder (its path is stored with the outcome)."),
    ]
    if not mutator:
        options.pop(2)
    for option in reversed(options):
        fn = option(fn)
    return fn


def _eval_model_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    return _model_options(fn, mutator=False)


class _WorkflowOrder(click.Group):
    """List commands in the order a user meets them, not alphabetically."""

    ORDER = ["eval", "validate", "sections", "run", "status", "view", "diff", "report", "next", "try", "finalize",
             "install", "statusline", "import"]

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: self.ORDER.index(n) if n in self.ORDER else len(self.ORDER))


def _with_models(suite: Any, model_name: str | None, judge_model: str | None, mutator_model: str | None,
                 batch: bool) -> Any:
    """The suite with the command line's model choices applied."""
    import dataclasses

    from .models import ModelSpec, name_problem, role_spec

    def pick(current: ModelSpec | None, name: str | None, role: str = "") -> ModelSpec | None:
        problem = name_problem(name, harness_ok=not role) if name else None
        if problem:
            raise click.BadParameter(problem, param_hint=f"--{role}-model" if role else "--model")
        if name:  # only the name changes: the suite's settings and options for this role stay
            current = dataclasses.replace(current or role_spec(suite.model, role), name=name)
        if current and batch and current.backend == "anthropic":
            current = dataclasses.replace(current, options=tuple(sorted({**dict(current.options), "batch": True}.items())))
        return current

    suite = dataclasses.replace(suite, model=pick(suite.model, model_name))
    suite = dataclasses.replace(suite, judge_model=pick(suite.judge_model, judge_model, "judge"),
                                mutator_model=pick(suite.mutator_model, mutator_model, "mutator"))
    if model_name or judge_model:  # the suite's model warnings were about its own choices: redo them
        from .suite import model_warnings

        named = bool(model_name) or not any(w.key == "model" for w in suite.warnings)
        suite = dataclasses.replace(suite, warnings=tuple(w for w in suite.warnings if w.key not in ("model", "judge"))
                                    + tuple(model_warnings(suite, named)))
    if batch:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(message)s")  # batch polling reports progress
        suite = dataclasses.replace(suite, concurrency=100_000)
    judge = suite.judge_model or suite.model
    if any(e.judge for e in suite.evals) and judge == suite.model and suite.model.backend != "sim":
        click.echo(f"warning: the judge is the model under test ({suite.model.name}); a separate judge "
                   "(--judge-model) is less likely to grade its own habits kindly", err=True)
    return suite


def _open_models(suite: Any, no_cache: bool) -> Any:
    import functools

    from .models import open_model
    from .runner import Models

    context = click.get_current_context(silent=True)
    keep = bool(context and context.meta.get("keep_workspaces"))
    return Models.for_suite(suite, functools.partial(open_model, cache=None) if no_cache else open_model, keep)


@click.group(cls=_WorkflowOrder, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="autoresearch")
def main() -> None:
    """Make agent skills better by experiment.

    Score a SKILL.md on binary evals (`eval`), then let the loop change one section at a time and
    keep only changes that beat noise (`run`). Every attempt is logged. New here? In the repository,
    `make demo` runs the whole loop on the embedded offline simulator, with no API key.
    """


@main.command("eval")
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

    from .cost import estimate, previewable
    from .fsio import atomic_write
    from .report import (counted, eval_table, failing_thresholds, flakiness_of, profile_text, read_result,
                         result_json)
    from .runner import evaluate
    from .suite import load_suite
    from .userfiles import read_user_text

    suite = _with_models(load_suite(suite_file, allow_outside=allow_outside), model_name, judge_model, None, batch)
    triggers = _triggers_mode(suite)
    if triggers:
        from .triggers import trigger_suite

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
    if triggers:
        from .triggers import trigger_misses, trigger_table, triggers_json

        click.echo(trigger_table(result))
        data["triggers"] = triggers_json(result)
    else:
        click.echo(eval_table(suite, result))
        click.echo(profile_text(flakiness_of(result, runs or suite.runs)))
    if show_failures:
        from .report import failures_text

        click.echo("\n" + failures_text(result))
    if json_file:
        atomic_write(json_file, json.dumps(data, indent=1) + "\n")
    if junit_file:
        from .report import junit_xml

        atomic_write(junit_file, junit_xml(suite, result))
    regression = False
    if baseline is not None:
        from .report import compare_results

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


def _as_trigger_suite(suite: Any, chosen: dict) -> Any:
    """For a `--triggers` run (saved in run.json): the suite of trigger queries; the suite as it is otherwise."""
    if not chosen.get("triggers"):
        return suite
    from .triggers import trigger_suite

    return trigger_suite(suite)


def _triggers_mode(suite: Any) -> bool:
    """Whether `--triggers` was given; it needs a harness target, where choosing the skill is the agent's."""
    context = click.get_current_context(silent=True)
    if not (context and context.meta.get("triggers_only")):
        return False
    from .targets import is_harness

    if not is_harness(suite.model):
        raise click.UsageError(f"--triggers needs a harness target, where the agent chooses the skill: "
                               f"--model claude-code:sim or pi:sim offline (the suite's is {suite.model.name})")
    return True


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


@main.command()
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
    from .errors import InputError
    from .report import counted
    from .skill import load_skill, validate_skill
    from .suite import load_suite

    failed = False
    for path in files:
        try:
            if path.suffix in (".yaml", ".yml"):
                suite = load_suite(path, allow_outside=allow_outside)
                problems = list(suite.warnings)
                for outside in suite.outside:
                    click.echo(f"{path}: reads outside its folder: {outside}", err=True)
                summary = (f"suite, {counted(len(suite.inputs), 'input')} ({len(suite.split('holdout'))} holdout), "
                           f"{counted(len(suite.evals), 'eval')}")
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


@main.command()
@click.argument("skill_file", metavar="SKILL.md", type=click.Path(dir_okay=False, path_type=Path))
@_reports_errors
def sections(skill_file: Path) -> None:
    """List the section ids of a SKILL.md (the names `--sections` and `try --section` take)."""
    from .errors import input_error
    from .skill import load_skill

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


def _run_reference(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The `[RUN]` argument (id or directory; default: the newest run) and `--runs-dir`, for commands that read a run."""
    fn = _reports_errors(fn)
    fn = click.option("--runs-dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".autoresearch"),
                      show_default=True, help="Where run directories live.")(fn)
    return click.argument("run_ref", metavar="[RUN]", required=False, default="")(fn)


def _sections_option(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(s.strip() for v in values for s in v.split(",") if s.strip())


@main.command()
@click.argument("suite_file", metavar="[SUITE]", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--resume", "resume", metavar="RUN", help="Continue a stopped or crashed run (id or directory).")
@_model_options
@click.option("--target", type=click.FloatRange(0, 1), default=0.95, show_default=True,
              help="Stop when the train pass rate reaches this, confirmed on fresh runs.")
@click.option("--plateau", type=click.IntRange(1), default=10, show_default=True,
              help="Stop after this many attempts in a row without a keep.")
@click.option("--max-experiments", type=click.IntRange(0), help="Budget: experiments after the baseline.")
@click.option("--max-calls", type=click.IntRange(0), help="Budget: model calls (target, judge and mutator).")
@click.option("--max-tokens", type=click.IntRange(0), help="Budget: tokens, all kinds added up.")
@click.option("--max-dollars", type=click.FloatRange(0), help="Budget: dollars, from the price table.")
@click.option("--max-minutes", type=click.FloatRange(0), help="Budget: wall time.")
@click.option("--sections", "sections_", multiple=True, metavar="IDS",
              help="Only these section ids may change (comma-separated or repeated); see `sections`.")
@click.option("--allow-description", is_flag=True, help="Let the loop change the frontmatter description too.")
@click.option("--triggers", "triggers_only", is_flag=True, expose_value=False, callback=_remember,
              help="Optimise the description on the suite's trigger queries: only the description changes, "
                   "decided on per-(query, run) triggers; holdout queries are measured for every keep.")
@click.option("--keep-rule", type=click.Choice(["paired", "naive"]), default="paired", show_default=True,
              help="paired: exact paired test on outputs, with confirmation and racing; naive: any higher raw score (comparison only).")
@click.option("--alpha", type=click.FloatRange(0.0001, 0.5), default=KEEP_ALPHA, show_default=True,
              help="Level a keep must reach on all runs (the screen is at 6x, at most 0.5): about the largest "
                   "share of no-better candidates that could be kept.")
@click.option("--max-errors", type=click.FloatRange(0, 1), default=0.05, show_default=True,
              help="Refuse a keep when more than this share of the candidate's cells are errors.")
@click.option("--holdout-gate", is_flag=True,
              help="Also refuse a keep whose holdout score is worse than the best's or the baseline's beyond noise.")
@click.option("--no-confirm", is_flag=True, help="Keep on the first significant result, without a confirmation re-run.")
@click.option("--no-racing", is_flag=True, help="Evaluate every candidate on all runs, however hopeless.")
@click.option("--template", type=click.Path(dir_okay=False, exists=True), help="Your own jinja2 mutator prompt.")
@click.option("--git", "use_git", is_flag=True, help="Commit each keep on a branch autoresearch/<tag>.")
@click.option("--tag", help="Branch tag for --git (default: the run id).")
@click.option("--runs-dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".autoresearch"),
              show_default=True, help="Where run directories live.")
@click.option("--run-id", help="Name of the new run directory (default: time stamp and suite name).")
@click.option("--baseline-only", is_flag=True,
              help="Measure the baseline and stop: for an agent that plays the mutator with `next` and `try`.")
@click.option("--estimate-only", is_flag=True,
              help="Print the cost preview (baseline, per experiment, the budget) and stop: nothing is run or written.")
@click.option("--allow-outside", is_flag=True, help="Let the suite read input files and python checks from outside "
              "its own folder (a suite is code: allow only suites you trust).")
@_reports_errors
@click.pass_context
def run(ctx: click.Context, suite_file: Path | None, resume: str | None, model_name: str | None, judge_model: str | None,
        mutator_model: str | None, batch: bool, no_cache: bool, target: float, plateau: int, max_experiments: int | None,
        max_calls: int | None, max_tokens: int | None, max_dollars: float | None, max_minutes: float | None,
        sections_: tuple[str, ...], allow_description: bool, keep_rule: str, alpha: float, max_errors: float,
        holdout_gate: bool, no_confirm: bool, no_racing: bool, template: str | None, use_git: bool, tag: str | None,
        runs_dir: Path, run_id: str | None, baseline_only: bool, estimate_only: bool,
        allow_outside: bool) -> None:
    """Optimise a skill: baseline, then one section at a time, keeping only real gains.

    Writes .autoresearch/<run-id>/ with journal.jsonl (one line per attempt), changelog.md,
    baseline/SKILL.md and best/SKILL.md; the target file always holds the best version.
    Ctrl-C stops cleanly; `--resume RUN` continues exactly where a run stopped or crashed.
    """
    from .config import Budget, LoopConfig
    from .loop import Experiment, preflight
    from .publish import start_git_branch
    from .rundirs import default_run_id, new_run
    from .report import counted
    from .suite import load_suite

    budget = Budget(max_experiments, max_calls, max_tokens, max_dollars,
                    max_minutes * 60 if max_minutes is not None else None)
    chosen = {"model": model_name, "judge": judge_model, "mutator": mutator_model, "batch": batch}
    live = _LiveProgress()
    if resume:
        fixed = [f"--{name.replace('_', '-')}" for name in ("suite_file", "allow_description", "keep_rule", "alpha",
                                                             "max_errors", "holdout_gate", "no_confirm", "no_racing",
                                                             "template", "use_git", "tag", "run_id")
                 if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
        if fixed:
            raise click.UsageError(f"{', '.join(fixed).replace('--suite-file', 'SUITE').replace('--use-git', '--git')} "
                                   "cannot change on --resume (the run's decisions depend on them); budgets, "
                                   "--sections, --target, --plateau and models can")
        given = {name: value for name, value in (("target", target), ("plateau", plateau))
                 if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
        experiment = _open_run(resume, runs_dir, no_cache, chosen, budget, live.event, live.progress,
                               sections=_sections_option(sections_), **given)
        preflight(experiment.suite, experiment.config)
    else:
        if suite_file is None:
            raise click.UsageError("give a SUITE to start a run, or --resume RUN to continue one")
        suite = load_suite(suite_file, allow_outside=allow_outside)
        if _triggers_mode(_with_models(suite, model_name, None, None, False)):
            sections_, allow_description, chosen["triggers"] = ("_description",), True, True
        rule = KeepRule(keep_rule, alpha, 0.0 if no_racing else KeepRule().futility, not no_confirm, max_errors,
                        holdout_gate)
        config = LoopConfig(rule, target, plateau, budget, _sections_option(sections_), allow_description, template,
                            use_git)
        run_id = run_id or default_run_id(suite)
        preflight(suite, config)  # everything that can be wrong, before the run exists or a call is paid
        suite = _as_trigger_suite(_with_models(suite, model_name, judge_model, mutator_model, batch), chosen)
        for warning in suite.warnings:
            click.echo(str(warning), err=True)
        models = _open_models(suite, no_cache)
        if estimate_only:
            import asyncio

            from .cost import cost_preview

            async def preview() -> str:
                try:
                    return await cost_preview(suite, models, budget)
                finally:
                    await models.aclose()

            click.echo(asyncio.run(preview()))
            return
        git = None
        if use_git:  # before the run directory exists, so a refusal leaves nothing behind
            git = start_git_branch(suite.skill_path, tag or run_id)
            click.echo(f"committing keeps on branch {git['branch']}")
        run_dir = new_run(suite, config, runs_dir, run_id, models=chosen, git=git)
        experiment = Experiment(suite, run_dir, config, models, live.event, live.progress)
    suite, run_dir = experiment.suite, experiment.run
    click.echo(f"run {run_dir.id}: {suite.skill_path}, {len(suite.split('train'))} train / "
               f"{counted(len(suite.split('holdout')), 'holdout input')} x {counted(suite.runs, 'run')}, "
               f"{counted(len(suite.evals), 'eval')}, "
               f"model {suite.model.name}")
    if len(suite.split("train")) < 20:
        click.echo(f"note: {len(suite.split('train'))} train inputs (< 20): a keep shows a gain on these inputs, "
                   "not that it generalises; generalisation rests on the holdout", err=True)
    try:
        experiment.run_sync(baseline_only)
    except KeyboardInterrupt:
        live.close()
        click.echo(f"\ninterrupted: every finished attempt is in {run_dir.path / 'journal.jsonl'}; "
                   f"continue with: autoresearch run --resume {run_dir.id}", err=True)
        sys.exit(130)
    finally:
        live.close()
    from .live import run_state
    from .report import status_text

    click.echo(status_text(run_dir.id, run_dir.entries(), run_dir.config(), str(run_state(run_dir.path))))
    click.echo(f"changelog: {run_dir.path / 'changelog.md'}")
    if baseline_only:
        click.echo(f"next: autoresearch next {run_dir.id}")


@main.command()
@_run_reference
def status(run_ref: str, runs_dir: Path) -> None:
    """Best score, experiments, keeps and discards, budget spent, train beside holdout (default: newest run)."""
    from .journal import RunDir
    from .report import status_text

    from .live import run_state

    run_dir = RunDir.find(run_ref, runs_dir)
    click.echo(status_text(run_dir.id, run_dir.entries(), run_dir.config(), str(run_state(run_dir.path))))


@main.command()
@click.argument("target", metavar="[RUN|RESULT.json]", required=False, default="")
@click.option("--runs-dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".autoresearch"),
              show_default=True, help="Where run directories live.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0: a free one).")
@_reports_errors
def view(target: str, runs_dir: Path, port: int) -> None:
    """A live dashboard of a run in your browser: chart, per-eval rows, every attempt, every output.

    Serves on 127.0.0.1 only and updates as the journal grows; also shows an `eval --json` result.
    Ctrl-C stops it. Default: the newest run.
    """
    from .view import open_dashboard

    try:
        dashboard = open_dashboard(target, runs_dir, port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}")
    click.echo(f"dashboard: {dashboard.url}  (Ctrl-C stops it)", err=False)
    try:
        dashboard.serve()
    except KeyboardInterrupt:
        click.echo("\nstopped", err=True)
    finally:
        dashboard.server.server_close()


@main.command()
@click.option("--runs-dir", default=".autoresearch", show_default=True,
              help="Run directory name inside the project.")
def statusline(runs_dir: str) -> None:
    """One line on the newest live run in this project, for Claude Code's statusLine setting.

    Reads Claude Code's JSON from standard input when there is one (its workspace's project folder);
    prints nothing when no run is live. See `install --statusline`.
    """
    from .live import statusline_text

    project = Path.cwd()
    if not sys.stdin.isatty():
        import json

        try:
            data = json.loads(sys.stdin.read() or "{}")
        except ValueError:
            data = {}
        workspace = data.get("workspace") if isinstance(data, dict) else None
        folder = (workspace or {}).get("project_dir") or (workspace or {}).get("current_dir") or \
            (data.get("cwd") if isinstance(data, dict) else None)
        project = Path(folder) if folder else project
    try:
        click.echo(statusline_text(project, runs_dir))
    except Exception as exc:  # a status line must never break the harness's UI: say it in one line
        click.echo(f"autoresearch: {type(exc).__name__}")


@main.command()
@_run_reference
@click.option("--format", "fmt", type=click.Choice(["unified", "markdown", "html"]), default="unified",
              show_default=True, help="markdown is ready to paste into a PR comment; html is a standalone page.")
def diff(run_ref: str, runs_dir: Path, fmt: str) -> None:
    """Baseline against best, section by section, with a header per section (default: newest run)."""
    from .journal import RunDir
    from .report import render_diff, section_diff

    run_dir = RunDir.find(run_ref, runs_dir)
    before = (run_dir.path / "baseline" / "SKILL.md").read_text(encoding="utf-8")
    best = run_dir.path / "best" / "SKILL.md"
    after = best.read_text(encoding="utf-8") if best.exists() else before
    click.echo(render_diff(section_diff(before, after), fmt, f"run {run_dir.id}, baseline -> best"), nl=False)


@main.command()
@_run_reference
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the page (default: report.html in the run directory).")
def report(run_ref: str, runs_dir: Path, output: Path | None) -> None:
    """Write a single static HTML report of a run: score chart, per-eval breakdown, every attempt."""
    from .fsio import atomic_write
    from .journal import RunDir
    from .live import run_state
    from .report import html_report, run_files

    run_dir = RunDir.find(run_ref, runs_dir)
    target = output or run_dir.path / "report.html"
    entries = run_dir.entries()
    atomic_write(target, html_report(run_dir.id, entries, run_dir.config(), run_files(run_dir, entries),
                                     str(run_state(run_dir.path))))
    click.echo(str(target))


@main.group("import")
def import_group() -> None:
    """Convert a peer's eval suite (promptfoo, skill-creator) into an autoresearch suite."""


def _import_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = _reports_errors(fn)
    fn = click.option("--holdout-every", type=click.IntRange(0), default=0, show_default=True,
                      help="Put every Nth input in the holdout split (0: none).")(fn)
    fn = click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
                      help="Suite file to write (default: print it).")(fn)
    return click.option("--skill", "skill", help="Path of the target SKILL.md (from here; the suite gets it "
                        "relative to where it is written).")(fn)


def _emit(imported: Any, source: Path, output: Path | None) -> None:
    for note in imported.unconverted:
        click.echo(f"not converted: {note}", err=True)
    if output:
        imported.write(output, str(source))
        click.echo(f"wrote {output}: {len(imported.suite['inputs'])} inputs, {len(imported.suite['evals'])} evals; "
                   f"{imported.summary()}")
        _warn_unless_valid(output)
    else:
        click.echo(imported.yaml(str(source)), nl=False)
        click.echo(imported.summary(), err=True)


def _warn_unless_valid(suite_path: Path) -> None:
    """Say so when a written suite does not validate yet (say, the skill is elsewhere: pass --skill)."""
    from .errors import InputError
    from .suite import load_suite

    try:
        load_suite(suite_path)
    except InputError as exc:
        click.echo(f"warning: {suite_path} does not validate yet:\n{exc}", err=True)


@import_group.command("promptfoo")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--prompt", "prompt", type=click.IntRange(1), metavar="N",
              help="Which of the config's prompts to use (1-based; default: the first, and a note).")
@click.option("--provider", "provider", metavar="ID", help="Which provider (id or label) becomes the suite's model.")
@_import_options
def import_promptfoo_command(config: Path, skill: str | None, output: Path | None, holdout_every: int,
                             prompt: int | None, provider: str | None) -> None:
    """Tests become inputs; contains, equals, regex, is-json, python, llm-rubric... become evals."""
    from .importers import import_promptfoo

    _emit(import_promptfoo(config, skill, holdout_every, output, prompt, provider), config, output)


@import_group.command("skill-creator")
@click.argument("evals_json", metavar="EVALS.json", type=click.Path(dir_okay=False, path_type=Path))
@_import_options
def import_skill_creator_command(evals_json: Path, skill: str | None, output: Path | None, holdout_every: int) -> None:
    """Prompts become inputs; each expectation becomes a judge eval on its input."""
    from .importers import import_skill_creator

    _emit(import_skill_creator(evals_json, skill, holdout_every, output), evals_json, output)


@import_group.command("triggers")
@click.argument("eval_set", metavar="EVAL_SET.json", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--skill", "skill", help="Path of the target SKILL.md, relative to the suite file.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Suite file to write (default: print it).")
@_reports_errors
def import_triggers_command(eval_set: Path, skill: str | None, output: Path | None) -> None:
    """skill-creator's trigger eval set ([{query, should_trigger}]) becomes `triggers:`, split 60/40 per class."""
    from .triggers import import_trigger_set

    imported = import_trigger_set(eval_set, skill)
    text = imported.yaml(str(eval_set))
    if output:
        from .fsio import atomic_write

        atomic_write(output, text)
        click.echo(f"wrote {output}: {len(imported.suite['triggers'])} trigger queries; "
                   f"measure with: autoresearch eval {output} --triggers")
    else:
        click.echo(text, nl=False)


def _open_run(run_ref: str, runs_dir: Path, no_cache: bool = False, models: dict | None = None,
              budget: Any = None, say: Callable[[str], None] | None = None,
              on_progress: Callable[[Any], None] | None = None, **options: Any) -> Any:
    """An existing run, ready to go on, for `run --resume`, `next` and `try`: its suite, loop configuration
    and models as saved, with any models, budget limits or loop `options` (sections, target, plateau) given
    now taking precedence; what they change is recorded in run.json when the run goes on."""
    from .journal import RunDir
    from .config import LoopConfig, reconfigure
    from .loop import Experiment
    from .suite import load_suite

    run_dir = RunDir.find(run_ref, runs_dir)
    saved = run_dir.config()
    chosen = {**saved.get("models", {}), **{k: v for k, v in (models or {}).items() if v}}
    suite = load_suite(run_dir.suite_path(), allow_outside=saved.get("allow_outside", False))
    suite = _as_trigger_suite(_with_models(suite, chosen.get("model"), chosen.get("judge"), chosen.get("mutator"),
                                           chosen.get("batch", False)), chosen)
    config, changes = reconfigure(LoopConfig.from_dict(saved["config"]), budget, **options)
    experiment = Experiment(suite, run_dir, config, _open_models(suite, no_cache),
                            say or (lambda line: click.echo(line, err=True)), on_progress or (lambda progress: None))
    experiment.changes = changes
    return experiment


@main.command("next")
@_run_reference
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def next_command(run_ref: str, runs_dir: Path, as_json: bool) -> None:
    """What to work on next: the section to change, its failing evals with reasons, what was tried.

    For an agent playing the mutator. Write a new body for the section to a file, then call
    `autoresearch try`. Holdout inputs are never shown. Prints STOP when the run should end.
    """
    import json

    experiment = _open_run(run_ref, runs_dir)
    plan, stop = experiment.next_sync()
    from .mutation import section_text

    from .journal import best_entry

    from .history import candidate_feedback, last_evaluated
    from .report import rate_ci

    body = section_text(plan.doc, plan.section)
    entries = experiment.run.entries()
    best = best_entry(entries)
    last = last_evaluated(entries)
    feedback = candidate_feedback(experiment.run, last) if last and last["id"] > best["id"] else None
    if as_json:
        click.echo(json.dumps({"run": experiment.run.id, "stop": bool(stop), "stop_reason": stop,
                               "section": plan.section, "sections": plan.candidates, "body": body,
                               "failing_evals": [_typed(f) for f in plan.failures],
                               "failing_outputs": plan.outputs, "tried": [a.__dict__ for a in plan.tried],
                               "refusals": plan.refusals, "near_misses": plan.near_misses,
                               "last_attempt": feedback, "best": best["scores"],
                               "next_id": experiment.state.next_id, "inputs": plan.profile}, indent=1))
        return
    holdout = best["scores"].get("holdout")
    click.echo(f"run {experiment.run.id}: best #{best['id']} train {best['scores']['train']['rate']:.1%}"
               + (f", holdout {rate_ci(holdout)}" if holdout else "") + f"; next is experiment #{experiment.state.next_id}")
    if stop:
        click.echo(f"STOP: {stop}\nFinish with: autoresearch finalize {experiment.run.id}")
        return
    click.echo(f"\nSECTION TO CHANGE: {plan.section} (a suggestion)\nYou may change any one of these sections "
               f"instead (pass it as --section): {', '.join(plan.candidates)}")
    click.echo("\nCURRENT BODY (write your whole new version of it to a file):\n-----\n" + body.strip("\n") + "\n-----")
    click.echo("\nFAILING EVALS (train inputs only; holdout inputs are hidden on purpose):")
    for f in plan.failures:
        click.echo(f"- {f['id']}: failed {f['failed']}/{f['total']}.\n    question: {f['question']}\n"
                   f"    expectation: {f['expectation']}")
        for reason in f["reasons"]:
            click.echo(f"    seen: {_visible(reason)}")
    if not plan.failures:
        click.echo("- none: only a change that scores higher on fresh runs is kept; harder inputs would help more")
    from .report import profile_text

    click.echo("\n" + profile_text(plan.profile, train_only=True))
    for o in plan.outputs:
        click.echo(f"\nFAILING OUTPUT OF THE BEST for input {o['input_id']} (failed {', '.join(o['failed'])}):\n"
                   f"{o['text'][:700]}")
        if o["trace"]:
            click.echo(f"WHAT THE AGENT DID (tool calls, files written):\n{o['trace']}")
    if feedback:
        _echo_feedback(feedback, "LAST ATTEMPT")
    if plan.near_misses:
        click.echo("\nNEAR MISSES (discarded narrowly: they gained, p just above the level; worth building on):")
        for n in plan.near_misses[:5]:
            click.echo(f"- #{n['id']} {n['section']} [{n['kind']}]: {n['hypothesis']} ({n['wins']} wins, "
                       f"{n['losses']} losses, p {n['p_value']:.3f})")
    click.echo("\nALREADY TRIED ON THIS SECTION:" if plan.tried else "\nNOTHING EVALUATED ON THIS SECTION YET.")
    for a in plan.tried:
        click.echo(f"- [{a.kind}] {a.decision}: {a.hypothesis} ({a.reason})")
    if plan.refusals:
        click.echo("REFUSED BEFORE EVALUATION ON THIS SECTION: " + "; ".join(plan.refusals))
    click.echo(f"\nTHEN RUN: autoresearch try {experiment.run.id} --section {plan.section} --file NEW.md "
               f"--hypothesis \"one line: what you changed and why\" --kind KIND\n(KIND: {', '.join(KINDS[:-1])})")


def _typed(failure: dict) -> dict:
    """A failing eval as JSON should have it: booleans as booleans, absent values as null (not "")."""
    return {**failure, "negate": failure["negate"] == "true",
            **{k: (None if failure[k] == "" else failure[k]) for k in ("min", "max")},
            "value": failure["value"].replace("&quot;", '"') or None}


KINDS = ["add-instruction", "clarify", "add-example", "add-anti-pattern", "move-up", "simplify", "agent"]
TRY_EXIT = {"keep": EXIT_OK, "discard": EXIT_BELOW, "refused": 3}  # documented in `try --help` and the README


@main.command("try")
@_run_reference
@click.option("--section", required=True, metavar="ID", help="The section the new body replaces (see `next`).")
@click.option("--file", "body_file", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The section's complete new body (its heading line may be included; it must not change).")
@click.option("--hypothesis", required=True, help="One line: what the change is and why it should help.")
@click.option("--kind", default="agent", show_default=True, type=click.Choice(KINDS), help="The kind of change.")
@click.option("--no-cache", is_flag=True, help="Do not use the response cache.")
@click.option("--json", "as_json", is_flag=True, help="Print the journal entry, the evals won and lost and a few "
                                                      "failing outputs as JSON.")
def try_command(run_ref: str, runs_dir: Path, section: str, body_file: Path, hypothesis: str, kind: str,
                no_cache: bool, as_json: bool) -> None:
    """Evaluate a new body for one section; the tool decides keep or discard and logs the attempt.

    The same paired test, racing and guards as `run`. On a keep the target SKILL.md is updated.
    Prints the evals the candidate won and lost on, with a few of its failing outputs.
    Exit 0 kept, 1 discarded, 3 refused by a guard (all logged); 2 usage error or a run that
    should stop (nothing evaluated, nothing logged).
    """
    import json

    from .history import candidate_feedback, event_line
    from .mutation import Proposal

    hypothesis = " ".join(hypothesis.split())
    if not hypothesis:
        raise click.UsageError("--hypothesis needs text: one line on what you changed and why it should help")
    experiment = _open_run(run_ref, runs_dir, no_cache)
    from .userfiles import read_user_text

    body = read_user_text(body_file)
    entry = experiment.try_sync(section, Proposal(body, hypothesis, kind))
    feedback = candidate_feedback(experiment.run, entry) if entry["decision"] in ("keep", "discard") else None
    if as_json:
        click.echo(json.dumps({"entry": entry, "feedback": feedback}, indent=1))
    else:
        click.echo(event_line(entry))
        click.echo(f"decision: {entry['decision']}: {entry['reason']}")
        if feedback:
            _echo_feedback(feedback, "THIS CANDIDATE")
        click.echo(f"next: autoresearch next {experiment.run.id}")
    sys.exit(TRY_EXIT.get(entry["decision"], EXIT_ERROR))


def _visible(text: str) -> str:
    """A reason on one line with its whitespace visible: a newline in a match must not read as a space."""
    return text.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def _echo_feedback(feedback: dict, title: str) -> None:
    """What a candidate won and lost on against the best, per eval, and a few of its failing outputs."""
    near = " (near miss)" if feedback["near_miss"] else ""
    click.echo(f"\n{title} #{feedback['id']} on {feedback['section']}: {feedback['decision']}{near}: "
               f"{feedback['hypothesis']}")
    for label, rows in (("won on", feedback["won"]), ("lost on", feedback["lost"])):
        click.echo(f"  {label}: " + (", ".join(f"{r['id']} (+{r['wins']} -{r['losses']})" for r in rows) or "none"))
    for o in feedback["failing_outputs"][:2]:
        click.echo(f"  its failing output for input {o['input_id']} (failed {', '.join(o['failed'])}):\n"
                   + "\n".join("    " + line for line in o["text"][:500].splitlines()))
        if o.get("trace"):
            click.echo("  what the agent did:\n" + "\n".join("    " + line for line in o["trace"][:500].splitlines()))


@main.command()
@_run_reference
@click.option("--branch", help="Also commit the best SKILL.md on this git branch (the run's --git branch may be "
                               "reused) and put the baseline back in the working tree, for review as a pull request.")
def finalize(run_ref: str, runs_dir: Path, branch: str | None) -> None:
    """Stop a run and package it for review: summary, diff, report, changelog; the best SKILL.md is kept.

    A run still going is stopped first (as by Ctrl-C); summary.md (train beside holdout, the diff
    as Markdown) and report.html are then written from its final journal. The run is read-only after.
    """
    from .finalize import finalize_run
    from .journal import RunDir

    done = finalize_run(RunDir.find(run_ref, runs_dir), branch, lambda line: click.echo(line, err=True))
    if done.status:
        click.echo(done.status)
        click.echo(done.diff, nl=False)
    for note in done.notes:
        click.echo(note)
    for path in done.files:
        click.echo(f"review: {path}")


@main.command()
@click.option("--claude", "claude", is_flag=True, help="Install for Claude Code.")
@click.option("--pi", "pi", is_flag=True, help="Install for pi.")
@click.option("--project", "project", is_flag=True,
              help="Into this project: .claude/skills/, .pi/skills/ at the repository root (default).")
@click.option("--user", "user", is_flag=True, help="For this user: ~/.claude/skills/, ~/.pi/agent/skills/.")
@click.option("--project-dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="The project folder (default: the git repository around the current folder, else the folder).")
@click.option("--force", is_flag=True, help="Overwrite copies you have edited (and another statusLine).")
@click.option("--statusline", "with_statusline", is_flag=True,
              help="Also show the live run in Claude Code's status line (.claude/settings.json `statusLine`).")
@_reports_errors
def install(claude: bool, pi: bool, project: bool, user: bool, project_dir: Path | None, force: bool,
            with_statusline: bool) -> None:
    """Put the autoresearch skills where Claude Code and pi find them (both when neither is named).

    Idempotent; a copy you have edited since it was installed is left alone unless --force.
    In a git repository, `.autoresearch/` (runs and the reply cache) is added to its .gitignore.
    """
    from .install import install_skills, install_statusline, project_root

    if project and user:
        raise click.UsageError("give --project or --user, not both")
    if user and project_dir:
        raise click.UsageError("--project-dir is for a project install, not --user")
    harnesses = [h for h, chosen in (("claude", claude), ("pi", pi)) if chosen] or ["claude", "pi"]
    root = project_dir.resolve() if project_dir else project_root(Path.cwd())
    scope = "user" if user else "project"
    if with_statusline:  # first: a settings file we cannot read stops everything, nothing written
        click.echo(install_statusline(scope, root, Path.home(), force))
    for line in install_skills(harnesses, scope, root, Path.home(), force):
        click.echo(line)
