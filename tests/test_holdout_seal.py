"""Path B with a hidden holdout (issue 25): `holdout seal` moves the holdout inputs into a file only the tool
reads, the run measures them as before, and nothing an agent runs prints them."""

import json
import subprocess

from click.testing import CliRunner

from autoresearch.cli.main import main
from autoresearch.suite.fingerprint import suite_fingerprint
from autoresearch.suite.suite import load_suite

SKILL = """---
name: notes
description: Turns a meeting transcript into notes. Use when asked for meeting notes.
---

# Notes

## Format

- Start with a short summary.
"""
SECRET = ["Zanzibar", "quokka", "Wilhelmina"]
SUITE = """\
skill: notes/SKILL.md
model: sim
runs: 3
inputs:
  - id: standup
    text: 'Ann: I will send the report by Friday. Bob: I will fix the build today.'
  # the one the optimiser must not see
  - id: offsite
    split: holdout
    text: |
      Wilhelmina: the Zanzibar offsite moves to May 9.
      Omar: I will book the quokka tour.
  - id: hiring
    text: 'Lee: We have two open roles. Sam: I will schedule the final interviews next week.'
evals:
  - id: summary
    question: Does the output start with a "## Summary" heading?
    check: {type: starts-with, value: "## Summary"}
"""


def project(tmp_path, monkeypatch, suite=SUITE):
    monkeypatch.chdir(tmp_path)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "SKILL.md").write_text(SKILL)
    (tmp_path / "suite.yaml").write_text(suite)
    return tmp_path / "suite.yaml"


def cli(*args):
    return CliRunner().invoke(main, list(args))


def readable(root) -> str:
    """Every file an agent might open by accident in the project, but the run folders and the key."""
    return "".join(p.read_text(errors="replace") for p in root.rglob("*")
                   if p.is_file() and ".git" not in p.parts and ".autoresearch" not in p.parts)


def test_seal_moves_the_holdout_out_of_reach_and_the_suite_measures_the_same(tmp_path, monkeypatch):
    path = project(tmp_path, monkeypatch)
    before = suite_fingerprint(load_suite(path))
    sealed = cli("holdout", "seal", "suite.yaml")
    assert sealed.exit_code == 0, sealed.output
    assert not any(word in sealed.output for word in SECRET)
    assert not any(word in readable(tmp_path) for word in SECRET)
    text = path.read_text()
    assert "id: standup" in text and "id: hiring" in text and "# the one the optimiser" in text
    assert "holdout_file: suite.holdout.sealed" in text
    assert (tmp_path / ".autoresearch/holdout.key").stat().st_mode & 0o077 == 0
    after = load_suite(path)
    assert suite_fingerprint(after) == before and after.holdout_sealed
    assert [i.id for i in after.split("holdout")] == ["offsite"]
    assert "Wilhelmina" in after.input("offsite").text
    validated = cli("validate", "suite.yaml")
    assert validated.exit_code == 0 and "1 holdout, sealed" in validated.output
    opened = cli("holdout", "unseal", "suite.yaml")
    assert opened.exit_code == 0 and "Zanzibar" in (tmp_path / "suite.holdout.sealed").read_text()
    assert suite_fingerprint(load_suite(path)) == before


def test_a_sealed_holdout_without_its_key_or_changed_is_refused_naming_the_key(tmp_path, monkeypatch):
    path = project(tmp_path, monkeypatch)
    assert cli("holdout", "seal", "suite.yaml").exit_code == 0
    key = tmp_path / ".autoresearch/holdout.key"
    saved = key.read_text()
    key.unlink()
    missing = cli("validate", "suite.yaml")
    assert missing.exit_code == 2 and str(key) in missing.output and "holdout_file" in missing.output
    key.write_text(saved)
    sealed = tmp_path / "suite.holdout.sealed"
    lines = sealed.read_text().splitlines()
    sealed.write_text("\n".join(lines[:1] + [lines[1][::-1]] + lines[2:]) + "\n")
    changed = cli("validate", "suite.yaml")
    assert changed.exit_code == 2 and "was changed, or sealed with another key" in changed.output
    assert "holdout_file: suite.holdout.sealed" in path.read_text()


def test_a_plain_holdout_file_is_all_holdout_and_its_problems_name_its_lines(tmp_path, monkeypatch):
    train_only = SUITE.split("  # the one")[0] + SUITE.split("quokka tour.\n")[1] + "holdout_file: hidden.yaml\n"
    path = project(tmp_path, monkeypatch, train_only)
    (tmp_path / "hidden.yaml").write_text("inputs:\n  - id: offsite\n    text: Zanzibar moves to May 9.\n")
    suite = load_suite(path)
    assert [(i.id, i.split) for i in suite.inputs] == [("standup", "train"), ("hiring", "train"), ("offsite", "holdout")]
    (tmp_path / "hidden.yaml").write_text("inputs:\n  - id: offsite\n    text: x\n    split: train\n"
                                          "  - id: standup\n    text: y\n")
    bad = cli("validate", "suite.yaml")
    assert bad.exit_code == 2
    assert "hidden.yaml:4: inputs[0].split: every input of a holdout file is holdout" in bad.output
    assert "input id 'standup' is used in the suite too" in bad.output


def test_nothing_an_agent_runs_on_path_b_prints_a_sealed_holdout_and_the_guard_still_reads_it(tmp_path, monkeypatch):
    project(tmp_path, monkeypatch)
    assert cli("holdout", "seal", "suite.yaml").exit_code == 0
    shown = [cli("validate", "suite.yaml"), cli("run", "suite.yaml", "--estimate-only"),
             cli("run", "suite.yaml", "--baseline-only", "--max-experiments", "5", "--run-id", "r"),
             cli("next", "r"), cli("next", "r", "--json"), cli("status", "r")]
    assert all(done.exit_code == 0 for done in shown), [d.output for d in shown]
    assert "holdout" in shown[-1].output  # the holdout is measured
    plan = json.loads(shown[4].output)
    (tmp_path / "new.md").write_text(plan["body"] + "\n- Name who owns each item and by when.\n")
    tried = cli("try", "r", "--section", plan["section"], "--file", "new.md", "--hypothesis", "owners",
                "--kind", "clarify")
    assert tried.exit_code in (0, 1), tried.output
    shown += [tried, cli("wait", "r"), cli("status", "r"), cli("next", "r")]
    for done in shown:
        assert not any(word in done.output for word in SECRET), done.output
    (tmp_path / "copy.md").write_text(plan["body"] + "\n- Example: book the Zanzibar tour for Wilhelmina.\n")
    refused = cli("try", "r", "--section", plan["section"], "--file", "copy.md", "--hypothesis", "an example",
                  "--kind", "add-example")
    assert refused.exit_code == 3 and "holdout input 'offsite'" in refused.output


def test_the_sealed_holdout_file_is_one_of_the_files_a_suite_commit_carries(tmp_path, monkeypatch):
    from autoresearch.review.provenance import suite_files

    path = project(tmp_path, monkeypatch)
    assert cli("holdout", "seal", "suite.yaml").exit_code == 0
    assert tmp_path / "suite.holdout.sealed" in suite_files(path)


def test_show_failures_leaves_out_the_outputs_of_a_sealed_holdout(tmp_path, monkeypatch):
    project(tmp_path, monkeypatch)
    assert cli("holdout", "seal", "suite.yaml").exit_code == 0
    shown = cli("eval", "suite.yaml", "--show-failures")
    assert shown.exit_code in (0, 1) and "=== standup run" in shown.output
    assert not any(word in shown.output for word in SECRET) and "1 sealed holdout input(s) are not shown" in shown.output
