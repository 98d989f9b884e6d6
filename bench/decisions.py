"""Decision-quality benchmark (issue 3): how often does each keep rule keep a candidate?

Setup: the best version passes each check with probability 0.70; candidates are equal to it or
+5, +10, +20 points better. A suite of 10 train inputs x 5 evals is evaluated at the default
runs (8) per input, each cell an independent Bernoulli draw, through the same `decide` function
the loop uses. Reports the false-keep rate (equal candidates), the keep rate (power) for better
ones, and model calls (target calls: inputs x runs, for the candidate and any extra best runs).
Goals: false keeps <= 5%, power >= 80% at +10, racing spends <= 50% of a full evaluation on losers.
Usage: python bench/decisions.py [--trials 2000] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from pathlib import Path

from autoresearch.stats import KeepRule, decide
from autoresearch.suite import DEFAULT_RUNS

INPUTS, EVALS, BASE = 10, 5, 0.70


def cells(rng: random.Random, p: float, runs: list[int]) -> dict:
    return {(i, e, r): rng.random() < p for r in runs for i in range(INPUTS) for e in range(EVALS)}


async def trial(rule: KeepRule, delta: float, rng: random.Random) -> tuple[bool, int, int]:
    calls = best_calls = 0
    best_known = set(range(DEFAULT_RUNS))
    best_store = cells(rng, BASE, list(best_known))

    async def candidate(runs):
        nonlocal calls
        calls += INPUTS * len(runs)
        return cells(rng, BASE + delta, runs)

    async def best(runs):
        nonlocal best_calls
        missing = [r for r in runs if r not in best_known]
        if missing:
            best_calls += INPUTS * len(missing)
            best_store.update(cells(rng, BASE, missing))
            best_known.update(missing)
        return {k: v for k, v in best_store.items() if k[2] in runs}

    outcome = await decide(rule, [[r] for r in range(DEFAULT_RUNS)], candidate, best, shorter=False,
                           confirm_runs=list(range(DEFAULT_RUNS, 2 * DEFAULT_RUNS)))
    return outcome.decision == "keep", calls, best_calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    full = INPUTS * DEFAULT_RUNS
    rules = {"paired (default)": KeepRule(), "paired, no racing": KeepRule(futility=0), "naive": KeepRule("naive")}
    report = {}
    print(f"best at {BASE:.0%}; {INPUTS} inputs x {EVALS} evals x {DEFAULT_RUNS} runs = "
          f"{INPUTS * EVALS * DEFAULT_RUNS} paired checks; {args.trials} trials each")
    print("calls are the candidate's target-model calls as a multiple of one full evaluation (inputs x runs);\n"
          "'best extra' is the best version's confirmation runs, paid once per best and reused after")
    print(f"{'rule':<20} {'delta':>6} {'keep rate':>10} {'calls':>7} {'losers: calls':>14} {'best extra':>11}")
    for name, rule in rules.items():
        rng = random.Random(args.seed)
        for delta in (0.0, 0.05, 0.10, 0.20):
            results = [asyncio.run(trial(rule, delta, rng)) for _ in range(args.trials)]
            keeps = sum(k for k, _, _ in results) / len(results)
            calls = sum(c for _, c, _ in results) / len(results) / full
            losers = [c for k, c, _ in results if not k]
            loser_calls = sum(losers) / len(losers) / full if losers else 0.0
            best_extra = sum(b for _, _, b in results) / len(results) / full
            report.setdefault(name, {})[f"+{delta * 100:.0f}"] = {
                "keep_rate": round(keeps, 4), "calls_per_full_eval": round(calls, 3),
                "loser_calls_per_full_eval": round(loser_calls, 3), "best_extra_per_full_eval": round(best_extra, 3)}
            print(f"{name:<20} {'+' + format(delta * 100, '.0f'):>6} {keeps:>10.1%} {calls:>7.2f} {loser_calls:>14.2f}"
                  f" {best_extra:>11.2f}")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "decisions.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
