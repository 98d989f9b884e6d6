"""Statistics for binary checks: the keep rule's paired tests on outputs, per eval and per input, and the staged rule.

The unit of evidence is an output (one input, one run): the evals of one output pass and fail
together, so every paired test here flips whole outputs, never single cells. Pass rates count
passes over passes + fails; errors are reported apart, never enter a rate, and are limited by the
keep rule on their own.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Iterable

SCREEN_FACTOR = 6  # the screen's level is this times alpha: lenient, since the confirmation decides


RACE_FROM_RUN = 3  # racing never stops a candidate on fewer runs than this: early trends are mostly noise


_NEGLIGIBLE_LOG = -130.0  # log of a probability too small to move any p-value we act on or print


def _log_pmf(i: int, n: int, p: float) -> float:
    return math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * math.log(p) + (n - i) * math.log1p(-p)


def binomial_tail(k: int, n: int, p: float = 0.5) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed in log space so that any n works (no overflow)."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    start = max(k, min(n, math.floor((n + 1) * p)))  # the largest term: the mode, or k beyond it
    top = _log_pmf(start, n, p)
    terms = []
    for step in (1, -1):
        i = start if step == 1 else start - 1
        while k <= i <= n:
            value = _log_pmf(i, n, p) - top
            if value < _NEGLIGIBLE_LOG:
                break
            terms.append(math.exp(value))
            i += step
    return min(1.0, math.exp(top) * math.fsum(terms))


def sign_test(wins: int, losses: int) -> float:
    """One-sided exact sign test (exact McNemar) on independent discordant pairs: P(wins >= observed | no effect)."""
    return binomial_tail(wins, wins + losses)


@functools.lru_cache(maxsize=512)
def _half_binomial(n: int) -> tuple[int, list[float]]:
    """Binomial(n, 1/2) as (first k, probabilities from it), its negligible tails cut off."""
    width = math.isqrt(int(-_NEGLIGIBLE_LOG * n / 2)) + 2  # Chernoff: P(K = n/2 + d) <= exp(-2 d^2 / n)
    first, last = max(0, n // 2 - width), min(n, n // 2 + width)
    return first, [math.exp(_log_pmf(k, n, 0.5)) for k in range(first, last + 1)]


def flip_test(differences: Iterable[int]) -> float:
    """One-sided p-value of sum(differences) when each output's sign is a fair coin (no effect).

    Each output's difference (its candidate passes minus best passes) keeps its size; if the two
    versions are alike their outputs are exchangeable, so its sign is a coin flip. The null is the
    exact distribution of sum_a a*(2*K_a - n_a), K_a ~ Binomial(n_a, 1/2) over the n_a outputs of
    size a, convolved in floating point with tails below e^-130 dropped: any size, no overflow.
    """
    values = [d for d in differences if d]
    sizes = Counter(abs(d) for d in values)
    total = sum(a * n for a, n in sizes.items())
    needed = -(-(sum(values) + total) // 2)  # sum = 2X - total with X = sum a*K_a; P(X >= needed)
    dist, low = [1.0], 0  # dist[i] = P(X = low + i)
    for size, count in sorted(sizes.items()):
        first, pmf = _half_binomial(count)
        new = [0.0] * (len(dist) + size * (len(pmf) - 1))
        for j, q in enumerate(pmf):
            at = size * j
            new[at:at + len(dist)] = [s + q * v for s, v in zip(new[at:at + len(dist)], dist)]
        low += size * first
        cut = math.exp(_NEGLIGIBLE_LOG)
        start = next(i for i, v in enumerate(new) if v >= cut)
        end = len(new) - next(i for i, v in enumerate(reversed(new)) if v >= cut)
        dist, low = new[start:end], low + start
    index = needed - low
    if index <= 0:
        return 1.0
    return min(1.0, math.fsum(dist[index:]))


def holm(p_values: dict, alpha: float) -> list:
    """The keys whose hypotheses Holm's step-down procedure rejects at family-wise level `alpha`."""
    ordered = sorted(p_values.items(), key=lambda kv: kv[1])
    rejected = []
    for rank, (key, p) in enumerate(ordered):
        if p >= alpha / (len(ordered) - rank):
            break
        rejected.append(key)
    return rejected


Cells = dict  # {(input_id, eval_id, run): True (pass) | False (fail) | None (error)}


def _output(key: tuple) -> tuple:
    """The output a cell belongs to: its input and its run (the first and last parts of the key)."""
    return key[0], key[-1]


