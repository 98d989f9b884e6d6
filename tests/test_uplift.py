"""Uplift: the skill against no skill (or another version) on the same inputs and runs, in the real harness."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import ROOT, harnesses_on_path, need_harness

from autoresearch.review.uplift import HELPS, HURTS, NO_EFFECT, difference


TALLY_SUITE = """\
skill: tally/SKILL.md
runs: 6
model: claude-code:sim
inputs:
  - id: sprint
    text: "Tally the open action items in these notes: Ann will send the report. Bob will fix the build."
evals:
  - id: prefix
    question: Does the answer start with "Tally:"?
    check: {type: starts-with, value: "Tally:"}
  - id: clean
    question: Is the answer free of the word BROKEN?
    check: {type: not-contains, value: "BROKEN"}
"""

# The simulator agent follows the directives of a loaded body (models/sim.py): a sentence with no literal
# and no rule gives it nothing to do; a literal the answer must start with helps `prefix`; a literal it must
# include breaks `clean`. Without the skill it answers the task plainly: no prefix, no BROKEN.
SKILLS = {
    "ignored": "Be friendly to the reader.",
    "helps": "- Always start your answer with `Tally:`.",
    "hurts": "- Always include `BROKEN` in your answer.",
}


def skill_text(body: str) -> str:
    return f"---\nname: tally\ndescription: Tallies action items in notes.\n---\n\n# Tally\n\n{body}\n"


@pytest.fixture
def harness_path(monkeypatch):
    need_harness("claude")
    harnesses_on_path(monkeypatch)


def cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autoresearch", *map(str, args)], cwd=root, capture_output=True,
                          text=True, timeout=300)


def tally_project(tmp_path: Path, body: str) -> Path:
    (tmp_path / "tally").mkdir()
    (tmp_path / "tally" / "SKILL.md").write_text(skill_text(body))
    (tmp_path / "suite.yaml").write_text(TALLY_SUITE)
    return tmp_path


@pytest.mark.parametrize("kind, verdicts", [
    ("ignored", {"prefix": NO_EFFECT, "clean": NO_EFFECT, "overall": NO_EFFECT}),
    ("helps", {"prefix": HELPS, "clean": NO_EFFECT, "overall": HELPS}),
    ("hurts", {"prefix": NO_EFFECT, "clean": HURTS, "overall": HURTS}),
])
def test_against_none_gives_the_verdict_of_the_paired_test(harness_path, tmp_path, kind, verdicts):
    root = tally_project(tmp_path, SKILLS[kind])
    done = cli(root, "eval", "suite.yaml", "--against", "none", "--json", "out.json")
    assert done.returncode == 0, done.stderr
    data = json.loads((root / "out.json").read_text())["uplift"]
    assert data["against"] == "none"
    assert {e: d["verdict"] for e, d in data["evals"].items()} | {"overall": data["overall"]["verdict"]} == verdicts
    table = done.stdout[done.stdout.index("uplift over no skill"):]
    for eval_id, verdict in verdicts.items():
        row = next(line for line in table.splitlines() if line.strip().startswith(eval_id))
        assert verdict in row
    assert len(data["cells"]) == 12  # the no-skill arm ran the same 1 input x 6 runs x 2 evals


def test_example_harness_suite_uplift_table_json_junit_and_threshold(harness_path, tmp_path):
    root = tmp_path / "project"
    shutil.copytree(ROOT / "examples" / "harness", root)
    done = cli(root, "eval", "suite.yaml", "--runs", "3", "--against", "none", "--json", "out.json",
               "--junit", "out.xml", "--threshold", "uplift=101")
    assert done.returncode == 1, done.stderr  # no skill adds more than 100 points
    assert "uplift over no skill is" in done.stderr and "below the threshold of +101 points" in done.stderr
    data = json.loads((root / "out.json").read_text())
    uplift = data["uplift"]
    assert set(uplift["evals"]) == {"loaded", "ran-script", "counted", "prefix"}
    loaded = uplift["evals"]["loaded"]
    assert (loaded["with_skill"], loaded["without"], uplift["overall"]["verdict"]) == (1.0, 0.0, HELPS)
    assert loaded["p_helps"] == pytest.approx(4 / 64)  # 6 outputs all gained, p = 1/64, Holm-adjusted over 4 evals
    assert abs(uplift["overall"]["with_skill"] - data["overall"]["rate"]) < 1e-6
    table = done.stdout[done.stdout.index("uplift over no skill"):]
    for eval_id in ("loaded", "ran-script", "counted", "prefix", "overall"):
        assert any(line.strip().startswith(eval_id) and any(v in line for v in (HELPS, NO_EFFECT, HURTS))
                   for line in table.splitlines())
    from autoresearch.review.view import result_body

    assert result_body(data, [], {}).count("class='uplift-row'") == 5  # `view out.json` shows the uplift too
    junit = ET.parse(root / "out.xml").getroot()
    suite = next(s for s in junit.findall("testsuite") if s.get("name").endswith(".uplift"))
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {"loaded", "ran-script", "counted", "prefix", "overall"}
    assert cases["overall"].find("failure") is not None and cases["loaded"].find("failure") is None
    assert int(junit.get("tests")) == sum(int(s.get("tests")) for s in junit.findall("testsuite"))


def test_uplift_needs_against_and_does_not_apply_to_triggers(tmp_path):
    root = tmp_path / "project"
    shutil.copytree(ROOT / "examples" / "harness", root)
    done = cli(root, "eval", "suite.yaml", "--threshold", "uplift=5")
    assert done.returncode == 2 and "needs --against" in done.stderr
    done = cli(root, "eval", "triggers.yaml", "--triggers", "--against", "none")
    assert done.returncode == 2 and "uplift does not apply to trigger suites" in done.stderr


def test_an_output_whose_evals_flip_together_counts_once():
    """Three outputs, each with two evals that both gained: three coin flips, not six (p = 1/8)."""
    skill = {(i, e, 0): True for i in ("a", "b", "c") for e in ("x", "y")}
    other = {(i, e, 0): False for i in ("a", "b", "c") for e in ("x", "y")}
    d = difference(skill, other, 0.05)
    assert d.p_helps == pytest.approx(1 / 8) and d.outputs == 3 and d.difference == 1.0
    assert d.low < 1.0 and d.detectable is None  # three outputs can never reach 0.05 in the flip test


def test_run_uplift_measures_no_skill_once_and_shows_what_the_best_adds(make_suite, tmp_path):
    from conftest import BASIC_SUITE

    suite = make_suite(BASIC_SUITE.replace("runs: 2", "runs: 5"))  # the fewest runs the keep rule can keep on
    runs_dir = tmp_path / ".autoresearch"
    done = cli(tmp_path, "run", suite, "--uplift", "--max-experiments", "3", "--runs-dir", runs_dir, "--run-id", "u")
    assert done.returncode == 0, done.stderr
    entries = [json.loads(line) for line in (runs_dir / "u" / "journal.jsonl").read_text().splitlines()]
    base = entries[0]["uplift"]["overall"]
    assert base["with_skill"] == pytest.approx(entries[0]["scores"]["train"]["rate"])
    assert (runs_dir / "u" / "cells" / "none.json").exists()
    assert all("uplift" not in e or e["uplift"] is None for e in entries[1:] if e["decision"] != "keep")
    keeps = [e for e in entries if e["decision"] == "keep"]
    assert keeps  # the sim keeps a gain here: what a kept best adds is measured
    none_runs = {cell[2] for cell in json.loads((runs_dir / "u" / "cells" / "none.json").read_text())["cells"]}
    for keep in keeps:  # paired on the runs its score comes from, which did not choose it: 1 input x 5 runs
        assert len(none_runs - set(keep["runs"]) - set(entries[0]["runs"])) >= 5
        assert keep["uplift"]["overall"]["outputs"] == 5 and keep["uplift"]["overall"]["cells"] == 10
    assert "uplift: the skill adds" in done.stdout and f"(baseline: {100 * base['difference']:+.1f})" in done.stdout
    status = cli(tmp_path, "status", "u", "--runs-dir", runs_dir)
    assert "the skill adds" in status.stdout
    assert cli(tmp_path, "report", "u", "--runs-dir", runs_dir).returncode == 0
    assert "id='uplift'>the skill adds" in (runs_dir / "u" / "report.html").read_text()
