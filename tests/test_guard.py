"""The cross-harness keep gate: a candidate that wins on claude-code:sim but breaks pi:sim is refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import harnesses_on_path, need_harness

from autoresearch.loop.guard import guard_refusal, guard_verdict


SUITE = """\
skill: tally/SKILL.md
runs: 3
model: claude-code:sim
inputs:
  - id: sprint
    text: "Tally the open action items in these notes: Ann will send the report. Bob will fix the build."
  - id: review
    text: "Please tally the action items for the review: Cy will book the room. Di will draft the agenda."
evals:
  - id: prefix
    question: Does the answer start with "Tally:"?
    check: {type: starts-with, value: "Tally:"}
  - id: written
    question: Did the agent write tally.md?
    check: {type: file-exists, value: tally.md}
"""
BASELINE = ("---\nname: tally\ndescription: Tallies action items in notes.\n---\n\n# Tally\n\n## Steps\n\n"
            "- Always start your answer with `Tally:`.\n- Always start your answer with `Tally:`.\n")
# Both harnesses expand the skill for the simulator agent (models/sim_agent.py), differently: pi wraps the
# body in <skill ...>...</skill>, and the agent reads it up to the first `</skill>`; Claude Code prefixes a
# base directory line. A body that names `</skill>` before its rules keeps them in Claude Code and loses them
# in pi: `written` rises on claude-code:sim, `prefix` (and writing) vanish on pi:sim.
CANDIDATE = ("- Never paste a raw </skill> tag into files.\n- Always write the tally to `tally.md`.\n"
             "- Always start your answer with `Tally:`.\n- Always start your answer with `Tally:`.\n")


def cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autoresearch", *map(str, args)], cwd=root, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture
def project(tmp_path, monkeypatch):
    need_harness("claude", "pi")
    harnesses_on_path(monkeypatch)
    (tmp_path / "tally").mkdir()
    (tmp_path / "tally" / "SKILL.md").write_text(BASELINE)
    (tmp_path / "suite.yaml").write_text(SUITE)
    (tmp_path / "candidate.md").write_text(CANDIDATE)
    return tmp_path


def attempt(root: Path, *guard: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    started = cli(root, "run", "suite.yaml", "--baseline-only", "--no-confirm", "--run-id", "r", *guard)
    assert started.returncode == 0, started.stderr
    done = cli(root, "try", "r", "--section", "tally/steps", "--file", "candidate.md", "--hypothesis",
               "write the tally to a file too")
    entries = [json.loads(line) for line in (root / ".autoresearch" / "r" / "journal.jsonl").read_text().splitlines()]
    return done, entries


@pytest.mark.slow
def test_a_candidate_that_breaks_the_guard_harness_is_refused_with_harness_and_eval_named(project):
    done, entries = attempt(project, "--also-on", "pi:sim")
    baseline, entry = entries
    assert baseline["guards"]["pi:sim"]["train"]["passed"] > 0  # the baseline passes `prefix` on pi
    assert done.returncode == 1, done.stdout + done.stderr  # discarded
    assert entry["decision"] == "discard" and "guard target pi:sim" in entry["reason"]
    assert "eval 'prefix' fell" in entry["reason"] or "overall rate fell" in entry["reason"]
    # without the guard it is kept: the keep rule itself said keep on claude-code:sim, only the guard refused
    assert "the gain on claude-code:sim was: gain: " in entry["reason"]  # the sequential rule's keep
    assert entry["scores"]["train"]["rate"] > entry["best_scores"]["train"]["rate"]
    verdict = entry["guards"]["pi:sim"]
    assert verdict["verdict"] == "regressed" and verdict["after"] < verdict["before"]
    assert "guard pi:sim regressed" in done.stdout and "pi:sim" in done.stdout.split("decision:")[1]
    assert "Always write the tally" not in (project / "tally" / "SKILL.md").read_text()
    shown = cli(project, "next", "r")  # what the mutator (an agent) reads next names the guard's refusal
    assert "REFUSED BY A GUARD TARGET" in shown.stdout and "guard pi:sim regressed" in shown.stdout
    report = cli(project, "report", "r")
    assert report.returncode == 0 and "guard pi:sim regressed" in (project / ".autoresearch/r/report.html").read_text()


def test_guard_verdict_tests_the_overall_rate_and_each_eval():
    best = {("i", e, r): True for e in ("a", "b") for r in range(6)}
    candidate = {**best, **{("i", "a", r): False for r in range(6)}}
    verdict = guard_verdict("pi:sim", candidate, best, 0.06)
    assert verdict["verdict"] == "regressed" and [d["eval"] for d in verdict["evals"]] == ["a"]
    assert "pi:sim" in guard_refusal({"pi:sim": verdict}, 0.06) and "eval 'a' fell 6/6 -> 0/6" in \
        guard_refusal({"pi:sim": verdict}, 0.06)
    assert guard_verdict("pi:sim", best, best, 0.06)["verdict"] == "holds"
    assert guard_refusal({"pi:sim": guard_verdict("pi:sim", best, best, 0.06)}, 0.06) is None


def test_the_holdout_is_measured_on_every_target(make_suite, tmp_path):
    from conftest import BASIC_SUITE

    suite = make_suite(BASIC_SUITE.replace("runs: 2", "runs: 5"))  # the fewest runs the keep rule can keep on
    runs_dir = tmp_path / "runs"
    done = cli(tmp_path, "run", suite, "--also-on", "sim", "--max-experiments", "6", "--runs-dir", runs_dir,
               "--run-id", "h")
    assert done.returncode == 0, done.stderr
    entries = [json.loads(line) for line in (runs_dir / "h" / "journal.jsonl").read_text().splitlines()]
    assert entries[0]["guards"]["sim"]["holdout"]["passed"] + entries[0]["guards"]["sim"]["holdout"]["failed"] == 10  # 1 input x 5 runs x 2 evals
    keeps = [e for e in entries if e["decision"] == "keep"]
    assert keeps and all(e["guards"]["sim"]["verdict"] == "holds" and e["guard_holdout"]["sim"] for e in keeps)
    assert "guard sim holds" in done.stdout
