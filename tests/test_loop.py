import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT

from autoresearch.decide.keep import decide
from autoresearch.decide.run_layout import RunLayout
from autoresearch.decide.sequential import block_index
from autoresearch.decide.stats import KeepRule
from autoresearch.loop.experiment import Budget, LoopConfig, run_loop
from autoresearch.loop.mutation import MutationRefused, Proposal, apply_proposal
from autoresearch.runs.journal import RunDir
from autoresearch.suite.skill import parse_skill
from autoresearch.suite.suite import load_suite

CLI = [sys.executable, "-m", "autoresearch"]


@pytest.fixture
def workspace(tmp_path):
    """A copy of the example skill and suite, so the loop may rewrite the target."""
    shutil.copytree(ROOT / "examples/meeting-notes", tmp_path / "examples/meeting-notes")
    shutil.copytree(ROOT / "evals", tmp_path / "evals")
    return tmp_path


def loop(workspace, **config):
    suite = load_suite(workspace / "evals/meeting-notes.yaml")
    return run_loop(suite, LoopConfig(**config), workspace / ".autoresearch", on_event=lambda line: None)


def test_journal_and_changelog_record_every_attempt(workspace):
    original = (workspace / "examples/meeting-notes/SKILL.md").read_text()
    run, reason = loop(workspace, budget=Budget(experiments=8))
    assert reason == "budget spent: 8 experiments of 8"
    entries = run.entries()
    assert [e["id"] for e in entries] == list(range(9)) and entries[0]["decision"] == "baseline"
    for e in entries[1:]:
        assert e["decision"] in ("keep", "discard", "refused") and e["section"] and e["reason"]
        assert {"parent", "hypothesis", "kind", "scores", "p_value", "calls", "tokens", "cost", "seconds",
                "timestamp", "skill_before", "skill_after"} <= set(e)
        assert e["calls"] > 0 or e["decision"] == "refused"
        if e["decision"] != "refused":
            assert e["diff"].startswith("--- a/") and e["scores"]["train"]["low"] <= e["scores"]["train"]["rate"]
    keeps = [e for e in entries if e["decision"] == "keep"]
    assert keeps and all(e["scores"]["holdout"] for e in keeps)  # holdout measured for every kept version
    assert all(e["scores"]["holdout"] is None for e in entries if e["decision"] == "discard")
    changelog = (run.path / "changelog.md").read_text()
    for e in entries[1:]:
        assert f"## #{e['id']} {e['decision']}: `{e['section']}`" in changelog
    assert "```diff" in changelog and "motivated by failures" in changelog
    best = (run.path / "best/SKILL.md").read_text()
    assert (workspace / "examples/meeting-notes/SKILL.md").read_text() == best != original
    assert (run.path / "baseline/SKILL.md").read_text() == original
    assert best == run.version(keeps[-1]["skill_after"])


def test_plateau_stops_after_k_attempts_without_a_keep(workspace):
    run, reason = loop(workspace, plateau=2, rule=KeepRule(alpha=1e-60))  # below any p-value 16 runs can reach
    assert reason == "plateau: 2 attempts in a row without a keep"
    assert [e["decision"] for e in run.entries()[1:]] == ["discard"] * 2 or \
        all(e["decision"] != "keep" for e in run.entries()[1:])


def test_target_reached_is_confirmed_on_fresh_runs(workspace):
    run, reason = loop(workspace, target=0.05)
    assert reason.startswith("target reached") and "confirmed on 16 runs not used to select it" in reason
    assert len(run.entries()) == 1


def rate_on(run, digest, runs):
    cells, _ = run.load_cells(digest)
    mine = [c for c in cells if c.run in runs and c.status != "error"]
    return sum(c.status == "pass" for c in mine) / len(mine)


