"""Close a run: stop it if it is still going, then summary, report and an optional review branch,
all from the final journal. Git is checked before anything is written.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import AutoresearchError
from ..fsio import atomic_write, sha256
from ..runs.journal import RunDir, best_entry
from ..runs.locks import holding, run_lock, target_lock, wait_released
from .publish import _git
from .stopping import STOP_FILE

STOP_WAIT_SECONDS = 120  # how long a live run may take to wind down after it is interrupted


@dataclass
class Finalized:
    """What finalize did, for the command line to print."""

    status: str = ""
    diff: str = ""
    notes: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def finalize_run(run: RunDir, branch: str | None = None, say=lambda line: None, with_suite: bool = False) -> Finalized:
    """Stop `run` (interrupting a live writer), write summary.md and report.html from its final journal,
    and with `branch` commit the best version there (`with_suite`: the suite and the files it reads too)
    and put the baseline back in the working tree."""
    from ..suite.suite import load_suite

    config = run.config()
    target = load_suite(run.suite_path(), check_skill=False, allow_outside=config.get("allow_outside", False)).skill_path
    lock = run_lock(run.path)
    if not run.entries() and not lock.is_held():
        raise AutoresearchError(f"run {run.id} has no baseline yet; nothing to finalize")
    if branch:
        check_branch(target, branch, run, config.get("git") or {})
    atomic_write(run.path / STOP_FILE, "finalize\n")
    done = Finalized()
    if lock.is_held():
        holder = lock.holder()
        say(f"stopping the live run {run.id} (pid {holder.get('pid', '?')})")
        if holder.get("pid") and holder["pid"] != os.getpid():
            try:
                os.kill(int(holder["pid"]), signal.SIGINT)  # the run stops as on Ctrl-C: journal consistent
            except ProcessLookupError:
                pass
        if not wait_released(lock, STOP_WAIT_SECONDS):
            raise AutoresearchError(f"run {run.id} is still running (pid {holder.get('pid', '?')}) after "
                                    f"{STOP_WAIT_SECONDS}s; it stops before its next experiment, then finalize again")
        done.notes.append(f"stopped the live run {run.id}")
    with holding([run_lock(run.path), target_lock(target)], run.id):
        entries = run.entries()
        if not entries:
            done.notes.append(f"run {run.id} stopped during its baseline: nothing was measured, nothing to summarise")
            return done
        baseline = (run.path / "baseline/SKILL.md").read_text(encoding="utf-8")
        best = (run.path / "best/SKILL.md").read_text(encoding="utf-8")
        _summarise(run, entries, config, baseline, best, done)
        if branch and best == baseline:
            done.notes.append(f"nothing kept: the best version is the baseline, so branch {branch} was not created")
        elif branch:
            message = commit_message(run, entries, target, config)
            extra = _suite_files_in_repository(run.suite_path(), target) if with_suite else []
            done.notes.append(commit_review_branch(target, best, baseline, branch, message, config.get("git") or {},
                                                   extra))
        else:
            done.notes.append(what_target_holds(target, run, entries))
    return done


def _summarise(run: RunDir, entries: list[dict], config: dict, baseline: str, best: str, done: Finalized) -> None:
    from ..review.diffs import section_diff
    from ..review.html import html_report, render_diff, run_files
    from ..review.report import status_text

    done.status = status_text(run.id, entries, config)
    changes = section_diff(baseline, best)
    diff_md = render_diff(changes, "markdown", f"run {run.id}, baseline -> best")
    from ..review.provenance import measured_with, suite_line

    measured = "\n".join(f"- {line}" for line in measured_with(config) + [suite_line(config, run.suite_path().resolve())])
    atomic_write(run.path / "summary.md", f"# autoresearch run {run.id}\n\n## How it was measured\n\n{measured}\n\n"
                                          f"```\n{done.status}\n```\n\n{diff_md}")
    atomic_write(run.path / "report.html", html_report(run.id, entries, config, run_files(run, entries), "finalized"))
    done.diff = render_diff(changes, "unified")
    done.files = [run.path / name for name in ("summary.md", "changelog.md", "report.html")]


def what_target_holds(target: Path, run: RunDir, entries: list[dict]) -> str:
    """Say which version the target file holds now: this run's best, its baseline, or something else."""
    best = best_entry(entries)
    if not target.exists():
        return f"{target} does not exist; this run's best is in {run.path / 'best/SKILL.md'}"
    digest = sha256(target.read_text(encoding="utf-8"))
    if digest == best["skill_after"]:
        return f"{target} holds this run's best version (#{best['id']})"
    if digest == entries[0]["skill_after"]:
        return f"{target} holds the baseline, not this run's best (which is in {run.path / 'best/SKILL.md'})"
    return (f"{target} holds another version (edited since, or another run's), not this run's best; "
            f"the best is in {run.path / 'best/SKILL.md'}")


