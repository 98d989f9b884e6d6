"""CI and review: JUnit, thresholds, --compare, the HTML report in Chromium, imports, diff formats."""

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
import yaml
from click.testing import CliRunner
from conftest import BASIC_SUITE, ROOT

from autoresearch.cli.main import main
from autoresearch.loop.experiment import Budget, LoopConfig, run_loop
from autoresearch.suite.suite import load_suite


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def meeting(tmp_path):
    shutil.copytree(ROOT / "examples/meeting-notes", tmp_path / "examples/meeting-notes")
    shutil.copytree(ROOT / "evals", tmp_path / "evals")
    return tmp_path


def test_junit_has_one_testcase_per_input_and_eval_with_reasons(meeting, tmp_path):
    out = tmp_path / "r.xml"
    result = run("eval", meeting / "evals/meeting-notes.yaml", "--runs", "2", "--junit", out)
    assert result.exit_code == 0, result.output
    root = ET.parse(out).getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == 8 * 5 and root.get("tests") == "40"
    failed = [c for c in cases if c.find("failure") is not None]
    assert int(root.get("failures")) == len(failed) > 0
    sample = [c for c in failed if c.get("name") == "summary-heading"][0].find("failure")
    assert "runs passed" in sample.get("message") and "run 0: expected to start with '## Summary'" in sample.text


def test_thresholds_per_eval_on_the_command_line(make_suite):
    path = make_suite(BASIC_SUITE)
    assert run("eval", path, "--threshold", "bounded=1.0").exit_code == 0
    low = run("eval", path, "--threshold", "mentions-summary=1.0")
    assert low.exit_code == 1 and "eval 'mentions-summary'" in low.output
    bad = run("eval", path, "--threshold", "nope=0.5")
    assert bad.exit_code == 2 and "no eval 'nope'" in bad.output


def test_compare_fails_on_a_regression_beyond_noise_only(meeting, tmp_path):
    suite = meeting / "evals/meeting-notes.yaml"
    good = meeting / "examples/meeting-notes/SKILL.md"
    text = good.read_text()
    better = text.replace("- Start with the summary.", "- Always start your answer with `## Summary`.")
    good.write_text(better)
    assert run("eval", suite, "--json", tmp_path / "base.json").exit_code == 0
    same = run("eval", suite, "--compare", tmp_path / "base.json")
    assert same.exit_code == 0 and "no regression beyond noise" in same.output
    good.write_text(text)
    worse = run("eval", suite, "--compare", tmp_path / "base.json")
    assert worse.exit_code == 1 and "REGRESSION beyond noise" in worse.output and "summary-heading" in worse.output
    (tmp_path / "junk.json").write_text('{"schema": "other"}')
    assert run("eval", suite, "--compare", tmp_path / "junk.json").exit_code == 2


def test_json_schema_is_documented_in_the_readme(make_suite, tmp_path):
    out = tmp_path / "r.json"
    run("eval", make_suite(BASIC_SUITE), "--json", out)
    data = json.loads(out.read_text())
    readme = (ROOT / "docs/ci.md").read_text()
    for key in data:
        assert f"`{key}`" in readme, f"JSON key {key} is not documented"


def test_diff_formats_have_a_header_per_section(meeting):
    suite = load_suite(meeting / "evals/meeting-notes.yaml")
    run_dir, _ = run_loop(suite, LoopConfig(budget=Budget(experiments=6)), meeting / ".autoresearch", lambda line: None)
    base = ["diff", run_dir.id, "--runs-dir", meeting / ".autoresearch"]
    markdown = run(*base, "--format", "markdown").output
    assert markdown.startswith("### autoresearch:") and "#### `meeting-notes/" in markdown and "```diff" in markdown
    page = run(*base, "--format", "html").output
    assert page.startswith("<!DOCTYPE html>") and "<h3><code>meeting-notes/" in page and "class='add'" in page
    assert "=== meeting-notes/" in run(*base).output


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed; .ci/run installs it")
    pytest.skip("chromium is not installed (CI installs it)")


