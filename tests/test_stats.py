"""The keep rule's statistics pinned on exact small cases, and at sizes where the old arithmetic overflowed."""

import asyncio
import itertools
import json
import math
import subprocess
import sys
from fractions import Fraction

import pytest
from conftest import ROOT

from autoresearch.decide.keep import decide
from autoresearch.decide.profile import confirmation_length, flakiness
from autoresearch.decide.stats import KeepRule, binomial_tail, eval_drops, flip_test, pair, sign_test, verdict
from autoresearch.review.report import holdout_findings, holdout_words, suite_size_findings
from autoresearch.review.results import compare_results


def brute_force(differences):
    """P(sum of randomly signed differences >= observed sum), by enumerating every sign vector."""
    observed = sum(differences)
    hits = sum(sum(s * d for s, d in zip(signs, differences)) >= observed
               for signs in itertools.product((1, -1), repeat=len(differences)))
    return hits / 2 ** len(differences)


@pytest.mark.parametrize("differences", [[], [1], [-1], [2, 2, 1, -1], [5, 5, -5, 3, -1, 0, 2], [1] * 7 + [-4, -4],
                                         [3, -2, -2, 1, 1, 1, -1, 4, 0, -3, 2, 5]])
def test_flip_test_is_exact_on_small_cases(differences):
    assert flip_test(differences) == pytest.approx(brute_force(differences), abs=1e-12)


def test_sign_tests_are_exact_at_any_size():
    def exact(k: int, n: int) -> Fraction:
        """P(X >= k) for X ~ Binomial(n, 1/2), in integers: each C(n, i + 1) from C(n, i)."""
        term, total = math.comb(n, k), 0
        for i in range(k, n + 1):
            total += term
            term = term * (n - i) // (i + 1)
        return Fraction(total, 2 ** n)

    assert binomial_tail(7, 10) == pytest.approx(float(exact(7, 10)), rel=1e-12)
    assert sign_test(515, 515) == pytest.approx(float(exact(515, 1030)), rel=1e-9)  # overflowed before
    assert sign_test(5600, 5400) == pytest.approx(float(exact(5600, 11000)), rel=1e-9)
    assert sign_test(6000, 5000) == pytest.approx(float(exact(6000, 11000)), rel=1e-6) and sign_test(6000, 5000) < 1e-20
    assert flip_test([1] * 5600 + [-1] * 5400) == pytest.approx(sign_test(5600, 5400), rel=1e-9)


def test_flip_test_handles_10000_outputs_of_mixed_sizes():
    differences = [(-1) ** i * (1 + i % 5) for i in range(12_000)] + [1] * 60  # 36,060 discordant cells
    p = flip_test(differences)
    spread = math.sqrt(sum(d * d for d in differences))
    normal = 0.5 * math.erfc(sum(differences) / spread / math.sqrt(2))
    assert 0 < p < 1 and p == pytest.approx(normal, abs=0.01)


def cells(outputs, evals=5):
    """{(input, eval, run): passed} from {(input, run): [pass per eval]}."""
    return {(i, f"e{e}", r): bool(v) for (i, r), row in outputs.items() for e, v in enumerate(row[:evals])}


def test_correlated_outputs_count_once_the_old_cell_test_kept_this():
    # 10 outputs where the candidate passes all 5 evals and the best none, 5 the other way round:
    # 50 cell wins to 25 losses (cell sign test p = 0.003), but only 10 outputs to 5 (p = 0.15)
    cand = cells({**{(i, 0): [1] * 5 for i in range(10)}, **{(i, 0): [0] * 5 for i in range(10, 15)}})
    best = cells({**{(i, 0): [0] * 5 for i in range(10)}, **{(i, 0): [1] * 5 for i in range(10, 15)}})
    paired = pair(cand, best)
    assert (paired.wins, paired.losses) == (50, 25) and sign_test(50, 25) < 0.005
    assert paired.p_value == pytest.approx(brute_force([5] * 10 + [-5] * 5))
    outcome = asyncio.run(decide(KeepRule("paired", 0.06, confirm=False), [[0]], lambda runs: _done(cand), lambda runs: _done(best)))
    assert outcome.decision == "discard" and "not significant" in outcome.reason


async def _done(value):
    return value


def collapse_case():
    """A candidate +10 points overall whose eval e0 falls from 43/80 to 2/80 (the issue's kept collapse)."""
    cand, best = {}, {}
    for i in range(10):
        for r in range(8):
            n = i * 8 + r
            best[(i, r)] = [n < 43, n % 2 == 0, n % 3 == 0, n % 2 == 1, n % 4 == 0]
            cand[(i, r)] = [n < 2, True, True, True, n % 4 != 3]
    return cells(cand), cells(best)


