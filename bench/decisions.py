"""Decision-quality benchmark (issues 3, 11 and 23): how often, and at what cost, each keep rule keeps a candidate.

Every simulated suite has 10 train inputs x 5 evals at the default 8 runs, driven through the loop's own
`decide` (the `sequential` rule, the default, looking after every output as at `concurrency: 1`, and
`sequential (concurrency 8)`, looking every 8 outputs as at the default concurrency, beside `sequential alpha
0.01`, `sequential-v1`, its design before, and `paired`, the rule before it; these two look once per run).
Noise models:
- correlation w: with probability w an output's evals share one uniform draw (pass or fail together),
  else each eval draws its own; w is the binary correlation of two evals of one output (0 .. 0.63);
- Beta: each (input, eval) rate drawn from Beta(2.8, 1.2) (mean 0.7) instead of 0.7;
- input effects / eval effects: a candidate's gain varies by input / by eval (sd 10 points, mean the
  scenario's gain), so at +0 some candidates are better on these inputs and some worse;
- drift: every evaluation of a run (the candidate's, the best's, measured at different times) shares a
  shift of its rates on the logit scale, sd 0.15;
- errors: 25% of the candidate's outputs that fail every eval come back as errors (every cell).
A candidate +d points better raises every rate p to p + d*(1-p)/0.3 (its mean rises by d).

Definitions. "No better": the candidate's true pass rate, averaged over the suite's (input, eval)
pairs, is not above the best's. "False keeps": keeps among no-better candidates / no-better candidates.
"Power": keeps / candidates at +10 (every rate moved, no effect spread). "Calls": target calls of the
candidate alone, in full evaluations (inputs x runs = 80); per winner, plus the best's runs measured
for that decision beyond its first 8 (per no-better candidate the best's runs are cached).
"Wald": the expected calls per no-better candidate of Wald's SPRT for +0 against +10 at alpha 0.05,
power 0.84 (normal approximation on outputs, the true variance): the least any test with those errors
can spend on average. Every figure comes with its Monte-Carlo standard error.
Usage: python bench/decisions.py [--trials 200] [--nights 50] [--coverage 500] [--seed 1] [--rules a,b]
[--parts decisions,overnight,...] [--out FILE]
(the defaults keep a run to a few minutes; bench/results/decisions.json holds a run at --trials 500
--nights 100 --coverage 1000, its settings recorded in it)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import time
from pathlib import Path

from autoresearch.decide.intervals import interval_of
from autoresearch.decide.keep import decide
from autoresearch.decide.profile import flakiness
from autoresearch.decide.run_layout import RunLayout
from autoresearch.decide.sequential import MAX_RUNS_FACTOR, suite_power
from autoresearch.decide.stats import KeepRule
from autoresearch.suite.suite import DEFAULT_RUNS

INPUTS, EVALS, BASE = 10, 5, 0.70
RUNS = DEFAULT_RUNS
FULL = INPUTS * RUNS  # target calls of one full evaluation
RULES = {"sequential": KeepRule(), "sequential (concurrency 8)": KeepRule(),
         "sequential alpha 0.01": KeepRule(alpha=0.01), "sequential-v1": KeepRule("sequential-v1"),
         "paired": KeepRule("paired", 0.06)}  # alpha 0.01 = 0.10 / the plateau stop's 10 attempts: see overnight()
LOOKS = {"sequential (concurrency 8)": 8}  # outputs per look; the others look after every output (concurrency 1)


def _logit(p: float) -> float:
    p = min(1 - 1e-9, max(1e-9, p))
    return math.log(p / (1 - p))


def _expit(x: float) -> float:
    return 1 / (1 + math.exp(-x))


class Version:
    """A simulated skill version: a pass rate per (input, eval), sampled in correlated outputs."""

    def __init__(self, rates: dict, correlation: float, rng: random.Random, drift: float = 0.0, errors: float = 0.0):
        self.rates, self.correlation, self.rng, self.drift, self.errors = rates, correlation, rng, drift, errors
        self.shifts: dict = {}  # run -> this version's drift on it

    def cells(self, runs: list[int], inputs: list | None = None) -> dict:
        out = {}
        rng = self.rng
        for r in runs:
            shift = self.shift(r)
            for i in range(INPUTS) if inputs is None else inputs:
                shared = rng.random() if rng.random() < self.correlation else None
                row = {}
                for e in range(EVALS):
                    p = self.rates[(i, e)]
                    if shift:
                        p = _expit(_logit(p) + shift)
                    u = shared if shared is not None else rng.random()
                    row[(i, e, r)] = u < p
                if self.errors and not any(row.values()) and rng.random() < self.errors:
                    row = dict.fromkeys(row, None)
                out.update(row)
        return out

    def shift(self, run: int) -> float:
        """This version's drift on `run`, the same for all the run's outputs (drawn once, when first needed)."""
        if not self.drift:
            return 0.0
        if run not in self.shifts:
            self.shifts[run] = self.rng.gauss(0, self.drift)
        return self.shifts[run]

    @property
    def true_rate(self) -> float:
        return sum(self.rates.values()) / len(self.rates)


def base_rates(rng: random.Random, difficulty: bool) -> dict:
    k = 4.0
    return {(i, e): rng.betavariate(k * BASE, k * (1 - BASE)) if difficulty else BASE
            for i in range(INPUTS) for e in range(EVALS)}


def _move(p: float, s: float) -> float:
    return min(1.0, p + s * (1 - p) / (1 - BASE)) if s >= 0 else max(0.0, p + s * p / BASE)


def shifted(rates: dict, delta: float, rng: random.Random, by_input: float = 0.0, by_eval: float = 0.0) -> dict:
    """Rates moved by `delta` on average; each input's (or eval's) shift varies with sd `by_input` (`by_eval`)."""
    inputs = {i: rng.gauss(0, by_input) if by_input else 0.0 for i in range(INPUTS)}
    evals = {e: rng.gauss(0, by_eval) if by_eval else 0.0 for e in range(EVALS)}
    return {(i, e): _move(p, delta + inputs[i] + evals[e]) for (i, e), p in rates.items()}


class Best:
    """The best version's cells, measured lazily by run and reused (as the loop does)."""

    def __init__(self, version: Version, runs: int = RUNS):
        self.version, self.store = version, dict(version.cells(list(range(runs))))
        self.extra = 0

    async def __call__(self, runs: list[int]) -> dict:
        known = {k[2] for k in self.store}
        missing = [r for r in runs if r not in known]
        if missing:
            self.extra += INPUTS * len(missing)
            self.store.update(self.version.cells(missing))
        return {k: v for k, v in self.store.items() if k[2] in runs}


