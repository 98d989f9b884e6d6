"""The sequential keep rule (issue 23): Ville's bound on null streams, gains kept early, collapses and errors
refused; clustered intervals that cover; a suite too small to keep refused before the baseline."""

import asyncio
import math
import random
import shutil
import subprocess
import sys

import yaml
from conftest import ROOT

from autoresearch.decide.intervals import interval_of, wilson
from autoresearch.decide.sequential import (EARLIEST_KEEP, FLOOR_POWER, LOWEST_FLOOR, Power, bet, decide_sequential,
                                            flip_bet, flip_evidence, futility_floor, log_evidence, null_differences,
                                            output_differences, size_refusal)
from autoresearch.decide.stats import KeepRule

INPUTS, EVALS = 10, 5


def version(rates, correlation, rng):
    """A simulated version: cells of `rates[(input, eval)]` by run, an output's evals sharing a draw at `correlation`."""
    def cells(runs):
        out = {}
        for r in runs:
            for i in range(INPUTS):
                shared = rng.random() if rng.random() < correlation else None
                for e in range(EVALS):
                    out[(i, f"e{e}", r)] = (shared if shared is not None else rng.random()) < rates[(i, e)]
        return out
    return cells


def lazy(cells_of):
    """An async evaluator that measures each run once and reuses it, as the loop does for the best."""
    store = {}

    async def evaluate(runs):
        missing = [r for r in runs if not any(k[2] == r for k in store)]
        if missing:
            store.update(cells_of(missing))
        return {k: v for k, v in store.items() if k[2] in runs}
    return evaluate


def duel(cand_rates, best_rates, rng, correlation=0.34, rule=KeepRule(), runs=8):
    return asyncio.run(decide_sequential(rule, list(range(6 * runs)), lazy(version(cand_rates, correlation, rng)),
                                         lazy(version(best_rates, correlation, rng)), runs))


def flat(rate):
    return {(i, e): rate for i in range(INPUTS) for e in range(EVALS)}


def test_no_better_candidates_are_kept_at_most_alpha_of_the_time_however_long_the_test():
    """Ville's inequality: on 300 null streams (same rates both sides) the share kept stays under alpha."""
    rng = random.Random(7)
    outcomes = [duel(flat(0.7), flat(0.7), rng) for _ in range(300)]
    kept = sum(o.decision == "keep" for o in outcomes)
    assert kept / 300 <= 0.05 + 0.02
    assert all(o.anytime_p >= 0.05 for o in outcomes if o.decision != "keep")
    assert max(len(o.candidate_runs) for o in outcomes) > 8  # some ran past the suite's runs: looks were many


def test_the_bet_makes_every_output_a_fair_game_under_no_effect():
    """E[exp(lam*d - lam^2 d^2/2)] <= 1 when d's sign is a coin: the e-process cannot grow on noise."""
    lam = bet(4.0, EVALS, 0.10)
    for d in range(1, EVALS + 1):
        game = (2.718281828 ** log_evidence([d], lam) + 2.718281828 ** log_evidence([-d], lam)) / 2
        assert game <= 1.0


def test_the_flip_bet_makes_every_output_an_exact_fair_game_and_never_punishes_a_larger_gain():
    """E[exp(x - ln cosh x)] = 1 over x = +-lambda*d (a martingale under the flip null), and the evidence
    rises with d however large the bet (no cap needed, unlike lambda*d - lambda^2 d^2/2)."""
    for lam in (flip_bet(4.0, EVALS, 0.10), 0.9):
        for d in range(1, EVALS + 1):
            game = (math.exp(flip_evidence([d], lam)) + math.exp(flip_evidence([-d], lam))) / 2
            assert abs(game - 1.0) < 1e-12
        assert all(flip_evidence([d + 1], lam) > flip_evidence([d], lam) for d in range(-EVALS, EVALS))


