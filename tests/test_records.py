"""What a new user and an agent meet (issue 26): a suite that cannot change under a run, records that say how a
result was measured, a dashboard that shows the outputs picked, tool results, a CI example that passes."""

import json
import subprocess

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
    """A sim suite with its baseline measured as run `r`, in tmp_path (5 runs: the fewest `try` is not refused at)."""
    monkeypatch.chdir(tmp_path)
    suite = make_suite("model: sim\n" + BASIC_SUITE.replace("runs: 2", "runs: 5"))
    done = invoke("run", suite, "--baseline-only", "--run-id", "r", "--max-experiments", "3")
    assert done.exit_code == 0, done.output
    return suite


# -- 1. the suite is fingerprinted; a changed suite is refused ----------------------------------------

@pytest.mark.parametrize("edit, words", [
    (lambda s: s.replace("  - id: bounded\n    question: Is it under 400 words?\n"
                         "    check: {type: word-count, max: 400}\n", ""), "eval 'bounded' removed"),
    (lambda s: s.replace("max: 400", "max: 300"), "eval 'bounded' changed"),
    (lambda s: s.replace("    split: holdout\n", ""), "input 'two' moved from holdout to train"),
    (lambda s: s.replace("runs: 5", "runs: 6"), "runs 5 -> 6"),
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


# -- 3. records that say how a result was measured -------------------------------------------------------

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def git(cwd, *args):
    import os

    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                          env={**os.environ, **GIT_ENV}).stdout


@pytest.fixture
def meeting_project(tmp_path, monkeypatch):
    import shutil

    from conftest import ROOT

    shutil.copytree(ROOT / "examples/meeting-notes", tmp_path / "examples/meeting-notes")
    shutil.copytree(ROOT / "evals", tmp_path / "evals")
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "examples")
    git(tmp_path, "commit", "-q", "-m", "start")  # the suite is not committed yet: the user's new file
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_summary_and_review_commit_name_the_model_the_simulator_and_the_suite(meeting_project):
    import re

    assert invoke("run", "evals/meeting-notes.yaml", "--max-experiments", "6", "--run-id", "s").exit_code == 0
    done = invoke("finalize", "s", "--branch", "review/s", "--with-suite")
    assert done.exit_code == 0, done.output
    summary = (meeting_project / ".autoresearch/s/summary.md").read_text()
    assert "target model: sim" in summary and "offline simulator" in summary
    message = git(meeting_project, "log", "-1", "--format=%B", "review/s")
    fingerprint = json.loads((meeting_project / ".autoresearch/s/run.json").read_text())["fingerprint"]["digest"]
    assert "target model: sim" in message and "offline simulator" in message
    assert re.search(rf"suite: \S*evals/meeting-notes.yaml \(fingerprint {fingerprint[:12]}\)", message), message
    committed = git(meeting_project, "show", "--name-only", "--format=", "review/s").split()
    assert "evals/meeting-notes.yaml" in committed and "examples/meeting-notes/SKILL.md" in committed
    assert "examples/meeting-notes/inputs/budget-review.txt" not in committed  # committed already, unchanged
    assert (meeting_project / "evals/meeting-notes.yaml").is_file()  # still in the working tree, as it was
    assert git(meeting_project, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"


def regression_case(tmp_path, make_suite, flipped, run_id):
    """A baseline measured on 8 runs, then a keep whose stored cells are the baseline's with `flipped` passing
    cells of `bounded` made failing: the journal's per-eval rate drops either way; the test decides."""
    from autoresearch.evaluate.cells import Cell
    from autoresearch.review.html import html_report, run_files

    suite = make_suite("model: sim\n" + BASIC_SUITE.replace("runs: 2", "runs: 8"))
    assert invoke("run", suite, "--baseline-only", "--run-id", run_id).exit_code == 0
    run = RunDir(tmp_path / ".autoresearch" / run_id)
    entries = run.entries()
    cells, outputs = run.load_cells(entries[0]["skill_after"])
    passing = [c for c in cells if c.eval_id == "bounded" and c.status == "pass"]
    assert len(passing) >= 8
    cut = set(passing[:flipped])
    changed = [Cell(c.input_id, c.eval_id, c.run, "fail", "made to fail") if c in cut else c for c in cells]
    digest = "ab" * 32
    run.save_cells(digest, changed, outputs)
    per_eval = dict(entries[0]["per_eval"], bounded=entries[0]["per_eval"]["bounded"] - flipped / len(passing))
    keep = dict(entries[0], id=1, decision="keep", skill_after=digest, per_eval=per_eval, hypothesis="h", diff="",
                best_scores=entries[0]["scores"], p_value=0.01, wins=3, losses=0, raced=False)
    both = entries + [keep]
    return html_report(run.id, both, run.config(), run_files(run, both))


def test_the_regressed_evals_banner_shows_only_a_drop_beyond_noise(make_suite, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    noise = regression_case(tmp_path, make_suite, 1, "noise")
    assert "Regressed evals" not in noise and "class=worse" not in noise
    shown = regression_case(tmp_path, make_suite, 8, "drop")
    assert "Regressed evals: bounded" in shown and "class=worse" in shown


def test_no_data_is_not_printed_as_zero_percent(make_suite, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    suite = make_suite("model: sim\n" + BASIC_SUITE + "  - id: holdout-only\n    question: Any text?\n"
                       "    check: {type: icontains, value: e}\n    inputs: [two]\n")
    done = invoke("eval", suite, "--split", "train")
    line = next(line for line in done.output.splitlines() if "holdout-only" in line)
    assert "no data" in line and "0.0%" not in line


# -- 8. harness-only checks on a plain model --------------------------------------------------------------

def test_validate_warns_with_the_line_when_a_plain_model_gets_harness_only_checks(make_suite, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    suite = make_suite("model: sim\n" + BASIC_SUITE + "  - id: ran\n    question: Did it run the script?\n"
                       "    check: {type: command-ran, value: tally}\n")
    done = invoke("validate", suite)
    assert done.exit_code == 0
    line = next(i for i, text in enumerate(suite.read_text().splitlines(), 1) if "command-ran" in text)
    assert f"{suite}:{line}: warning:" in done.output and "can never pass" in done.output
    harness = invoke("validate", make_suite(suite.read_text().replace("model: sim", "model: claude-code:sim")))
    assert "can never pass" not in harness.output


# -- 4. --compare needs something in common -----------------------------------------------------------------

def test_compare_with_a_result_of_another_suite_is_an_error(make_suite, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    suite = make_suite("model: sim\n" + BASIC_SUITE)
    assert invoke("eval", suite, "--json", "mine.json").exit_code in (0, 1)
    other = json.loads((tmp_path / "mine.json").read_text())
    other["suite"] = "other"
    other["cells"] = [dict(c, input="x-" + c["input"], eval="y-" + c["eval"]) for c in other["cells"]]
    (tmp_path / "other.json").write_text(json.dumps(other))
    done = invoke("eval", suite, "--compare", "other.json")
    assert done.exit_code == 2 and "nothing in common" in done.output and "no regression" not in done.output


# -- 9. smaller ones ---------------------------------------------------------------------------------------

def test_install_statusline_in_a_project_writes_the_local_settings_file_git_ignores(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    git(tmp_path, "init", "-q")
    done = invoke("install", "--claude", "--statusline")
    assert done.exit_code == 0, done.output
    assert not (tmp_path / ".claude/settings.json").exists()  # the committed file stays free of this machine's paths
    local = json.loads((tmp_path / ".claude/settings.local.json").read_text())
    assert local["statusLine"]["command"].endswith("autoresearch statusline")
    assert ".claude/settings.local.json" not in git(tmp_path, "status", "--porcelain", "--untracked-files=all")


def test_import_triggers_skill_is_relative_to_here_like_the_other_importers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "skills/notes").mkdir(parents=True)
    (tmp_path / "skills/notes/SKILL.md").write_text("x")
    (tmp_path / "set.json").write_text(json.dumps([{"query": "write notes", "should_trigger": True},
                                                   {"query": "fix my car", "should_trigger": False}]))
    done = invoke("import", "triggers", "set.json", "--skill", "skills/notes/SKILL.md", "-o", "evals/t.yaml")
    assert done.exit_code == 0, done.output
    assert "skill: ../skills/notes/SKILL.md" in (tmp_path / "evals/t.yaml").read_text()


def test_heartbeat_and_stopped_files_get_the_umask_mode(tmp_path):
    import os
    import stat

    from autoresearch.runs.live import Heartbeat

    old = os.umask(0o022)
    try:
        with Heartbeat(tmp_path) as beat:
            assert stat.S_IMODE((tmp_path / "heartbeat.json").stat().st_mode) == 0o644
            beat.stopped("budget spent")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "stopped.json").stat().st_mode) == 0o644


def test_a_keep_that_overfits_says_so_on_its_own_line():
    from autoresearch.loop.history import event_line

    rate = {"passed": 3, "failed": 5, "errors": 0, "rate": 0.375, "low": 0.1, "high": 0.7}
    keep = {"id": 3, "section": "s", "kind": "clarify", "decision": "keep", "near_miss": False, "hypothesis": "h",
            "best_scores": {"train": rate}, "scores": {"train": rate, "train_decision": rate, "holdout": rate},
            "runs": [0, 1], "raced": False, "p_value": 0.01, "errors": {}, "flips": [],
            "holdout_test": {"verdict": "worse", "before": 0.8, "after": 0.375, "wins": 0, "losses": 9,
                             "p_worse": 0.002, "p_better": 1.0}}
    assert "WORSE (overfitting)" in event_line(keep)


def test_show_failures_filters_by_eval_input_and_limit(make_suite, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    suite = make_suite("model: sim\n" + BASIC_SUITE.replace("value: summary", "value: zzz-never"))
    done = invoke("eval", suite, "--show-failures", "--eval", "mentions-summary", "--input", "one", "--limit", "1")
    assert done.exit_code in (0, 1), done.output
    assert done.output.count("=== one run") == 1 and "=== two run" not in done.output
    assert "FAIL mentions-summary" in done.output
    bad = invoke("eval", suite, "--show-failures", "--eval", "nope")
    assert bad.exit_code == 2 and "nope" in bad.output


def test_next_on_a_finalized_run_does_not_suggest_finalize(baseline_run):
    assert invoke("finalize", "r").exit_code == 0
    shown = invoke("next", "r")
    assert shown.exit_code == 0 and "finalized" in shown.output
    assert "Finish with: autoresearch finalize" not in shown.output and "autoresearch run" in shown.output


def test_a_try_refused_after_the_budget_keeps_the_runs_stopped_state(make_suite, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    suite = make_suite("model: sim\n" + BASIC_SUITE.replace("runs: 2", "runs: 5"))
    assert invoke("run", suite, "--max-experiments", "0", "--run-id", "z").exit_code == 0
    assert "stopped (budget)" in invoke("status", "z").output
    (tmp_path / "new.md").write_text("- Start with the summary, always.\n")
    late = invoke("try", "z", "--section", "notes/format", "--file", "new.md", "--hypothesis", "h")
    assert late.exit_code == 2 and "budget spent" in late.output
    status = invoke("status", "z").output
    assert "stopped (budget)" in status and "error" not in status


def test_the_status_line_names_the_run(tmp_path):
    from autoresearch.runs.live import Heartbeat, statusline_text

    run = tmp_path / ".autoresearch/20260101-000000-notes"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"created": "2026-01-01T00:00:00+00:00", "info": {"suite": "notes"}}))
    with Heartbeat(run):
        assert "20260101-000000-notes" in statusline_text(tmp_path)


def test_try_refuses_a_file_whose_first_line_is_another_sections_heading(baseline_run, tmp_path):
    skill = (tmp_path / "notes/SKILL.md").read_text()
    (tmp_path / "new.md").write_text("## Workflow\n\n- Start with the summary, always.\n")
    done = invoke("try", "r", "--section", "notes/format", "--file", "new.md", "--hypothesis", "h")
    assert done.exit_code == 3 and "## Workflow" in done.output and "Format" in done.output
    assert (tmp_path / "notes/SKILL.md").read_text() == skill
    (tmp_path / "same.md").write_text("## Format\n\n- Start with the summary, always.\n- List the action items.\n")
    kept_heading = invoke("try", "r", "--section", "notes/format", "--file", "same.md", "--hypothesis", "h2")
    assert kept_heading.exit_code in (0, 1), kept_heading.output  # its own heading is fine


def test_run_git_commits_keeps_on_its_branch_and_returns_to_the_users(meeting_project):
    git(meeting_project, "add", "-A")
    git(meeting_project, "commit", "-q", "-m", "the suite")
    done = invoke("run", "evals/meeting-notes.yaml", "--git", "--max-experiments", "6", "--run-id", "g")
    assert done.exit_code == 0, done.output
    assert git(meeting_project, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert "back on branch main" in done.output
    kept = git(meeting_project, "log", "--format=%s", "main..autoresearch/g").splitlines()
    assert kept and all(line.startswith("autoresearch #") for line in kept)
    assert invoke("run", "--resume", "g", "--baseline-only", "--max-experiments", "7").exit_code == 0
    (meeting_project / "x.md").write_text("- Name the owner and the date of every action item.\\n")
    tried = invoke("try", "g", "--section", "meeting-notes/style", "--file", "x.md", "--hypothesis", "owners")
    assert tried.exit_code in (0, 1, 3), tried.output
    assert git(meeting_project, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert git(meeting_project, "log", "-1", "--format=%s", "main") == "the suite\n"  # never a commit on main
