"""Candidates in parallel (issue 23): one round evaluates K proposals on K different sections at once, each
with its own sequential test against the same best, and keeps at most one: the strongest that passes.

The others that passed are discarded (their gain was measured against a best that is no longer the best);
each attempt keeps its own alpha, so false keeps per attempt do not rise, while a round of K no-better
candidates may keep one with chance up to K x alpha.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from .stats import Outcome


class Round:
    """The barrier of one round: every attempt reports its outcome; the strongest keep goes last."""

    def __init__(self, size: int):
        self.size = size
        self.outcomes: dict[int, Outcome | None] = {}
        self.everyone = asyncio.Event()
        self.others_done = asyncio.Event()
        self.finished: set[int] = set()
        self.winner: int | None = None

    def _arrive(self, slot: int, outcome: Outcome | None) -> None:
        self.outcomes[slot] = outcome
        if len(self.outcomes) == self.size:
            keeps = {s: o for s, o in self.outcomes.items() if o is not None and o.decision == "keep"}
            self.winner = min(keeps, key=lambda s: (keeps[s].p_value, s)) if keeps else None
            self.everyone.set()
            self._check_others()

    def _check_others(self) -> None:
        if self.everyone.is_set() and self.finished >= set(self.outcomes) - {self.winner}:
            self.others_done.set()

    async def gate(self, slot: int, outcome: Outcome) -> str | None:
        """Wait for the round; None lets this attempt's decision stand, else why a keep becomes a discard.
        The winner waits until the others are logged, so they are all compared with the best they were tested on."""
        self._arrive(slot, outcome)
        await self.everyone.wait()
        if slot == self.winner:
            await self.others_done.wait()
            return None
        if outcome.decision == "keep":
            return "a stronger candidate of the same round was kept (at most one keep per round)"
        return None

    def done(self, slot: int) -> None:
        """An attempt is logged (or ended before its test): the round may go on without it."""
        if slot not in self.outcomes:
            self._arrive(slot, None)
        self.finished.add(slot)
        self._check_others()


def round_sections(chosen: str, candidates: list[str], failures: Counter, history: list[str], size: int,
                   choose) -> list[str]:
    """Up to `size` different sections for one round: the loop's own choice first, then its next choices
    among the sections left (`choose(candidates, failures, history)` picks one)."""
    sections = [chosen]
    while len(sections) < size:
        left = [c for c in candidates if c not in sections]
        if not left:
            break
        sections.append(choose(left, failures, history + sections))
    return sections
