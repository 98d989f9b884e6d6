"""What the loop reports and plans: a progress line, and an experiment's plan."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..suite.skill import SkillDocument
from .mutation import Attempted


@dataclass(frozen=True)
class Progress:
    """Where the loop is, for a live display and the heartbeat: a stage of an experiment and its items done."""

    experiment: int
    stage: str  # baseline, mutator, screening, confirmation, holdout
    done: int = 0
    total: int = 0
    detail: str = ""  # e.g. "run 3 of 8, candidate"
    runs: int = 0  # the stage's planned runs (screening, confirmation); racing may stop it earlier


def progress_line(p: Progress) -> str:
    """One short line for a Progress: `#4 screening run 2 of 8, candidate 5/10`."""
    head = f"#{p.experiment} {p.stage}" + (f" {p.detail}" if p.detail else "")
    return f"{head} {p.done}/{p.total}" if p.total else head


@dataclass(frozen=True)
class Plan:
    """The next experiment's starting point, as `autoresearch next` shows it to an agent."""

    doc: SkillDocument
    section: str
    candidates: list[str]
    failures: list[dict]
    outputs: list[dict]
    tried: list[Attempted]  # evaluated attempts on this section only: refusals would teach the mutator nothing
    refusals: list[str] = field(default_factory=list)  # "N x reason" for refusals on this section
    near_misses: list[dict] = field(default_factory=list)  # discards that came close, to build on
    profile: dict = field(default_factory=dict)  # the best's train inputs: flaky, never/always passing; eval correlation
    guard_refusals: list[str] = field(default_factory=list)  # attempts a guard target refused: harness and evals
