"""The keep decision under a run's rule: the sequential e-process (the default) or the staged paired test."""

from __future__ import annotations

from typing import Awaitable, Callable

from .sequential import MAX_RUNS_FACTOR, decide_sequential
from .stats import Cells, KeepRule, Outcome, decide_staged


async def decide(rule: KeepRule, stages: list[list[int]], candidate: Callable[..., Awaitable[Cells]],
                 best: Callable[[list[int]], Awaitable[Cells]], *, confirm_runs: list[int] | None = None,
                 min_runs: int | None = None, look: int | None = None, order: list | None = None) -> Outcome:
    """Evaluate a candidate against the best and decide; `best(runs)` may evaluate lazily.

    The sequential rule tests run by run over all the stages' runs, looking every `look` outputs
    (`candidate(runs, inputs)`, the inputs taken in `order`; None: at each run's end, `candidate(runs)`),
    keeping from `min_runs` on (default: a MAX_RUNS_FACTOR-th of them); the paired and naive rules go stage by
    stage (`decide_staged`).
    """
    if rule.sequential:
        runs = [r for stage in stages for r in stage]
        return await decide_sequential(rule, runs, candidate, best, min_runs or max(1, len(runs) // MAX_RUNS_FACTOR),
                                       look, order)
    return await decide_staged(rule, stages, candidate, best, confirm_runs=confirm_runs)
