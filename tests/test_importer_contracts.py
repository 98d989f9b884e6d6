"""Importers' contracts on field shapes: the author's choices stand, nothing is dropped without a note, coded
checks stay checks (issue 26, items 12 and 14)."""

import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from autoresearch.cli.main import main
from autoresearch.suite.checks import run_check
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


# -- promptfoo: chat content and checks that must keep their meaning (item 12) ------------------------

@pytest.fixture
def field_promptfoo(tmp_path, monkeypatch):
    shutil.copytree(FIELD / "promptfoo", tmp_path / "pf")
    (tmp_path / "pf" / "SKILL.md").write_text("---\nname: pf\ndescription: Summaries. Use for summaries.\n---\n# S\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "pf"


def test_chat_text_in_modality_blocks_is_kept_and_an_image_is_reported(field_promptfoo):
    out = field_promptfoo / "chat-suite.yaml"
    result = run("import", "promptfoo", field_promptfoo / "chat.yaml", "-o", out)
    assert result.exit_code == 0, result.output
    text = load_suite(out).inputs[0].text
    assert text.startswith("You label product photos.") and "Label this photo of a kettle." in text
    assert "chat content block 'image_url' not converted" in result.output


def test_checks_keep_promptfoos_meaning(field_promptfoo):
    out = field_promptfoo / "suite.yaml"
    result = run("import", "promptfoo", field_promptfoo / "checks.yaml", "-o", out)
    assert result.exit_code == 0, result.output
    suite = load_suite(out)
    assert sorted(i.text for i in suite.inputs) == ["Summarise: Tea prices rose in March.\n",
                                                    "Summarise: The ferry timetable changes in May.\n"]  # the glob
    raw = yaml.safe_load(out.read_text())["evals"]
    checks = [e.get("check", {}) for e in raw]
    assert {"type": "contains-all", "value": ["Tea", "prices"]} in checks
    assert {"type": "icontains-any", "value": ["March", "May"]} in checks  # from the $ref template
    assert {"type": "regex", "value": r"\S"} in checks  # not-equals '': the output is not empty
    json_equal = next(e for e in suite.evals if "read as JSON" in e.question)
    verdicts = {output: run_check(json_equal.check, output) for output in ('{"summary": "tea"}', '{ "summary":"tea" }',
                                                                   '{"summary": "coffee"}', "not json")}
    assert [v.passed for v in verdicts.values()] == [True, True, False, False]
    assert "default-test.yaml:4: assert type 'moderation' is not supported" in result.output


def test_a_ref_that_points_nowhere_names_the_reference(field_promptfoo):
    result = run("import", "promptfoo", field_promptfoo / "bad-ref.yaml")
    assert result.exit_code == 2
    assert "'#/assertionTemplates/missing' does not point to an assert" in result.output
    assert "must be a mapping with a `type`" not in result.output


def test_tests_that_all_render_to_one_unrendered_input_are_refused(field_promptfoo):
    result = run("import", "promptfoo", field_promptfoo / "unrendered.yaml", "-o", field_promptfoo / "u.yaml")
    assert result.exit_code == 2 and "all 3 tests render to the same input" in result.output
    assert not (field_promptfoo / "u.yaml").exists()