def test_a_kept_version_is_scored_and_stopped_on_runs_that_did_not_select_it(workspace):
    run, reason = loop(workspace, target=0.5)
    entries = run.entries()
    keeps = [e for e in entries if e["decision"] == "keep"]
    assert keeps and reason.startswith("target reached") and "confirmed on 16 runs not used to select it" in reason
    layout = RunLayout.for_suite(8, 8, sequential=True)
    for n, e in enumerate(keeps, 1):  # the runs that chose the winner (>= 2); its score: the first 8 of a fresh block
        assert len(e["runs"]) >= 2 and e["scores"]["train_decision"]["rate"] == \
            pytest.approx(rate_on(run, e["skill_after"], e["runs"]), abs=1e-6)
        fresh = layout.block(block_index(n, e["id"] + 1))
        assert not set(fresh) & set(e["runs"])
        assert e["scores"]["train"]["rate"] == pytest.approx(rate_on(run, e["skill_after"], fresh[:8]), abs=1e-6)
    honest = rate_on(run, keeps[-1]["skill_after"], layout.block(block_index(len(keeps), entries[-1]["id"] + 1))[:16])
    assert honest >= 0.5 and f"train pass rate {honest:.1%}" in reason


def test_attempts_record_errors_flips_and_the_holdout_verdict(workspace):
    run, _ = loop(workspace, budget=Budget(experiments=8))
    entries = run.entries()
    assert entries[0]["inputs"] == {"train": 6, "holdout": 2} and entries[0]["profile"]["inputs"]
    tested = [e for e in entries[1:] if e["decision"] != "refused"]
    assert tested and all(set(e["errors"]) == {"candidate", "best", "cells"} and isinstance(e["flips"], list)
                          for e in tested)
    keeps = [e for e in entries if e["decision"] == "keep"]
    assert all(e["holdout_test"]["verdict"] in ("better", "no different", "worse") for e in keeps)
    status = run_cli(workspace, "status", run.id).stdout
    assert "holdout verdict, best against baseline: " in status and "train inputs" not in status  # said once, in the report
    report = run_cli(workspace, "report", run.id)
    page = (run.path / "report.html").read_text()
    assert report.returncode == 0 and "id='holdout'" in page and "id='inputs'" in page and "pass^3" in page
    assert page.count("6 train inputs: each keep is a gain on these inputs") == 1


def test_holdout_gate_refuses_a_keep_whose_holdout_is_worse(workspace):
    from autoresearch.loop.holdout import holdout_refusal

    suite = load_suite(workspace / "evals/meeting-notes.yaml")
    config = LoopConfig(rule=KeepRule(holdout_gate=True))
    run = run_loop(suite, LoopConfig(rule=KeepRule(holdout_gate=True), budget=Budget(experiments=0)),
                   workspace / ".autoresearch", on_event=lambda line: None)[0]
    assert run.config()["config"]["rule"]["holdout_gate"] is True
    worse = {"verdict": "worse", "before": 0.5, "after": 0.2, "wins": 0, "losses": 6, "p_better": 1.0, "p_worse": 0.02,
             "against_best": None}
    assert "holdout worse than the baseline's beyond noise: 50.0% -> 20.0%" in holdout_refusal(worse, config.rule.holdout_gate)
    assert holdout_refusal(dict(worse, verdict="no different"), config.rule.holdout_gate) is None
    assert holdout_refusal(worse, LoopConfig().rule.holdout_gate) is None


@pytest.mark.parametrize("budget,unit", [(Budget(calls=300), "model calls"), (Budget(tokens=200_000), "tokens"),
                                         (Budget(seconds=0), "seconds"), (Budget(dollars=0), "dollars")])
def test_each_budget_stops_the_loop(workspace, budget, unit):
    run, reason = loop(workspace, budget=budget)
    assert reason.startswith("budget spent") and unit in reason


def test_sections_option_limits_what_changes(workspace):
    run, _ = loop(workspace, sections=("meeting-notes/style",), budget=Budget(experiments=4))
    assert {e["section"] for e in run.entries()[1:]} == {"meeting-notes/style"}


# -- the guards --------------------------------------------------------------------------------