def commit_message(run: RunDir, entries: list[dict], target: Path, config: dict | None = None) -> str:
    """The review commit's message: the scores from baseline to best, like the `--git` commits, then how they
    were measured (models, the simulator) and the suite behind them (path and fingerprint)."""
    from collections import Counter

    from ..review.provenance import measured_with, suite_line

    best, base = best_entry(entries), entries[0]
    decisions = Counter(e["decision"] for e in entries[1:])
    lines = [f"autoresearch: optimised {target.name} (run {run.id})", "",
             f"train: {base['scores']['train']['rate']:.1%} -> {best['scores']['train']['rate']:.1%} "
             f"(baseline -> best #{best['id']})"]
    if base["scores"].get("holdout") and best["scores"].get("holdout"):
        lines.append(f"holdout: {base['scores']['holdout']['rate']:.1%} -> {best['scores']['holdout']['rate']:.1%}")
    lines.append(f"experiments: {len(entries) - 1} ({decisions['keep']} kept, {decisions['discard']} discarded, "
                 f"{decisions['refused']} refused)")
    if config is not None:
        suite = run.suite_path().resolve()
        try:
            suite = suite.relative_to(Path(_git(target, "rev-parse", "--show-toplevel")).resolve())
        except (AutoresearchError, ValueError):
            pass
        lines += ["", *measured_with(config), suite_line(config, suite)]
    return "\n".join(lines) + "\n"


def _suite_files_in_repository(suite_path: Path, target: Path) -> list[Path]:
    """The suite and the files it reads that lie inside the target's git work tree (others cannot be committed)."""
    from ..review.provenance import suite_files

    top = Path(_git(target, "rev-parse", "--show-toplevel")).resolve()
    return [p.resolve() for p in suite_files(suite_path) if p.resolve().is_relative_to(top)]


def _branch_exists(target: Path, branch: str) -> bool:
    try:
        _git(target, "rev-parse", "--verify", "-q", f"refs/heads/{branch}")
        return True
    except AutoresearchError:
        return False


def check_branch(target: Path, branch: str, run: RunDir, run_git: dict) -> None:
    """Everything `--branch` needs, checked before finalize writes anything."""
    try:
        _git(target, "rev-parse", "--is-inside-work-tree")
    except AutoresearchError:
        raise AutoresearchError(f"--branch: {target} is not inside a git repository; finalize without --branch "
                                "(nothing was written)") from None
    for args, problem in ((("rev-parse", "--verify", "-q", "HEAD"), "the repository has no commit yet"),
                          (("check-ref-format", "--branch", branch), f"{branch!r} is not a valid branch name")):
        try:
            _git(target, *args)
        except AutoresearchError:
            raise AutoresearchError(f"--branch: {problem} (nothing was written)") from None
    if _branch_exists(target, branch) and branch != run_git.get("branch"):
        raise AutoresearchError(f"--branch: branch {branch} already exists; choose another name (nothing was written)")
    versions = {sha256((run.path / name / "SKILL.md").read_text(encoding="utf-8")) for name in ("baseline", "best")}
    if target.exists() and sha256(target.read_text(encoding="utf-8")) not in versions:
        raise AutoresearchError(f"--branch: {target} holds neither the baseline nor the best of run {run.id} (edited "
                                "since?); commit or restore it first (nothing was written)")


def commit_review_branch(target: Path, best: str, baseline: str, branch: str, message: str, run_git: dict,
                         extra: list[Path] = ()) -> str:
    """Put `best` on `branch` (from the run's `--git` branch when it has one), with the `extra` files as they are
    (the suite), then go back to where the user was with `baseline` in the working tree and the extra files
    as they were. On a git failure everything is put back as it was."""
    current = _git(target, "rev-parse", "--abbrev-ref", "HEAD")
    kept = {path: path.read_bytes() for path in extra}
    git_branch = run_git.get("branch") if run_git.get("branch") and _branch_exists(target, run_git["branch"]) else None
    start = run_git.get("start") or current
    before = target.read_text(encoding="utf-8") if target.exists() else None
    created = branch != git_branch
    if created:
        _git(target, "checkout", "-q", "-b", branch, *([git_branch] if git_branch else []))
    elif current != branch:
        _git(target, "checkout", "-q", branch)
    try:
        atomic_write(target, best)
        paths = [target.resolve().name, *(os.path.relpath(p, target.resolve().parent) for p in kept)]
        if _git(target, "status", "--porcelain", "--", *paths):
            _git(target, "add", "--", *paths)
            _git(target, "commit", "-q", "-m", message, "--", *paths)
    except AutoresearchError:
        _git(target, "checkout", "-q", current)
        if created:
            _git(target, "branch", "-q", "-D", branch)
        if before is not None:
            atomic_write(target, before)
        raise
    _git(target, "checkout", "-q", start)
    if not target.exists() or target.read_text(encoding="utf-8") != baseline:
        atomic_write(target, baseline)
    for path, content in kept.items():  # a suite file new to git would otherwise leave with the branch
        if not path.exists() or path.read_bytes() != content:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    with_suite = f" with the suite ({len(kept)} file{'s' if len(kept) != 1 else ''})" if kept else ""
    return (f"committed the best version of {target}{with_suite} on branch {branch}; the working tree is on {start} "
            "with the baseline")
