"""`run` and `finalize`: the loop headless, from the baseline to the packaged result."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..decide.stats import KeepRule  # stdlib only: cheap at start-up
from .common import (
    KEEP_ALPHA,
    _as_trigger_suite,
    _LiveProgress,
    _model_options,
    _open_models,
    _open_run,
    _preflight_canary,
    _remember,
    _reports_errors,
    _roles_can_answer,
    _run_reference,
    _sections_option,
    _triggers_mode,
    _with_models,
    echo,
)


def _guard_names(suite: Any, also_on: tuple[str, ...]) -> tuple[str, ...]:
    """The guard targets of a new run: --also-on (checked like --model), else the suite's `guard_targets:`."""
    from ..models import name_problem

    for name in also_on:
        problem = name_problem(name)
        if problem:
            raise click.BadParameter(problem, param_hint="--also-on")
    names = also_on or tuple(s.name for s in suite.guard_targets)
    if len(set(names)) < len(names):
        raise click.BadParameter("a guard target is named twice", param_hint="--also-on")
    return tuple(names)


@click.command()
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
@click.option("--keep-rule", type=click.Choice(["sequential", "sequential-v1", "paired", "naive"]), default="sequential",
              show_default=True,
              help="sequential: anytime-valid paired test on outputs, run by run, stopping as soon as it can; "
                   "sequential-v1: its design before (fixed futility floor, keeps from the suite's runs); paired: the earlier rule (screen, confirmation, racing); naive: any higher raw score (comparison only).")
@click.option("--alpha", type=click.FloatRange(0.0001, 0.5), default=KEEP_ALPHA, show_default=True,
              help="The largest share of no-better candidates that may be kept, however long a test runs "
                   "(paired: the level on all runs; its screen is at 6x, at most 0.5).")
@click.option("--min-gain", type=click.FloatRange(0.01, 1), default=KeepRule().min_gain, show_default=True,
              help="The gain (share of cells, 0.1 = 10 points) the sequential rule is tuned to find; after the "
                   "baseline the run says whether the suite can see it.")
@click.option("--max-errors", type=click.FloatRange(0, 1), default=0.05, show_default=True,
              help="Refuse a keep when more than this share of the candidate's cells are errors.")
@click.option("--also-on", "also_on", multiple=True, metavar="TARGET",
              help="Guard target (repeatable; suite key `guard_targets:`): a candidate that wins on the main target "
                   "is kept only if neither the overall rate nor any eval regresses beyond noise on this target's own "
                   "runs of the same train inputs. Its holdout is measured too.")
@click.option("--uplift", "uplift", is_flag=True,
              help="Also run the train inputs once with no skill installed, with the baseline: the summary, report "
                   "and view show what the best (and the baseline) add over no skill, paired on the same runs.")
@click.option("--holdout-gate", is_flag=True,
              help="Also refuse a keep whose holdout score is worse than the best's or the baseline's beyond noise.")
@click.option("--no-confirm", is_flag=True, help="Keep on the first significant result, without a confirmation re-run.")
@click.option("--no-racing", is_flag=True, help="Evaluate every candidate on all runs, however hopeless.")
@click.option("--parallel", type=click.IntRange(1, 16), default=1, show_default=True,
              help="Candidates evaluated at once, each on its own section and with its own test against the same "
                   "best; at most one is kept per round (the strongest).")
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
@click.option("--no-preflight", is_flag=True, expose_value=False, callback=_remember,
              envvar="AUTORESEARCH_NO_PREFLIGHT", show_envvar=True,
              help="Harness targets: skip the preflight canary before the baseline (see `autoresearch doctor`).")
@click.option("--background", is_flag=True, help="With --baseline-only: measure the baseline in a background "
              "process and return at once; follow it with `autoresearch wait RUN`.")
@click.option("--allow-outside", is_flag=True, help="Let the suite read input files and python checks from outside "
              "its own folder (a suite is code: allow only suites you trust).")