def suite_and_doc():
    suite = load_suite(ROOT / "evals/meeting-notes.yaml")
    return suite, parse_skill(suite.skill_path.read_text(), suite.skill_path)


def test_leakage_guard_refuses_holdout_text_and_judge_wording():
    suite, doc = suite_and_doc()
    holdout = suite.split("holdout")[0].text.splitlines()[0]
    with pytest.raises(MutationRefused, match="holdout input 'offsite-logistics'"):
        apply_proposal(doc, "meeting-notes/style", Proposal(f"- Like this: {holdout}\n", "h", "add-example"), suite)
    judge = suite.eval("owners").judge.pass_condition
    with pytest.raises(MutationRefused, match="wording of eval 'owners'"):
        apply_proposal(doc, "meeting-notes/style", Proposal(f"- {judge}\n", "h", "add-instruction"), suite)
    ok = apply_proposal(doc, "meeting-notes/style", Proposal("- Name who owns each task and when it is due.\n",
                                                             "h", "add-instruction"), suite)
    assert "Name who owns each task" in ok.render()


@pytest.mark.parametrize("body,message", [
    ("- Use plain language.\n- You may use bullet points.\n", "changes nothing"),
    ("- Plain.\n\n## New heading\n", "section structure"),
])
def test_proposals_that_change_nothing_or_break_the_document_are_refused(body, message):
    suite, doc = suite_and_doc()
    with pytest.raises(MutationRefused, match=message):
        apply_proposal(doc, "meeting-notes/style", Proposal(body, "h", "clarify"), suite)


def test_description_changes_only_when_allowed_and_name_never():
    from autoresearch.loop.mutation import DESCRIPTION_ID, editable_sections

    suite, doc = suite_and_doc()
    assert DESCRIPTION_ID not in editable_sections(doc)
    assert DESCRIPTION_ID in editable_sections(doc, allow_description=True)
    new = apply_proposal(doc, DESCRIPTION_ID, Proposal("Writes meeting notes from transcripts.", "h", "clarify"), suite)
    assert new.frontmatter == {"name": "meeting-notes", "description": "Writes meeting notes from transcripts."}
    assert new.body == doc.body


# -- the keep rule -----------------------------------------------------------------------------

def run_decide(rule, candidate_rate, best_rate, runs=8, cells_per_run=40):
    spent = {"candidate": 0}

    def cells(rate, run_list, salt):
        draws = {r: random.Random(salt * 1000 + r) for r in run_list}
        return {(i, "e", r): draws[r].random() < rate for r in run_list for i in range(cells_per_run)}

    async def candidate(run_list):
        spent["candidate"] += len(run_list)
        return cells(candidate_rate, run_list, 1)

    async def best(run_list):
        return cells(best_rate, run_list, 1 if candidate_rate == best_rate else 2)

    outcome = asyncio.run(decide(rule, [[r] for r in range(runs)], candidate, best,
                                 confirm_runs=list(range(runs, 2 * runs))))
    return outcome, spent["candidate"]


def test_an_exact_tie_is_no_gain_and_is_discarded():
    outcome, _ = run_decide(KeepRule("paired", 0.06), 0.6, 0.6)
    assert outcome.decision == "discard" and outcome.paired.wins == outcome.paired.losses == 0


def test_racing_stops_a_losing_candidate_early():
    raced, raced_calls = run_decide(KeepRule("paired", 0.06), 0.4, 0.7)
    full, full_calls = run_decide(KeepRule("paired", 0.06, futility=0), 0.4, 0.7)
    assert raced.decision == full.decision == "discard"
    assert raced.raced and "raced out after" in raced.reason and raced_calls < full_calls / 2


