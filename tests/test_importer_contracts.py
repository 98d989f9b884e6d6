"""Importers' contracts on field shapes: the author's choices stand, nothing is dropped without a note, coded
checks stay checks (issue 26, items 12 and 14)."""

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from autoresearch.cli.main import main
from autoresearch.suite.suite import load_suite

FIELD = Path(__file__).parent / "fixtures" / "field"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def changelog(tmp_path, monkeypatch):
    shutil.copytree(FIELD / "changelog-writer", tmp_path / "changelog-writer")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "changelog-writer"


def test_import_triggers_keeps_the_authors_splits_and_reports_dropped_keys(changelog):
    out = changelog / "triggers.yaml"
    result = run("import", "triggers", changelog / "evals/trigger-set.json", "-o", out)
    assert result.exit_code == 0, result.output
    rows = yaml.safe_load(out.read_text())["triggers"]
    by_query = {r["query"]: r["split"] for r in rows}
    assert by_query["write the changelog entry for this release"] == "holdout"
    assert by_query["draft release notes from the merged PRs"] == "holdout"
    assert by_query["rename the CHANGELOG file"] == "train"
    assert "trigger-set.json:3: [1].source not converted" in result.output
    assert "[6].priority not converted" in result.output
    assert "[1].source not converted" in out.read_text()  # the suite's header says so too


def test_a_bare_list_of_skill_creator_items_imports(changelog):
    out = changelog / "evals/suite.yaml"
    result = run("import", "skill-creator", changelog / "evals/evals.json", "-o", out)
    assert result.exit_code == 0, result.output
    suite = load_suite(out)
    assert [i.id for i in suite.inputs] == ["eval-1", "eval-fixed-only"]


def test_a_directory_in_files_is_reported_as_a_directory(changelog):
    result = run("import", "skill-creator", changelog / "evals/evals.json")
    assert "files/samples is a directory" in result.output and "not found" not in result.output


def test_a_coded_output_contains_check_becomes_a_contains_check(changelog):
    out = changelog / "evals/suite.yaml"
    assert run("import", "skill-creator", changelog / "evals/evals.json", "-o", out).exit_code == 0
    suite = load_suite(out)
    checks = {e.id: (e.check.name if e.check else "judge") for e in suite.evals}
    assert checks == {"eval-1-x1": "judge", "eval-1-x2": "contains", "eval-1-x3": "not-contains",
                      "eval-fixed-only-x1": "judge"}
    raw = {e["id"]: e for e in yaml.safe_load(out.read_text())["evals"]}
    assert raw["eval-1-x2"]["check"] == {"type": "contains", "value": "Dark mode"}
