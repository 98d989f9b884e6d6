"""One suite on several targets in one command: the table, JSON, JUnit and HTML carry the same matrix."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import harnesses_on_path, need_harness

from autoresearch.evaluate.cells import Cell
from autoresearch.review.matrix import output_rate

TARGETS = ["sim", "claude-code:sim", "pi:sim"]

SUITE = """\
skill: tally/SKILL.md
runs: 2
targets: [sim, claude-code:sim, pi:sim]
inputs:
  - id: sprint
    text: "Tally the open action items in these notes: Ann will send the report. Bob will fix the build."
evals:
  - id: prefix
    question: Does the answer start with "Tally:"?
    check: {type: starts-with, value: "Tally:"}
  - id: short
    question: Is the answer under 40 words?
    check: {type: word-count, max: 40}
"""
SKILL = "---\nname: tally\ndescription: Tallies action items in notes.\n---\n\n# Tally\n\n- Always start your answer with `Tally:`.\n"


def cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autoresearch", *map(str, args)], cwd=root, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def project(tmp_path, monkeypatch):
    need_harness("claude", "pi")
    harnesses_on_path(monkeypatch)
    (tmp_path / "tally").mkdir()
    (tmp_path / "tally" / "SKILL.md").write_text(SKILL)
    (tmp_path / "suite.yaml").write_text(SUITE)
    return tmp_path


def test_three_targets_in_one_command_agree_in_table_json_junit_and_chromium(project, tmp_path):
    from browser import dump_dom
    from test_review import chromium

    done = cli(project, "eval", "suite.yaml", "--json", "m.json", "--junit", "m.xml", "--html", "m.html",
               "--threshold", "short=0.99")
    assert done.returncode == 1, done.stderr  # the simulator's answers run past 40 words on every target
    for target in TARGETS:
        assert f"below threshold: {target}: eval 'short'" in done.stderr
    data = json.loads((project / "m.json").read_text())
    assert data["schema"] == "autoresearch.matrix/1" and data["targets"] == TARGETS
    header = next(line for line in done.stdout.splitlines() if line.strip().startswith("eval"))
    assert header.split()[1:] == TARGETS
    junit = ET.parse(project / "m.xml").getroot()
    suites = {s.get("name"): s for s in junit.findall("testsuite")}
    assert set(suites) == {f"suite@{t}" for t in TARGETS}
    rendered = dump_dom(chromium(), (project / "m.html").as_uri(), tmp_path / "profile")
    cells = {}
    for row in re.findall(r'<tr class="matrix-row" data-eval="([^"]+)">(.*?)</tr>', rendered, re.S):
        for target, rate in re.findall(r'data-target="([^"]+)" data-rate="([^"]+)"', row[1]):
            cells[(row[0], target)] = float(rate)
    assert len(cells) == 6 and "matrix-overall" in rendered  # every eval x target, rendered
    compared = cli(project, "eval", "suite.yaml", "--model", "sim", "--compare", "m.json")
    assert compared.returncode == 2 and "a matrix result" in compared.stderr
    for target in TARGETS:
        result = data["results"][target]
        assert result["model"] == target and len(result["cells"]) == 4  # 1 input x 2 runs x 2 evals
        for eval_id in ("prefix", "short"):
            rate = data["matrix"]["evals"][eval_id][target]
            case = suites[f"suite@{target}"].find(f"testcase[@name='{eval_id}']")
            passed, runs = map(int, re.search(r"(\d+)/(\d+)", case.find("system-out").text).groups())
            assert rate["passed"] == passed and rate["passed"] + rate["failed"] == runs
            assert cells[(eval_id, target)] == pytest.approx(rate["rate"])
            row = next(line for line in done.stdout.splitlines() if line.strip().startswith(eval_id))
            assert f"{rate['rate']:.1%}" in row


def test_a_target_named_twice_is_a_usage_error(project):
    done = cli(project, "eval", "suite.yaml", "--model", "sim", "--model", "sim")
    assert done.returncode == 2 and "sim named twice" in done.stderr


def test_the_overall_interval_counts_outputs_not_cells():
    """Two evals that always agree carry one output's evidence: the interval is that of 4 outputs, not 8 cells."""
    together = [Cell(str(i), e, 0, "pass" if i < 2 else "fail", "") for i in range(4) for e in ("a", "b")]
    apart = [Cell(str(i), e, 0, "pass" if (i + (e == "b")) % 2 else "fail", "") for i in range(4) for e in ("a", "b")]
    wide, narrow = output_rate(together), output_rate(apart)
    assert wide["rate"] == narrow["rate"] == 0.5 and wide["outputs"] == narrow["outputs"] == 4
    assert wide["high"] - wide["low"] > narrow["high"] - narrow["low"]


def test_a_bad_target_in_the_suite_names_file_line_and_key(tmp_path):
    (tmp_path / "tally").mkdir()
    (tmp_path / "tally" / "SKILL.md").write_text(SKILL)
    (tmp_path / "suite.yaml").write_text(SUITE.replace("[sim, claude-code:sim, pi:sim]", "[sim, claud-code:sim]"))
    done = cli(tmp_path, "eval", "suite.yaml")
    assert done.returncode == 2 and "suite.yaml:3" in done.stderr and "targets[1]" in done.stderr
    assert "did you mean 'claude-code'" in done.stderr