def test_naive_rule_keeps_a_small_raw_edge_that_the_paired_test_discards():
    # one run of 100 cells: 12 wins, 8 losses, 80 ties; raw score higher, sign test p = 0.25
    best_cells = {(i, "e", 0): i >= 12 and not 20 <= i < 40 or 12 <= i < 20 for i in range(100)}
    cand_cells = {(i, "e", 0): i < 12 or i >= 40 for i in range(100)}

    async def candidate(runs):
        return cand_cells

    async def best(runs):
        return best_cells

    outcomes = {name: asyncio.run(decide(KeepRule(name), [[0]], candidate, best))
                for name in ("naive", "paired")}
    assert (outcomes["paired"].paired.wins, outcomes["paired"].paired.losses) == (12, 8)
    assert outcomes["naive"].decision == "keep" and "raw score higher" in outcomes["naive"].reason
    assert outcomes["paired"].decision == "discard" and "not significant" in outcomes["paired"].reason


def test_a_real_gain_is_kept_after_confirmation():
    outcome, calls = run_decide(KeepRule("paired", 0.06), 0.9, 0.5)
    assert outcome.decision == "keep" and outcome.confirmed and calls == 16 and outcome.paired.p_value < 0.05


# -- resume after SIGKILL, status and diff -----------------------------------------------------

def slow_suite(workspace):
    path = workspace / "evals/meeting-notes.yaml"
    path.write_text(path.read_text().replace("model: sim ", "model: {name: sim, latency: 0.0015} "))
    return path


def run_cli(workspace, *args, **kw):
    return subprocess.run(CLI + [str(a) for a in args], cwd=workspace, capture_output=True, text=True, **kw)


def decisions(run_dir):
    return [(e["id"], e["section"], e["decision"], e.get("candidate"), e["skill_after"])
            for e in RunDir(run_dir).entries()]


def test_resume_after_kill_9_at_several_points_loses_and_repeats_nothing(workspace, tmp_path):
    slow_suite(workspace)
    args = ["run", "evals/meeting-notes.yaml", "--max-experiments", "6", "--plateau", "100"]
    reference = workspace / "reference"
    shutil.copytree(workspace / "examples", reference / "examples")
    shutil.copytree(workspace / "evals", reference / "evals")
    done = run_cli(reference, *args, "--run-id", "ref")
    assert done.returncode == 0, done.stderr
    expected = decisions(reference / ".autoresearch/ref")
    run_dir = workspace / ".autoresearch/crash"
    kills = 0
    for wait_lines, extra_delay in [(0, 0.15), (1, 0.05), (2, 0.02), (4, 0.1), (6, 0.03)]:
        first = not (run_dir / "run.json").exists()
        more = [*args, "--run-id", "crash"] if first else ["run", "--resume", "crash"]
        proc = subprocess.Popen(CLI + [str(a) for a in more], cwd=workspace, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline and proc.poll() is None:
            lines = len(RunDir(run_dir).entries()) if (run_dir / "journal.jsonl").exists() else 0
            if lines >= wait_lines:
                break
            time.sleep(0.005)
        time.sleep(extra_delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        target = (workspace / "examples/meeting-notes/SKILL.md").read_text()
        if (run_dir / "journal.jsonl").exists():
            known = RunDir(run_dir)
            assert known.has_version(__import__("hashlib").sha256(target.encode()).hexdigest())
    assert kills >= 3
    finished = run_cli(workspace, "run", "--resume", "crash")
    assert finished.returncode == 0, finished.stderr
    assert decisions(run_dir) == expected
    best = (run_dir / "best/SKILL.md").read_text()
    assert (workspace / "examples/meeting-notes/SKILL.md").read_text() == best
    assert best == (reference / ".autoresearch/ref/best/SKILL.md").read_text()


def test_status_and_diff_commands(workspace):
    run, _ = loop(workspace, budget=Budget(experiments=6))
    status = run_cli(workspace, "status", run.id)
    assert status.returncode == 0 and "experiments: 6" in status.stdout and "holdout: baseline" in status.stdout
    diff = run_cli(workspace, "diff")
    assert diff.returncode == 0 and "=== meeting-notes/" in diff.stdout and "+++ best/" in diff.stdout
    missing = run_cli(workspace, "status", "no-such-run")
    assert missing.returncode == 2 and "cannot find" in missing.stderr


def test_git_mode_commits_each_keep_and_nothing_else(workspace):
    git = lambda *a: subprocess.run(["git", *a], cwd=workspace, capture_output=True, text=True, check=True).stdout
    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "root")
    (workspace / ".gitignore").write_text(".autoresearch/\n")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "start")
    start, branch = git("rev-parse", "HEAD").strip(), git("rev-parse", "--abbrev-ref", "HEAD").strip()
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    result = run_cli(workspace, "run", "evals/meeting-notes.yaml", "--git", "--tag", "exp", "--max-experiments", "6",
                     "--run-id", "g", env=env)
    assert result.returncode == 0, result.stderr
    assert git("rev-parse", "--abbrev-ref", "HEAD").strip() == branch  # back where the user was
    keeps = [e for e in RunDir(workspace / ".autoresearch/g").entries() if e["decision"] == "keep"]
    log = git("log", "--format=%B%x00", f"{start}..autoresearch/exp").split("\x00")
    messages = [m.strip() for m in log if m.strip()]
    assert len(messages) == len(keeps) > 0
    for entry, message in zip(reversed(keeps), messages):
        assert message.startswith(f"autoresearch #{entry['id']}: {entry['hypothesis']}") and "train:" in message
    assert git("status", "--porcelain").strip() == ""