def test_a_clear_gain_is_kept_before_the_suite_runs_with_an_anytime_p_below_alpha():
    """The e-process is valid at any look: a clear gain is kept as soon as it shows (from EARLIEST_KEEP runs),
    not only after the suite's 8 runs (the design before, still selectable, waits for them)."""
    outcome = duel(flat(0.9), flat(0.6), random.Random(3))
    assert outcome.decision == "keep" and EARLIEST_KEEP <= len(outcome.candidate_runs) < 8
    assert outcome.anytime_p < 0.05 and "e-value" in outcome.reason
    before = duel(flat(0.9), flat(0.6), random.Random(3), rule=KeepRule("sequential-v1"))
    assert before.decision == "keep" and len(before.candidate_runs) == 8


def counted(cells_of):
    """An async candidate evaluator that takes (runs, inputs) and counts the outputs it was asked for."""
    asked = []

    async def evaluate(runs, inputs=None):
        inputs = list(range(INPUTS)) if inputs is None else list(inputs)
        asked.extend((i, r) for r in runs for i in inputs)
        return {k: v for k, v in cells_of(runs).items() if k[0] in inputs}
    evaluate.asked = asked
    return evaluate


def test_looks_within_a_run_stop_a_loser_mid_run_and_keep_ville_s_bound():
    """Looking after every output (concurrency 1), a clear loser is stopped before its run ends, spending fewer
    outputs than whole-run looks; on 300 null streams the share kept stays under alpha all the same."""
    rng = random.Random(31)
    spent = {}
    for look in (None, 1):
        total = 0
        for _ in range(20):
            cand = counted(version(flat(0.4), 0.34, rng))
            outcome = asyncio.run(decide_sequential(KeepRule(), list(range(48)), cand,
                                                    lazy(version(flat(0.7), 0.34, rng)), 8, look))
            assert outcome.decision == "discard"
            total += len(cand.asked)
        spent[look] = total
        if look:
            assert total % INPUTS != 0 or spent[None] > total  # stopped inside a run at least once
    assert spent[1] < spent[None] * 0.9
    kept = 0
    for _ in range(300):
        cand = counted(version(flat(0.7), 0.34, rng))
        kept += asyncio.run(decide_sequential(KeepRule(), list(range(48)), cand,
                                              lazy(version(flat(0.7), 0.34, rng)), 8, 1)).decision == "keep"
    assert kept / 300 <= 0.05 + 0.02


def test_looks_within_a_run_lower_the_floor_to_keep_the_same_power():
    """Finer looks cross a bound more often between whole-run looks, so the floor is set lower (Siegmund's
    correction), and the predicted power at the design gain stays near FLOOR_POWER."""
    cells = version(flat(0.7), 0.34, random.Random(22))(range(8))
    power = suite_power_of(cells)
    lam = flip_bet(power.variance, EVALS, 0.10)
    per_run = futility_floor(null_differences(cells), lam, EVALS, INPUTS, 8, 0.05, 0.10)
    per_output = futility_floor(null_differences(cells), lam, EVALS, INPUTS, 8, 0.05, 0.10, look=1)
    assert per_output < per_run < 0
    from autoresearch.decide.sequential import suite_power

    assert abs(suite_power(cells, INPUTS, 8, KeepRule(), look=1).power(0.10) - FLOOR_POWER) < 0.05


def test_the_futility_floor_spends_spare_power_on_quick_discards():
    """The floor is set per best: with uncorrelated evals (power to spare) a loser is dropped at a higher
    e-value than with correlated ones, and the predicted power at the design gain stays near FLOOR_POWER."""
    floors = {}
    for w in (0.0, 0.63):
        cells = version(flat(0.7), w, random.Random(21))(range(8))
        power = suite_power_of(cells)
        lam = flip_bet(power.variance, EVALS, 0.10)
        floors[w] = futility_floor(null_differences(cells), lam, EVALS, INPUTS, 8, 0.05, 0.10)
        assert math.log(LOWEST_FLOOR) <= floors[w] < 0
        assert abs(power.power(0.10) - FLOOR_POWER) < 0.05
    assert floors[0.0] > floors[0.63]


