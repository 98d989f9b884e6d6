"""Publishing the best: best/SKILL.md, the changelog, the target file (unless edited meanwhile), git commits."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

from ..errors import AutoresearchError
from ..fsio import atomic_write, sha256
from ..runs.journal import RunDir


class TargetEdited(AutoresearchError):
    """The target file changed under a running loop; the user's edit wins and the run stops."""


def publish(run: RunDir, target: Path, suite_name: str, best_sha: str, entries: list[dict], git: bool,
            published: str | None = None) -> None:
    """Bring the files derived from the journal up to date: best/, changelog, target, git.

    `published` is the version the run last put in the target: a target holding anything else
    was edited by someone during the run, and is left as it is (the run stops, resumable); with `git`,
    a keep is committed."""
    from ..review.report import render_changelog

    best_text = run.version(best_sha)
    if not (run.path / "best" / "SKILL.md").exists() or \
            (run.path / "best" / "SKILL.md").read_text(encoding="utf-8") != best_text:
        run.write_text("best/SKILL.md", best_text)
    run.write_text("changelog.md", render_changelog(entries, suite_name))
    current = target.read_text(encoding="utf-8") if target.exists() else None
    if current != best_text:
        if published is not None and current is not None and sha256(current) != published:
            raise TargetEdited(f"{target} was edited during run {run.id}: it no longer holds the version "
                               f"the run put there, so it was left as you wrote it (attempt #{entries[-1]['id']} "
                               f"is in the journal). To go on with the run, put its best back "
                               f"({run.path / 'best' / 'SKILL.md'}) and `autoresearch run --resume "
                               f"{run.id}`; to keep your edit, start a new run from it")
        atomic_write(target, best_text)
        if git and entries[-1]["decision"] == "keep":
            _git_commit(target, entries[-1])


def _git(path: Path, *args: str) -> str:
    """Run git in the folder of `path`; a failure is an AutoresearchError with git's own message."""
    done = subprocess.run(["git", *args], cwd=path.resolve().parent, capture_output=True, text=True)
    if done.returncode != 0:
        said = (done.stderr.strip() + "\n" + done.stdout.strip()).strip()
        raise AutoresearchError(f"git {' '.join(args[:2])}: {said or f'failed with exit code {done.returncode}'}")
    return done.stdout.strip()


def _git_commit(path: Path, entry: dict) -> None:
    """Commit the target with a kept attempt's hypothesis, scores and decision as the message."""
    from ..review.report import decision_score, rate_ci

    train = entry["scores"]["train"]["rate"]
    holdout = entry["scores"].get("holdout")
    message = (f"autoresearch #{entry['id']}: {entry['hypothesis']}\n\nsection: {entry['section']}\n"
               f"train: {entry['best_scores']['train']['rate']:.1%} -> "
               f"{decision_score(entry)['rate']:.1%} (p = {entry['p_value']}),"
               f" {train:.1%} on fresh runs\n"
               + (f"holdout: {rate_ci(holdout)}\n" if holdout else "")
               + f"decision: {entry['reason']}\n")
    _git(path, "add", "--", path.resolve().name)
    _git(path, "commit", "-q", "-m", message, "--", path.resolve().name)


def start_git_branch(path: Path, tag: str) -> dict:
    """Create and switch to `autoresearch/<tag>` in the target's repository; returns the branch and the one
    the user was on (`finalize --branch` reuses the first and goes back to the second)."""
    branch = f"autoresearch/{tag}"
    try:
        _git(path, "rev-parse", "--is-inside-work-tree")
    except AutoresearchError:
        raise AutoresearchError(f"--git: {path} is not inside a git repository") from None
    if _git(path, "status", "--porcelain", "--", path.resolve().name):
        raise AutoresearchError(f"--git: {path} has uncommitted changes; commit or stash them first")
    start = _git(path, "rev-parse", "--abbrev-ref", "HEAD")
    try:
        _git(path, "checkout", "-q", "-b", branch)
    except AutoresearchError as exc:
        raise AutoresearchError(f"--git: cannot create branch {branch}: {exc}") from None
    return {"branch": branch, "start": start}


@contextlib.contextmanager
def on_run_branch(target: Path, git: dict | None, say=lambda line: None):
    """A `--git` run works on its branch: switch there for the work, then back to the branch the user was on
    (the one the run started from, when it was started there), so the checkout is never left on it."""
    branch = (git or {}).get("branch")
    if not branch:
        yield
        return
    current = _git(target, "rev-parse", "--abbrev-ref", "HEAD")
    if current != branch:
        _git(target, "checkout", "-q", branch)
    try:
        yield
    finally:
        back = git.get("start") if current == branch else current
        if back and back != branch:
            try:
                _git(target, "checkout", "-q", back)
                say(f"back on branch {back}; the keeps are committed on {branch} (review them with "
                    f"`git diff {back} {branch}` or `autoresearch finalize RUN --branch NAME`)")
            except AutoresearchError as exc:
                say(f"still on branch {branch}: {exc}")