def test_a_gain_that_collapses_one_eval_is_refused_and_names_it():
    cand, best = collapse_case()
    assert pair(cand, best).p_value < 1e-6  # the total alone says keep
    drops = eval_drops(cand, best, 0.08)
    assert [(d.eval_id, d.before, d.after, d.n) for d in drops] == [("e0", 43, 2, 80)]
    outcome = asyncio.run(decide(KeepRule("paired", 0.06, confirm=False), [[0]], lambda runs: _done(cand), lambda runs: _done(best)))
    assert outcome.decision == "discard" and "'e0' fell 43/80 -> 2/80" in outcome.reason
    assert outcome.drops[0].eval_id == "e0"
    assert {"input": 1, "eval": "e0", "before": 8, "after": 0, "runs": 8} in outcome.flips


def as_result(cell_map):
    return {"schema": "autoresearch.eval/1", "cells": [
        {"input": str(i), "eval": e, "run": r, "status": "pass" if v else "fail", "reason": ""}
        for (i, e, r), v in cell_map.items()]}


def test_compare_finds_the_collapsed_eval_and_stays_quiet_on_noise():
    cand, best = collapse_case()
    comparison = compare_results(as_result(cand), as_result(best), 0.05)
    assert comparison.regression and [d.eval_id for d in comparison.dropped] == ["e0"]
    assert "REGRESSION in eval 'e0' fell 43/80 -> 2/80" in str(comparison)
    same = compare_results(as_result(best), as_result(best), 0.05)
    assert not same.regression and not same.dropped


def test_compare_works_at_20000_cells():
    big_a = {(i, "e", 0): i % 2 == 0 for i in range(20_000)}
    big_b = {(i, "e", 0): i % 2 == 1 for i in range(20_000)}  # 20,000 discordant cells, 10,000 each way
    comparison = compare_results(as_result(big_a), as_result(big_b), 0.05)
    assert not comparison.regression and 0.4 < comparison.p_value < 0.6


def test_errors_above_the_bound_or_beyond_the_best_forbid_a_keep():
    good = {(i, f"e{e}", 0): True for i in range(40) for e in range(5)}
    best = {(i, f"e{e}", 0): e < 2 for i in range(40) for e in range(5)}  # the candidate is far better...
    broken = good | {(i, "e0", 0): None for i in range(12)}  # ...but 12 of 200 cells are errors (6%)
    outcome = asyncio.run(decide(KeepRule("paired", 0.06, confirm=False), [[0]], lambda runs: _done(broken), lambda runs: _done(best)))
    assert outcome.decision == "discard" and "12 of 200 candidate cells are errors (best: 0)" in outcome.reason
    assert (outcome.errors.candidate, outcome.errors.best) == (12, 0)
    some = good | {(i, "e0", 0): None for i in range(8)}  # 4%: under the bound, but 8 vs 0 beyond noise
    outcome = asyncio.run(decide(KeepRule("paired", 0.06, confirm=False), [[0]], lambda runs: _done(some), lambda runs: _done(best)))
    assert outcome.decision == "discard" and "more errors than the best beyond noise: 8 vs 0" in outcome.reason
    few = good | {(0, "e0", 0): None}
    outcome = asyncio.run(decide(KeepRule("paired", 0.06, confirm=False), [[0]], lambda runs: _done(few), lambda runs: _done(best)))
    assert outcome.decision == "keep" and outcome.errors.candidate == 1


def test_racing_never_stops_before_run_3():
    hopeless = {(i, "e", r): False for i in range(20) for r in range(8)}
    perfect = {(i, "e", r): True for i in range(20) for r in range(8)}
    pick = lambda data: lambda runs: _done({k: v for k, v in data.items() if k[2] in runs})
    outcome = asyncio.run(decide(KeepRule("paired", 0.06), [[r] for r in range(8)], pick(hopeless), pick(perfect),
                                 confirm_runs=list(range(8, 16))))
    assert outcome.raced and outcome.candidate_runs == (0, 1, 2) and "raced out after 3 of 8" in outcome.reason


@pytest.mark.parametrize("cand_passes,word", [(18, "better"), (10, "no different"), (2, "worse")])
def test_holdout_verdicts(cand_passes, word):
    base = {(i, "e", r): i < 10 for i in range(20) for r in range(1)}
    cand = {(i, "e", r): i < cand_passes for i in range(20) for r in range(1)}
    result = verdict(pair(cand, base), 0.08)
    assert result["verdict"] == word
    text = holdout_words(result)
    assert text.startswith({"better": "better", "no different": "no different", "worse": "WORSE (overfitting)"}[word])


def journal(train_before, train_after, holdout_test, train_inputs=10):
    base = {"id": 0, "decision": "baseline", "scores": {"train": {"rate": train_before}, "holdout": {"rate": 0.6}},
            "inputs": {"train": train_inputs, "holdout": 3}}
    keep = {"id": 1, "decision": "keep", "scores": {"train": {"rate": train_after},
                                                    "holdout": {"rate": holdout_test["after"]}},
            "holdout_test": holdout_test}
    return [base, keep]


