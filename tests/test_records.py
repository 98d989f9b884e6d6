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
