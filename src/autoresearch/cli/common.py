"""What the commands share: error reporting, progress, model options and run lookup."""

from __future__ import annotations

import functools
import re
import sys
from pathlib import Path
from typing import Any, Callable

import click

from ..decide.stats import KeepRule  # stdlib only: cheap at start-up

EXIT_OK, EXIT_BELOW, EXIT_ERROR = 0, 1, 2


KEEP_ALPHA = KeepRule().alpha


_CONTROL = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"  # CSI: colours, cursor moves, clearing
                      r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"  # OSC, DCS..
                      r"|\x1b[ -~]?|[\x00-\x08\x0b-\x1f\x7f-\x9f]"  # other escapes, lone C0/C1 controls
                      "|[\u202a-\u202e\u2066-\u2069]")  # bidi embeddings, overrides, isolates: reorder a line


def terminal_safe(text: str) -> str:
    """`text` without terminal control sequences, control characters (newline and tab kept) or bidi overrides:
    what a model, an agent or a file wrote is shown as text and cannot move the cursor, retitle the window, hide a
    line or show it in another order."""
    return _CONTROL.sub("", text)


def echo(message: Any = "", err: bool = False, nl: bool = True) -> None:
    """click.echo of `message` made terminal-safe: every line the commands print goes through here."""
    click.echo(terminal_safe(str(message)), err=err, nl=nl)