def test_ctrl_c_stops_cleanly_and_the_run_resumes(workspace):
    slow_suite(workspace)
    proc = subprocess.Popen(CLI + ["run", "evals/meeting-notes.yaml", "--max-experiments", "5", "--run-id", "int"],
                            cwd=workspace, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    journal = workspace / ".autoresearch/int/journal.jsonl"
    deadline = time.time() + 30
    while time.time() < deadline and not (journal.exists() and len(RunDir(journal.parent).entries()) >= 2):
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "interrupted" in err and "--resume int" in err
    run = RunDir(journal.parent)
    kept = [e for e in run.entries() if e["decision"] in ("baseline", "keep")]
    assert (workspace / "examples/meeting-notes/SKILL.md").read_text() == run.version(kept[-1]["skill_after"])
    finished = run_cli(workspace, "run", "--resume", "int")
    assert finished.returncode == 0 and [e["id"] for e in run.entries()] == list(range(6))


def test_resume_takes_a_larger_budget_given_on_the_command_line(workspace):
    first = run_cli(workspace, "run", "evals/meeting-notes.yaml", "--max-experiments", "2", "--plateau", "100",
                    "--run-id", "grow")
    assert "budget spent: 2 experiments of 2" in first.stdout
    more = run_cli(workspace, "run", "--resume", "grow", "--max-experiments", "4")
    assert more.returncode == 0 and "budget spent: 4 experiments of 4" in more.stdout
    assert [e["id"] for e in RunDir(workspace / ".autoresearch/grow").entries()] == list(range(5))


def test_git_mode_refused_outside_a_repository_leaves_no_run_behind(workspace):
    result = run_cli(workspace, "run", "evals/meeting-notes.yaml", "--git", "--run-id", "nogit")
    assert result.returncode == 2 and "is not inside a git repository" in result.stderr
    assert not (workspace / ".autoresearch/nogit").exists()


GATE_SUITE = """\
name: gate
skill: notes/SKILL.md
model: sim
runs: 8
inputs:
  - {id: a, text: "Ann: I will send the report by Friday. Bob: I will fix the build today."}
  - {id: b, text: "Cy: The launch moves to May. Di: I will tell the customers this week."}
  - {id: c, text: "Ed: The budget is approved. Flo: I will book the venue by Monday."}
  - {id: h1, split: holdout, text: "Gus: The audit starts on the 3rd. Hal: I will gather the invoices."}
  - {id: h2, split: holdout, text: "Ivy: Sales rose this quarter. Jo: I will draft the press note."}
evals:
  - id: summary-first
    question: Does the output start with a "## Summary" heading?
    check: {type: starts-with, value: "## Summary"}
    inputs: [a, b, c]
  - id: plain-start
    question: Does the output start without a heading?
    check: {type: not-starts-with, value: "## Summary"}
    inputs: [h1, h2]
"""


@pytest.mark.parametrize("gate", [False, True])
def test_train_up_holdout_down_is_worse_and_the_gate_refuses_it(make_suite, gate):
    suite = load_suite(make_suite(GATE_SUITE))
    run, _ = run_loop(suite, LoopConfig(rule=KeepRule(holdout_gate=gate), budget=Budget(experiments=3)),
                      suite.path.parent / ".autoresearch", on_event=lambda line: None)
    entries = run.entries()
    if not gate:  # the change that helps train is kept, and the holdout verdict says so plainly
        keep = next(e for e in entries if e["decision"] == "keep")
        assert keep["holdout_test"]["verdict"] == "worse"
        status = run_cli(suite.path.parent, "status", run.id, "--runs-dir", suite.path.parent / ".autoresearch").stdout
        assert "WORSE (overfitting)" in status and "train went up while holdout went down" in status
    else:
        gated = [e for e in entries if e["reason"].startswith("holdout gate: holdout worse than the baseline's")]
        assert gated and all(e["decision"] == "discard" for e in gated)
        assert all(e["decision"] != "keep" for e in entries)


def test_correlated_evals_lengthen_the_confirmation_of_a_candidate(workspace):
    """The paired rule: evals that pass and fail together count as fewer checks: candidates past the screen are confirmed on
    more fresh runs (the runs after the fresh-score blocks), so the keep rule keeps its power."""
    path = workspace / "evals/meeting-notes.yaml"
    text = path.read_text()
    head, _ = text.split("evals:\n", 1)
    twins = "".join(f"  - id: no-preamble-{n}\n    question: Does the output avoid a chatty preamble such as "
                    f"\"Sure!\"?\n    check: {{type: not-icontains, value: \"sure!\"}}\n" for n in range(4))
    path.write_text(head + "evals:\n" + twins)
    lines = []
    suite = load_suite(path)
    run, _ = run_loop(suite, LoopConfig(KeepRule("paired", 0.06), budget=Budget(experiments=6)),
                      workspace / ".autoresearch", on_event=lines.append)
    entries = run.entries()
    profile = entries[0]["profile"]
    assert profile["correlation"] == 1.0 and profile["suggest_runs"] > 16
    assert any("confirmed on 16 fresh runs instead of 8" in line for line in lines)
    confirmed = [e for e in entries if "fresh runs" in e["reason"] and e["decision"] == "keep"]
    assert confirmed, [e["reason"] for e in entries]
    for e in confirmed:  # 8 screen runs, then 16 confirmation runs: 8..15 and 32..39 (16..31 hold fresh scores)
        assert e["runs"] == list(range(16)) + list(range(32, 40)) and "confirmed on 16 fresh runs" in e["reason"]


def test_run_numbers_keep_their_part_when_the_confirmation_lengthens():
    from autoresearch.decide.run_layout import RunLayout

    plain = RunLayout.for_suite(8, 4)
    assert (plain.screen, plain.confirmation, plain.fresh, plain.holdout) == \
        (list(range(8)), list(range(8, 16)), list(range(16, 32)), list(range(4)))
    assert plain.unselected(0) == list(range(16)) and plain.unselected(2) == list(range(16, 32))
    assert plain.kept_score == list(range(16, 24))
    long = RunLayout.for_suite(8, 4, {"correlation": 0.51, "suggest_runs": 15})
    assert long.confirmation == list(range(8, 16)) + list(range(32, 39))  # after the fresh runs, which keep theirs
    assert not set(long.confirmation) & (set(long.screen) | set(long.fresh))
    assert long.describe([33], "best") == ("confirmation", "run 10 of 15, best")
    assert long.describe(list(range(16, 24)), "candidate") == ("fresh runs", "run 1-8 of 16, candidate")
