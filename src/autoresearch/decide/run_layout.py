"""Which run numbers play which part in a run: screen, confirmation, fresh runs for honest scores, holdout.

A run number seeds the target's sample (and keys the cache), so each number keeps its part for the life
of a run, across resumes: screen 0..N-1, confirmation N..2N-1 (then 4N on, when lengthened), fresh runs
2N..4N-1. Holdout inputs are other inputs, so their runs start at 0 again.
"""

from __future__ import annotations

from dataclasses import dataclass

from .profile import confirmation_length


@dataclass(frozen=True)
class RunLayout:
    runs: int  # the suite's runs: the screen, and one block of fresh runs
    confirmation_runs: int  # runs .. 2 x runs (longer when the baseline's evals are correlated)
    holdout_runs: int
    sequential: bool = False  # the sequential rule: blocks of MAX_RUNS_FACTOR x runs numbers, one per best and refresh

    @classmethod
    def for_suite(cls, runs: int, holdout_runs: int, baseline_profile: dict | None = None,
                  sequential: bool = False) -> "RunLayout":
        """The layout of a run; the confirmation's length comes from the baseline's profile once measured."""
        return cls(runs, confirmation_length(runs, baseline_profile), holdout_runs, sequential)

    def block(self, index: int) -> list[int]:
        """The sequential rule's run numbers for block `index`: its best's test runs, the first 2 x runs of them
        also its honest score (no candidate chose the best on them). Block 0 starts with the screen."""
        from .sequential import MAX_RUNS_FACTOR

        size = MAX_RUNS_FACTOR * self.runs
        return list(range(index * size, (index + 1) * size))

    @property
    def screen(self) -> list[int]:
        return list(range(self.runs))

    @property
    def confirmation(self) -> list[int]:
        extra = self.confirmation_runs - self.runs
        return list(range(self.runs, 2 * self.runs)) + list(range(4 * self.runs, 4 * self.runs + extra))

    @property
    def fresh(self) -> list[int]:
        """Two blocks of runs that no decision uses; a kept version's score is taken on the first."""
        return list(range(2 * self.runs, 4 * self.runs))

    @property
    def kept_score(self) -> list[int]:
        """Where a kept version's score is taken: the first block of fresh runs."""
        return self.fresh[:self.runs]

    @property
    def holdout(self) -> list[int]:
        return list(range(self.holdout_runs))

    def unselected(self, keeps: int) -> list[int]:
        """The best's runs that played no part in choosing it: the honest score's.

        The baseline was chosen by nobody, so its screen and confirmation runs; a kept version's screen
        and confirmation runs won its test (a lucky draw), so the fresh runs after them.
        """
        return self.screen + self.confirmation if keeps == 0 else self.fresh

    def describe(self, runs: list[int], who: str) -> tuple[str, str]:
        """The part (screening, confirmation, fresh runs) of consecutive `runs`, and `run 3 of 8, candidate`."""
        parts = [("screening", self.screen), ("confirmation", self.confirmation), ("fresh runs", self.fresh)]
        if self.sequential:
            from .sequential import MAX_RUNS_FACTOR

            parts = [("testing", self.block(runs[0] // (MAX_RUNS_FACTOR * self.runs)))]
        stage, pool = next(((name, pool) for name, pool in parts if runs[0] in pool), ("fresh runs", runs))
        first, last = pool.index(runs[0]) + 1, pool.index(runs[-1]) + 1
        return stage, f"run {first if len(runs) == 1 else f'{first}-{last}'} of {len(pool)}, {who}"
