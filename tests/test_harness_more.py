"""Codex CLI, Gemini CLI and OpenCode as targets: each REAL binary, offline, against the package's own server.

`codex:sim` reaches the server through its Responses API adapter, `gemini:sim` through its Gemini API
adapter, `opencode:sim` through the Messages API; the ONE simulator answers all three. Few cells each
(one run, small suites): OpenCode alone takes seconds a cell.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, harnesses_on_path, need_harness

from autoresearch.sim.agent import agent_reply
from autoresearch.sim.server import MessagesServer

BIN = ROOT / ".harness" / "node_modules" / ".bin"
FIXTURE = ROOT / "examples" / "harness"
TARGETS = {"codex:sim": "codex", "gemini:sim": "gemini", "opencode:sim": "opencode"}



@pytest.fixture
def project(tmp_path, monkeypatch):
    root = tmp_path / "project"
    shutil.copytree(FIXTURE, root)
    harnesses_on_path(monkeypatch)
    monkeypatch.chdir(root)
    return root


def cli(root: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autoresearch", *args], cwd=root, capture_output=True, text=True,
                          timeout=600, env=env)


OUTCOME_SUITE = """\
skill: tally/SKILL.md
runs: 1
inputs:
  - id: sprint
    text: "Tally the open action items in notes.txt."
    files: [inputs/notes.txt]
evals:
  - id: loaded
    question: Did the agent load the skill?
    check: {type: skill-used}
  - id: ran-script
    question: Did the agent run the skill's own script?
    check: {type: command-ran, value: 'scripts/tally\\.py'}
  - id: counted
    question: Did the script write its count?
    check: {type: file-exists, value: count.txt}
"""


@pytest.mark.parametrize("target", list(TARGETS))
def test_the_real_binary_runs_the_skill_folders_script_in_the_workspace(project, target):
    need_harness(TARGETS[target])
    (project / "one.yaml").write_text(OUTCOME_SUITE)
    done = cli(project, "eval", "one.yaml", "--model", target, "--json", "r.json")
    assert done.returncode in (0, 1), done.stdout + done.stderr
    data = json.loads((project / "r.json").read_text())
    assert all(c["status"] != "error" for c in data["cells"]), data["cells"]
    assert {c["eval"]: c["status"] for c in data["cells"]} == {"loaded": "pass", "ran-script": "pass",
                                                               "counted": "pass"}
    outcome = data["outcomes"][0]
    assert outcome["files"]["count.txt"] == "2 open items\n"  # written by scripts/tally.py, run in the workspace
    assert any("scripts/tally.py" in json.dumps(c["input"]) for c in outcome["tool_calls"])
    assert outcome["usage"]["input_tokens"] + outcome["usage"]["cache_read_input_tokens"] > 0


TRIGGERS = """\
skill: tally/SKILL.md
runs: 1
distractors: [distractors/minutes]
triggers:
  - {{id: count, query: "Count the open action items in notes.txt.", should_trigger: true}}
  - {{id: tally, query: "Tally the action items from the standup notes.", should_trigger: true}}
  - {{id: minutes, query: "Write the minutes of this meeting transcript.", should_trigger: false}}
