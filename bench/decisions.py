"""Decision-quality benchmark (issues 3 and 11): how often does each keep rule keep a candidate?

Every simulated suite has 10 train inputs x 5 evals at the default 8 runs, through the same
`decide` function the loop uses. Noise models, each named in the table:
- within-output correlation w: with probability w an output's evals share one uniform draw (pass or
  fail together), else each eval draws its own; w is the binary correlation of two evals of one
  output when their rates are equal (0, 0.16, 0.34, 0.51, 0.63);
- per-input difficulty: each (input, eval) rate drawn from Beta(k*0.7, k*0.3) (k = 4) instead of 0.7;
- per-input effects: a candidate's gain varies by input (sd 10 points), some inputs get worse.
A candidate +d points better raises every rate p to p + d*(1-p)/0.3 (its mean rises by d).
Rules: `new` (the default keep rule; its confirmation lengthens, as in the loop, when the best's screen
cells show correlated evals), `old` (the cell-level sign test of issue 3: screen 0.15,
final 0.05, racing from run 1, an exact tie kept for a shorter text is left out) and `naive`.
Reports false keeps (no-better candidates kept), keeps at +5/+10/+20 (power), target-model calls per
no-better candidate and per winner (as multiples of one full evaluation, inputs x runs), and a
100-attempt overnight simulation: false keeps per run, P(any), drift of the best's true rate, and
reported minus true score of the final best.
Usage: python bench/decisions.py [--trials 1000] [--nights 100] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
from pathlib import Path

from autoresearch.decide.run_layout import RunLayout
from autoresearch.decide.stats import KeepRule, _phi, decide, flakiness, pair, sign_test
from autoresearch.decide.stats import _z_crit as _z
from autoresearch.suite.suite import DEFAULT_RUNS

INPUTS, EVALS, BASE = 10, 5, 0.70
RUNS = DEFAULT_RUNS
FULL = INPUTS * RUNS  # target calls of one full evaluation


def layout(runs: int, profile: dict | None = None) -> RunLayout:
    """The loop's run numbers for a suite of `runs` runs (the baseline `profile` may lengthen its confirmation)."""
    return RunLayout.for_suite(runs, runs, profile)


class Version:
    """A simulated skill version: a pass rate per (input, eval), sampled in correlated outputs."""

    def __init__(self, rates: dict, correlation: float, rng: random.Random):
        self.rates, self.correlation, self.rng = rates, correlation, rng

    def cells(self, runs: list[int]) -> dict:
        out = {}
        for r in runs:
            for i in range(INPUTS):
                shared = self.rng.random() if self.rng.random() < self.correlation else None
                for e in range(EVALS):
                    u = shared if shared is not None else self.rng.random()
                    out[(i, e, r)] = u < self.rates[(i, e)]
        return out

    @property
    def true_rate(self) -> float:
        return sum(self.rates.values()) / len(self.rates)


def base_rates(rng: random.Random, difficulty: bool) -> dict:
    k = 4.0
    return {(i, e): rng.betavariate(k * BASE, k * (1 - BASE)) if difficulty else BASE
            for i in range(INPUTS) for e in range(EVALS)}


def shifted(rates: dict, delta: float, spread: float, rng: random.Random) -> dict:
    """Rates moved by `delta` on average; with `spread`, each input's shift varies (some go down)."""
    shifts = {i: delta + spread * rng.gauss(0, 1) for i in range(INPUTS)}
    out = {}
    for (i, e), p in rates.items():
        s = shifts[i]
        out[(i, e)] = min(1.0, p + s * (1 - p) / (1 - BASE)) if s >= 0 else max(0.0, p + s * p / BASE)
    return out


async def old_decide(candidate, best, runs: int = RUNS) -> tuple[str, tuple[int, ...]]:
    """The keep rule before issue 11: cells as independent evidence, racing from run 1."""
    cand, other, done, planned = {}, {}, [], 0
    screen, confirm = layout(runs).screen, layout(runs).confirmation
    for block, alpha in [(screen, 0.15), (confirm, 0.05)]:
        planned += len(block)
        for index, r in enumerate(block):
            cand.update(await candidate([r]))
            other.update(await best([r]))
            done.append(r)
            p = pair(cand, other)
            if index < len(block) - 1:
                discordant = p.wins + p.losses
                if discordant:
                    z = (p.wins - p.losses) / math.sqrt(discordant)
                    frac = len(done) / planned
                    b = z * math.sqrt(frac)
                    zc = _z(alpha)
                    power = 1 - _phi((zc - b - b / frac * (1 - frac)) / math.sqrt(1 - frac))
                    if power < 0.2:
                        return "discard", tuple(done)
        p = pair(cand, other)
        if sign_test(p.wins, p.losses) >= alpha:
            return "discard", tuple(done)
    return "keep", tuple(done)