@_reports_errors
@click.pass_context
def run(ctx: click.Context, suite_file: Path | None, resume: str | None, model_name: str | None, judge_model: str | None,
        mutator_model: str | None, batch: bool, no_cache: bool, target: float, plateau: int, max_experiments: int | None,
        max_calls: int | None, max_tokens: int | None, max_dollars: float | None, max_minutes: float | None,
        sections_: tuple[str, ...], allow_description: bool, keep_rule: str, alpha: float, min_gain: float,
        max_errors: float, also_on: tuple[str, ...], uplift: bool,
        holdout_gate: bool, no_confirm: bool, no_racing: bool, parallel: int, template: str | None, use_git: bool,
        tag: str | None,
        runs_dir: Path, run_id: str | None, baseline_only: bool, estimate_only: bool,
        background: bool, allow_outside: bool) -> None:
    """Optimise a skill: baseline, then one section at a time, keeping only real gains.

    Writes .autoresearch/<run-id>/ with journal.jsonl (one line per attempt), changelog.md,
    baseline/SKILL.md and best/SKILL.md; the target file always holds the best version.
    Ctrl-C stops cleanly; `--resume RUN` continues exactly where a run stopped or crashed.
    """
    from ..evaluate.cost import Budget
    from ..loop.experiment import Experiment, preflight
    from ..loop.publish import start_git_branch
    from ..review.report import counted
    from ..runs.config import LoopConfig
    from ..runs.rundirs import default_run_id, new_run
    from ..suite.suite import load_suite

    budget = Budget(max_experiments, max_calls, max_tokens, max_dollars,
                    max_minutes * 60 if max_minutes is not None else None)
    chosen = {"model": model_name, "judge": judge_model, "mutator": mutator_model, "batch": batch}
    live = _LiveProgress()
    if resume and background:
        raise click.UsageError("--background starts a new run's baseline; a stopped baseline resumes with "
                               "`autoresearch wait RUN`")
    if resume:
        fixed = [f"--{name.replace('_', '-')}" for name in ("suite_file", "allow_description", "keep_rule", "alpha",
                                                             "min_gain", "max_errors", "also_on", "uplift",
                                                             "holdout_gate", "no_confirm", "no_racing", "parallel",
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
        _roles_can_answer(experiment.suite, ("judge",) if baseline_only else ("judge", "mutator"))
    else:
        if suite_file is None:
            raise click.UsageError("give a SUITE to start a run, or --resume RUN to continue one")
        suite = load_suite(suite_file, allow_outside=allow_outside)
        if _triggers_mode(_with_models(suite, model_name, None, None, False)):
            if uplift:
                from ..review.uplift import TRIGGERS_NOTE

                raise click.UsageError(f"--uplift: {TRIGGERS_NOTE}")
            sections_, allow_description, chosen["triggers"] = ("_description",), True, True
        rule = KeepRule(keep_rule, alpha, 0.0 if no_racing else KeepRule().futility, not no_confirm, max_errors,
                        holdout_gate, min_gain)
        config = LoopConfig(rule, target, plateau, budget, _sections_option(sections_), allow_description, template,
                            use_git, _guard_names(suite, also_on), uplift, parallel)
        run_id = run_id or default_run_id(suite)
        preflight(suite, config)  # everything that can be wrong, before the run exists or a call is paid
        suite = _as_trigger_suite(_with_models(suite, model_name, judge_model, mutator_model, batch), chosen)
        _roles_can_answer(suite, ("judge",) if baseline_only else ("judge", "mutator"))  # a broken role first
        if keep_rule != "naive":  # before the baseline: a suite that can never keep spends nothing
            from ..decide.sequential import size_refusal
            from ..errors import AutoresearchError

            runs = suite.runs if keep_rule.startswith("sequential") or no_confirm else 2 * suite.runs
            refusal = size_refusal(len(suite.split("train")), runs, alpha)
            if refusal and not (baseline_only or estimate_only):
                raise AutoresearchError(f"{suite_file}: {refusal}; nothing was run")
            if refusal:  # the baseline alone may still be measured; `try` will refuse every attempt
                echo(f"warning: {suite_file}: {refusal}", err=True)
        for warning in suite.warnings:
            echo(str(warning), err=True)
        models = _open_models(suite, no_cache or estimate_only)  # a preview writes nothing, not even the cache
        if background and not baseline_only:
            raise click.UsageError("--background goes with --baseline-only (a whole run: start it with nohup ... &)")
        probe = _preflight_canary(suite, models, mutator=not baseline_only)
        if estimate_only:
            import asyncio

            from ..evaluate.cost import cost_preview

            async def preview() -> str:
                try:
                    from ..loop.guard import guard_specs

                    return await cost_preview(suite, models, budget, guard_specs(suite, config.guards), config.uplift,
                                              probe)
                finally:
                    await models.aclose()

            echo(asyncio.run(preview()))
            return
        git = None
        if use_git:  # before the run directory exists, so a refusal leaves nothing behind
            git = start_git_branch(suite.skill_path, tag or run_id)
            echo(f"committing keeps on branch {git['branch']}")
        run_dir = new_run(suite, config, runs_dir, run_id, models=chosen, git=git)
        if background:
            from ..runs.background import start_work

            echo(start_work(run_dir, {"command": "baseline", "attempt": 0, "no_cache": no_cache}))
            return
        experiment = Experiment(suite, run_dir, config, models, live.event, live.progress)
    suite, run_dir = experiment.suite, experiment.run
    echo(f"run {run_dir.id}: {suite.skill_path}, {len(suite.split('train'))} train / "
         f"{counted(len(suite.split('holdout')), 'holdout input')} x {counted(suite.runs, 'run')}, "
         f"{counted(len(suite.evals), 'eval')}, "
         f"model {suite.model.name}")
    if len(suite.split("train")) < 20 and not resume:  # said once, when the run starts
        echo(small_suite_note(len(suite.split("train")), len(suite.split("holdout"))), err=True)
    first = baseline_only and not run_dir.entries()
    if first:  # killed (an agent's tool timeout): `autoresearch wait RUN` finishes the baseline
        import os

        from ..runs.background import write_pending

        write_pending(run_dir, {"command": "baseline", "attempt": 0, "no_cache": no_cache, "pid": os.getpid()})
    from ..errors import AutoresearchError
    from ..runs.background import clear_pending

    try:
        experiment.run_sync(baseline_only)
        if first:
            clear_pending(run_dir)
    except AutoresearchError:
        if first:
            clear_pending(run_dir)  # refused: nothing to resume
        raise
    except KeyboardInterrupt:
        live.close()
        if experiment.finalized:  # stopped by `finalize`, which closes the run: --resume would be refused
            echo(f"\nstopped by finalize: run {run_dir.id} is finalized (every finished attempt is in "
                 f"{run_dir.path / 'journal.jsonl'}); to go on, start a new run", err=True)
        else:
            echo(f"\ninterrupted: every finished attempt is in {run_dir.path / 'journal.jsonl'}; "
                 f"continue with: autoresearch run --resume {run_dir.id}", err=True)
        sys.exit(130)
    finally:
        live.close()
    from ..review.report import status_text
    from ..runs.live import run_state

    echo(status_text(run_dir.id, run_dir.entries(), run_dir.config(), str(run_state(run_dir.path))))
    echo(f"changelog: {run_dir.path / 'changelog.md'}")
    if baseline_only:
        echo(f"next: autoresearch next {run_dir.id}")


def small_suite_note(train: int, holdout: int) -> str:
    """What a suite of fewer than 20 train inputs can and cannot show, said once when a run starts."""
    from ..review.report import counted

    holdout_part = (f"the {counted(holdout, 'holdout input')} (never shown to whoever changes the skill) "
                    f"{'tells' if holdout == 1 else 'tell'} a general gain from fitting: read the holdout verdict at "
                    "the end" if holdout else
                    "with no holdout input, nothing tells a general gain from fitting them")
    return (f"note: {train} train inputs. A keep means the change scored better on these inputs, beyond noise; "
            f"{holdout_part}. Small suites find clear gains and regressions, not small general ones.")


@click.command()
@_run_reference
@click.option("--branch", help="Also commit the best SKILL.md on this git branch (the run's --git branch may be "
                               "reused) and put the baseline back in the working tree, for review as a pull request.")
@click.option("--with-suite", is_flag=True, help="With --branch: commit the suite and the files it reads too, so "
                                                 "the review holds what justifies the change.")
def finalize(run_ref: str, runs_dir: Path, branch: str | None, with_suite: bool) -> None:
    """Stop a run and package it for review: summary, diff, report, changelog; the best SKILL.md is kept.

    A run still going is stopped first (as by Ctrl-C); summary.md (train beside holdout, the diff
    as Markdown) and report.html are then written from its final journal. The run is read-only after.
    """
    from ..loop.finalize import finalize_run
    from ..runs.journal import RunDir

    if with_suite and not branch:
        raise click.UsageError("--with-suite commits the suite with the best SKILL.md: give --branch too")
    done = finalize_run(RunDir.find(run_ref, runs_dir), branch, lambda line: echo(line, err=True), with_suite)
    if done.status:
        echo(done.status)
        echo(done.diff, nl=False)
    for note in done.notes:
        echo(note)
    for path in done.files:
        echo(f"review: {path}")
