"""Run directories: their ids, creating one for a suite (config, models, setup; kept out of git), tidying it."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

from ..suite.fingerprint import suite_fingerprint
from ..suite.suite import Suite
from .config import LoopConfig
from .journal import RunDir
from .locks import target_lock


def default_run_id(suite: Suite) -> str:
    """A run id that sorts by time and names the suite: `20260123-101500-meeting-notes`."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{suite.name}"


def new_run(suite: Suite, config: LoopConfig, root: Path = Path(".autoresearch"), run_id: str | None = None,
            models: dict | None = None, git: dict | None = None) -> RunDir:
    """Create a run directory for `suite` with its configuration (and model overrides, for resume; with
    `--git`, the branch the keeps go on and the one the user started from)."""
    run_id = run_id or default_run_id(suite)
    lock = target_lock(suite.skill_path)
    if lock.is_held():  # checked before the run directory exists, so a refusal leaves nothing behind
        from .locks import LockHeld

        raise LockHeld(str(suite.skill_path), lock.holder())
    created = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    from ..evaluate.provenance import provenance
    from ..suite.userfiles import relative_to_folder

    run = RunDir.create(root, run_id, {"suite": relative_to_folder(suite.path, Path(root) / run_id),
                                       "allow_outside": suite.allow_outside, "created": created,
                                       "config": config.to_dict(), "models": models or {}, "info": suite_info(suite),
                                       "provenance": provenance(suite),
                                       "fingerprint": suite_fingerprint(suite),
                                       **({"git": git} if git else {})})
    _ignore_runs(Path(root))
    return run


def _ignore_runs(root: Path) -> None:
    """In a git repository, the runs folder goes into .gitignore (once): runs and the cache are not for commits."""
    from ..install import IGNORED, ensure_ignored, in_git_repository, project_root

    if not in_git_repository(root):
        return
    project, folder = project_root(root), root.resolve()
    if folder.name == IGNORED.strip("/"):
        ensure_ignored(project)
    elif folder.is_relative_to(project) and folder != project:
        ensure_ignored(project, f"/{folder.relative_to(project).as_posix()}/")


def suite_info(suite: Suite) -> dict:
    """What a reviewer wants to know about a run's setup: suite, models, inputs, evals, runs."""
    from ..targets import describe_sandbox

    judge = suite.judge_model or suite.model
    return {"suite": suite.name, "model": suite.model.name, "judge": judge.name,
            "mutator": (suite.mutator_model or suite.model).name, "train": len(suite.split("train")),
            "holdout": len(suite.split("holdout")), "evals": len(suite.evals), "runs": suite.runs,
            "sandbox": describe_sandbox(suite.model)}


def clean_stale_temp_files(run: RunDir, target: Path) -> None:
    """Remove temporary files a killed writer left: `.SKILL.md.*.tmp` beside the target, `.*.tmp` in the run."""
    for stale in [*Path(target).parent.glob(f".{Path(target).name}.*.tmp"), *run.path.rglob(".*.tmp")]:
        stale.unlink(missing_ok=True)
