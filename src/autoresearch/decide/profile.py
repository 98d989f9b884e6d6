"""How an evaluation's cells behave: flaky inputs, pass^k, the evals' correlation and the runs it suggests."""

from __future__ import annotations

import math

from .stats import Cells, _output

PASS_K = 3  # pass^k: the chance that this many runs of an input all pass


HIGH_CORRELATION = 0.34  # above this the evals of one output carry much less than one check each


def flakiness(cells: Cells, runs: int, k: int = PASS_K) -> dict:
    """Per input: outputs passing every eval, pass^k, flip rate across runs, never/always-passing; eval correlation.

    pass^k is the chance that k runs of the input all pass every eval (unbiased: C(c, k) / C(n, k)
    for c of its n outputs passing); the flip rate is the chance that two runs of an input disagree on an eval. An input whose
    cells always pass (or never do) gives the paired test no signal. The correlation is the one
    between the evals of one output once each (input, eval)'s own rate is taken out; when high, each
    output counts as fewer independent checks, and more runs are suggested.
    """
    by_pair: dict = {}
    by_output: dict = {}
    for key, passed in cells.items():
        if passed is None:
            continue
        by_pair.setdefault((key[0], key[1]), []).append(passed)
        by_output.setdefault(_output(key), {})[key[1]] = passed
    mean = {k: sum(v) / len(v) for k, v in by_pair.items()}
    inputs: dict = {}
    for (input_id, eval_id), values in by_pair.items():
        m, s = len(values), sum(values)
        row = inputs.setdefault(input_id, {"flips": [], "passed": 0, "cells": 0})
        if m > 1:
            row["flips"].append(2 * s * (m - s) / (m * (m - 1)))
        row["passed"] += s
        row["cells"] += m
    outputs_ok: dict = {}
    for (input_id, _), evals in by_output.items():
        outputs_ok.setdefault(input_id, []).append(all(evals.values()))
    rows = []
    for input_id, row in inputs.items():
        ok = outputs_ok.get(input_id, [])
        rate = sum(ok) / len(ok) if ok else 0.0
        state = "always passes" if row["passed"] == row["cells"] else "never passes" if row["passed"] == 0 else ""
        pass_k = math.comb(sum(ok), k) / math.comb(len(ok), k) if len(ok) >= k else rate ** k
        rows.append({"input": input_id, "outputs": len(ok), "all_pass": sum(ok), "pass_k": round(pass_k, 4),
                     "flip_rate": round(sum(row["flips"]) / len(row["flips"]), 4) if row["flips"] else 0.0,
                     "state": state})
    numerator = denominator = 0.0
    for (input_id, _), evals in by_output.items():
        residuals = [float(v) - mean[(input_id, e)] for e, v in evals.items()]
        squares = sum(r * r for r in residuals)
        numerator += sum(residuals) ** 2 - squares
        denominator += (len(residuals) - 1) * squares
    correlation = round(numerator / denominator, 3) if denominator else None
    per_output = max((len(v) for v in by_output.values()), default=1)
    suggest = None
    if correlation is not None and correlation > HIGH_CORRELATION and per_output > 1:
        effect = (1 + (per_output - 1) * correlation) / (1 + (per_output - 1) * 0.16)
        suggest = math.ceil(runs * effect)
    return {"runs": runs, "k": k, "inputs": sorted(rows, key=lambda r: (-r["flip_rate"], str(r["input"]))),
            "correlation": correlation, "evals_per_output": per_output, "suggest_runs": suggest}


def confirmation_length(runs: int, profile: dict | None) -> int:
    """How many fresh runs confirm a candidate: the suite's runs, or up to twice that when the baseline's
    evals are correlated (each output then carries fewer independent checks: `flakiness` suggest_runs).

    Only candidates that pass the screen pay for it, so power comes back at a fraction of the cost of
    raising the suite's runs (bench/decisions.py).
    """
    suggested = (profile or {}).get("suggest_runs") or 0
    return min(2 * runs, max(runs, suggested))
