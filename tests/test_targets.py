"""Skills measured where they run: the REAL `claude` and `pi` binaries as targets, offline.

`claude-code:sim` / `pi:sim` run the binaries against the package's own Messages-API server answered
by the simulator; other tests script the replies on tests' own server. The fixture skill `tally` has a
script in scripts/ that the agent must run from the installed folder, and the input brings a file.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, harnesses_on_path, need_harness

from autoresearch.evaluate.runner import ERROR, Models, evaluate_sync
from autoresearch.models import ModelSpec
from autoresearch.models.outcome import Outcome, ToolCall
from autoresearch.runs.journal import RunDir
from autoresearch.sim.server import MessagesServer
from autoresearch.suite.checks import Check, run_check
from autoresearch.suite.suite import load_suite

BIN = ROOT / ".harness" / "node_modules" / ".bin"
FIXTURE = ROOT / "examples" / "harness"
HARNESS_TARGETS = ["claude-code:sim", "pi:sim"]



@pytest.fixture
def project(tmp_path, monkeypatch):
    """A copy of the fixture project, with the harness binaries on PATH."""
    need_harness("claude")
    need_harness("pi")
    root = tmp_path / "project"
    shutil.copytree(FIXTURE, root)
    harnesses_on_path(monkeypatch)
    monkeypatch.chdir(root)
    return root


def cli(root: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autoresearch", *args], cwd=root, capture_output=True, text=True,
                          timeout=timeout)


# -- the whole skill folder, in the real harness ------------------------------------------------

@pytest.mark.parametrize("target", HARNESS_TARGETS)
def test_the_whole_skill_folder_is_installed_and_its_script_runs(project, target):
    done = cli(project, "eval", "suite.yaml", "--model", target, "--json", "result.json")
    assert done.returncode in (0, 1), done.stderr
    data = json.loads((project / "result.json").read_text())
    by_eval = data["evals"]
    # the script in scripts/ was run by the agent and its output file read back, on every run
    assert by_eval["ran-script"]["passed"] == 4 and by_eval["ran-script"]["failed"] == 0
    assert by_eval["counted"]["passed"] == 4 and by_eval["loaded"]["passed"] == 4
    outcome = data["outcomes"][0]
    assert outcome["files"]["count.txt"] == "2 open items\n"
    assert any("scripts/tally.py" in json.dumps(c["input"]) for c in outcome["tool_calls"])
    assert outcome["workspace"] is None  # removed after scoring unless --keep-workspaces


def test_keep_workspaces_leaves_each_cells_folder(project):
    done = cli(project, "eval", "suite.yaml", "--runs", "1", "--keep-workspaces", "--json", "r.json")
    assert done.returncode in (0, 1), done.stderr
    kept = [o["workspace"] for o in json.loads((project / "r.json").read_text())["outcomes"]]
    assert len(kept) == 2 and all((Path(w) / "count.txt").is_file() for w in kept)
    assert all((Path(w) / ".claude/skills/tally/scripts/tally.py").is_file() for w in kept)
    for w in kept:
        shutil.rmtree(Path(w).parent)


# -- explicit and implicit invocation, with scripted replies -----------------------------------

def scripted(load_call):
    """Replies: load the skill with `load_call(body)` unless already loaded, then answer."""

    def reply(body):
        if not body.get("tools"):
            return "ok"
        calls = [b for m in body["messages"] if m["role"] == "assistant" and isinstance(m["content"], list)
                 for b in m["content"] if b.get("type") == "tool_use"]
        call = load_call(body)
        if call and not calls:
            return {"content": [{"type": "tool_use", "id": "toolu_1", "name": call[0], "input": call[1]}],
                    "stop_reason": "tool_use"}
        return "Tally: done"

    return reply


def real_harness_env(monkeypatch, server, tmp_path) -> None:
    home = tmp_path / "home"
    (home / "pi").mkdir(parents=True)
    (home / "pi" / "models.json").write_text(json.dumps({"providers": {"fake": {
        "baseUrl": server.url, "api": "anthropic-messages", "apiKey": "test",
        "models": [{"id": "claude-fake-1", "contextWindow": 200000, "maxTokens": 8192}]}}}))
    for key, value in {"HOME": str(home), "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "test",
                       "DISABLE_TELEMETRY": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
                       "DISABLE_AUTOUPDATER": "1", "PI_CODING_AGENT_DIR": str(home / "pi")}.items():
        monkeypatch.setenv(key, value)


def run_one(target: str, mode: str, **options):
    suite = load_suite("suite.yaml")
    spec = ModelSpec(target, options=tuple(sorted({"mode": mode, **options}.items())))
    models = Models(spec)
    result = evaluate_sync(suite, models=models, runs=[0], inputs=suite.split("train"))
    return result


def pi_skill_read(body):
    location = json.dumps(body["system"]).split("<location>")[1].split("</location>")[0]
    return "read", {"path": location}


@pytest.mark.parametrize("target,load", [("claude-code:claude-fake-1", lambda b: ("Skill", {"skill": "tally"})),
                                         ("pi:fake/claude-fake-1", pi_skill_read)])
def test_explicit_mode_sends_the_skill_command_and_implicit_mode_lets_the_agent_choose(project, monkeypatch, tmp_path,
                                                                                        target, load):
    with MessagesServer(reply=scripted(load)) as server:
        real_harness_env(monkeypatch, server, tmp_path)
        explicit = run_one(target, "explicit")
        first = json.dumps(server.message_requests()[0]["body"]["messages"])
        assert ("<command-name>/tally</command-name>" in first) or ('<skill name=\\"tally\\"' in first)
        assert "Always run `python3 scripts/tally.py" in first  # the body, expanded by the harness itself
        server.requests.clear()
        implicit = run_one(target, "implicit")
        first = json.dumps(server.message_requests()[0]["body"]["messages"])
        assert "Tally the open action items" in first and "Always run `python3" not in first
        later = json.dumps(server.message_requests()[-1]["body"]["messages"])
        assert "Always run `python3 scripts/tally.py" in later  # loaded by the agent's own tool call
    for result in (explicit, implicit):
        loaded = next(c for c in result.cells if c.eval_id == "loaded")
        assert loaded.status == "pass", loaded.reason
        assert next(c for c in result.cells if c.eval_id == "prefix").status == "pass"


@pytest.mark.parametrize("target", ["claude-code:claude-fake-1", "pi:fake/claude-fake-1"])
def test_implicit_mode_without_a_load_is_a_failed_skill_used_check(project, monkeypatch, tmp_path, target):
    with MessagesServer(reply=scripted(lambda body: None)) as server:
        real_harness_env(monkeypatch, server, tmp_path)
        result = run_one(target, "implicit")
    loaded = next(c for c in result.cells if c.eval_id == "loaded")
    assert loaded.status == "fail" and "not loaded" in loaded.reason


# -- faults: a crash, a hang, a stream that does not parse are errors, never fails ------------------

def fake_binary(tmp_path: Path, script: str) -> str:
    path = tmp_path / "fake-harness"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize("script,words", [
    ("echo 'fatal: cannot read settings' >&2; exit 3", "fatal: cannot read settings"),
    ("echo 'this is not json'; exit 0", "does not parse"),
    ("echo '{\"type\":\"system\",\"subtype\":\"init\"}'; kill -SEGV $$", "without a result"),
])
def test_a_harness_that_crashes_or_prints_garbage_gives_error_cells(project, tmp_path, script, words):
    result = run_one("claude-code:sim", "explicit", binary=fake_binary(tmp_path, script))
    assert result.cells and all(c.status == ERROR for c in result.cells)
    assert words in result.cells[0].reason


def test_a_harness_that_hangs_past_its_timeout_gives_error_cells(project, monkeypatch, tmp_path):
    with MessagesServer(reply=lambda body: "late", latency=30) as server:
        real_harness_env(monkeypatch, server, tmp_path)
        result = run_one("claude-code:claude-fake-1", "explicit", timeout=4)
    assert all(c.status == ERROR for c in result.cells)
    assert "timed out after 4s" in result.cells[0].reason


# -- bad input: one message, exit 2, nothing run ---------------------------------------------------

def test_a_missing_binary_is_a_clear_error_naming_how_to_install(project, monkeypatch):
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    monkeypatch.chdir(project)
    done = subprocess.run([sys.executable, "-m", "autoresearch", "eval", "suite.yaml", "--model", "pi:sim"],
                          cwd=project, capture_output=True, text=True, env={**os.environ, "PATH": "/nonexistent"})
    assert done.returncode == 2
    assert "npm install -g @earendil-works/pi-coding-agent" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("edit,message", [
    ("allowed_tools", "unknown tool(s) 'Teleport'"),
    ("outside", "is outside the suite's folder"),
    ("link", "is a symbolic link"),
    ("skill-link", "the skill folder holds a symbolic link"),
])
def test_bad_harness_input_is_refused_before_anything_runs(project, edit, message):
    suite = (project / "suite.yaml").read_text()
    if edit == "allowed_tools":
        suite = suite.replace("model: claude-code:sim", "model: {name: claude-code:sim, allowed_tools: [Bash, Teleport]}")
    elif edit == "outside":
        suite = suite.replace("files: [inputs/notes.txt]\n  - id: review", "files: [../outside.txt]\n  - id: review")
        (project.parent / "outside.txt").write_text("secret")
    elif edit == "link":
        (project / "inputs" / "link.txt").symlink_to("/etc/hostname")
        suite = suite.replace("files: [inputs/notes.txt]\n  - id: review", "files: [inputs/link.txt]\n  - id: review")
    else:
        (project / "tally" / "scripts" / "elsewhere").symlink_to("/etc")
    (project / "suite.yaml").write_text(suite)
    done = cli(project, "eval", "suite.yaml")
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (project / ".autoresearch").exists()


# -- outcome checks, each passing and failing ---------------------------------------------------

OUTCOME = Outcome("Tally: 2 open", (ToolCall("Skill", {"skill": "tally"}),
                                     ToolCall("Bash", {"command": "python3 /w/.claude/skills/tally/scripts/tally.py x"}),
                                     ToolCall("Write", {"file_path": "/w/tally.md", "content": "2"})),
                  True, {"tally.md": "Tally: 2 open\n", "out/count.txt": "2 open items\n"}, turns=4, cost=0.02,
                  seconds=3.5)


@pytest.mark.parametrize("check,passes,fails_on", [
    (Check("skill-used"), True, "the skill was not loaded"),
    (Check("tool-called", "Write"), True, "0 call(s) of Write"),
    (Check("tool-called", "Bash", pattern="tally\\.py"), True, "0 call(s) of Bash"),
    (Check("tool-called", "Bash", pattern="rm -rf"), False, "0 call(s) of Bash with input matching /rm -rf/"),
    (Check("command-ran", "scripts/tally\\.py"), True, "commands run: none"),
    (Check("file-exists", "*.md"), True, "files matching '*.md': none"),
    (Check("file-contains", "2 open items", path="out/*.txt"), True, "no file matching 'out/*.txt'"),
    (Check("file-regex", "^\\d+ open", path="out/count.txt"), True, "no file matching 'out/count.txt'"),
    (Check("file-contains", "three", path="tally.md"), False, "tally.md do not contain 'three'"),
    (Check("max-turns", 4), True, None),
    (Check("max-turns", 3), False, "turns 4, at most 3"),
    (Check("max-cost", 0.01), False, "cost $0.02"),
    (Check("max-seconds", 10), True, None),
])
def test_each_outcome_check_passes_and_fails_with_a_reason(check, passes, fails_on):
    verdict = run_check(check, OUTCOME.text, {}, OUTCOME)
    assert verdict.passed is passes
    empty = Outcome("", skill_used=False, turns=9, cost=1.0, seconds=99)
    if passes and fails_on:
        assert not run_check(check, "", {}, empty).passed
        assert fails_on in run_check(check, "", {}, empty).reason
    elif fails_on:
        assert fails_on in verdict.reason
    negated = run_check(Check(check.type, check.value, True, path=check.path, pattern=check.pattern), OUTCOME.text,
                        {}, OUTCOME)
    assert negated.passed is not passes


# -- the loop on outcomes ------------------------------------------------------------------------

LOOP_SUITE = """\
skill: tally/SKILL.md
runs: 3
concurrency: 4
model: claude-code:sim
inputs:
{inputs}
evals:
  - id: ran-script
    question: Did the agent run the skill's own script?
    check: {{type: command-ran, value: 'scripts/tally\\.py'}}
  - id: report-file
    question: Was the report written to report.md?
    check: {{type: file-exists, value: report.md}}
