"""Importers on small hand-written files shaped like the field's: nothing is lost silently, bad input is exit 2."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from autoresearch.cli.main import main
from autoresearch.suite.suite import load_suite
from autoresearch.targets import fixture_note

FIXTURES = Path(__file__).parent / "fixtures"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def notes(result):
    return [line for line in result.output.splitlines() if line.startswith("not converted:")]


@pytest.fixture
def tour(tmp_path, monkeypatch):
    """The promptfoo tour config in a temporary folder, which is also the current directory."""
    shutil.copytree(FIXTURES / "promptfoo/full", tmp_path / "pf")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "pf"


@pytest.fixture
def report_writer(tmp_path, monkeypatch):
    shutil.copytree(FIXTURES / "skill-creator/report-writer", tmp_path / "report-writer")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "report-writer"


# -- promptfoo ------------------------------------------------------------------------------------

def test_promptfoo_tour_validates_and_evaluates_on_sim_with_a_summary_line(tour, tmp_path):
    out = tmp_path / "suites/tour.yaml"
    result = run("import", "promptfoo", tour / "promptfooconfig.yaml", "-o", out)
    assert result.exit_code == 0, result.output
    counted = len(notes(result))
    assert f"carried over, {counted} reported as not converted" in result.output
    assert run("validate", out).exit_code == 0
    evaluated = run("eval", out, "--model", "sim", "--runs", "1")
    assert evaluated.exit_code in (0, 1), evaluated.output  # 2 would mean error cells (a check that crashed)


def test_promptfoo_default_test_vars_and_asserts_apply_with_vars_substituted(tour, tmp_path):
    out = tmp_path / "s.yaml"
    assert run("import", "promptfoo", tour / "promptfooconfig.yaml", "-o", out).exit_code == 0
    suite = load_suite(out)
    assert suite.input("launch-date").text == "Write notes for the platform team: Cy: the launch moves to June."
    assert suite.input("hiring").text.startswith("Write notes for the hiring team")  # a test's var wins
    per_input = {e.id: e for e in suite.evals}
    assert per_input["hiring-icontains"].check.value == "hiring"  # `{{team}}` in a defaultTest assert
    assert per_input["launch-date-icontains-2"].check.value == "platform"
    assert per_input["budget-review-llm-rubric"].judge.pass_condition == "Says what the platform team decided"
    assert per_input["not-icontains"].inputs == ()  # no vars in it: one eval for every input


def test_promptfoo_file_references_for_vars_tests_globs_and_csv(tour, tmp_path):
    out = tmp_path / "s.yaml"
    assert run("import", "promptfoo", tour / "promptfooconfig.yaml", "-o", out).exit_code == 0
    suite = load_suite(out)
    assert [i.id for i in suite.inputs] == ["budget-review", "hiring", "launch-date", "report-owner", "build-status"]
    assert "Dana: we are over budget" in suite.input("budget-review").text  # vars value from file://
    assert "we hire two people" in suite.input("hiring").text  # whole vars from file://
    evals = {e.id: e for e in suite.evals}
    assert evals["report-owner-contains"].check.value == "Friday"  # CSV __expected `contains: x`
    assert evals["report-owner-llm-rubric"].judge.pass_condition == "Names Ann as the owner"  # `grade: x`
    assert evals["build-status-icontains-any"].check.value == ["build"]


def test_promptfoo_yaml_is_read_as_yaml_1_2(tour, tmp_path):
    out = tmp_path / "s.yaml"
    assert run("import", "promptfoo", tour / "promptfooconfig.yaml", "-o", out).exit_code == 0
    assert load_suite(out).eval("budget-review-contains").check.value == "Yes"  # not True


def test_promptfoo_reports_transforms_and_unmapped_asserts_never_drops_them(tour, tmp_path):
    result = run("import", "promptfoo", tour / "promptfooconfig.yaml", "-o", tmp_path / "s.yaml")
    text = "\n".join(notes(result))
    for fragment in ("promptfooconfig.yaml:12: defaultTest options.transform", "'is-sql' is not supported",
                     "'javascript' is not supported", "'similar' is not supported",
                     "promptfooconfig.yaml:48: assert 'contains' has a `transform`"):
        assert fragment in text
    assert "'latency'" not in text and "'cost'" not in text
    written = (tmp_path / "s.yaml").read_text()
    assert "# Not converted:" in written and "transform" in written


def test_promptfoo_contains_json_latency_and_cost_become_checks(tour, tmp_path):
    out = tmp_path / "s.yaml"
    assert run("import", "promptfoo", tour / "promptfooconfig.yaml", "-o", out).exit_code == 0
    suite = load_suite(out)
    checks = {e.id: (e.check.type, e.check.value) for e in suite.evals if e.check}
    assert checks["budget-review-contains-json"] == ("contains-json", ["owner"])
    assert checks["budget-review-latency"] == ("max-seconds", 30)  # promptfoo's threshold is in milliseconds
    assert checks["budget-review-cost"] == ("max-cost", 0.05)


def test_promptfoo_several_prompts_and_providers_are_reported_or_chosen(tour, tmp_path):
    out = tmp_path / "s.yaml"
    plain = run("import", "promptfoo", tour / "promptfooconfig.yaml", "-o", out)
    assert "3 prompts" in plain.output and "--prompt N" in plain.output
    assert "2 providers (sonnet, openai:gpt-4o-mini)" in plain.output and "--provider ID" in plain.output
    assert load_suite(out).model.name == "sim"
    chosen = run("import", "promptfoo", tour / "promptfooconfig.yaml", "-o", out, "--prompt", "2", "--provider", "sonnet")
    assert chosen.exit_code == 0, chosen.output
    suite = load_suite(out)
    assert (suite.model.name, suite.model.temperature, suite.model.max_tokens) == \
        ("anthropic:claude-sonnet-4-5", 0.2, 800)
    text = suite.input("launch-date").text  # a chat prompt file: its messages, not pasted JSON
    assert text == "You take notes for the platform team.\n\nNotes, please: Cy: the launch moves to June."
    assert "system message" in chosen.output
    bad = run("import", "promptfoo", tour / "promptfooconfig.yaml", "--prompt", "4")
    assert bad.exit_code == 2 and "promptfooconfig.yaml:3:" in bad.output and "3 prompts" in bad.output
    unknown = run("import", "promptfoo", tour / "promptfooconfig.yaml", "--provider", "gpt-5")
    assert unknown.exit_code == 2 and "promptfooconfig.yaml:7:" in unknown.output and "sonnet" in unknown.output


def test_promptfoo_python_asserts_follow_promptfoos_contract(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "SKILL.md").write_text("---\nname: s\ndescription: d\n---\n# S\nAnswer.\n")
    (tmp_path / "grade.py").write_text(
        "def get_assert(output, context):\n"
        "    return {'pass': context['vars']['word'] == context['config']['fruit'], 'reason': 'checked the var'}\n"
        "def half(output, context):\n    return 0.5\n")
    (tmp_path / "promptfooconfig.yaml").write_text(
        "prompts: ['Say {{word}}']\ntests:\n  - vars: {word: apple}\n    assert:\n"
        "      - {type: python, value: file://grade.py, config: {fruit: apple}}\n"
        "      - {type: python, value: 'file://grade.py:half', threshold: 0.6}\n"
        "      - {type: python, value: 'len(output) >= 0'}\n")
    out = tmp_path / "out/suite.yaml"
    result = run("import", "promptfoo", "promptfooconfig.yaml", "-o", out)
    assert result.exit_code == 0, result.output
    report = tmp_path / "r.json"
    evaluated = run("eval", out, "--model", "sim", "--runs", "1", "--json", report)
    assert evaluated.exit_code in (0, 1), evaluated.output  # no error cells
    cells = {c["eval"]: c["status"] for c in json.loads(report.read_text())["cells"]}
    assert cells == {"apple-python": "pass", "apple-python-2": "fail", "apple-python-3": "pass"}


def test_promptfoo_python_assert_without_output_file_is_reported(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text("prompts: ['{{a}}']\ntests:\n  - vars: {a: x}\n    assert:\n"
                                     "      - {type: python, value: 'True'}\n      - {type: contains, value: x}\n")
    result = run("import", "promptfoo", "c.yaml")
    assert result.exit_code == 0 and "import with -o" in result.output


def test_promptfoo_paths_are_relative_to_the_written_suite(tour, tmp_path):
    elsewhere = tmp_path / "deep/er/suite.yaml"
    result = run("import", "promptfoo", "pf/promptfooconfig.yaml", "--skill", "pf/SKILL.md", "-o", elsewhere)
    assert result.exit_code == 0, result.output
    suite = load_suite(elsewhere, allow_outside=True)  # two folders up: outside the project without the flag
    assert suite.skill_path == (tour / "SKILL.md").resolve() or suite.skill_path.resolve() == (tour / "SKILL.md")
    assert "../../pf/SKILL.md" in elsewhere.read_text()
    assert suite.eval("budget-review-python").check.value == "suite_promptfoo.py:check_1"


@pytest.mark.parametrize("name,line,fragment", [
    ("trailing-comma.json", 1, "malformed JSON"),
    ("missing-vars.yaml", 3, "missing.yaml: no such file"),
])
def test_promptfoo_input_errors_are_exit_2_with_file_and_line(name, line, fragment):
    path = FIXTURES / "promptfoo/broken" / name
    result = run("import", "promptfoo", path)
    assert result.exit_code == 2, result.output
    assert f"{path}:{line}:" in result.output and fragment in result.output
    assert "Traceback" not in result.output


def test_promptfoo_messages_say_what_is_really_wrong():
    broken = FIXTURES / "promptfoo/broken"
    none = run("import", "promptfoo", broken / "no-asserts.yaml")
    assert none.exit_code == 2 and "has no asserts" in none.output and "could be converted" not in none.output
    refused = run("import", "promptfoo", broken / "unsupported.yaml")
    assert refused.exit_code == 2 and "types found: javascript, similar" in refused.output
    in_file = run("import", "promptfoo", broken / "tests-in-file.yaml")
    assert in_file.exit_code == 2 and "no tests" not in in_file.output and "has no asserts" in in_file.output


# -- skill-creator ------------------------------------------------------------------------------------

def test_skill_creator_reads_assertions_and_checks_as_well_as_expectations(report_writer):
    out = report_writer / "evals/suite.yaml"
    result = run("import", "skill-creator", report_writer / "evals/evals.json", "-o", out)
    assert result.exit_code == 0, result.output
    suite = load_suite(out)
    passes = {e.id: e.judge.pass_condition for e in suite.evals}
    assert passes == {
        "eval-1-x1": "The report states the total", "eval-1-x2": "The report names the largest item",
        "eval-1-x3": "The report names one risk", "eval-1-x4": "The report has three sentences",
        "eval-1-expected": "The output achieves this expected result: A three-sentence report",
        "eval-two-x1": "The summary is under 100 words"}
    assert "assertions[1]: keys weight not converted" in result.output
    assert "evals[1].owner not converted" in result.output
    assert "10 carried over, 4 reported as not converted" in result.output


def test_skill_creator_files_are_copied_beside_the_suite_and_inlined_for_api_targets(report_writer, tmp_path):
    out = tmp_path / "suites/report.yaml"
    result = run("import", "skill-creator", report_writer / "evals/evals.json", "-o", out)
    assert result.exit_code == 0, result.output
    suite = load_suite(out)
    first = suite.input("eval-1")
    assert first.files == ("fixtures/figures.csv", "fixtures/logo.png")
    assert first.text == "Write the quarterly report from the attached figures."
    assert (out.parent / "fixtures/logo.png").read_bytes() == (report_writer / "evals/files/logo.png").read_bytes()
    assert '<file path="fixtures/figures.csv">\nitem,amount\nrent,1200\nsalaries,5400\n' in \
        fixture_note(first.fixture_texts())  # what an API target appends to the input
    assert "fixtures/logo.png is binary: harness targets get the file" in result.output
    assert suite.skill_path.resolve() == (report_writer / "SKILL.md").resolve()


def test_skill_creator_fixtures_inside_the_suite_folder_are_referenced_not_copied(report_writer):
    out = report_writer / "evals/suite.yaml"
    assert run("import", "skill-creator", report_writer / "evals/evals.json", "-o", out).exit_code == 0
    assert load_suite(out).input("eval-1").files == ("files/figures.csv", "files/logo.png")
    assert not (report_writer / "evals/fixtures").exists()


def test_skill_creator_per_eval_skill_is_reported(report_writer):
    result = run("import", "skill-creator", report_writer / "evals/evals.json")
    assert "evals[1].skill is 'slide-maker', not this suite's skill 'report-writer'" in result.output


def test_skill_creator_utf16_evals_json_imports(report_writer, tmp_path):
    source = report_writer / "evals/evals.json"
    utf16 = report_writer / "evals/evals16.json"
    utf16.write_bytes(source.read_text().encode("utf-16"))
    result = run("import", "skill-creator", utf16, "-o", tmp_path / "s.yaml")
    assert result.exit_code == 0, result.output
    assert len(load_suite(tmp_path / "s.yaml").evals) == 6


def test_skill_creator_bad_items_name_the_line(tmp_path):
    path = tmp_path / "evals.json"
    path.write_text('{"evals": [\n  {"id": 1, "prompt": "x", "expectations": ["ok"]},\n'
                    '  {"id": 2, "prompt": "y", "checks": [{"weight": 1}]}\n]}\n')
    result = run("import", "skill-creator", path)
    assert result.exit_code == 2 and f"{path}:3:" in result.output and "evals[1].checks" in result.output


def test_promptfoo_regex_python_cannot_compile_is_reported_not_written(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("tests:\n  - vars: {a: x}\n    assert:\n      - {type: regex, value: '(?<year>\\d+)'}\n"
                      "      - {type: contains, value: x}\n")
    result = run("import", "promptfoo", config, "-o", tmp_path / "s.yaml")
    assert result.exit_code == 0 and f"{config}:4: assert 'regex'" in result.output
    assert "not a Python regular expression" in result.output


def test_import_warns_when_the_written_suite_does_not_validate_yet(report_writer, tmp_path):
    result = run("import", "skill-creator", report_writer / "evals/evals.json", "--skill", "nowhere/SKILL.md",
                 "-o", tmp_path / "s.yaml")
    assert result.exit_code == 0 and "does not validate yet" in result.output and "not found" in result.output


def test_promptfoo_assert_settings_an_eval_cannot_carry_are_reported(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("tests:\n  - vars: {a: x}\n    assert:\n      - type: llm-rubric\n        value: Is polite\n"
                      "        threshold: 0.8\n        provider: openai:gpt-4o\n")
    result = run("import", "promptfoo", config)
    assert result.exit_code == 0
    assert f"{config}:4: assert 'llm-rubric': `provider` not converted" in result.output
    assert f"{config}:4: assert 'llm-rubric': `threshold` not converted" in result.output


# -- confinement: an import reads only files inside the source's folder --------------------------------

@pytest.mark.parametrize("reference", ["file:///etc/hostname", "file://../secret.txt"])
def test_promptfoo_file_references_outside_the_configs_folder_are_refused(tmp_path, reference):
    (tmp_path / "secret.txt").write_text("the secret\n")
    (tmp_path / "pf").mkdir()
    config = tmp_path / "pf" / "c.yaml"
    config.write_text(f"prompts: ['{{{{q}}}}']\ntests:\n  - vars: {{q: '{reference}'}}\n    assert:\n"
                      "      - {type: contains, value: x}\n")
    out = tmp_path / "pf" / "s.yaml"
    result = run("import", "promptfoo", config, "-o", out)
    assert result.exit_code == 2 and "outside the folder" in result.output, result.output
    assert not out.exists()


def test_skill_creator_files_outside_the_skill_are_not_read_or_copied(tmp_path):
    skill = tmp_path / "skill"
    (skill / "evals").mkdir(parents=True)
    (skill / "SKILL.md").write_text("---\nname: skill\ndescription: Does things. Use for things.\n---\n\n# Skill\n")
    (tmp_path / "secret.txt").write_text("TOP-SECRET-CONTENT-42\n")
    (skill / "evals" / "evals.json").write_text(json.dumps({"skill_name": "skill", "evals": [
        {"id": 1, "prompt": "do it", "expectations": ["It is done"], "files": [str(tmp_path / "secret.txt")]},
        {"id": 2, "prompt": "again", "expectations": ["It is done"], "files": ["../../secret.txt"]}]}))
    out = skill / "evals" / "suite.yaml"
    result = run("import", "skill-creator", skill / "evals" / "evals.json", "-o", out)
    assert result.exit_code == 0, result.output
    assert result.output.count("is outside the skill's folder") == 2
    assert "TOP-SECRET-CONTENT-42" not in out.read_text()
    assert all("files" not in i for i in __import__("yaml").safe_load(out.read_text())["inputs"])
    assert not list((skill / "evals").glob("secret*"))