@dataclass(frozen=True)
class Paired:
    """Candidate against best on the same (input, eval, run) cells; pairs with an error are left out.

    `differences` holds, per output (input x run) with any discordant cell, the candidate's wins
    minus its losses on that output's evals: the evidence the tests use.
    """

    wins: int  # candidate passed where best failed
    losses: int  # candidate failed where best passed
    both_pass: int
    both_fail: int
    differences: tuple[int, ...] = field(default=(), repr=False)

    @property
    def n(self) -> int:
        return self.wins + self.losses + self.both_pass + self.both_fail

    @functools.cached_property
    def p_value(self) -> float:
        """One-sided: the chance of a gain this large if the candidate were no better."""
        return flip_test(self.differences)

    @functools.cached_property
    def p_worse(self) -> float:
        """One-sided: the chance of a drop this large if the candidate were no worse."""
        return flip_test(-d for d in self.differences)

    @property
    def z(self) -> float:
        """The flip test's statistic on the normal scale (what racing extrapolates)."""
        spread = math.sqrt(sum(d * d for d in self.differences))
        return sum(self.differences) / spread if spread else 0.0

    def __add__(self, other: "Paired") -> "Paired":
        """The evidence of two sets of different outputs together (runs evaluated in separate stages)."""
        return Paired(self.wins + other.wins, self.losses + other.losses, self.both_pass + other.both_pass,
                      self.both_fail + other.both_fail, self.differences + other.differences)

    @property
    def candidate_rate(self) -> float:
        return (self.wins + self.both_pass) / self.n if self.n else 0.0

    @property
    def best_rate(self) -> float:
        return (self.losses + self.both_pass) / self.n if self.n else 0.0


def scored_pairs(candidate: Cells, best: Cells) -> Iterable[tuple]:
    """(key, candidate passed, best passed) for every cell both sides scored: errors (None) pair with nothing."""
    for key, passed in candidate.items():
        other = best.get(key)
        if passed is not None and other is not None:
            yield key, passed, other


def pair(candidate: Cells, best: Cells) -> Paired:
    """Pair two {cell key: passed} maps on their common keys; errors (None) on either side are left out."""
    wins = losses = both_pass = both_fail = 0
    by_output: dict = {}
    for key, passed, other in scored_pairs(candidate, best):
        if passed is other:
            if passed:
                both_pass += 1
            else:
                both_fail += 1
            continue
        output = _output(key)
        if passed:
            wins += 1
            by_output[output] = by_output.get(output, 0) + 1
        else:
            losses += 1
            by_output[output] = by_output.get(output, 0) - 1
    return Paired(wins, losses, both_pass, both_fail, tuple(d for d in by_output.values() if d))


@dataclass(frozen=True)
class EvalDrop:
    """One eval whose pass rate fell significantly on paired cells (Holm-corrected across evals)."""

    eval_id: str
    before: int  # passes of the best (or the earlier result)
    after: int  # passes of the candidate (or the later result)
    n: int
    p_value: float

    def __str__(self) -> str:
        return f"'{self.eval_id}' fell {self.before}/{self.n} -> {self.after}/{self.n} (p = {self.p_value:.4f})"


def eval_changes(candidate: Cells, best: Cells) -> list[EvalDrop]:
    """Every eval's paired counts with the one-sided p-value of a drop (sign test on its own cells).

    Within one eval each output gives one cell, so outputs are independent and the sign test is exact.
    """
    counts: dict = {}
    for key, passed, other in scored_pairs(candidate, best):
        row = counts.setdefault(key[1], [0, 0, 0, 0])  # wins, losses, best passes, n
        row[0] += passed and not other
        row[1] += other and not passed
        row[2] += bool(other)
        row[3] += 1
    return [EvalDrop(e, passes, passes + wins - losses, n, sign_test(losses, wins))
            for e, (wins, losses, passes, n) in counts.items()]


def eval_drops(candidate: Cells, best: Cells, alpha: float) -> list[EvalDrop]:
    """Evals that regress beyond noise: a one-sided sign test per eval, Holm-corrected across evals."""
    changes = eval_changes(candidate, best)
    rejected = set(holm({c.eval_id: c.p_value for c in changes}, alpha))
    return [c for c in changes if c.eval_id in rejected]


@dataclass(frozen=True)
class Errors:
    """Error cells of both sides on the cells they share, and whether the candidate's are too many."""

    candidate: int
    best: int
    cells: int
    p_value: float  # one-sided: the chance of this many more candidate errors if it erred no more than the best

    def too_many(self, bound: float, alpha: float) -> str | None:
        """Why the candidate's errors forbid a keep, or None."""
        if self.cells and self.candidate > bound * self.cells:
            return f"{self.candidate} of {self.cells} candidate cells are errors (best: {self.best}), above the " \
                   f"bound of {bound:.0%}"
        if self.candidate > self.best and self.p_value < alpha:
            return f"more errors than the best beyond noise: {self.candidate} vs {self.best} of {self.cells} cells " \
                   f"(p = {self.p_value:.4f})"
        return None