def suite_power_of(cells) -> Power:
    from autoresearch.decide.sequential import suite_power

    return suite_power(cells, INPUTS, 8, KeepRule())


def test_a_candidate_far_behind_is_stopped_early():
    outcome = duel(flat(0.4), flat(0.7), random.Random(4))
    assert outcome.decision == "discard" and outcome.raced and len(outcome.candidate_runs) < 4


def test_a_gain_that_collapses_one_eval_is_refused():
    """+25 points on four evals, e0 down from 70% to 20%: the total says keep, the per-eval guard refuses."""
    cand = {(i, e): 0.2 if e == 0 else 0.95 for i in range(INPUTS) for e in range(EVALS)}
    outcome = duel(cand, flat(0.7), random.Random(5))
    assert outcome.decision == "discard" and "an eval collapsed" in outcome.reason and "'e0'" in outcome.reason


def test_candidate_errors_count_as_failures_and_a_best_error_is_left_out():
    best = {(0, "a", 0): False, (0, "b", 0): True, (1, "a", 0): None}
    cand = {(0, "a", 0): None, (0, "b", 0): True, (1, "a", 0): True}
    assert output_differences(cand, best) == {(0, 0): 0}  # output (1, 0): only a cell the best erred on
    failing = {(0, "a", 0): True, (0, "b", 0): True}
    assert output_differences({(0, "a", 0): None, (0, "b", 0): None}, failing) == {(0, 0): -2}


def test_erroring_instead_of_failing_does_not_win():
    """A candidate that errs on a quarter of its all-failing outputs (else the same) is no better: not kept."""
    rng = random.Random(9)
    kept = 0
    for _ in range(60):
        cells = version(flat(0.7), 0.63, rng)

        def hiding(runs, cells=cells):
            out = cells(runs)
            for i in range(INPUTS):
                for r in runs:
                    keys = [(i, f"e{e}", r) for e in range(EVALS)]
                    if not any(out[k] for k in keys) and rng.random() < 0.25:
                        out.update(dict.fromkeys(keys, None))
            return out
        outcome = asyncio.run(decide_sequential(KeepRule(), list(range(48)), lazy(hiding),
                                                lazy(version(flat(0.7), 0.63, rng)), 8))
        kept += outcome.decision == "keep"
    assert kept <= 3


def test_clustered_intervals_cover_when_an_outputs_evals_pass_together():
    """At correlation 0.6 the cell-level Wilson interval covers far under 95%; the clustered one does not."""
    rng = random.Random(11)
    clustered = plain = 0
    for _ in range(300):
        cells = version(flat(0.7), 0.6, rng)(range(8))
        lo, hi = interval_of(cells, "output")
        clustered += lo <= 0.7 <= hi
        lo, hi = wilson(sum(cells.values()), len(cells))
        plain += lo <= 0.7 <= hi
    assert clustered / 300 >= 0.92 and plain / 300 < 0.85


def test_a_holdout_interval_is_about_new_inputs():
    """Three holdout inputs drawn from a population: the interval by input covers the population's rate."""
    rng = random.Random(12)
    hits = 0
    global INPUTS
    saved, INPUTS = INPUTS, 3
    try:
        for _ in range(300):
            rates = {(i, e): rng.betavariate(2.8, 1.2) for i in range(3) for e in range(EVALS)}
            cells = version(rates, 0.34, rng)(range(16))
            lo, hi = interval_of(cells, "input")
            hits += lo <= 0.7 <= hi
    finally:
        INPUTS = saved
    assert hits / 300 >= 0.92
    assert interval_of({(0, "e", r): r % 2 == 0 for r in range(16)}, "input") == (0.0, 1.0)  # one input: unknown


def test_size_refusal_names_the_runs_or_inputs_needed():
    assert size_refusal(10, 8, 0.05) is None and size_refusal(1, 5, 0.05) is None
    refusal = size_refusal(1, 2, 0.05)
    assert "1 train input x 2 runs" in refusal and "`runs: 5`" in refusal and "at least 3 train inputs" in refusal


