"""Real skills from the field: what a harness loads must not block a run; parser details (issue 26, 11 and 15)."""

import shutil

import pytest
from click.testing import CliRunner
from conftest import ROOT

from autoresearch.cli.main import main
from autoresearch.suite.skill import load_skill, parse_skill, validate_skill

FIELD = ROOT / "tests" / "fixtures" / "field"


def test_non_string_metadata_and_a_tools_list_are_warnings_naming_each_value():
    doc = load_skill(FIELD / "loose-metadata" / "SKILL.md")
    problems = validate_skill(doc, "loose-metadata")
    assert {p.severity for p in problems} == {"warning"}
    by_key = {p.key: p for p in problems}
    assert set(by_key) == {"metadata", "allowed-tools"}
    assert all(f"{key} ({kind})" in by_key["metadata"].message
               for key, kind in [("version", "number"), ("released", "date"), ("tags", "list"), ("owner", "mapping")])
    assert by_key["allowed-tools"].line == 4 and "list" in by_key["allowed-tools"].message


def test_eval_measures_a_skill_whose_metadata_is_not_strings(tmp_path):
    shutil.copytree(FIELD / "loose-metadata", tmp_path / "loose-metadata")
    (tmp_path / "suite.yaml").write_text(
        "skill: loose-metadata/SKILL.md\nruns: 1\ninputs:\n  - {id: one, text: 'Added: dark mode. Fixed: login.'}\n"
        "evals:\n  - {id: grouped, question: 'Does it group the changes?', check: {type: icontains, value: fixed}}\n")
    result = CliRunner().invoke(main, ["eval", str(tmp_path / "suite.yaml")])
    assert result.exit_code in (0, 1), result.output
    assert "overall" in result.output
    validated = CliRunner().invoke(main, ["validate", str(tmp_path / "loose-metadata" / "SKILL.md")])
    assert validated.exit_code == 0 and "ok" in validated.output and "warning: metadata" in validated.output


def test_validate_warns_on_a_code_fence_that_swallows_the_rest_of_the_file():
    doc = load_skill(FIELD / "fence-left-open" / "SKILL.md")
    assert [s.title for s in doc.sections if s.level] == ["Shell snippets"]  # the fence hides Output and Errors
    warnings = [p for p in validate_skill(doc, "fence-left-open") if "never closed" in p.message]
    assert len(warnings) == 1 and warnings[0].severity == "warning"
    assert warnings[0].line == 10 and "2 heading line(s), the first on line 13" in warnings[0].message


@pytest.mark.parametrize("text", ["# A\n\n", "# A\n   \n## B\nx\n", "# A\n\t\n", "\n", "  \n# A\n", "# A\nx\n## B\n\n\n"])
def test_replacing_a_blank_section_with_its_own_body_is_byte_exact(text):
    text = "---\nname: a\ndescription: b\n---\n" + text
    doc = parse_skill(text)
    for section in doc.sections:
        assert doc.replace_body(section.id, section.body).render() == text
        assert doc.replace_body(section.id, "").render() == text if not section.body.strip() else True