def layout(runs: int, profile: dict | None = None) -> RunLayout:
    return RunLayout.for_suite(runs, runs, profile)


async def duel(rule_name: str, best: Best, cand: Version, runs: int = RUNS) -> tuple[bool, int]:
    """One decision as the loop makes it; returns keep? and the candidate's target calls."""
    calls = 0

    async def candidate(run_list, inputs=None):
        nonlocal calls
        calls += (INPUTS if inputs is None else len(inputs)) * len(run_list)
        return cand.cells(run_list, inputs)

    rule = RULES[rule_name]
    if rule.sequential:
        outcome = await decide(rule, [[r] for r in range(MAX_RUNS_FACTOR * runs)], candidate, best, min_runs=runs,
                               look=LOOKS.get(rule_name, 1) if rule.name == "sequential" else None)
    else:
        screen = set(range(runs))
        profile = flakiness({k: v for k, v in best.store.items() if k[2] in screen}, runs)
        outcome = await decide(rule, [[r] for r in layout(runs).screen], candidate, best,
                               confirm_runs=layout(runs, profile).confirmation)
    return outcome.decision == "keep", calls


SCENARIOS = {  # label: correlation, Beta rates, input effect sd, eval effect sd, drift sd, error share
    "w 0": (0.0, False, 0, 0, 0, 0), "w 0.16": (0.16, False, 0, 0, 0, 0), "w 0.34": (0.34, False, 0, 0, 0, 0),
    "w 0.51": (0.51, False, 0, 0, 0, 0), "w 0.63": (0.63, False, 0, 0, 0, 0),
    "w 0.34 + Beta": (0.34, True, 0, 0, 0, 0), "w 0.34 + input effects": (0.34, False, 0.10, 0, 0, 0),
    "w 0.34 + eval effects": (0.34, False, 0, 0.10, 0, 0), "w 0.34 + drift 0.15": (0.34, False, 0, 0, 0.15, 0),
    "w 0.34 + 25% error cells": (0.34, False, 0, 0, 0, 0.25),
}