class Best:
    """The best version's cells, measured lazily by run and reused (as the loop does)."""

    def __init__(self, version: Version, store: dict | None = None, runs: int = RUNS):
        self.version, self.store = version, dict(store or version.cells(layout(runs).screen))
        self.extra = 0

    async def __call__(self, runs: list[int]) -> dict:
        known = {k[2] for k in self.store}
        missing = [r for r in runs if r not in known]
        if missing:
            self.extra += INPUTS * len(missing)
            self.store.update(self.version.cells(missing))
        return {k: v for k, v in self.store.items() if k[2] in runs}


def confirmation(best: Best, runs: int = RUNS) -> list[int]:
    """The loop's confirmation runs, from the eval correlation of the best's screen cells (its baseline)."""
    screen = set(layout(runs).screen)
    profile = flakiness({k: v for k, v in best.store.items() if k[2] in screen}, runs)
    return layout(runs, profile).confirmation


async def duel(rule_name: str, best: Best, cand: Version, runs: int = RUNS,
               confirm: list[int] | None = None) -> tuple[bool, int, dict]:
    """One decision; returns keep?, the candidate's target calls, and its cells. `confirm`: the loop's
    confirmation runs (fixed from its baseline), else computed from `best`."""
    calls, seen = 0, {}

    async def candidate(runs):
        nonlocal calls
        calls += INPUTS * len(runs)
        cells = cand.cells(runs)
        seen.update(cells)
        return cells

    screen = layout(runs).screen
    if rule_name == "old":
        decision, _ = await old_decide(candidate, best, runs)
    else:
        rule = KeepRule() if rule_name == "new" else KeepRule("naive")
        outcome = await decide(rule, [[r] for r in screen], candidate, best,
                               confirm_runs=confirm or confirmation(best, runs))
        decision = outcome.decision
    return decision == "keep", calls, seen


RULES = ("old", "new", "naive")
SCENARIOS = [("w 0", 0.0, False, 0.0), ("w 0.16", 0.16, False, 0.0), ("w 0.34", 0.34, False, 0.0),
             ("w 0.51", 0.51, False, 0.0), ("w 0.63", 0.63, False, 0.0), ("w 0.34 + Beta", 0.34, True, 0.0),
             ("w 0.34 + input effects", 0.34, False, 0.10)]


async def table(trials: int, seed: int) -> dict:
    report: dict = {}
    print(f"best at {BASE:.0%}; {INPUTS} inputs x {EVALS} evals x {RUNS} runs; {trials} trials each; calls in full evaluations")
    print(f"{'noise':<24} {'rule':<6} {'false keeps':>11} {'+5':>6} {'+10':>6} {'+20':>6} {'calls/no-better':>16} {'calls/winner':>13}")
    for label, w, difficulty, spread in SCENARIOS:
        for rule_name in RULES:
            rng = random.Random(seed)
            row = {}
            for delta in (0.0, 0.05, 0.10, 0.20):
                keeps, calls_lose, calls_win, n_lose, n_win = 0, 0, 0, 0, 0
                for _ in range(trials):
                    rates = base_rates(rng, difficulty)
                    best = Best(Version(rates, w, rng))
                    cand = Version(shifted(rates, delta, spread, rng), w, rng)
                    kept, calls, _ = await duel(rule_name, best, cand)
                    keeps += kept
                    if kept:
                        calls_win, n_win = calls_win + calls + best.extra, n_win + 1
                    if delta == 0:
                        calls_lose, n_lose = calls_lose + calls + best.extra, n_lose + 1
                row[f"+{delta * 100:.0f}"] = {"keep_rate": round(keeps / trials, 4),
                                               "calls_per_winner": round(calls_win / max(1, n_win) / FULL, 3)}
                if delta == 0:
                    row["calls_per_no_better"] = round(calls_lose / max(1, n_lose) / FULL, 3)
            report.setdefault(label, {})[rule_name] = row
            print(f"{label:<24} {rule_name:<6} {row['+0']['keep_rate']:>11.1%} {row['+5']['keep_rate']:>6.1%} "
                  f"{row['+10']['keep_rate']:>6.1%} {row['+20']['keep_rate']:>6.1%} {row['calls_per_no_better']:>16.2f} "
                  f"{row['+10']['calls_per_winner']:>13.2f}", flush=True)
    return report