"""


@pytest.mark.slow
def test_a_short_run_on_claude_code_sim_keeps_a_change_that_raises_a_file_check(project):
    inputs = "".join(f"  - id: in{i}\n    text: \"Tally the open action items in notes.txt, batch {i}.\"\n"
                     f"    files: [inputs/notes.txt]\n" + ("    split: holdout\n" if i == 4 else "") for i in range(5))
    (project / "loop.yaml").write_text(LOOP_SUITE.format(inputs=inputs))
    done = cli(project, "run", "loop.yaml", "--run-id", "h", "--max-experiments", "1", timeout=600)
    assert done.returncode == 0, done.stderr
    entries = RunDir(project / ".autoresearch" / "h").entries()
    keep = next(e for e in entries if e["decision"] == "keep")
    assert entries[0]["per_eval"]["report-file"] < 0.2 < keep["per_eval"]["report-file"]
    assert "report.md" in keep["diff"]
    assert "report.md" in (project / "tally" / "SKILL.md").read_text()
    report = cli(project, "report", "h")
    assert report.returncode == 0 and "report-file" in (project / ".autoresearch/h/report.html").read_text()
    done = cli(project, "eval", "loop.yaml", "--runs", "1", "--json", "after.json")
    data = json.loads((project / "after.json").read_text())
    assert {"ran-script", "report-file"} <= set(data["evals"]) and data["outcomes"][0]["tool_calls"]


def test_next_shows_the_agents_tool_calls_and_files_for_failing_outcomes(project):
    suite = (project / "suite.yaml").read_text().replace("runs: 2", "runs: 1")
    suite += ("  - id: report\n    question: Was a report written?\n"
              "    check: {type: file-exists, value: report.md}\n")
    (project / "suite.yaml").write_text(suite)
    done = cli(project, "run", "suite.yaml", "--baseline-only", "--run-id", "b")
    assert done.returncode == 0, done.stderr
    shown = cli(project, "next", "b")
    assert shown.returncode == 0, shown.stderr
    assert "WHAT THE AGENT DID" in shown.stdout and "scripts/tally.py" in shown.stdout
    # paths inside the cell's throwaway workspace read relative to it: no temp folder name, the same every run
    assert "autoresearch-cell-" not in shown.stdout and "python3 .claude/skills/tally/scripts/tally.py" in shown.stdout
    assert "file count.txt:\n2 open items" in shown.stdout
    plan = json.loads(cli(project, "next", "b", "--json").stdout)
    assert plan["failing_outputs"][0]["trace"].startswith("tool call 1: Bash")


def test_the_binary_is_found_in_the_projects_harness_folder_when_not_on_path(project):
    """`make harness` installs into .harness/; the README's command runs from the project with no PATH change."""
    (project / ".harness").symlink_to(ROOT / ".harness")
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "autoresearch", "eval", "suite.yaml", "--model", "pi:sim",
                           "--runs", "1", "--split", "train"], cwd=project, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "errors, not fails" not in done.stderr