def count_errors(candidate: Cells, best: Cells) -> Errors:
    """Count error cells on the keys both sides were evaluated on, tested per output like the gain."""
    by_output: dict = {}
    mine = theirs = cells = 0
    for key, passed in candidate.items():
        if key not in best:
            continue
        cells += 1
        other = best[key]
        if (passed is None) != (other is None):
            output = _output(key)
            by_output[output] = by_output.get(output, 0) + (1 if passed is None else -1)
            mine += passed is None
            theirs += other is None
        elif passed is None:
            mine, theirs = mine + 1, theirs + 1
    return Errors(mine, theirs, cells, flip_test(by_output.values()))


def input_flips(candidate: Cells, best: Cells) -> list[dict]:
    """(input, eval) pairs that went from mostly passing to mostly failing on the same runs, worst first."""
    counts: dict = {}
    for key, passed, other in scored_pairs(candidate, best):
        row = counts.setdefault((key[0], key[1]), [0, 0, 0])  # best passes, candidate passes, n
        row[0] += bool(other)
        row[1] += bool(passed)
        row[2] += 1
    flips = [{"input": i, "eval": e, "before": b, "after": a, "runs": n}
             for (i, e), (b, a, n) in counts.items() if 2 * b > n > 2 * a]
    return sorted(flips, key=lambda f: (f["after"] - f["before"], str(f["input"]), str(f["eval"])))


def _phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _z_crit(alpha: float) -> float:
    low, high = 0.0, 10.0
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if 1 - _phi(mid) > alpha else (low, mid)
    return (low + high) / 2


def conditional_power(paired: Paired, fraction_done: float, alpha: float) -> float:
    """Chance that the final flip test is significant if the trend so far goes on (Lan & Wittes B-value).

    Racing stops a candidate when this falls below its futility level: it is then very unlikely to
    beat the best, and the rest of its evaluation would be wasted calls.
    """
    if fraction_done >= 1:
        return 1.0 if paired.p_value < alpha else 0.0
    if not paired.differences:
        return 0.5
    b = paired.z * math.sqrt(fraction_done)
    drift = b / fraction_done
    remaining = 1 - fraction_done
    return 1 - _phi((_z_crit(alpha) - b - drift * remaining) / math.sqrt(remaining))


@dataclass(frozen=True)
class KeepRule:
    """How the tool decides keep or discard; the agent never does.

    `sequential` (default): an anytime-valid paired e-process on outputs, run by run, that keeps as
    soon as the evidence reaches 1/alpha and stops early when it falls behind (sequential.py; it
    uses `alpha`, `max_errors`, `min_gain`, and `futility` > 0 for its early discard). `sequential-v1`:
    its design before (a fixed futility floor, keeps from the suite's runs on), for comparison.
    `paired` (the rule before it, for comparison): a one-sided exact test on paired outputs (each output's wins minus losses,
    its sign flipped under no effect). The first N runs screen at SCREEN_FACTOR x alpha; a candidate
    that passes is confirmed on fresh runs of both versions (N, more when the evals of one output are
    correlated: `confirmation_length`) and kept only if all runs together are significant at alpha.
    Without confirmation runs the screen itself is at alpha. A keep also needs no eval to fall
    beyond noise (Holm-corrected at alpha) and no excess of error cells (above `max_errors` of its
    cells, or more than the best's beyond noise). Racing stops a candidate from run 3 on when its
    conditional power falls below `futility`. `holdout_gate`: the loop also refuses a keep whose
    holdout score is worse beyond noise. `naive`: keep when the raw score on the same cells is
    strictly higher (for comparison only).
    """

    name: str = "sequential"
    alpha: float = 0.05
    futility: float = 0.02  # racing stops a candidate below this conditional power (bench/decisions.py)
    confirm: bool = True
    max_errors: float = 0.05
    holdout_gate: bool = False
    min_gain: float = 0.10  # the sequential rule's design gain: its bet, and the suite-size check, aim at it

    @property
    def sequential(self) -> bool:
        """Whether this rule tests run by run with an e-process (`sequential`, or `sequential-v1`, its design before)."""
        return self.name in ("sequential", "sequential-v1")


@dataclass(frozen=True)
class Outcome:
    decision: str  # keep | discard
    reason: str
    paired: Paired
    candidate_runs: tuple[int, ...]
    raced: bool = False
    confirmed: bool = False
    errors: Errors = Errors(0, 0, 0, 1.0)
    drops: tuple[EvalDrop, ...] = ()
    flips: tuple[dict, ...] = ()
    anytime_p: float | None = None  # the sequential rule's 1 / (largest e-value): valid however often it looked

    @property
    def p_value(self) -> float:
        """The p-value the decision rests on: the sequential rule's anytime one, else the flip test's."""
        return self.paired.p_value if self.anytime_p is None else self.anytime_p