def _se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 1e-12) / max(1, n))


def _mean_se(values: list[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 0.0
    m = sum(values) / len(values)
    var = sum((v - m) ** 2 for v in values) / max(1, len(values) - 1)
    return m, math.sqrt(var / len(values))


def wald_calls(w: float, alpha: float = 0.05, power: float = 0.84, gain: float = 0.10) -> float:
    """Wald's SPRT's expected outputs per no-better candidate (normal approximation), in full evaluations."""
    var = 2 * EVALS * BASE * (1 - BASE) * (1 + (EVALS - 1) * w)
    mu = gain * EVALS
    beta = 1 - power
    numerator = (1 - alpha) * math.log(beta / (1 - alpha)) + alpha * math.log((1 - beta) / alpha)
    return numerator / (-mu * mu / (2 * var)) / FULL


async def table(trials: int, seed: int) -> dict:
    report: dict = {}
    print(f"best at {BASE:.0%}; {INPUTS} inputs x {EVALS} evals x {RUNS} runs; {trials} trials per cell; calls in "
          f"full evaluations; ± one Monte-Carlo standard error")
    print(f"{'noise':<26} {'rule':<22} {'false keeps':>14} {'power +10':>14} {'calls/no-better':>16} {'Wald':>5} "
          f"{'calls/winner':>13}")
    for label, (w, beta, by_input, by_eval, drift, errors) in SCENARIOS.items():
        for rule_name in RULES:
            rng = random.Random(seed)
            row: dict = {}
            no_better = kept_no_better = 0
            lose_calls: list[float] = []
            win_calls: list[float] = []
            keeps_at_10 = 0
            for delta in (0.0, 0.10):
                for _ in range(trials):
                    rates = base_rates(rng, beta)
                    best = Best(Version(rates, w, rng, drift))
                    cand = Version(shifted(rates, delta, rng, by_input, by_eval), w, rng, drift, errors)
                    kept, calls = await duel(rule_name, best, cand)
                    if cand.true_rate <= best.version.true_rate + 1e-12:
                        no_better += 1
                        kept_no_better += kept
                        lose_calls.append(calls / FULL)
                    if delta > 0:
                        keeps_at_10 += kept
                        if kept:
                            win_calls.append((calls + best.extra) / FULL)
            fk = kept_no_better / max(1, no_better)
            power = keeps_at_10 / trials
            cl, cl_se = _mean_se(lose_calls)
            cw, cw_se = _mean_se(win_calls)
            row = {"false_keeps": round(fk, 4), "false_keeps_se": round(_se(fk, no_better), 4),
                   "no_better_candidates": no_better, "power_10": round(power, 4),
                   "power_10_se": round(_se(power, trials), 4), "calls_per_no_better": round(cl, 3),
                   "calls_per_no_better_se": round(cl_se, 3), "calls_per_winner": round(cw, 3),
                   "calls_per_winner_se": round(cw_se, 3)}
            if not (beta or by_input or by_eval or drift or errors):
                row["wald_calls_per_no_better"] = round(wald_calls(w), 3)
            report.setdefault(label, {})[rule_name] = row
            wald = f"{row['wald_calls_per_no_better']:.2f}" if "wald_calls_per_no_better" in row else "–"
            print(f"{label:<26} {rule_name:<22} {fk:>7.1%} ±{_se(fk, no_better):>4.1%} {power:>7.1%} ±"
                  f"{_se(power, trials):>4.1%} {cl:>9.2f} ±{cl_se:>4.2f} {wald:>5} {cw:>7.2f} ±{cw_se:>4.2f}", flush=True)
    return report


async def night(rule_name: str, rng: random.Random, w: float, attempts: int, plateau: int | None) -> int:
    """False keeps in one run of `attempts` candidates that are truly no better (+0), stopping at `plateau`."""
    rates = base_rates(rng, False)
    best = Best(Version(rates, w, rng))
    false_keeps = streak = 0
    for _ in range(attempts):
        kept, _ = await duel(rule_name, best, Version(rates, w, rng))
        false_keeps += kept
        streak = 0 if kept else streak + 1
        if kept:  # the loop measures a kept version afresh: a new best of the same true rates
            best = Best(Version(rates, w, rng))
        if plateau and streak >= plateau:
            break
    return false_keeps


async def overnight(nights: int, seed: int, w: float = 0.34, attempts: int = 100) -> dict:
    """P(any false keep) in runs of no-better candidates. With the plateau stop at P attempts, a run of no-better
    candidates makes at most P attempts before its first false keep, so P(any) <= P x alpha (the union bound):
    alpha 0.01 at the default plateau 10 bounds it by 10%."""
    print(f"\n{attempts} attempts of no-better candidates per run (correlation {w}), {nights} runs per rule")
    print(f"{'rule':<22} {'plateau':>8} {'false keeps/run':>16} {'P(any false keep)':>18}")
    out: dict = {}
    for rule_name in RULES:
        for plateau in (10, None) if rule_name != "paired" else (10,):  # the paired rule's 100 attempts: slow
            rng = random.Random(seed)
            counts = [await night(rule_name, rng, w, attempts, plateau) for _ in range(nights)]
            per_run, per_run_se = _mean_se([float(c) for c in counts])
            any_fk = sum(c > 0 for c in counts) / nights
            key = f"plateau {plateau}" if plateau else "no plateau"
            out.setdefault(rule_name, {})[key] = {"false_keeps_per_run": round(per_run, 3),
                                                  "false_keeps_per_run_se": round(per_run_se, 3),
                                                  "p_any_false_keep": round(any_fk, 3),
                                                  "p_any_false_keep_se": round(_se(any_fk, nights), 3)}
            print(f"{rule_name:<22} {str(plateau or '-'):>8} {per_run:>10.2f} ±{per_run_se:.2f} {any_fk:>11.0%} ±"
                  f"{_se(any_fk, nights):.0%}", flush=True)
    return out


def coverage(trials: int, seed: int) -> dict:
    """How often the printed 95% intervals cover the truth: the train rate (the suite's inputs, clustered by
    output) at several correlations, and a holdout rate on new inputs (clustered by input)."""
    print(f"\n95% interval coverage over {trials} evaluations (old: cells as independent, Wilson)")
    print(f"{'what':<44} {'new':>13} {'old':>13}")
    out: dict = {}
    cases = [(f"train 10 inputs x 8 runs, w {w}", w, False, 10, 8, "output") for w in (0.0, 0.34, 0.63)]
    cases += [("train w 0.34 + Beta", 0.34, True, 10, 8, "output"),
              ("holdout 3 new inputs x 16 runs, Beta, w 0.34", 0.34, True, 3, 16, "input"),
              ("holdout 10 new inputs x 8 runs, Beta, w 0.34", 0.34, True, 10, 8, "input")]
    for label, w, beta, inputs, runs, unit in cases:
        rng = random.Random(seed)
        hit_new = hit_old = 0
        for _ in range(trials):
            if unit == "input":  # new inputs: the truth is the population's mean rate, 0.7
                rates = {(i, e): rng.betavariate(2.8, 1.2) for i in range(inputs) for e in range(EVALS)}
                truth = BASE
            else:
                rates = {(i, e): rng.betavariate(2.8, 1.2) if beta else BASE for i in range(inputs) for e in range(EVALS)}
                truth = sum(rates.values()) / len(rates)
            cells = {}
            for r in range(runs):
                for i in range(inputs):
                    shared = rng.random() if rng.random() < w else None
                    for e in range(EVALS):
                        cells[(i, e, r)] = (shared if shared is not None else rng.random()) < rates[(i, e)]
            lo, hi = interval_of(cells, unit)
            hit_new += lo <= truth <= hi
            from autoresearch.decide.intervals import wilson

            lo, hi = wilson(sum(cells.values()), len(cells))
            hit_old += lo <= truth <= hi
        new, old = hit_new / trials, hit_old / trials
        out[label] = {"new": round(new, 4), "old": round(old, 4), "se": round(_se(0.95, trials), 4), "by": unit}
        print(f"{label:<44} {new:>7.1%} ±{_se(0.95, trials):.1%} {old:>7.1%}", flush=True)
    return out


async def power_check(trials: int, seed: int) -> dict:
    """The suite-size check's predicted power at +10 beside the measured one, for a few suite shapes."""
    print(f"\npredicted (printed after the baseline) against measured power at +10, w 0.34, {trials} trials")
    out: dict = {}
    global INPUTS
    saved = INPUTS
    for inputs, runs in ((10, 8), (5, 4), (3, 3)):
        INPUTS = inputs
        rng = random.Random(seed)
        rates = base_rates(rng, False)
        baseline = Version(rates, 0.34, rng).cells(list(range(runs)))
        predicted = suite_power(baseline, inputs, runs, KeepRule(), look=1).power(0.10)
        kept = 0
        for _ in range(trials):
            best = Best(Version(rates, 0.34, rng), runs)
            k, _ = await duel("sequential", best, Version(shifted(rates, 0.10, rng), 0.34, rng), runs)
            kept += k
        out[f"{inputs}x{runs}"] = {"predicted": round(predicted, 3), "measured": round(kept / trials, 3),
                                   "se": round(_se(kept / trials, trials), 3)}
        print(f"{inputs} inputs x {runs} runs: predicted {predicted:.0%}, measured {kept / trials:.0%} ±"
              f"{_se(kept / trials, trials):.0%}", flush=True)
    INPUTS = saved
    return out


async def trigger_power(trials: int, seed: int) -> dict:
    """Trigger suites: the runs `import triggers` writes (sized for 80% power at +20 points of recall) against the
    keeps measured: queries that should trigger at 50% recall, others at 80% correct, +20 on the first."""
    from autoresearch.decide.sequential import trigger_runs

    print(f"\ntrigger suites at the runs `import triggers` writes: keeps at +20 recall, {trials} trials")
    out: dict = {}
    for queries, positive in ((6, 3), (12, 6), (20, 10)):
        runs = trigger_runs(queries, positive)
        rng = random.Random(seed)

        def version(gain: float):
            def cells(run_list):
                return {(q, "trigger", r): rng.random() < (0.5 + gain if q < positive else 0.8)
                        for r in run_list for q in range(queries)}
            return cells

        kept = 0
        for _ in range(trials):
            store: dict = {}
            base = version(0.0)

            async def best(run_list, store=store, base=base):
                missing = [r for r in run_list if not any(k[2] == r for k in store)]
                store.update(base(missing))
                return {k: v for k, v in store.items() if k[2] in run_list}

            cand = version(0.2)

            async def candidate(run_list, cand=cand):
                return cand(run_list)

            outcome = await decide(KeepRule(), [[r] for r in range(MAX_RUNS_FACTOR * runs)], candidate, best,
                                   min_runs=runs)
            kept += outcome.decision == "keep"
        power = kept / trials
        out[f"{queries} train queries, {positive} should trigger"] = {"runs": runs, "power_20": round(power, 3),
                                                                      "se": round(_se(power, trials), 3)}
        print(f"{queries} train queries ({positive} should trigger): runs {runs}, kept {power:.0%} ±"
              f"{_se(power, trials):.0%}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--nights", type=int, default=50)
    parser.add_argument("--coverage", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rules", default=",".join(RULES), help="the rules compared, by name, comma-separated")
    parser.add_argument("--parts", default=",".join(PARTS), help="the parts run, comma-separated: " + ", ".join(PARTS))
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results/decisions.json")
    args = parser.parse_args()
    for name in set(RULES) - set(args.rules.split(",")):
        del RULES[name]
    started = time.perf_counter()

    async def go():
        runners = {"decisions": lambda: table(args.trials, args.seed), "overnight": lambda: overnight(args.nights, args.seed),
                   "coverage": lambda: _now(coverage(args.coverage, args.seed)),
                   "power_check": lambda: power_check(args.trials // 2, args.seed),
                   "triggers": lambda: trigger_power(args.trials // 2, args.seed)}
        return {part: await runners[part]() for part in args.parts.split(",")}

    report = asyncio.run(go())
    report["settings"] = {"trials": args.trials, "nights": args.nights, "coverage": args.coverage, "seed": args.seed,
                          "rules": list(RULES), "seconds": round(time.perf_counter() - started, 1)}
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\n{time.perf_counter() - started:.0f} s")


PARTS = ("decisions", "overnight", "coverage", "power_check", "triggers")


async def _now(value):
    return value


if __name__ == "__main__":
    main()