def test_a_judge_told_to_see_the_trace_gets_the_tool_calls_and_files(project, monkeypatch):
    """The judge is a real model call (the anthropic SDK against a local server); it is shown what the agent did."""
    suite = (project / "suite.yaml").read_text().replace("runs: 2", "runs: 1")
    suite += ("  - id: judged\n    question: Did the agent count the items with the script?\n"
              "    judge: {pass: The script counted the items., fail: It did not., sees: trace,\n"
              "            model: anthropic:claude-fake-1}\n"
              "  - id: from-workspace\n    question: Is count.txt in the workspace?\n"
              "    check: {type: python, value: 'checks.py:counted'}\n")
    (project / "suite.yaml").write_text(suite)
    (project / "checks.py").write_text(
        "from pathlib import Path\n\n\ndef counted(output, context):\n"
        "    outcome = context['outcome']\n"
        "    text = (Path(outcome['workspace']) / 'count.txt').read_text()\n"
        "    return text == '2 open items\\n' and outcome['files']['count.txt'] == text, text\n")
    with MessagesServer(reply=lambda body: "VERDICT: PASS\nREASON: the script ran") as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
        done = cli(project, "eval", "suite.yaml", "--split", "train", "--no-cache", "--json", "r.json",
                   "--no-preflight")  # the canary's judge call would be one more request
        prompts = [json.dumps(r["body"]["messages"]) for r in server.message_requests()]
    assert done.returncode == 0, done.stderr
    assert len(prompts) == 1 and "<trace_" in prompts[0] and "scripts/tally.py" in prompts[0]  # fenced: untrusted
    assert "file count.txt:\\n2 open items" in prompts[0]
    cells = {c["eval"]: c for c in json.loads((project / "r.json").read_text())["cells"]}
    assert cells["judged"]["status"] == "pass" and cells["from-workspace"]["status"] == "pass"


def test_tool_calls_name_workspace_files_relative_to_it_even_through_a_symlinked_temp_folder(tmp_path):
    from autoresearch.targets.harness import workspace_relative

    real = tmp_path / "real" / "work"
    real.mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real")  # as /tmp -> /private/tmp on macOS
    work = tmp_path / "link" / "work"
    calls = (ToolCall("Bash", {"command": f"cd {work} && python3 {real}/scripts/t.py {work}/in.txt"}),
             ToolCall("Write", {"file_path": f"{work}/report.md", "edits": [{"path": f"{real}/a.md"}], "n": 3}))
    assert workspace_relative(calls, work) == (
        ToolCall("Bash", {"command": "cd . && python3 scripts/t.py in.txt"}),
        ToolCall("Write", {"file_path": "report.md", "edits": [{"path": "a.md"}], "n": 3}))