def test_train_up_while_holdout_down_is_flagged_and_few_inputs_noted():
    worse = {"verdict": "worse", "before": 0.6, "after": 0.3, "wins": 0, "losses": 9, "p_better": 1.0, "p_worse": 0.002}
    lines = holdout_findings(journal(0.5, 0.8, worse))
    assert lines[0].startswith("holdout verdict, best against baseline: WORSE (overfitting): 60.0% -> 30.0%")
    assert any("train went up while holdout went down" in line for line in lines)
    assert not any("10 train inputs" in line for line in lines)
    assert suite_size_findings(journal(0.5, 0.8, worse)) == [
        "10 train inputs: each keep is a gain on these inputs; with fewer than 20, whether it is a general gain "
        "rests on the holdout verdict above"]
    same = {"verdict": "no different", "before": 0.6, "after": 0.6, "wins": 1, "losses": 1, "p_better": 0.75,
            "p_worse": 0.75}
    lines = holdout_findings(journal(0.5, 0.8, same, train_inputs=25))
    assert lines == ["holdout verdict, best against baseline: no different: 60.0% -> 60.0% (1 better, 1 worse "
                     "paired checks, p = 0.7500)"]


def test_flakiness_per_input_and_correlation_of_evals():
    data = {}
    for r in range(4):
        for e in range(3):
            data[("steady", f"e{e}", r)] = True
            data[("hopeless", f"e{e}", r)] = False
            data[("flaky", f"e{e}", r)] = r % 2 == 0  # the whole output passes or fails together
    profile = flakiness(data, 4, k=2)
    rows = {row["input"]: row for row in profile["inputs"]}
    assert rows["steady"]["state"] == "always passes" and rows["steady"]["pass_k"] == 1.0
    assert rows["hopeless"]["state"] == "never passes" and rows["hopeless"]["flip_rate"] == 0
    assert rows["flaky"]["all_pass"] == 2 and rows["flaky"]["pass_k"] == pytest.approx(1 / 6, abs=1e-4)  # C(2,2)/C(4,2)
    assert rows["flaky"]["flip_rate"] == pytest.approx(2 * 2 * 2 / (4 * 3), abs=1e-4)
    assert profile["correlation"] == 1.0 and profile["suggest_runs"] > 4
    independent = {("x", "a", r): r in (0, 1) for r in range(4)} | {("x", "b", r): r in (0, 2) for r in range(4)}
    assert flakiness(independent, 4)["correlation"] == 0.0 and flakiness(independent, 4)["suggest_runs"] is None


def test_confirmation_lengthens_with_correlated_evals_up_to_twice_the_runs():
    assert confirmation_length(8, None) == 8  # no baseline profile (an old run): the suite's runs
    assert confirmation_length(8, {"correlation": 0.2, "suggest_runs": None}) == 8
    assert confirmation_length(8, {"correlation": 0.51, "suggest_runs": 15}) == 15
    assert confirmation_length(8, {"correlation": 1.0, "suggest_runs": 22}) == 16  # at most twice: cost stays bounded
    assert confirmation_length(8, {"suggest_runs": 5}) == 8


def test_the_screen_is_lenient_and_the_confirmation_decides():
    """A gain at p = 0.2 passes the screen (6 x 0.06) but fails the final level on a tied confirmation."""
    screen = {(i, "e", 0): i < 9 for i in range(20)}  # 9 wins, 4 losses over 13 outputs: p ~ 0.13
    best = {(i, "e", 0): 9 <= i < 13 for i in range(20)}
    tied = {(i, "e", 1): i < 5 for i in range(20)}

    async def candidate(runs):
        return screen if runs == [0] else tied

    async def other(runs):
        return best if runs == [0] else tied

    outcome = asyncio.run(decide(KeepRule("paired", 0.06), [[0]], candidate, other, confirm_runs=[1]))
    assert 0.06 < pair(screen, best).p_value < 0.36
    assert outcome.candidate_runs == (0, 1) and outcome.decision == "discard"
    assert "did not replicate" in outcome.reason


def test_eval_prints_flaky_inputs_and_compare_exit_codes(tmp_path):
    cli = [sys.executable, "-m", "autoresearch"]
    suite = ROOT / "evals/meeting-notes.yaml"
    first = subprocess.run(cli + ["eval", str(suite), "--json", str(tmp_path / "a.json")], capture_output=True, text=True)
    assert first.returncode in (0, 1), first.stderr
    assert "pass^3" in first.stdout and "evals of one output: correlation" in first.stdout
    data = json.loads((tmp_path / "a.json").read_text())
    target = data["cells"][0]["eval"]
    baseline = dict(data, cells=[dict(c, status="pass" if c["eval"] == target else "fail") for c in data["cells"]])
    (tmp_path / "b.json").write_text(json.dumps(baseline))
    again = subprocess.run(cli + ["eval", str(suite), "--compare", str(tmp_path / "b.json")],
                           capture_output=True, text=True)
    assert again.returncode == 1 and f"REGRESSION in eval '{target}'" in again.stdout
    same = subprocess.run(cli + ["eval", str(suite), "--compare", str(tmp_path / "a.json")], capture_output=True, text=True)
    assert same.returncode == first.returncode and "no regression beyond noise" in same.stdout