def test_html_report_renders_in_headless_chromium(meeting, tmp_path):
    browser = chromium()
    suite = load_suite(meeting / "evals/meeting-notes.yaml")
    run_dir, _ = run_loop(suite, LoopConfig(budget=Budget(experiments=10)), meeting / ".autoresearch", lambda line: None)
    result = run("report", run_dir.id, "--runs-dir", meeting / ".autoresearch")
    assert result.exit_code == 0, result.output
    page = run_dir.path / "report.html"
    source = page.read_text()
    assert "<script" not in source and "http://" not in source.replace("http://www.w3.org/2000/svg", "")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,1600"]
    dom = subprocess.run([browser, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    rendered = dom.stdout
    entries = run_dir.entries()
    assert rendered.count("class=\"attempt-row\"") == len(entries) - 1
    assert rendered.count("class=\"eval-row") == len(suite.evals)  # "eval-row regression" too
    assert "id=\"score-chart\"" in rendered and "class=\"train-line\"" in rendered and "class=\"holdout-line\"" in rendered
    marks = sum(rendered.count(f"class=\"mark {kind}\"") for kind in ("baseline", "keep", "discard", "refused"))
    assert marks == len(entries)
    shot = tmp_path / "report.png"
    subprocess.run([browser, *flags, f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 20_000  # a real rendering, not a blank page


def test_report_has_setup_overall_diff_holdout_steps_and_failing_outputs(meeting, tmp_path):
    from browser import Browser

    browser = chromium()
    suite = load_suite(meeting / "evals/meeting-notes.yaml")
    run_dir, _ = run_loop(suite, LoopConfig(budget=Budget(experiments=8)), meeting / ".autoresearch", lambda line: None)
    entries = run_dir.entries()
    if not any(e["decision"] == "refused" for e in entries):  # the simulator's luck: add one, as a guard would
        run_dir.append(dict(entries[-1], id=len(entries), decision="refused", reason="the proposal changes nothing",
                            scores={}, diff=""))
    assert run("report", run_dir.id, "--runs-dir", meeting / ".autoresearch").exit_code == 0
    entries = run_dir.entries()
    best = [e for e in entries if e["decision"] in ("baseline", "keep")][-1]
    with Browser(browser, tmp_path / "profile") as page:
        page.navigate((run_dir.path / "report.html").as_uri())
        meta = page.evaluate("document.querySelector('table.meta').innerText")
        for field in ("suite\tmeeting-notes", "model\tsim", "judge\tsim", "6 train, 2 holdout; 5 evals; 8 runs",
                      "started", "state\tstopped (budget)"):
            assert field in meta, meta
        # best train and holdout drawn as steps: two points per attempt after the first
        points = page.evaluate("document.querySelector('.train-line').getAttribute('points').split(' ').length")
        assert points == 2 * len(entries) - 1
        # a refused proposal sits in its own band below the 0% line, not at 0%
        zero = page.evaluate("Array.from(document.querySelectorAll('#score-chart text')).find(t => t.textContent === '0%')"
                             ".getAttribute('y')")
        refused = page.evaluate("Array.from(document.querySelectorAll('.mark.refused')).map(m => +m.getAttribute('y'))")
        assert refused and all(y > float(zero) + 8 for y in refused)
        # per eval, train and holdout for baseline and best
        rows = page.evaluate("Array.from(document.querySelectorAll('#evals .eval-row')).map(r => r.innerText)")
        assert len(rows) == len(suite.evals) and all(row.count("%") >= 4 for row in rows)
        # the overall diff, the final SKILL.md, diffs that wrap
        assert page.evaluate("document.body.innerText.includes('Baseline → best')")
        final = (run_dir.path / "best/SKILL.md").read_text()
        assert page.evaluate(f"document.querySelector('pre.skill').textContent === {json.dumps(final)}")
        assert page.evaluate("getComputedStyle(document.querySelector('pre.diff')).whiteSpace") == "pre-wrap"
        # the failing outputs of the best version, in full
        stored = json.loads((run_dir.path / "cells" / f"{best['skill_after']}.json").read_text())
        failing = {(c[0], c[2]) for c in stored["cells"] if c[3] == "fail"}
        shown = page.evaluate("document.querySelectorAll('#failing-outputs .output-row').length")
        assert shown == min(100, len(failing)) > 0
        text = page.evaluate("document.getElementById('failing-outputs').textContent")
        some = next(o[2] for o in stored["outputs"] if (o[0], o[1]) in failing)
        assert some in text
        assert "<script" not in (run_dir.path / "report.html").read_text()


def test_report_marks_regressions_and_a_holdout_drop(meeting):
    from autoresearch.review.html import html_report

    suite = load_suite(meeting / "evals/meeting-notes.yaml")
    run_dir, _ = run_loop(suite, LoopConfig(budget=Budget(experiments=8)), meeting / ".autoresearch", lambda line: None)
    entries = run_dir.entries()
    assert "holdout-drop" not in html_report(run_dir.id, entries, run_dir.config())
    best = [e for e in entries if e["decision"] == "keep"][-1]
    victim = max(entries[0]["per_eval_holdout"], key=entries[0]["per_eval_holdout"].get)
    assert f"<tr class='eval-row regression'><td>{victim}</td>" not in html_report(run_dir.id, entries, run_dir.config())
    worse = dict(best, scores=dict(best["scores"], holdout=dict(best["scores"]["holdout"], rate=0.01)),
                 per_eval={**best["per_eval"], victim: 1.0}, per_eval_holdout={**best["per_eval_holdout"], victim: 0.0})
    page = html_report(run_dir.id, [worse if e is best else e for e in entries], run_dir.config())
    assert "class='warn holdout-drop'" in page and "Holdout fell from" in page
    assert f"<tr class='eval-row regression'><td>{victim}</td>" in page and victim in page.split("Regressed evals: ")[1].split("</p>")[0]


# -- imports -----------------------------------------------------------------------------------

PROMPTFOO = """\
description: summaries
prompts:
  - "Summarise for the team: {{transcript}}"
providers: [anthropic:messages:claude-sonnet-4-5]
defaultTest:
  assert:
    - type: not-icontains
      value: "as an AI"
tests:
  - description: Budget review
    vars: {transcript: "Dana: we are over budget."}
    assert:
      - type: contains
        value: "## Summary"
      - type: llm-rubric
        value: Names who owns each action item
      - type: similar
        value: a summary
  - vars: {transcript: "Lee: we hire two people."}
    assert:
      - type: python
        value: file://checks.py
      - type: is-json
        value: {required: [owner, due]}
"""


def test_import_promptfoo_converts_what_it_can_and_reports_the_rest(tmp_path):
    (tmp_path / "checks.py").write_text("def get_assert(output, context):\n    return True\n")
    (tmp_path / "promptfooconfig.yaml").write_text(PROMPTFOO)
    (tmp_path / "SKILL.md").write_text("---\nname: s\ndescription: d\n---\n# S\n")
    out = tmp_path / "suite.yaml"
    result = run("import", "promptfoo", tmp_path / "promptfooconfig.yaml", "-o", out)
    assert result.exit_code == 0, result.output
    assert "not converted:" in result.output and "'similar' is not supported" in result.output
    suite = load_suite(out)
    assert [i.id for i in suite.inputs] == ["budget-review", "lee-we-hire-two-people"]
    assert suite.input("budget-review").text == "Summarise for the team: Dana: we are over budget."
    kinds = {e.id: e.kind for e in suite.evals}
    assert kinds == {"budget-review-contains": "contains", "budget-review-llm-rubric": "judge",
                     "lee-we-hire-two-people-python": "python", "lee-we-hire-two-people-is-json": "is-json",
                     "not-icontains": "not-icontains"}
    assert suite.eval("budget-review-contains").inputs == ("budget-review",)
    assert suite.eval("not-icontains").inputs == ()
    assert suite.eval("budget-review-llm-rubric").judge.pass_condition == "Names who owns each action item"
    assert "# Not converted:" in out.read_text()


def test_import_promptfoo_bad_input_names_file_and_item(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("tests:\n  - vars: {a: 1}\n    assert:\n      - value: x\n")
    result = run("import", "promptfoo", bad)
    assert result.exit_code == 2 and f"{bad}:4:" in result.output and "`type`" in result.output
    none = tmp_path / "none.yaml"
    none.write_text("prompts: [x]\n")
    assert "no tests" in run("import", "promptfoo", none).output


def test_import_skill_creator_evals_json(tmp_path):
    skill_dir = tmp_path / "pdf"
    (skill_dir / "evals").mkdir(parents=True)
    (skill_dir / "SKILL.md").write_text("---\nname: pdf\ndescription: d\n---\n# PDF\n")
    data = {"skill_name": "pdf", "evals": [
        {"id": 1, "prompt": "Fill in the form", "expected_output": "A filled form",
         "files": ["evals/files/form.pdf"], "expectations": ["The output names every field", "No field is empty"]},
        {"id": 2, "prompt": "Merge two PDFs", "expectations": ["The output says how many pages there are"]}]}
    (skill_dir / "evals/evals.json").write_text(json.dumps(data))
    (skill_dir / "evals/files").mkdir()
    (skill_dir / "evals/files/form.pdf").write_bytes(b"%PDF-1.4 \xff")
    out = skill_dir / "evals/suite.yaml"
    result = run("import", "skill-creator", skill_dir / "evals/evals.json", "-o", out, "--holdout-every", "2")
    assert result.exit_code == 0, result.output
    suite = load_suite(out)
    assert suite.skill_path == skill_dir / "SKILL.md"
    assert [(i.id, i.split) for i in suite.inputs] == [("eval-1", "train"), ("eval-2", "holdout")]
    assert suite.input("eval-1").files == ("files/form.pdf",) and suite.input("eval-1").text == "Fill in the form"
    assert [e.id for e in suite.evals] == ["eval-1-x1", "eval-1-x2", "eval-1-expected", "eval-2-x1"]
    assert suite.eval("eval-1-x2").judge.pass_condition == "No field is empty"
    assert suite.eval("eval-2-x1").inputs == ("eval-2",)


@pytest.mark.parametrize("content,fragment", [
    ('{"evals": [', "malformed JSON"),
    ('{"evals": []}', "expected {"),
    ('{"evals": [{"id": 1, "prompt": "x", "expectations": "one"}]}', "evals[0].expectations"),
])
def test_import_skill_creator_malformed_input_is_exit_2(tmp_path, content, fragment):
    path = tmp_path / "evals.json"
    path.write_text(content)
    result = run("import", "skill-creator", path)
    assert result.exit_code == 2 and str(path) in result.output and fragment in result.output


def test_unreadable_run_directory_is_exit_2(tmp_path):
    (tmp_path / "runs/broken").mkdir(parents=True)
    (tmp_path / "runs/broken/run.json").write_text("{not json")
    result = run("report", "broken", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2 and "run.json" in result.output


def test_github_actions_recipe_runs_the_ci_commands():
    workflow = yaml.safe_load((ROOT / "examples/ci/autoresearch.yml").read_text())
    steps = " ".join(str(s.get("run", "")) for s in workflow["jobs"]["eval"]["steps"])
    assert "autoresearch eval" in steps and "--junit" in steps and "--compare" in steps and "--json" in steps
