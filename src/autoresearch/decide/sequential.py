"""The sequential keep rule: an anytime-valid paired test on outputs, run by run (issue 23).

After each run the candidate's and the best's outputs on that run are paired: d = the candidate's
passes minus the best's passes on one output (one input, one run). A candidate error counts as a
fail (errors cannot hide failures); a cell where the best erred is left out. The evidence is the
e-process L = sum over outputs of (lambda*d - ln cosh(lambda*d)), its bet lambda = mu / sigma^2 fixed per
best from the best's own per-output variance and the design gain. If the candidate is no better, each
output's sign is a fair coin given its size, so exp(L) is a martingale (E exp(x - ln cosh x) = 1 over
x = +-lambda*d) and by Ville's inequality P(L ever >= ln 1/alpha) <= alpha, whatever the number of
looks and wherever it stops. Keep at L >= ln(1/alpha) from run EARLIEST_KEEP on, when no eval fell (a
one-sided sign test per eval at alpha) and the errors pass their checks; discard when L falls to the
futility floor (set per best so that a candidate `min_gain` better is still kept with FLOOR_POWER, as
predicted from the best's own output differences: `futility_floor`) or after MAX_RUNS_FACTOR x the
suite's runs. 1/max exp(L) is an anytime-valid p-value.

The test looks every `look` outputs, in a fixed order (run by run, inputs in the suite's order), not only at
the end of each run: a candidate is stopped as soon as the evidence decides, and only the outputs of the
chunk in flight are spent past that point. The loop looks every `concurrency` outputs (what one candidate can
have in flight); at concurrency 1 the test looks after every output, as Wald's does.

`sequential-v1` (the design before, for comparison): L = sum of (lambda*d - lambda^2*d^2/2) (a
supermartingale, cosh x <= exp(x^2/2)), lambda = mu / (sigma^2 + mu^2) at most 1/evals, floor ln(FUTILITY),
keeps from the suite's runs on.
"""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass, replace
from typing import Awaitable, Callable

from .stats import Cells, Errors, KeepRule, Outcome, count_errors, eval_changes, input_flips, pair

MAX_RUNS_FACTOR = 6  # the test stops, discarding, after this many times the suite's runs
FUTILITY = 0.25  # sequential-v1 discards once the e-value falls to this: a candidate this far behind rarely recovers
FLOOR_POWER = 0.85  # the futility floor is as high as keeps this share of candidates min_gain better (bench/decisions.py)
LOWEST_FLOOR = 0.1  # the floor's e-value never goes below this: an underpowered suite still stops a loser
EARLIEST_KEEP = 2  # runs: the first look that may keep (the e-process is valid at any look; one run is too thin
#                    for the per-eval collapse check)
REFRESH_EVERY = 5  # attempts: the best is re-measured on fresh runs this often (and after each keep)
MIN_VARIANCE = 0.05  # floor of an output difference's variance per eval: a best that never varies still bets finitely
DESIGN_POWER = 0.84  # the power at the design gain that the suite-size check asks for


def block_index(keeps: int, attempt: int) -> int:
    """Which block of run numbers the best is tested on: a new one after each keep and every REFRESH_EVERY
    attempts, so the best is re-measured on fresh runs and a drift of the backend or judge cannot pass as a gain."""
    return keeps + attempt // REFRESH_EVERY


def output_differences(candidate: Cells, best: Cells) -> dict:
    """{(input, run): candidate passes - best passes} over the cells both were run on.

    A candidate error counts as a fail, so errors cannot hide failures; a cell the best erred on is
    left out (an error of the best must not count as a win for the candidate).
    """
    out: dict = {}
    for key, passed in candidate.items():
        if key not in best or best[key] is None:
            continue
        output = (key[0], key[-1])
        out[output] = out.get(output, 0) + int(bool(passed)) - int(best[key])
    return out


def evals_per_output(cells: Cells) -> int:
    """The most evals any one output was scored on (what a single output's difference can reach)."""
    counts: dict = {}
    for key in cells:
        output = (key[0], key[-1])
        counts[output] = counts.get(output, 0) + 1
    return max(counts.values(), default=1)