"""
NOTHING = "---\nname: tally\ndescription: Polishes brass doorknobs on sailing boats.\n---\n\n# Tally\n\n- Be brief.\n"


@pytest.mark.slow
@pytest.mark.parametrize("target", list(TARGETS))
def test_trigger_evals_give_recall_and_precision_and_a_description_that_matches_nothing_scores_lower(project,
                                                                                                     target):
    need_harness(TARGETS[target])
    (project / "t.yaml").write_text(TRIGGERS.format())
    done = cli(project, "eval", "t.yaml", "--triggers", "--model", target, "--json", "r.json")
    assert done.returncode in (0, 1), done.stdout + done.stderr
    assert "recall" in done.stdout and "precision" in done.stdout
    example = json.loads((project / "r.json").read_text())["triggers"]["overall"]
    (project / "tally" / "SKILL.md").write_text(NOTHING)
    done = cli(project, "eval", "t.yaml", "--triggers", "--model", target, "--json", "n.json")
    assert done.returncode in (0, 1), done.stdout + done.stderr
    nothing = json.loads((project / "n.json").read_text())["triggers"]["overall"]
    assert example["errors"] == nothing["errors"] == 0
    assert example["recall"]["passed"] == 2 and example["false_triggers"]["minutes"]["triggered"] == 0
    assert nothing["recall"]["passed"] < example["recall"]["passed"]


# -- faults: one message, or error cells in their own words ----------------------------------------

@pytest.mark.parametrize("target,package", [("codex:sim", "@openai/codex"), ("gemini:sim", "@google/gemini-cli"),
                                            ("opencode:sim", "opencode-ai")])
def test_a_missing_binary_is_one_message_naming_the_package(project, target, package):
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    done = cli(project, "eval", "suite.yaml", "--model", target, env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"npm install -g {package}" in done.stderr and not (project / ".autoresearch").exists()


def fake_binary(tmp_path: Path, script: str) -> str:
    path = tmp_path / "fake-harness"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return str(path)


FAULTS = {
    "crash": ("echo 'fatal: cannot read settings' >&2; exit 3", "fatal: cannot read settings"),
    "garbage": ("echo 'this is not json'; exit 0", "does not parse"),
    "old-version": ("echo \"error: unexpected argument '--json' found\" >&2; exit 2", "unexpected argument '--json'"),
}
ENDLESS = {"codex:sim": '{"type":"thread.started"}', "gemini:sim": '{"type":"init"}',
           "opencode:sim": '{"type":"step_start","part":{}}'}


@pytest.mark.parametrize("fault", [*FAULTS, "no-end"])
@pytest.mark.parametrize("target", list(TARGETS))
def test_a_harness_that_crashes_or_prints_garbage_gives_error_cells_in_its_own_words(project, tmp_path, target,
                                                                                     fault):
    if fault == "no-end":  # killed after its first event: no closing event, an error and never a fail
        script, words = f"echo '{ENDLESS[target]}'; kill -SEGV $$", "ended without"
    else:
        script, words = FAULTS[fault]
    binary = fake_binary(tmp_path, script)
    suite = (project / "suite.yaml").read_text().replace("model: claude-code:sim",
                                                         f"model: {{name: {target}, binary: {binary}}}")
    (project / "suite.yaml").write_text(suite.replace("runs: 2", "runs: 1"))
    # the preflight canary would stop a broken harness first (its own tests cover that): here, the cells' words
    done = cli(project, "eval", "suite.yaml", "--split", "train", "--json", "r.json", "--no-preflight")
    cells = json.loads((project / "r.json").read_text())["cells"]
    assert cells and all(c["status"] == "error" for c in cells), cells
    assert words in cells[0]["reason"] and "errors, not fails" in done.stderr


# -- the protocol adapters: one simulator, three wire formats ---------------------------------------

def test_the_responses_and_gemini_adapters_carry_the_simulators_tool_calls_over_http():
    """A tool call the simulator makes reaches Codex as a function_call item and Gemini CLI as a functionCall."""
    codex = {"model": "m", "stream": True, "tools": [{"type": "function", "name": "exec_command"}],
             "input": [{"type": "message", "role": "developer", "content": [{"type": "input_text", "text":
                        "### Skill roots\n- `r1` = `/w/.agents/skills`\n### Available skills\n"
                        "- tally: Tallies the action items in meeting notes. (file: r1/tally/SKILL.md)"}]},
                       {"type": "message", "role": "user", "content": [{"type": "input_text",
                                                                        "text": "Tally the action items in notes."}]}]}
    gemini = {"systemInstruction": {"parts": [{"text": "<available_skills>\n<skill>\n<name>tally</name>\n"
                                               "<description>Tallies the action items in meeting notes."
                                               "</description>\n<location>/w/.gemini/skills/tally/SKILL.md"
                                               "</location>\n</skill>\n</available_skills>"}]},
              "tools": [{"functionDeclarations": [{"name": "activate_skill"}, {"name": "run_shell_command"}]}],
              "contents": [{"role": "user", "parts": [{"text": "Tally the action items in notes."}]}]}
    import urllib.request

    def post(url: str, body: dict) -> str:
        request = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.read().decode()

    with MessagesServer(reply=lambda body: agent_reply(body, seed=1)) as server:
        stream = post(f"{server.url}/v1/responses", codex)
        done = post(f"{server.url}/v1beta/models/g:streamGenerateContent?alt=sse", gemini)
        whole = json.loads(post(f"{server.url}/v1beta/models/g:generateContent", gemini))
        count = json.loads(post(f"{server.url}/v1beta/models/g:countTokens", gemini))
    events = [json.loads(line[6:]) for line in stream.splitlines() if line.startswith("data: ")]
    assert [e["type"] for e in events][0] == "response.created" and events[-1]["type"] == "response.completed"
    call = next(e["item"] for e in events if e["type"] == "response.output_item.done")
    assert call["type"] == "function_call" and json.loads(call["arguments"]) == {
        "cmd": "cat /w/.agents/skills/tally/SKILL.md"}
    assert events[-1]["response"]["usage"]["input_tokens"] > 0
    chunk = json.loads(done.split("data: ", 1)[1])
    assert chunk["candidates"][0]["content"]["parts"][0]["functionCall"]["name"] == "activate_skill"
    assert whole["candidates"][0]["content"]["parts"][0]["functionCall"]["args"] == {"name": "tally"}
    assert count["totalTokens"] > 0


def test_the_makefile_pins_the_versions_the_package_names():
    """One pinned version per harness: `make harness` installs what HARNESS_VERSIONS (in records) says."""
    import re

    from autoresearch.targets import HARNESS_VERSIONS, HARNESSES

    makefile = (ROOT / "Makefile").read_text()
    block = re.search(r"^HARNESS_PACKAGES := (.*?)(?<!\\)\n", makefile, re.M | re.S).group(1)
    pinned = dict(p.rsplit("@", 1) for p in block.replace("\\\n", " ").split())
    assert set(HARNESS_VERSIONS) == set(HARNESSES)
    for package, version in HARNESS_VERSIONS.values():
        assert pinned[package] == version, package