def test_run_refuses_a_one_input_two_run_suite_before_the_baseline(tmp_path):
    shutil.copytree(ROOT / "examples/meeting-notes", tmp_path / "examples/meeting-notes")
    shutil.copytree(ROOT / "evals", tmp_path / "evals")
    suite = yaml.safe_load((tmp_path / "evals/meeting-notes.yaml").read_text())
    suite["runs"] = 2
    suite["inputs"] = [i for i in suite["inputs"] if i.get("split") == "holdout"] + \
        [i for i in suite["inputs"] if i.get("split") != "holdout"][:1]
    (tmp_path / "evals/tiny.yaml").write_text(yaml.safe_dump(suite))
    result = subprocess.run([sys.executable, "-m", "autoresearch", "run", "evals/tiny.yaml"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert "1 train input x 2 runs" in result.stderr and "`runs: 5`" in result.stderr
    assert "nothing was run" in result.stderr and not (tmp_path / ".autoresearch").exists()


def test_the_loop_says_after_the_baseline_what_gain_the_suite_can_see_and_status_prices_a_keep(tmp_path):
    from autoresearch.loop.experiment import Budget, LoopConfig, run_loop
    from autoresearch.review.report import status_text
    from autoresearch.suite.suite import load_suite

    shutil.copytree(ROOT / "examples/meeting-notes", tmp_path / "examples/meeting-notes")
    shutil.copytree(ROOT / "evals", tmp_path / "evals")
    lines = []
    run, _ = run_loop(load_suite(tmp_path / "evals/meeting-notes.yaml"), LoopConfig(budget=Budget(experiments=4)),
                      tmp_path / ".autoresearch", on_event=lines.append)
    assert any(line.startswith("power: with 6 train inputs x 8 runs (up to 48 when undecided)") and "smallest gain"
               in line for line in lines), lines
    assert any(line.startswith("false keeps: each attempt keeps a no-better candidate at most 5%") and "10-attempt "
               "plateau keeps one with chance at most 50%" in line and "--alpha 0.01" in line for line in lines), lines
    entries = run.entries()
    status = status_text(run.id, entries, run.config())
    assert "per keep: " in status
    for e in entries[1:]:
        if e["decision"] != "refused":
            assert e["scores"]["train"]["interval_by"] == "output"
        if e["decision"] == "keep":
            assert e["scores"]["holdout"]["interval_by"] == "input"


def test_the_loop_looks_every_concurrency_outputs_and_stops_a_loser_inside_a_run(tmp_path):
    """At `concurrency: 1` the loop looks after every output: a candidate far behind is discarded before its
    first run ends, its journal line saying how far the test got, and its outputs are kept for the report."""
    from autoresearch.loop.experiment import Budget, LoopConfig, run_loop
    from autoresearch.suite.suite import load_suite

    shutil.copytree(ROOT / "examples/meeting-notes", tmp_path / "examples/meeting-notes")
    shutil.copytree(ROOT / "evals", tmp_path / "evals")
    path = tmp_path / "evals/meeting-notes.yaml"
    path.write_text(path.read_text().replace("runs: 8 ", "concurrency: 1\nruns: 8 ", 1))
    run, _ = run_loop(load_suite(path), LoopConfig(budget=Budget(experiments=3)), tmp_path / ".autoresearch")
    entries = run.entries()
    inside = [e for e in entries[1:] if e["decision"] == "discard" and "outputs of the first run" in e["reason"]]
    assert inside, [e["reason"] for e in entries]
    first = inside[0]
    assert first["runs"] == [first["runs"][0]] and "behind" in first["reason"]
    cells, _ = run.load_cells(first["candidate"])
    assert 0 < len({(c.input_id, c.run) for c in cells}) < 6  # outputs of the 6 train inputs' first run


def test_the_look_is_what_one_candidate_can_have_in_flight(monkeypatch):
    """A target's own cap on calls in flight (a harness's 4 sessions by default, `concurrency:` in its options)
    below the suite's concurrency sets the look: a chunk of 8 behind a cap of 4 would wait in two waves."""
    from autoresearch.evaluate.runner import Models
    from autoresearch.models import ModelSpec

    monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
    assert Models(ModelSpec("claude-code:sim")).in_flight == 4
    assert Models(ModelSpec("pi:sim", options=(("concurrency", 2),))).in_flight == 2
    assert Models(ModelSpec("anthropic:claude-x")).in_flight == 16
    assert Models(ModelSpec("sim")).in_flight is None  # no cap: the suite's concurrency


def test_parallel_candidates_on_a_capped_target_are_told_they_share_its_calls():
    from autoresearch.loop.experiment import parallel_note

    note = parallel_note(4, 8, 4)
    assert note and "share the target's 4 calls in flight" in note and "raise its `concurrency:`" in note
    assert parallel_note(1, 8, 4) is None and parallel_note(4, 8, None) is None and parallel_note(4, 2, 16) is None


def test_the_run_error_note_bounds_a_plateaued_run_of_no_better_candidates():
    from autoresearch.decide.sequential import run_error_note

    assert "at most 50%" in run_error_note(0.05, 10) and "--alpha 0.01 makes that at most 10%" in run_error_note(0.05, 10)
    assert run_error_note(0.01, 10).endswith("chance at most 10%")  # no advice when the run is bounded by 10%
    assert "at most 100%" in run_error_note(0.05, 40)


def test_keep_cost_is_spend_per_keep_and_a_floor_before_the_first():
    from autoresearch.review.keepcost import keep_cost

    tokens = {"input_tokens": 10, "output_tokens": 0}
    line = lambda decision, calls: {"decision": decision, "calls": calls, "tokens": tokens, "cost": calls / 100}
    cost = keep_cost([line("baseline", 80)] + [line("discard", 40)] * 5 + [line("keep", 100)] + [line("discard", 40)])
    assert cost["per_keep"].calls == 80 + 5 * 40 + 100 + 40 and cost["since_last_keep"] == 1
    assert cost["next_keep"].calls == 5 * 40 + 100 + 40 and abs(cost["next_keep"].dollars - 3.4) < 1e-9
    none = keep_cost([line("baseline", 80)] + [line("discard", 40)] * 9)
    assert none["per_keep"] is None and none["at_least"] and none["next_keep"].calls == 40 * 3


def test_candidates_in_parallel_keep_at_most_one_per_round_the_strongest(tmp_path):
    from autoresearch.loop.experiment import Budget, LoopConfig, run_loop
    from autoresearch.suite.suite import load_suite

    shutil.copytree(ROOT / "examples/meeting-notes", tmp_path / "examples/meeting-notes")
    shutil.copytree(ROOT / "evals", tmp_path / "evals")
    run, reason = run_loop(load_suite(tmp_path / "evals/meeting-notes.yaml"),
                           LoopConfig(parallel=3, budget=Budget(experiments=9)), tmp_path / ".autoresearch",
                           on_event=lambda line: None)
    entries = run.entries()
    assert reason.startswith("budget spent") and [e["id"] for e in entries] == list(range(10))
    rounds = [entries[1 + 3 * k:4 + 3 * k] for k in range(3)]
    vetoed = 0
    for members in rounds:
        assert len({e["section"] for e in members}) == 3  # three different sections at once
        assert len({e["parent"] for e in members}) == 1  # all tested against the same best
        keeps = [e for e in members if e["decision"] == "keep"]
        assert len(keeps) <= 1
        passed = [e for e in members if "a stronger candidate of the same round was kept" in e["reason"]]
        vetoed += len(passed)
        assert not passed or (keeps and all(keeps[0]["p_value"] <= e["p_value"] for e in passed))
    assert vetoed  # the sim's proposals pass often: the veto was exercised
    assert run.config()["config"]["parallel"] == 3