async def decide_staged(rule: KeepRule, stages: list[list[int]],
                        candidate: Callable[[list[int]], Awaitable[Cells]],
                        best: Callable[[list[int]], Awaitable[Cells]], *,
                        confirm_runs: list[int] | None = None) -> Outcome:
    """The paired (and naive) rule: evaluate a candidate stage by stage against the best and decide;
    `best(runs)` may evaluate lazily. Two phases, each raced: the screen (the suite's runs) and, for a
    candidate that passes it, the confirmation (fresh runs of both versions), whose test is on all runs
    together. A tie is no gain.
    """
    cand_cells: Cells = {}
    best_cells: Cells = {}
    done: list[int] = []
    confirming = bool(confirm_runs) and rule.confirm and rule.name == "paired"
    screen_alpha = min(0.5, SCREEN_FACTOR * rule.alpha) if confirming else rule.alpha
    phases = [(stages, screen_alpha)]
    if confirming:
        phases.append(([[r] for r in confirm_runs or []], rule.alpha))

    def outcome(decision: str, reason: str, errors: Errors | None = None, **more) -> Outcome:
        """The decision on the cells so far; `errors`: their count when the caller has it already."""
        return Outcome(decision, reason, paired, tuple(done),
                       errors=count_errors(cand_cells, best_cells) if errors is None else errors,
                       flips=tuple(input_flips(cand_cells, best_cells)), **more)

    planned = 0
    paired = Paired(0, 0, 0, 0)
    for phase, (phase_stages, target) in enumerate(phases):
        start = len(done)
        planned += sum(len(s) for s in phase_stages)
        for index, runs in enumerate(phase_stages):
            stage_cand, stage_best = await candidate(runs), await best(runs)
            cand_cells.update(stage_cand)
            best_cells.update(stage_best)
            paired += pair(stage_cand, stage_best)  # stages hold different runs, so different outputs
            done += runs
            if rule.name != "paired" or rule.futility <= 0 or index == len(phase_stages) - 1 or \
                    len(done) < RACE_FROM_RUN:
                continue
            power = conditional_power(paired, len(done) / planned, target)
            if power < rule.futility:
                label = "confirmation" if phase else "evaluation"
                return outcome("discard", f"raced out after {len(done) - start} of {len(phase_stages)} runs of the "
                               f"{label}: {paired.wins} wins, {paired.losses} losses, chance to win {power:.1%}",
                               raced=True)
        score = f"{paired.candidate_rate:.1%} vs {paired.best_rate:.1%}"
        errors = count_errors(cand_cells, best_cells)
        too_many = errors.too_many(rule.max_errors, rule.alpha)
        if too_many:
            return outcome("discard", f"errors: {too_many}", errors)
        if rule.name == "naive":
            if paired.wins > paired.losses:
                return outcome("keep", f"naive rule: raw score higher ({score})", errors)
            return outcome("discard", f"naive rule: raw score not higher ({score})", errors)
        drops = eval_drops(cand_cells, best_cells, rule.alpha)
        if drops:
            return outcome("discard", f"an eval collapsed: {'; '.join(map(str, drops))}, Holm-corrected at "
                           f"{rule.alpha:g}, although the total is {score}", errors, drops=tuple(drops))
        if paired.p_value >= target:
            why = "gain did not replicate on fresh runs" if phase else "not significant"
            return outcome("discard", f"{why}: {score}, {paired.wins} wins / {paired.losses} losses over "
                           f"{len(paired.differences)} outputs, p = {paired.p_value:.3f} >= {target:g}", errors)
    confirmed = len(phases) == 2
    how = f"confirmed on {len(confirm_runs or [])} fresh runs" if confirmed else "significant"
    return outcome("keep", f"gain {how}: {score}, {paired.wins} wins / {paired.losses} losses over "
                   f"{len(paired.differences)} outputs, p = {paired.p_value:.4f} < {rule.alpha:g}", errors,
                   confirmed=confirmed)


def verdict(paired: Paired, alpha: float) -> dict:
    """Better, no different or worse, by the flip test both ways at `alpha`: how a holdout comparison reads."""
    better, worse = paired.p_value, paired.p_worse
    word = "better" if better < alpha else "worse" if worse < alpha else "no different"
    return {"verdict": word, "before": round(paired.best_rate, 6), "after": round(paired.candidate_rate, 6),
            "wins": paired.wins, "losses": paired.losses, "p_better": round(better, 6), "p_worse": round(worse, 6)}
