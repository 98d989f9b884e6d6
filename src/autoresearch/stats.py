"""Statistics for binary checks: Wilson intervals and the exact paired sign test (McNemar).

Pass rates count passes over passes + fails; errors are reported apart and never enter a rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Awaitable, Callable


@dataclass(frozen=True)
class Rate:
    """A pass rate with its Wilson 95% interval; `errors` are outside the rate."""

    passed: int
    failed: int
    errors: int = 0

    @property
    def n(self) -> int:
        return self.passed + self.failed

    @property
    def value(self) -> float:
        return self.passed / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.passed, self.n)

    def __str__(self) -> str:
        lo, hi = self.interval
        return f"{self.value:6.1%} [{lo:.0%}–{hi:.0%}] ({self.passed}/{self.n})"

    def to_dict(self) -> dict[str, float | int]:
        lo, hi = self.interval
        return {"passed": self.passed, "failed": self.failed, "errors": self.errors,
                "rate": round(self.value, 6), "low": round(lo, 6), "high": round(hi, 6)}


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when there is no data."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def binomial_tail(k: int, n: int, p: float = 0.5) -> float:
    """P(X >= k) for X ~ Binomial(n, p), exact."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return min(1.0, sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1)))


def sign_test(wins: int, losses: int) -> float:
    """One-sided exact sign test (exact McNemar) on discordant pairs: P(wins >= observed | no effect)."""
    return binomial_tail(wins, wins + losses)


@dataclass(frozen=True)
class Paired:
    """Candidate against best on the same (input, eval, run) cells; pairs with an error are left out."""

    wins: int  # candidate passed where best failed
    losses: int  # candidate failed where best passed
    both_pass: int
    both_fail: int

    @property
    def n(self) -> int:
        return self.wins + self.losses + self.both_pass + self.both_fail

    @property
    def p_value(self) -> float:
        return sign_test(self.wins, self.losses)

    @property
    def candidate_rate(self) -> float:
        return (self.wins + self.both_pass) / self.n if self.n else 0.0

    @property
    def best_rate(self) -> float:
        return (self.losses + self.both_pass) / self.n if self.n else 0.0


def pair(candidate: dict[tuple, bool], best: dict[tuple, bool]) -> Paired:
    """Pair two {cell key: passed} maps on their common keys."""
    wins = losses = both_pass = both_fail = 0
    for key, passed in candidate.items():
        if key not in best:
            continue
        other = best[key]
        if passed and not other:
            wins += 1
        elif other and not passed:
            losses += 1
        elif passed:
            both_pass += 1
        else:
            both_fail += 1
    return Paired(wins, losses, both_pass, both_fail)


def _phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _z_crit(alpha: float) -> float:
    low, high = 0.0, 10.0
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if 1 - _phi(mid) > alpha else (low, mid)
    return (low + high) / 2


def conditional_power(paired: Paired, fraction_done: float, alpha: float) -> float:
    """Chance that the final sign test is significant if the trend so far goes on (Lan & Wittes B-value).

    Racing stops a candidate when this falls below its futility level: it is then very unlikely to
    beat the best, and the rest of its evaluation would be wasted calls.
    """
    discordant = paired.wins + paired.losses
    if fraction_done >= 1:
        return 1.0 if paired.p_value < alpha else 0.0
    if discordant == 0:
        return 0.5
    z = (paired.wins - paired.losses) / math.sqrt(discordant)
    b = z * math.sqrt(fraction_done)
    drift = b / fraction_done
    remaining = 1 - fraction_done
    return 1 - _phi((_z_crit(alpha) - b - drift * remaining) / math.sqrt(remaining))


@dataclass(frozen=True)
class KeepRule:
    """How the tool decides keep or discard; the agent never does.

    `paired` (default): exact one-sided sign test (McNemar) on paired cells. The first N runs screen
    at 3 x alpha; a candidate that passes is confirmed on N fresh runs of both versions and kept only
    if all 2N runs are significant at alpha. Without confirmation runs the screen itself is at alpha.
    Racing stops a candidate after any run when its conditional power falls below `futility`.
    `naive`: keep when the raw score on the same cells is strictly higher (for comparison only).
    Either way, an exact tie goes to the shorter text.
    """

    name: str = "paired"
    alpha: float = 0.05
    futility: float = 0.2
    confirm: bool = True


@dataclass(frozen=True)
class Outcome:
    decision: str  # keep | discard
    reason: str
    paired: Paired
    candidate_runs: tuple[int, ...]
    raced: bool = False
    confirmed: bool = False


Cells = dict  # {(input_id, eval_id, run): passed}


async def decide(rule: KeepRule, stages: list[list[int]], candidate: Callable[[list[int]], Awaitable[Cells]],
                 best: Callable[[list[int]], Awaitable[Cells]], *, shorter: bool,
                 confirm_runs: list[int] | None = None) -> Outcome:
    """Evaluate a candidate stage by stage against the best and decide; `best(runs)` may evaluate lazily.

    Two phases, each raced: the screen (the suite's runs) and, for a candidate that passes it, the
    confirmation (fresh runs of both versions), whose test is on all runs together.
    """
    cand_cells: Cells = {}
    best_cells: Cells = {}
    done: list[int] = []
    confirming = bool(confirm_runs) and rule.confirm and rule.name == "paired"
    screen_alpha = min(0.5, 3 * rule.alpha) if confirming else rule.alpha
    phases = [(stages, screen_alpha)]
    if confirming:
        phases.append(([[r] for r in confirm_runs or []], rule.alpha))
    planned = 0
    for phase, (phase_stages, target) in enumerate(phases):
        start = len(done)
        planned += sum(len(s) for s in phase_stages)
        for index, runs in enumerate(phase_stages):
            cand_cells.update(await candidate(runs))
            best_cells.update(await best(runs))
            done += runs
            paired = pair(cand_cells, best_cells)
            last = index == len(phase_stages) - 1
            if rule.name == "paired" and rule.futility > 0 and not last and (not shorter or paired.wins < paired.losses):
                power = conditional_power(paired, len(done) / planned, target)
                if power < rule.futility:
                    label = "confirmation" if phase else "evaluation"
                    return Outcome("discard", f"raced out after {len(done) - start} of {len(phase_stages)} runs of the "
                                   f"{label}: {paired.wins} wins, {paired.losses} losses, chance to win {power:.1%}",
                                   paired, tuple(done), raced=True)
        paired = pair(cand_cells, best_cells)
        score = f"{paired.candidate_rate:.1%} vs {paired.best_rate:.1%}"
        if phase == 0 and paired.wins == paired.losses and shorter:
            return Outcome("keep", f"equal score ({score}) and shorter text: simpler wins a tie", paired, tuple(done))
        if rule.name == "naive":
            if paired.wins > paired.losses:
                return Outcome("keep", f"naive rule: raw score higher ({score})", paired, tuple(done))
            return Outcome("discard", f"naive rule: raw score not higher ({score})", paired, tuple(done))
        if paired.p_value >= target:
            verdict = "gain did not replicate on fresh runs" if phase else "not significant"
            return Outcome("discard", f"{verdict}: {score}, {paired.wins} wins / {paired.losses} losses, "
                           f"p = {paired.p_value:.3f} >= {target:g}", paired, tuple(done))
    confirmed = len(phases) == 2
    how = f"confirmed on {len(confirm_runs or [])} fresh runs" if confirmed else "significant"
    return Outcome("keep", f"gain {how}: {score}, {paired.wins} wins / {paired.losses} losses, "
                   f"p = {paired.p_value:.4f} < {rule.alpha:g}", paired, tuple(done), confirmed=confirmed)