def _rate(cells: dict) -> float:
    return sum(cells.values()) / len(cells) if cells else 0.0


async def night(rule_name: str, rng: random.Random, w: float, attempts: int) -> dict:
    """100 attempts from one starting skill; candidates' true gains drawn from a mostly-unhelpful mix."""
    rates = base_rates(rng, False)
    start = Version(rates, w, rng)
    best, best_version, reported = Best(start), start, None
    confirm = confirmation(best)
    false_keeps = 0
    for _ in range(attempts):
        delta = rng.choice([-0.10, -0.05, -0.02, 0.0, 0.0, 0.0, 0.02, 0.05, 0.10])
        cand = Version(shifted(best_version.rates, delta, 0.03, rng), w, rng)
        kept, _, seen = await duel(rule_name, best, cand, confirm=confirm)
        if not kept:
            continue
        false_keeps += cand.true_rate <= best_version.true_rate
        best_version = cand
        # the loop reuses the winner's decision cells as the best's; new rule reports fresh runs
        best = Best(cand, seen)
        reported = _rate(cand.cells(layout(RUNS).kept_score)) if rule_name == "new" else _rate(seen)
    final = best_version.true_rate
    return {"false_keeps": false_keeps, "drift": final - start.true_rate,
            "optimism": (reported - final) if reported is not None else 0.0}


async def overnight(nights: int, seed: int, w: float = 0.34, attempts: int = 100) -> dict:
    print(f"\novernight: {attempts} attempts per run, within-output correlation {w}, {nights} runs per rule; "
          f"candidates' true gains drawn from -10..+10 points (most no better)")
    print(f"{'rule':<6} {'false keeps/run':>16} {'P(any)':>7} {'true drift':>11} {'reported - true':>16}")
    out = {}
    for rule_name in RULES:
        rng = random.Random(seed)
        runs = [await night(rule_name, rng, w, attempts) for _ in range(nights)]
        fk = sum(r["false_keeps"] for r in runs) / nights
        any_fk = sum(r["false_keeps"] > 0 for r in runs) / nights
        drift = sum(r["drift"] for r in runs) / nights
        optimism = sum(r["optimism"] for r in runs) / nights
        out[rule_name] = {"false_keeps_per_run": round(fk, 3), "p_any_false_keep": round(any_fk, 3),
                          "true_drift": round(drift, 4), "reported_minus_true": round(optimism, 4)}
        print(f"{rule_name:<6} {fk:>16.2f} {any_fk:>7.0%} {drift * 100:>+10.1f}p {optimism * 100:>+15.1f}p", flush=True)
    return out


async def more_runs(trials: int, seed: int, w: float = 0.51) -> dict:
    """Power lost to correlated evals comes back with runs: the new rule at w 0.51 with more runs."""
    print(f"\nmore runs at within-output correlation {w} (new rule; `eval` suggests 15 for 5 evals at 0.51)")
    print(f"{'runs':<6} {'false keeps':>11} {'+5':>6} {'+10':>6}")
    out = {}
    for runs in (8, 12, 16):
        rng = random.Random(seed)
        row = {}
        for delta in (0.0, 0.05, 0.10):
            keeps = 0
            for _ in range(trials):
                rates = base_rates(rng, False)
                best = Best(Version(rates, w, rng), runs=runs)
                kept, _, _ = await duel("new", best, Version(shifted(rates, delta, 0.0, rng), w, rng), runs)
                keeps += kept
            row[f"+{delta * 100:.0f}"] = round(keeps / trials, 4)
        out[runs] = row
        print(f"{runs:<6} {row['+0']:>11.1%} {row['+5']:>6.1%} {row['+10']:>6.1%}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--nights", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    async def go():
        return {"decisions": await table(args.trials, args.seed), "overnight": await overnight(args.nights, args.seed),
                "more_runs": await more_runs(args.trials // 2, args.seed)}

    report = asyncio.run(go())
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "decisions.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
