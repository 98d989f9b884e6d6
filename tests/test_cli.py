import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from conftest import BASIC_SUITE, ROOT

from autoresearch.cli.main import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_eval_exit_0_prints_table_and_writes_json(make_suite, tmp_path):
    out = tmp_path / "r.json"
    result = run("eval", make_suite(BASIC_SUITE), "--json", out)
    assert result.exit_code == 0, result.output
    assert "bounded" in result.output and "overall" in result.output and "holdout" in result.output
    data = json.loads(out.read_text())
    assert data["schema"] == "autoresearch.eval/1"
    assert data["overall"]["passed"] + data["overall"]["failed"] == len(data["cells"]) == 8
    assert set(data["evals"]) == {"mentions-summary", "bounded"}


def test_eval_exit_1_below_threshold_overall_and_per_eval(make_suite):
    path = make_suite(BASIC_SUITE)
    result = run("eval", path, "--threshold", "1.0")
    assert result.exit_code == 1 and "below threshold" in result.output
    per_eval = make_suite(BASIC_SUITE.replace("question: Does it mention a summary?",
                                              "question: Does it mention a summary?\n    threshold: 1.0"))
    result = run("eval", per_eval)
    assert result.exit_code == 1 and "eval 'mentions-summary'" in result.output


def test_eval_exit_2_on_bad_input_and_writes_nothing(make_suite, tmp_path):
    out = tmp_path / "r.json"
    bad = make_suite(BASIC_SUITE.replace("type: icontains", "type: contans"))
    result = run("eval", bad, "--json", out)
    assert result.exit_code == 2 and "did you mean 'contains'" in result.output
    assert not out.exists()
    assert run("eval", tmp_path / "missing.yaml").exit_code == 2


def test_eval_exit_2_when_cells_are_errors(make_suite):
    text = BASIC_SUITE.replace("{type: icontains, value: summary}", '{type: python, value: "chk.py:boom"}')
    path = make_suite(text, files={"chk.py": "def boom(output):\n    raise KeyError('x')\n"})
    result = run("eval", path)
    assert result.exit_code == 2 and "errors, not fails" in result.output


def test_eval_overrides_runs_and_split(make_suite, tmp_path):
    out = tmp_path / "r.json"
    assert run("eval", make_suite(BASIC_SUITE), "--runs", "3", "--split", "holdout", "--json", out).exit_code == 0
    data = json.loads(out.read_text())
    assert data["runs"] == [0, 1, 2] and set(data["splits"]) == {"holdout"}


def test_validate_and_sections():
    ok = run("validate", ROOT / "examples/meeting-notes/SKILL.md", ROOT / "evals/meeting-notes.yaml")
    assert ok.exit_code == 0 and ok.output.count(": ok") == 2
    listing = run("sections", ROOT / "examples/meeting-notes/SKILL.md")
    assert "meeting-notes/output-format" in listing.output and "line 16" in listing.output


def test_validate_reports_broken_skill_with_line(tmp_path):
    skill = tmp_path / "SKILL.md"
    skill.write_text("---\nname: Bad Name\ndescription: d\n---\n")
    result = run("validate", skill)
    assert result.exit_code == 2 and f"{skill}:2: name:" in result.output


def test_console_script_and_module_entry_point_answer_help():
    script = Path(sys.executable).parent / "autoresearch"
    for command in ([str(script), "--help"], [sys.executable, "-m", "autoresearch", "--help"]):
        result = subprocess.run(command, capture_output=True, text=True)
        assert result.returncode == 0 and "Commands:" in result.stdout and "eval" in result.stdout