def _reports_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's AutoresearchError into one clear message on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ..errors import AutoresearchError

        try:
            return fn(*args, **kwargs)
        except AutoresearchError as exc:
            echo(f"error: {exc}" if "\n" not in str(exc) else f"error:\n{exc}", err=True)
            sys.exit(EXIT_ERROR)
        except OSError as exc:  # disk full, a read-only folder, a path that is a file: the system's words
            where = f": {exc.filename}" if exc.filename else ""
            echo(f"error: {exc.strerror or exc}{where}", err=True)
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
        echo(text)
        self._draw(force=True)

    def progress(self, p: Any) -> None:
        from ..loop.progress import progress_line

        racing = p.stage in ("screening", "confirmation", "testing")
        stage = (p.experiment, p.stage, "" if racing else p.detail)
        if not self.tty:
            if stage != self.stage:
                echo(f"#{p.experiment} {p.stage}: candidate against the best, up to {p.runs} runs" if racing
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
        self.stream.write("\r\x1b[2K" + terminal_safe(self.line[:width]))
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
    """--model, --judge-model, --mutator-model (run only), --batch and --no-cache, shared by eval and run.

    eval takes --model more than once: one suite measured on each target (a matrix)."""
    options = [
        click.option("--model", "model_name", metavar="NAME", multiple=not mutator,
                     help="Target: sim, anthropic:<model>, claude-code[:MODEL], pi[:PROVIDER/MODEL], codex[:MODEL], "
                          "gemini[:MODEL], opencode[:PROVIDER/MODEL] (`:sim` runs the real CLI offline on the "
                          "simulator) or command:<cli> (default: the suite's)."
                          + ("" if mutator else " Repeat it to measure every target named, evals x targets (a "
                                                "matrix); the suite key `targets:` does the same.")),
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
        click.option("--no-sandbox", is_flag=True, expose_value=False, callback=_remember,
                     help="Harness targets: run the agent under test without the bubblewrap sandbox (it can then "
                          "change any file you can and leave processes running)."),
    ]
    if not mutator:
        options.pop(2)
    for option in reversed(options):
        fn = option(fn)
    return fn


def _eval_model_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    return _model_options(fn, mutator=False)


def _with_models(suite: Any, model_name: str | None, judge_model: str | None, mutator_model: str | None,
                 batch: bool) -> Any:
    """The suite with the command line's model choices applied."""
    import dataclasses

    from ..models import ModelSpec, name_problem, role_spec

    def pick(current: ModelSpec | None, name: str | None, role: str = "") -> ModelSpec | None:
        problem = name_problem(name) if name else None
        if problem:
            raise click.BadParameter(problem, param_hint=f"--{role}-model" if role else "--model")
        if name:  # only the name changes: the suite's settings and options for this role stay
            current = dataclasses.replace(current or role_spec(suite.model, role), name=name)
        if current and batch and current.backend == "anthropic":
            current = dataclasses.replace(current, options=tuple(sorted({**dict(current.options), "batch": True}.items())))
        return current

    suite = dataclasses.replace(suite, model=pick(suite.model, model_name))
    context = click.get_current_context(silent=True)
    if context and context.meta.get("no_sandbox") and suite.model:
        options = {**dict(suite.model.options), "sandbox": "none"}
        suite = dataclasses.replace(suite, model=dataclasses.replace(suite.model, options=tuple(sorted(options.items()))))
    suite = dataclasses.replace(suite, judge_model=pick(suite.judge_model, judge_model, "judge"),
                                mutator_model=pick(suite.mutator_model, mutator_model, "mutator"))
    if model_name or judge_model:  # the suite's model warnings were about its own choices: redo them
        from ..suite.suite import HARNESS_ONLY_NOTE, model_warnings
        from ..targets import is_harness

        named = bool(model_name) or not any(w.key == "model" for w in suite.warnings)
        stale = HARNESS_ONLY_NOTE if is_harness(suite.model) else "\0"  # a harness named now runs those checks
        suite = dataclasses.replace(suite, warnings=tuple(w for w in suite.warnings if w.key not in ("model", "judge")
                                                          and stale not in w.message)
                                    + tuple(model_warnings(suite, named)))
    if batch:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(message)s")  # batch polling reports progress
        suite = dataclasses.replace(suite, concurrency=100_000)
    return suite


def _roles_can_answer(suite: Any, roles: tuple[str, ...]) -> None:
    """Warn (with the line) when the judge is the model under test; stop with exit 2, before anything runs, when
    the judge or mutator cannot answer a single call (an eval would otherwise drop out of every rate)."""
    from ..evaluate.reach import refusal, self_judged, unreachable_roles

    for warning in self_judged(suite):
        echo(str(warning), err=True)
    blocked = unreachable_roles(suite, roles)
    if blocked:
        echo(refusal(blocked), err=True)
        sys.exit(EXIT_ERROR)


def _open_models(suite: Any, no_cache: bool) -> Any:
    import functools

    from ..evaluate.runner import Models
    from ..models import open_model

    context = click.get_current_context(silent=True)
    keep = bool(context and context.meta.get("keep_workspaces"))
    return Models.for_suite(suite, functools.partial(open_model, cache=None) if no_cache else open_model, keep)


def _preflight_canary(suite: Any, models: Any, mutator: bool, always: bool = False) -> Any:
    """The preflight canary before anything is paid (harness targets, unless --no-preflight): exit 2 on a problem."""
    from ..targets import is_harness

    context = click.get_current_context(silent=True)
    if context and context.meta.get("no_preflight") or not (always or is_harness(suite.model)):
        return None
    from ..loop.canary import PreflightFailed, canary_sync, failure_text

    report = canary_sync(suite, models, mutator=mutator)
    for note in report.notes:
        echo(f"preflight: {note}", err=True)
    if report.problems:
        raise PreflightFailed(failure_text(report))
    echo(report.summary(), err=True)
    return report


def _as_trigger_suite(suite: Any, chosen: dict) -> Any:
    """For a `--triggers` run (saved in run.json): the suite of trigger queries; the suite as it is otherwise."""
    if not chosen.get("triggers"):
        return suite
    from ..evaluate.triggers import trigger_suite

    return trigger_suite(suite)


def _triggers_mode(suite: Any) -> bool:
    """Whether `--triggers` was given; it needs a harness target, where choosing the skill is the agent's."""
    context = click.get_current_context(silent=True)
    if not (context and context.meta.get("triggers_only")):
        return False
    from ..targets import is_harness

    if not is_harness(suite.model):
        raise click.UsageError(f"--triggers needs a harness target, where the agent chooses the skill: "
                               f"--model claude-code:sim, pi:sim, codex:sim, gemini:sim or opencode:sim offline "
                               f"(the suite's is {suite.model.name})")
    return True


def _run_reference(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The `[RUN]` argument (id or directory; default: the newest run) and `--runs-dir`, for commands that read a run."""
    fn = _reports_errors(fn)
    fn = click.option("--runs-dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".autoresearch"),
                      show_default=True, help="Where run directories live.")(fn)
    return click.argument("run_ref", metavar="[RUN]", required=False, default="")(fn)


def _sections_option(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(s.strip() for v in values for s in v.split(",") if s.strip())


def _open_run(run_ref: str, runs_dir: Path, no_cache: bool = False, models: dict | None = None,
              budget: Any = None, say: Callable[[str], None] | None = None,
              on_progress: Callable[[Any], None] | None = None, **options: Any) -> Any:
    """An existing run, ready to go on, for `run --resume`, `next` and `try`: its suite, loop configuration
    and models as saved, with any models, budget limits or loop `options` (sections, target, plateau) given
    now taking precedence; what they change is recorded in run.json when the run goes on."""
    from ..loop.experiment import Experiment
    from ..runs.config import LoopConfig, reconfigure
    from ..runs.journal import RunDir
    from ..suite.suite import load_suite

    run_dir = RunDir.find(run_ref, runs_dir)
    saved = run_dir.config()
    chosen = {**saved.get("models", {}), **{k: v for k, v in (models or {}).items() if v}}
    suite = load_suite(run_dir.suite_path(), allow_outside=saved.get("allow_outside", False))
    suite = _as_trigger_suite(_with_models(suite, chosen.get("model"), chosen.get("judge"), chosen.get("mutator"),
                                           chosen.get("batch", False)), chosen)
    from ..suite.fingerprint import refuse_changed_suite

    refuse_changed_suite(run_dir.id, suite, saved.get("fingerprint"))
    config, changes = reconfigure(LoopConfig.from_dict(saved["config"]), budget, **options)
    from ..evaluate.provenance import provenance, version_changes

    for change in version_changes(saved.get("provenance") or {}, provenance(suite)):  # before anything is spent
        (say or (lambda line: echo(line, err=True)))(
            f"warning: the harness changed since the run started: {change}; scores before and after may differ "
            "for that reason alone (each journal line records what it ran on, as `ran`)")
    experiment = Experiment(suite, run_dir, config, _open_models(suite, no_cache),
                            say or (lambda line: echo(line, err=True)), on_progress or (lambda progress: None))
    experiment.changes = changes
    return experiment


def _skill_and_inputs(suite, skill_file: Path | None, split: str) -> tuple[Path, str, list]:
    """The skill an eval measures (the suite's, or --skill-file), its text, and the inputs of `split`; exit 2 when
    the split has none."""
    from ..suite.userfiles import read_user_text

    skill_path = skill_file or suite.skill_path
    skill_text = read_user_text(skill_path)
    inputs = suite.inputs if split == "all" else suite.split(split)
    if not inputs:
        echo(f"error: {suite.path}: no {split} inputs", err=True)
        sys.exit(EXIT_ERROR)
    return skill_path, skill_text, inputs
