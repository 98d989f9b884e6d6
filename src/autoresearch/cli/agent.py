"""`next`, `try`, `wait`: the agent's path, one attempt at a time, each step inside a tool call."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .common import EXIT_BELOW, EXIT_ERROR, EXIT_OK, _open_run, _run_reference, echo


@click.command("next")
@_run_reference
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def next_command(run_ref: str, runs_dir: Path, as_json: bool) -> None:
    """What to work on next: the section to change, its failing evals with reasons, what was tried.

    For an agent playing the mutator. Write a new body for the section to a file, then call
    `autoresearch try`. Holdout inputs are never shown. Prints STOP when the run should end.
    """
    import json

    experiment = _open_run(run_ref, runs_dir)
    from ..runs.background import describe, done_entry, pending

    unfinished = pending(experiment.run)
    if unfinished and done_entry(experiment.run, unfinished) is None:
        echo(f"note: {describe(unfinished)} is not finished: run `autoresearch wait {experiment.run.id}` "
             "first; this plan does not include it", err=True)
    plan, stop = experiment.next_sync()
    from ..loop.history import candidate_feedback, last_evaluated
    from ..loop.mutation import section_text
    from ..review.report import rate_ci
    from ..runs.journal import best_entry

    body = section_text(plan.doc, plan.section)
    entries = experiment.run.entries()
    best = best_entry(entries)
    last = last_evaluated(entries)
    feedback = candidate_feedback(experiment.run, last) if last and last["id"] > best["id"] else None
    from ..evaluate.reach import unscored_evals

    unscored = unscored_evals(experiment.suite, experiment.best_result)
    if as_json:
        echo(json.dumps({"run": experiment.run.id, "stop": bool(stop), "stop_reason": stop,
                         "section": plan.section, "sections": plan.candidates, "body": body,
                         "failing_evals": [_typed(f) for f in plan.failures], "unscored_evals": unscored,
                         "failing_outputs": plan.outputs, "tried": [a.__dict__ for a in plan.tried],
                         "refusals": plan.refusals, "near_misses": plan.near_misses,
                         "guard_refusals": plan.guard_refusals,
                         "last_refusal": _last_refusal(entries),
                         "last_attempt": feedback, "best": best["scores"],
                         "next_id": experiment.state.next_id, "inputs": plan.profile}, indent=1))
        return
    holdout = best["scores"].get("holdout")
    echo(f"run {experiment.run.id}: best #{best['id']} train {best['scores']['train']['rate']:.1%}"
         + (f", holdout {rate_ci(holdout)}" if holdout else "") + f"; next is experiment #{experiment.state.next_id}")
    if unscored:
        echo("EVALS NOT SCORED (every train cell an error, so they count in no rate; fix the cause first):")
        for u in unscored:
            echo(f"- {u['id']}: {u['errors']} errors; the first: {_visible(u['reason'])}")
    if stop:
        then = (f"It is finalized already (see {experiment.run.path / 'summary.md'}); to go on, start a new run: "
                f"autoresearch run {experiment.suite.path}") if experiment.finalized else \
            f"Finish with: autoresearch finalize {experiment.run.id}"
        echo(f"STOP: {stop}\n{then}")
        return
    echo(f"\nSECTION TO CHANGE: {plan.section} (a suggestion)\nYou may change any one of these sections "
         f"instead (pass it as --section): {', '.join(plan.candidates)}")
    echo("\nCURRENT BODY (write your whole new version of it to a file):\n-----\n" + body.strip("\n") + "\n-----")
    echo("\nFAILING EVALS (train inputs only; holdout inputs are hidden on purpose):")
    for f in plan.failures:
        echo(f"- {f['id']}: failed {f['failed']}/{f['total']}.\n    question: {f['question']}\n"
             f"    expectation: {f['expectation']}")
        for reason in f["reasons"]:
            echo(f"    seen: {_visible(reason)}")
    if not plan.failures:
        echo("- none: only a change that scores higher on fresh runs is kept; harder inputs would help more")
    from ..review.report import profile_text

    echo("\n" + profile_text(plan.profile, train_only=True))
    for o in plan.outputs:
        echo(f"\nFAILING OUTPUT OF THE BEST for input {o['input_id']} (failed {', '.join(o['failed'])}):\n"
             f"{o['text'][:700]}")
        if o["trace"]:
            echo(f"WHAT THE AGENT DID (tool calls, files written):\n{o['trace']}")
    if feedback:
        _echo_feedback(feedback, "LAST ATTEMPT")
    if plan.guard_refusals:
        echo("\nREFUSED BY A GUARD TARGET (they won here but broke the skill on another harness; keep your "
             "change working there too):")
        for line in plan.guard_refusals:
            echo(f"- {line}")
    if plan.near_misses:
        echo("\nNEAR MISSES (discarded narrowly: they gained, p just above the level; worth building on):")
        for n in plan.near_misses[:5]:
            echo(f"- #{n['id']} {n['section']} [{n['kind']}]: {n['hypothesis']} ({n['wins']} wins, "
                 f"{n['losses']} losses, p {n['p_value']:.3f})")
    echo("\nALREADY TRIED ON THIS SECTION:" if plan.tried else "\nNOTHING EVALUATED ON THIS SECTION YET.")
    for a in plan.tried:
        echo(f"- [{a.kind}] {a.decision}: {a.hypothesis} ({a.reason})")
    if plan.refusals:
        echo("REFUSED BEFORE EVALUATION ON THIS SECTION: " + "; ".join(plan.refusals))
    refused = _last_refusal(entries)
    if refused:
        echo(f"\nYOUR LAST PROPOSAL WAS REFUSED (#{refused['id']} on {refused['section']}): {refused['reason']}")
    echo(f"\nTHEN RUN: autoresearch try {experiment.run.id} --section {plan.section} --file NEW.md "
         f"--hypothesis \"one line: what you changed and why\" --kind KIND\n(KIND: {', '.join(KINDS[:-1])})")


def _last_refusal(entries: list[dict]) -> dict | None:
    """The newest entry when it is a refused proposal: what `next` must show the agent, quoted words and all."""
    last = entries[-1] if len(entries) > 1 else None
    return {k: last[k] for k in ("id", "section", "reason")} if last and last["decision"] == "refused" else None


def _typed(failure: dict) -> dict:
    """A failing eval as JSON should have it: booleans as booleans, absent values as null (not "")."""
    return {**failure, "negate": failure["negate"] == "true",
            **{k: (None if failure[k] == "" else failure[k]) for k in ("min", "max")},
            "value": failure["value"].replace("&quot;", '"') or None}


KINDS = ["add-instruction", "clarify", "add-example", "add-anti-pattern", "move-up", "simplify", "agent"]


TRY_EXIT = {"keep": EXIT_OK, "discard": EXIT_BELOW, "refused": 3}  # documented in `try --help` and the README


@click.command("try")
@_run_reference
@click.option("--section", required=True, metavar="ID", help="The section the new body replaces (see `next`).")
@click.option("--file", "body_file", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The section's complete new body (its heading line may be included; it must not change).")
@click.option("--hypothesis", required=True, help="One line: what the change is and why it should help.")
@click.option("--kind", default="agent", show_default=True, type=click.Choice(KINDS), help="The kind of change.")
@click.option("--no-cache", is_flag=True, help="Do not use the response cache.")
@click.option("--json", "as_json", is_flag=True, help="Print the journal entry, the evals won and lost and a few "
                                                      "failing outputs as JSON.")
@click.option("--background", is_flag=True, help="Return at once and evaluate in a background process; follow it "
              "with `autoresearch wait RUN` (each wait fits in an agent's tool call).")
def try_command(run_ref: str, runs_dir: Path, section: str, body_file: Path, hypothesis: str, kind: str,
                no_cache: bool, as_json: bool, background: bool) -> None:
    """Evaluate a new body for one section; the tool decides keep or discard and logs the attempt.

    The same paired test, racing and guards as `run`. On a keep the target SKILL.md is updated.
    Prints the evals the candidate won and lost on, with a few of its failing outputs.
    Exit 0 kept, 1 discarded, 3 refused by a guard (all logged); 2 usage error or a run that
    should stop (nothing evaluated, nothing logged).
    """
    import os

    from ..loop.mutation import Proposal
    from ..runs.background import attached, claim, clear_pending, next_attempt, start_work, write_pending
    from ..runs.journal import RunDir
    from ..runs.locks import LockHeld

    hypothesis = " ".join(hypothesis.split())
    if not hypothesis:
        raise click.UsageError("--hypothesis needs text: one line on what you changed and why it should help")
    experiment = _open_run(run_ref, runs_dir, no_cache)
    from ..evaluate.reach import refusal, unreachable_roles

    blocked = unreachable_roles(experiment.suite, ("judge",))
    if blocked:
        echo(refusal(blocked), err=True)
        sys.exit(EXIT_ERROR)
    from ..suite.userfiles import read_user_text

    body = read_user_text(body_file)
    experiment.check_section(section)  # a typo is refused before the request is written
    run_dir = RunDir.find(run_ref, runs_dir)
    request = {"command": "try", "section": section, "body": body, "hypothesis": hypothesis, "kind": kind,
               "no_cache": no_cache, "attempt": next_attempt(run_dir)}
    action, found = claim(run_dir, request)
    if action == "decided":  # the same try again, after its tool call was cut off: its decision, not a retry
        _print_attempt(run_dir, found, as_json)
    if action == "attach" and background:
        echo(attached(run_dir, found))
        return
    if action == "attach":
        _follow(run_dir, found, as_json)
    if background:
        echo(start_work(run_dir, request))
        return
    write_pending(run_dir, {**request, "pid": os.getpid()})  # killed (a tool's timeout): `wait` finishes it
    try:
        entry = experiment.try_sync(section, Proposal(body, hypothesis, kind))
    except LockHeld as exc:  # a try or worker of this run took it a moment before us: it is on this attempt
        if exc.holder.get("run") != run_dir.id or exc.holder.get("command") not in ("autoresearch try",
                                                                                    "autoresearch work"):
            clear_pending(run_dir)
            raise
        holder = {**request, "pid": exc.holder.get("pid", 0)}
        write_pending(run_dir, holder)
        _follow(run_dir, holder, as_json)
    except BaseException as exc:
        if not isinstance(exc, KeyboardInterrupt):
            clear_pending(run_dir)  # refused before or while evaluating: nothing to resume
        raise
    clear_pending(run_dir)
    _print_attempt(experiment.run, entry, as_json)


def _follow(run_dir: Any, request: dict, as_json: bool) -> None:
    """Wait for the live process on this same attempt (resuming it if it dies), then print its decision."""
    from ..runs.background import describe, wait_for

    echo(f"{describe(request)} of run {run_dir.id} is already in progress (pid {request.get('pid', '?')}): "
         "waiting for its decision", err=True)
    entry = wait_for(run_dir, float("inf"), lambda line: echo(line, err=True))
    _print_attempt(run_dir, entry, as_json)


def _print_attempt(run: Any, entry: dict, as_json: bool) -> None:
    """A decided attempt as `try` prints it, exiting with its code (0 kept, 1 discarded, 3 refused)."""
    import json

    from ..loop.history import candidate_feedback, event_line

    feedback = candidate_feedback(run, entry) if entry["decision"] in ("keep", "discard") else None
    if as_json:
        echo(json.dumps({"entry": entry, "feedback": feedback}, indent=1))
    else:
        echo(event_line(entry))
        echo(f"decision: {entry['decision']}: {entry['reason']}")
        if feedback:
            _echo_feedback(feedback, "THIS CANDIDATE")
        echo(f"next: autoresearch next {run.id}")
    sys.exit(TRY_EXIT.get(entry["decision"], EXIT_ERROR))


WAIT_RUNNING = 4  # `wait` timed out with the work still going: run it again


@click.command("wait")
@_run_reference
@click.option("--timeout", type=click.FloatRange(0, 3600), default=90, show_default=True,
              help="Seconds to wait at most; keep it under your shell tool's timeout (Claude Code: 120 s).")
@click.option("--json", "as_json", is_flag=True, help="Print a decided attempt as `try --json` does.")
def wait_command(run_ref: str, runs_dir: Path, timeout: float, as_json: bool) -> None:
    """Wait for a background `try` (or baseline) and print its result; resume it if it was interrupted.

    Exit codes as `try`: 0 kept (or the baseline measured), 1 discarded, 3 refused; 4 still running after
    --timeout (run `wait` again); 2 an error (the attempt was not logged).
    """
    from ..runs.background import describe, pending, progress_of, wait_for
    from ..runs.journal import RunDir

    run_dir = RunDir.find(run_ref, runs_dir)
    request = pending(run_dir)
    entry = wait_for(run_dir, timeout, lambda line: echo(line, err=True))
    if entry is None and request is None and not run_dir.entries():
        raise click.UsageError(f"run {run_dir.id} has nothing to wait for: no baseline and no attempt started")
    if entry is None:
        echo(f"{describe(request or {})} of run {run_dir.id} in progress ({progress_of(run_dir) or 'starting'}); "
             f"run `autoresearch wait {run_dir.id}` again")
        sys.exit(WAIT_RUNNING)
    if entry["decision"] == "baseline":
        from ..review.report import status_text
        from ..runs.live import run_state

        echo(status_text(run_dir.id, run_dir.entries(), run_dir.config(), str(run_state(run_dir.path))))
        echo(f"next: autoresearch next {run_dir.id}")
        return
    _print_attempt(run_dir, entry, as_json)


@click.command("work", hidden=True)
@click.argument("run_path", type=click.Path(file_okay=False, path_type=Path))
def work_command(run_path: Path) -> None:
    """The background worker of `try --background` and `run --baseline-only --background` (see background.py)."""
    from ..errors import AutoresearchError
    from ..loop.mutation import Proposal
    from ..runs.background import clear_pending, done_entry, pending, record_error
    from ..runs.journal import RunDir
    from ..runs.locks import LockHeld

    run_dir = RunDir(run_path)
    request = pending(run_dir)
    if request is None or done_entry(run_dir, request) is not None:
        clear_pending(run_dir)
        return
    try:
        experiment = _open_run(str(run_dir.path), run_dir.path.parent, bool(request.get("no_cache")))
        if request["command"] == "baseline":
            experiment.run_sync(baseline_only=True)
        else:
            experiment.try_sync(request["section"], Proposal(request["body"], request["hypothesis"], request["kind"]))
    except LockHeld as exc:  # another worker (or a foreground try) is on it: leave the request to it
        echo(f"error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except AutoresearchError as exc:
        record_error(run_dir, str(exc))
        echo(f"error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    clear_pending(run_dir)


def _visible(text: str) -> str:
    """A reason on one line with its whitespace visible: a newline in a match must not read as a space."""
    return text.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def _echo_feedback(feedback: dict, title: str) -> None:
    """What a candidate won and lost on against the best, per eval, and a few of its failing outputs."""
    near = " (near miss)" if feedback["near_miss"] else ""
    echo(f"\n{title} #{feedback['id']} on {feedback['section']}: {feedback['decision']}{near}: "
         f"{feedback['hypothesis']}")
    for label, rows in (("won on", feedback["won"]), ("lost on", feedback["lost"])):
        echo(f"  {label}: " + (", ".join(f"{r['id']} (+{r['wins']} -{r['losses']})" for r in rows) or "none"))
    for o in feedback["failing_outputs"][:2]:
        echo(f"  its failing output for input {o['input_id']} (failed {', '.join(o['failed'])}):\n"
             + "\n".join("    " + line for line in o["text"][:500].splitlines()))
        if o.get("trace"):
            echo("  what the agent did:\n" + "\n".join("    " + line for line in o["trace"][:500].splitlines()))