def output_variance(best: Cells) -> float:
    """The variance of one output's difference under no effect: 2 x the best's within-input variance of an
    output's pass count (two independent outputs of the same version), from its runs of each input.

    An input seen on one run only gives no within-input variance; with none seen twice, the binomial
    variance of the best's pass rate stands in.
    """
    counts: dict = {}
    for key, passed in best.items():
        if passed is not None:
            per_input = counts.setdefault(key[0], {})
            per_input[key[-1]] = per_input.get(key[-1], 0) + int(passed)
    variances = []
    for runs in counts.values():
        values = list(runs.values())
        if len(values) > 1:
            mean = sum(values) / len(values)
            variances.append(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    if variances:
        return 2 * sum(variances) / len(variances)
    scored = [v for v in best.values() if v is not None]
    rate = sum(scored) / len(scored) if scored else 0.5
    return 2 * evals_per_output(best) * rate * (1 - rate)


def bet(variance: float, evals: int, gain: float) -> float:
    """lambda: the growth-optimal bet mu / (sigma^2 + mu^2) for a gain of `gain` on each of `evals` evals,
    at most 1/evals so that a larger difference never lowers the evidence."""
    mu = gain * evals
    sigma2 = max(variance, MIN_VARIANCE * evals)
    return min(1.0 / evals, mu / (sigma2 + mu * mu))


def log_evidence(differences, lam: float) -> float:
    """ln of the e-value of `differences` at bet `lam`: sum of lam*d - lam^2*d^2/2."""
    return math.fsum(lam * d - lam * lam * d * d / 2 for d in differences)


@dataclass(frozen=True)
class Design:
    """How a sequential rule bets and stops: its increment, its futility floor and its first keeping look."""

    exact: bool  # lambda*d - ln cosh(lambda*d) with lambda = mu/sigma^2, else lambda*d - lambda^2 d^2/2 (v1)
    calibrated_floor: bool  # the floor from the best's differences (futility_floor), else ln(FUTILITY)
    earliest_keep: int | None  # runs; None: the suite's runs


DESIGNS = {"sequential": Design(True, True, EARLIEST_KEEP), "sequential-v1": Design(False, False, None)}


def flip_bet(variance: float, evals: int, gain: float) -> float:
    """lambda = mu / sigma^2: the bet of Wald's likelihood ratio for a gain of `gain` on each of `evals` evals
    (no cap: x - ln cosh x rises with x, so a larger difference never lowers the evidence)."""
    return gain * evals / max(variance, MIN_VARIANCE * evals)


def flip_increment(x: float) -> float:
    """x - ln cosh x, computed without overflow: one output's log evidence at x = lambda*d."""
    return x - (abs(x) + math.log1p(math.exp(-2 * abs(x))) - math.log(2))


def flip_evidence(differences, lam: float) -> float:
    """ln of the e-value of `differences` at bet `lam` under the flip null: sum of lam*d - ln cosh(lam*d)."""
    return math.fsum(flip_increment(lam * d) for d in differences)


def null_differences(best: Cells) -> tuple[int, ...]:
    """The differences two runs of the same version give on one output: every ordered pair of the best's runs of
    an input (a symmetric sample of d under no effect), from its pass counts per output."""
    counts: dict = {}
    for key, passed in best.items():
        if passed is not None:
            per_input = counts.setdefault(key[0], {})
            per_input[key[-1]] = per_input.get(key[-1], 0) + int(passed)
    out = []
    for runs in counts.values():
        values = list(runs.values())
        out += [a - b for i, a in enumerate(values) for j, b in enumerate(values) if i != j]
    return tuple(out) or (0,)


def increment_moments(null: tuple[int, ...], lam: float, shift: float) -> tuple[float, float]:
    """Mean and variance of one output's log evidence when its difference is a null difference plus `shift`."""
    values = [flip_increment(lam * (d + shift)) for d in null]
    mean = math.fsum(values) / len(values)
    return mean, math.fsum((v - mean) ** 2 for v in values) / len(values)


@functools.lru_cache(maxsize=4096)
def _floor_in_sds(drift: float, keep: float, earliest: int, most: int, power: float, paths: int = 600) -> float:
    """The futility floor, in run sds of the e-process, that keeps `power` of the paths of unit-sd normal steps
    with this drift (seeded: the same arguments give the same floor); -inf when no floor reaches `power`."""
    rng = random.Random(0)
    lows = []
    for _ in range(paths):
        log_e, low = 0.0, math.inf
        for run in range(1, most + 1):
            log_e += rng.gauss(drift, 1.0)
            if run >= earliest and log_e >= keep:
                lows.append(low)
                break
            low = min(low, log_e)
    lows.sort(reverse=True)
    needed = math.ceil(power * paths)
    return lows[needed - 1] if len(lows) >= needed else -math.inf


OVERSHOOT = 0.583  # a normal walk watched every step of sd s behaves like one watched always, its bounds s x this
#                   further out (Siegmund's correction): how looks within a run are turned into whole-run steps


def look_correction(inputs: int, look: int | None) -> float:
    """How far, in run sds, looks every `look` outputs move the bounds in from where whole-run looks put them."""
    per_look = min(1.0, math.sqrt(min(look or inputs, inputs) / max(1, inputs)))
    return OVERSHOOT * (1.0 - per_look)


def futility_floor(null: tuple[int, ...], lam: float, evals: int, inputs: int, runs: int, alpha: float,
                   gain: float, power: float = FLOOR_POWER, look: int | None = None) -> float:
    """ln of the e-value at which a candidate is discarded as behind: the highest floor that still keeps `power`
    of candidates `gain` better, predicted with normal steps per run of the increment's exact mean and spread
    at that gain (a null difference plus gain x evals), the bounds corrected for looks every `look` outputs;
    never below ln(LOWEST_FLOOR)."""
    mean, variance = increment_moments(null, lam, gain * evals)
    sd = math.sqrt(max(variance, 1e-12) * inputs)
    drift = round(inputs * mean / sd, 2)
    shift = look_correction(inputs, look)
    keep = round(math.log(1 / alpha) / sd - shift, 2)
    floor = (_floor_in_sds(drift, keep, min(EARLIEST_KEEP, runs), MAX_RUNS_FACTOR * runs, power) - shift) * sd
    return min(-1e-9, max(math.log(LOWEST_FLOOR), floor))


def collapsed_evals(candidate: Cells, best: Cells, alpha: float) -> list:
    """Evals whose one-sided sign test of a drop is below alpha, each on its own (no correction: stricter)."""
    return [c for c in eval_changes(candidate, best) if c.p_value < alpha]


def seen(outputs: int, inputs: int) -> str:
    """How far a test got, in runs and outputs: '2 runs', '3 of 10 outputs of the first run', '1 run and 4 of
    10 outputs of the next'."""
    full, part = divmod(outputs, max(1, inputs))
    runs = f"{full} run{'s' if full != 1 else ''}"
    if not part:
        return runs
    if not full:
        return f"{part} of {inputs} outputs of the first run"
    return f"{runs} and {part} of {inputs} outputs of the next"


def chunks(items: list, size: int | None) -> list[list]:
    """`items` in consecutive chunks of `size` (one chunk when None)."""
    size = max(1, size or len(items))
    return [items[i:i + size] for i in range(0, len(items), size)]


async def decide_sequential(rule: KeepRule, runs: list[int], candidate: Callable[..., Awaitable[Cells]],
                            best: Callable[[list[int]], Awaitable[Cells]], min_runs: int,
                            look: int | None = None, order: list | None = None) -> Outcome:
    """Evaluate a candidate run by run on `runs` against the best, looking every `look` outputs (None: at the end
    of each run), and decide by the e-process; see the module. `candidate(runs, inputs)` evaluates those inputs
    on those runs; `best(runs)` whole runs, measured once. `order`: the inputs' ids in the order looked at (the
    suite's; by default as the best's cells list them), the same on a resume so a decision replays exactly."""
    design = DESIGNS[rule.name]
    threshold = math.log(1 / rule.alpha)
    reference = await best(runs[:max(1, min_runs)])  # the best's runs known or needed anyway: its variance
    order = list(order or dict.fromkeys(key[0] for key in reference))
    inputs = len(order)
    refusal = size_refusal(inputs, min_runs, rule.alpha)
    if refusal:  # nothing of the candidate is evaluated: it could not be kept
        return Outcome("discard", refusal, pair({}, {}), ())
    variance, evals = output_variance(reference), evals_per_output(reference)
    if design.exact:
        lam, increments = flip_bet(variance, evals, rule.min_gain), flip_evidence
    else:
        lam, increments, look = bet(variance, evals, rule.min_gain), log_evidence, None
    if rule.futility <= 0:
        floor = -math.inf
    elif design.calibrated_floor:
        floor = futility_floor(null_differences(reference), lam, evals, inputs, min_runs, rule.alpha, rule.min_gain,
                               look=look)
    else:
        floor = math.log(FUTILITY)
    earliest = min(min_runs, design.earliest_keep or min_runs) * inputs  # outputs
    cand_cells: Cells = {}
    best_cells: Cells = {}
    done: list[int] = []
    outputs = 0
    log_e, top = 0.0, 0.0

    def outcome(decision: str, reason: str, errors: Errors | None = None, **more) -> Outcome:
        return Outcome(decision, reason, pair(cand_cells, best_cells), tuple(done),
                       errors=count_errors(cand_cells, best_cells) if errors is None else errors,
                       flips=tuple(input_flips(cand_cells, best_cells)), anytime_p=min(1.0, math.exp(-top)), **more)

    def evidence() -> str:
        return f"e-value {math.exp(log_e):.3g} after {seen(outputs, inputs)} (keep at {1 / rule.alpha:g}, bet {lam:.3f})"

    for r in runs:
        stage_best = await best([r])
        best_cells.update(stage_best)
        done.append(r)
        for chunk in chunks(order, look):
            stage_cand = await candidate([r], chunk) if look else await candidate([r])
            cand_cells.update(stage_cand)
            outputs += len(chunk)
            log_e += increments(output_differences(stage_cand, stage_best).values(), lam)
            top = max(top, log_e)
            if log_e <= floor:
                return outcome("discard", f"behind: {evidence()}, at or under {math.exp(floor):.2g}; the chance it "
                               f"is better is slim", raced=True)
            if outputs < earliest or log_e < threshold:
                continue
            errors = count_errors(cand_cells, best_cells)
            too_many = errors.too_many(rule.max_errors, rule.alpha)
            if too_many:
                return outcome("discard", f"errors: {too_many}", errors)
            drops = collapsed_evals(cand_cells, best_cells, rule.alpha)
            paired = pair(cand_cells, best_cells)
            score = f"{paired.candidate_rate:.1%} vs {paired.best_rate:.1%}"
            if drops:
                return outcome("discard", f"an eval collapsed: {'; '.join(map(str, drops))}, each at {rule.alpha:g}, "
                               f"although the total is {score}", errors, drops=tuple(drops))
            return outcome("keep", f"gain: {score}, {paired.wins} wins / {paired.losses} losses, {evidence()}",
                           errors)
    return outcome("discard", f"no gain shown: {evidence()}, at the most runs the test takes ({len(runs)})")


@dataclass(frozen=True)
class Power:
    """What a suite of `inputs` x `runs` can show with the sequential rule, for a best of this variance and these
    output differences under no effect (`null_differences`), the test looking every `look` outputs."""

    inputs: int
    runs: int
    evals: int
    variance: float
    alpha: float
    min_gain: float
    null: tuple[int, ...] = (0,)
    look: int | None = None

    @property
    def max_outputs(self) -> int:
        return self.inputs * self.runs * MAX_RUNS_FACTOR

    def power(self, gain: float, paths: int = 400) -> float:
        """Approximate chance of a keep at a true gain `gain`: the e-process simulated run by run with normal steps
        (the exact mean and spread of its increment at that gain), with the rule's keep and futility bounds moved
        in for the looks within a run (`look_correction`); seeded."""
        lam = flip_bet(self.variance, self.evals, self.min_gain)
        floor = futility_floor(self.null, lam, self.evals, self.inputs, self.runs, self.alpha, self.min_gain,
                               look=self.look)
        mean, variance = increment_moments(self.null, lam, gain * self.evals)
        drift, spread = self.inputs * mean, math.sqrt(self.inputs * variance)
        shift = look_correction(self.inputs, self.look) * spread
        keep, earliest = math.log(1 / self.alpha) - shift, min(EARLIEST_KEEP, self.runs)
        floor += shift
        rng = random.Random(0)
        kept = 0
        for _ in range(paths):
            log_e = 0.0
            for run in range(1, MAX_RUNS_FACTOR * self.runs + 1):
                log_e += rng.gauss(drift, spread)
                if log_e <= floor:
                    break
                if run >= earliest and log_e >= keep:
                    kept += 1
                    break
        return kept / paths

    def detectable(self) -> float | None:
        """The smallest gain (points of pass rate) kept with DESIGN_POWER, or None when none up to 100 points is."""
        if self.power(1.0) < DESIGN_POWER:
            return None
        low, high = 0.0, 1.0
        for _ in range(12):
            mid = (low + high) / 2
            low, high = (mid, high) if self.power(mid) < DESIGN_POWER else (low, mid)
        return high

    def runs_for(self, gain: float, limit: int = 64, power: float = DESIGN_POWER) -> int | None:
        """The fewest suite runs that detect `gain` with `power` (None above `limit`)."""
        for runs in range(1, limit + 1):
            if replace(self, runs=runs).power(gain) >= power:
                return runs
        return None


def smallest_suite(alpha: float) -> int:
    """The fewest outputs (inputs x runs) one evaluation needs before a keep can mean anything: a sweep of n
    outputs can reach p = 0.5^n at best, in the total and in any one eval's collapse check."""
    return math.ceil(math.log2(1 / alpha)) if alpha < 1 else 1


def size_refusal(inputs: int, runs: int, alpha: float) -> str | None:
    """Why a suite of `inputs` train inputs x `runs` runs can never keep, with the size it needs, or None."""
    need = smallest_suite(alpha)
    if inputs * runs >= need:
        return None
    return (f"{inputs} train input{'s' if inputs != 1 else ''} x {runs} run{'s' if runs != 1 else ''} = "
            f"{inputs * runs} outputs per evaluation: the keep rule can never keep on it (at alpha {alpha:g} a keep "
            f"needs at least {need} outputs per evaluation: a sweep of n outputs reaches p = 0.5^n at best, "
            f"{0.5 ** (inputs * runs):.3g} here, and no eval's collapse could be seen); set "
            f"`runs: {math.ceil(need / max(1, inputs))}` in the suite, or use at least "
            f"{math.ceil(need / max(1, runs))} train inputs at {runs} runs")


def suite_power(cells: Cells, inputs: int, runs: int, rule: KeepRule, look: int | None = None) -> Power:
    """The suite's power from a measured version's cells (its per-output variance) and the suite's size."""
    return Power(inputs, runs, evals_per_output(cells), output_variance(cells), rule.alpha, rule.min_gain,
                 null_differences(cells), look)


def power_note(cells: Cells, inputs: int, runs: int, rule: KeepRule, look: int | None = None) -> str:
    """After the baseline: the smallest gain this suite can see at DESIGN_POWER, and runs to suggest if it
    cannot see the asked one (`--min-gain`)."""
    power = suite_power(cells, inputs, runs, rule, look)
    smallest = power.detectable()
    smallest_text = f"{smallest * 100:.0f} points" if smallest is not None else "none up to 100 points"
    head = (f"power: with {inputs} train inputs x {runs} runs (up to {MAX_RUNS_FACTOR * runs} when undecided) and this "
            f"baseline's spread, the smallest gain kept {DESIGN_POWER:.0%} of the time is {smallest_text}")
    if smallest is not None and smallest <= rule.min_gain:
        return f"{head} (asked: {rule.min_gain * 100:.0f}, --min-gain)"
    more = power.runs_for(rule.min_gain)
    fix = f"`runs: {more}` in the suite would see it" if more else "more train inputs are needed to see it"
    return f"{head}: underpowered for the asked {rule.min_gain * 100:.0f} points (--min-gain); {fix}"


def run_error_note(alpha: float, plateau: int) -> str:
    """What the per-attempt alpha means for a whole run: a run of no-better candidates ends on its plateau after
    `plateau` attempts unless one is kept, so its chance of any false keep is at most plateau x alpha."""
    bound = min(1.0, plateau * alpha)
    head = (f"false keeps: each attempt keeps a no-better candidate at most {alpha:.0%} of the time (--alpha); a run "
            f"of no-better candidates that ends on its {plateau}-attempt plateau keeps one with chance at most "
            f"{bound:.0%}")
    if bound <= 0.10:
        return head
    return f"{head}; --alpha {0.10 / plateau:.2g} makes that at most 10%, at the cost of longer tests for real gains"


TRIGGER_GAIN, TRIGGER_POWER = 0.20, 0.80  # what a trigger suite's runs are sized for: +20 points of recall


def trigger_runs(train_queries: int, should_trigger: int, rule: KeepRule = KeepRule()) -> int:
    """Runs per query that give the sequential rule TRIGGER_POWER at +20 points of recall on the train
    queries that should trigger (a query is one output, one eval; its rate at 50%, the most spread)."""
    gain = TRIGGER_GAIN * should_trigger / max(1, train_queries)  # recall is part of the train pass rate
    power = Power(max(1, train_queries), 1, 1, 2 * 0.25, rule.alpha, rule.min_gain, (-1, 0, 0, 1))
    return max(3, power.runs_for(gain, power=TRIGGER_POWER) or 64)
