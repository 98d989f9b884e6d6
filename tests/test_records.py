"""What a new user and an agent meet (issue 26): a suite that cannot change under a run, records that say how a
result was measured, a dashboard that shows the outputs picked, tool results, a CI example that passes."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import BASIC_SUITE

from autoresearch.cli.main import main
from autoresearch.runs.journal import RunDir


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def baseline_run(make_suite, tmp_path, monkeypatch):
    """A sim suite with its baseline measured as run `r`, in tmp_path."""
    monkeypatch.chdir(tmp_path)
    suite = make_suite("model: sim\n" + BASIC_SUITE)
    done = invoke("run", suite, "--baseline-only", "--run-id", "r", "--max-experiments", "3")
    assert done.exit_code == 0, done.output
    return suite


# -- 1. the suite is fingerprinted; a changed suite is refused ----------------------------------------

@pytest.mark.parametrize("edit, words", [
    (lambda s: s.replace("  - id: bounded\n    question: Is it under 400 words?\n"
                         "    check: {type: word-count, max: 400}\n", ""), "eval 'bounded' removed"),
    (lambda s: s.replace("max: 400", "max: 300"), "eval 'bounded' changed"),
    (lambda s: s.replace("    split: holdout\n", ""), "input 'two' moved from holdout to train"),
    (lambda s: s.replace("runs: 2", "runs: 3"), "runs 2 -> 3"),
])
def test_next_try_and_resume_refuse_a_suite_changed_since_the_baseline(baseline_run, tmp_path, edit, words):
    assert "fingerprint" in json.loads((tmp_path / ".autoresearch/r/run.json").read_text())
    baseline_run.write_text(edit(baseline_run.read_text()))
    (tmp_path / "new.md").write_text("- Start with the summary.\n")
    before = snapshot(tmp_path / ".autoresearch")
    for args in (["next", "r"], ["try", "r", "--section", "notes/format", "--file", "new.md", "--hypothesis", "h"],
                 ["run", "--resume", "r"]):
        done = invoke(*args)
        assert done.exit_code == 2, (args, done.output)
        assert words in done.output and "new run" in done.output, done.output
    assert snapshot(tmp_path / ".autoresearch") == before


def test_an_unchanged_suite_goes_on(baseline_run, tmp_path):
    assert invoke("next", "r").exit_code == 0


# -- 5. each tool call's result: in the outcome, `next` and the dashboard ------------------------------

HARNESS_BIN = __import__("conftest").ROOT / ".harness" / "node_modules" / ".bin"


@pytest.fixture
def failing_script(tmp_path, monkeypatch):
    """The harness example with a skill whose script fails (no argument given): the agent's call exits 1."""
    import os
    import shutil

    from conftest import ROOT

    if not (HARNESS_BIN / "claude").exists() or not (HARNESS_BIN / "pi").exists():
        pytest.skip("the harnesses are not installed (make harness)")
    root = tmp_path / "project"
    shutil.copytree(ROOT / "examples/harness", root)
    skill = root / "tally/SKILL.md"
    skill.write_text(skill.read_text().replace("scripts/tally.py inputs/notes.txt", "scripts/tally.py"))
    (root / "suite.yaml").write_text((root / "suite.yaml").read_text().replace("runs: 2", "runs: 1"))
    monkeypatch.setenv("PATH", f"{HARNESS_BIN}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(root)
    return root


@pytest.mark.parametrize("target", ["claude-code:sim", "pi:sim"])
def test_a_harness_outcome_records_each_tool_calls_output_and_exit_code(failing_script, target):
    done = invoke("eval", "suite.yaml", "--model", target, "--split", "train", "--json", "r.json")
    assert done.exit_code in (0, 1), done.output
    calls = json.loads((failing_script / "r.json").read_text())["outcomes"][0]["tool_calls"]
    script = next(c for c in calls if "tally.py" in json.dumps(c["input"]))
    assert script["exit_code"] == 1 and script["is_error"] is True and "IndexError" in script["output"]
    assert "autoresearch-cell-" not in script["output"]  # the throwaway workspace reads relative to it
    written = next(c for c in calls if c["name"].lower() == "write")
    assert written["is_error"] is False and written["exit_code"] is None


def test_next_and_the_dashboard_show_what_each_tool_call_returned(failing_script):
    from autoresearch.review.view import RunSource

    assert invoke("run", "suite.yaml", "--baseline-only", "--run-id", "b").exit_code == 0
    shown = invoke("next", "b")
    assert shown.exit_code == 0, shown.output
    assert "exit code 1" in shown.output and "IndexError" in shown.output
    source = RunSource(RunDir(failing_script / ".autoresearch/b"))
    page = source.outputs(source.snapshot()["best"])
    assert "exit code 1" in page and "IndexError" in page


# -- 2. the dashboard: the version picked is the version shown; a result file is not "live" -------------

def test_the_version_picker_starts_on_the_version_whose_outputs_are_shown(baseline_run, tmp_path):
    import re

    from autoresearch.review.view import RunSource, page

    (tmp_path / "worse.md").write_text("- Write one line.\n")
    tried = invoke("try", "r", "--section", "notes/format", "--file", "worse.md", "--hypothesis", "shorter")
    assert tried.exit_code in (0, 1), tried.output
    source = RunSource(RunDir(tmp_path / ".autoresearch/r"))
    html = page(source)
    best = source.snapshot()["best"]
    selected = re.findall(r"<option value='([0-9a-f]+)' selected>", html)
    assert selected == [best] and f"data-version='{best}'" in html
    assert re.findall(r"<option value='([0-9a-f]+)'", html)[0] != best  # the newest version is listed first


def test_a_result_file_is_not_called_live(make_suite, tmp_path, monkeypatch):
    from autoresearch.review.view import ResultSource, page

    monkeypatch.chdir(tmp_path)
    suite = make_suite("model: sim\n" + BASIC_SUITE)
    assert invoke("eval", suite, "--json", "r.json").exit_code in (0, 1)
    source = ResultSource(tmp_path / "r.json")
    html = page(source)
    assert "<span id='connection'>live</span>" not in html and "eval result" in html
    assert source.poll()["header"] != "live"
