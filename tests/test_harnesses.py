"""Our skills inside the real Claude Code and pi, offline: both talk to the package's local server (autoresearch.sim.server).

The harnesses are installed from npm by `make test` into .harness/. The model's replies are
scripted: a turn that calls `autoresearch next` and `autoresearch try` through the Bash tool must
leave the expected journal line and target file.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from autoresearch.runs.journal import RunDir, sha256
from autoresearch.sim.server import MessagesServer
from autoresearch.targets.harness import major_version

BIN = ROOT / ".harness" / "node_modules" / ".bin"
SKILLS = ["autoresearch", "autoresearch-create", "autoresearch-finalize", "autoresearch-status"]
CREATE_BODY_PHRASE = "You set up an experiment that makes a skill measurably better"
NEW_BODY = "- Always start your answer with `## Summary`.\n- Always include `## Action items` in your answer.\n"
HYPOTHESIS = "Explicit headings as MUST rules should fix summary-heading and action-items-heading"


def harness(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: `make test` installs the harnesses")
        pytest.skip(f"{name} is not installed (run `make harness`)")
    return path


@pytest.fixture
def project(tmp_path):
    """A project with the example skill, its suite, our skills installed for both harnesses, and a HOME."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "examples/meeting-notes", root / "examples/meeting-notes")
    shutil.copytree(ROOT / "evals", root / "evals")
    home = tmp_path / "home"
    home.mkdir()
    done = subprocess.run([sys.executable, "-m", "autoresearch", "install"], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "HOME": str(home)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("installed: ") == 2 * len(SKILLS)
    return root, home


def environment(home: Path, url: str) -> dict:
    # `autoresearch` for the Bash tool; .harness/node_modules/.bin first for the node that pi 1.x needs
    path = f"{BIN}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE"))},
            "HOME": str(home), "PATH": path, "ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": "test",
            "DISABLE_TELEMETRY": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1"}


def claude(project, server, *args):
    root, home = project
    return subprocess.run([str(harness("claude")), *args], cwd=root, env=environment(home, server.url),
                          capture_output=True, text=True, timeout=180)


def pi(project, server, *args):
    root, home = project
    config = home / ".pi" / "agent"
    config.mkdir(parents=True, exist_ok=True)
    (config / "models.json").write_text(json.dumps({"providers": {"fake": {
        "baseUrl": server.url, "api": "anthropic-messages", "apiKey": "test",
        "models": [{"id": "claude-fake-1", "contextWindow": 200000, "maxTokens": 8192}]}}}))
    approve = ["--approve"] if major_version(str(harness("pi"))) >= 1 else []  # pi 1.x: trust the project for -p
    return subprocess.run([str(harness("pi")), *args, *approve, "--provider", "fake", "--model", "claude-fake-1",
                           "--no-session"],
                          cwd=root, env=environment(home, server.url), capture_output=True, text=True, timeout=180)


def sent(server) -> str:
    return json.dumps([r["body"] for r in server.message_requests()])


# -- discovery and expansion -------------------------------------------------------------------

def test_claude_code_lists_our_skills_after_install(project):
    with MessagesServer(reply=lambda body: "ok") as server:
        done = claude(project, server, "-p", "hello", "--output-format", "stream-json", "--verbose")
    assert done.returncode == 0, done.stderr
    init = next(json.loads(line) for line in done.stdout.splitlines() if '"subtype":"init"' in line.replace(" ", ""))
    assert set(SKILLS) <= set(init["skills"])
    assert "autoresearch-create: Sets up and starts the optimisation" in sent(server)


def test_pi_lists_our_skills_after_install(project):
    with MessagesServer(reply=lambda body: "ok") as server:
        done = pi(project, server, "-p", "hello")
    assert done.returncode == 0, done.stderr
    system = json.dumps(server.message_requests()[0]["body"]["system"])
    assert "<available_skills>" in system and all(f"<name>{name}</name>" in system for name in SKILLS)


def test_claude_code_slash_command_expands_our_skill(project):
    with MessagesServer(reply=lambda body: "ok") as server:
        done = claude(project, server, "-p", "/autoresearch-create skills/x/SKILL.md", "--output-format", "json")
    assert done.returncode == 0, done.stderr
    first = json.dumps(server.message_requests()[0]["body"]["messages"])
    assert CREATE_BODY_PHRASE in first and "autoresearch validate" in first and "skills/x/SKILL.md" in first


def test_pi_skill_command_expands_our_skill(project):
    with MessagesServer(reply=lambda body: "ok") as server:
        done = pi(project, server, "-p", "/skill:autoresearch-create skills/x/SKILL.md")
    assert done.returncode == 0, done.stderr
    first = json.dumps(server.message_requests()[0]["body"]["messages"])
    assert '<skill name=\\"autoresearch-create\\"' in first and CREATE_BODY_PHRASE in first
    assert "skills/x/SKILL.md" in first


# -- a scripted agent turn: the agent as mutator, through the Bash tool --------------------------

def scripted_agent(tool_name: str, commands: list[str]):
    """Replies that call `tool_name` with each command in turn, then finish; side requests get text."""

    def reply(body: dict) -> dict | str:
        tools = {t.get("name") for t in body.get("tools", [])}
        if tool_name not in tools:
            return "ok"
        results = [b for m in body["messages"] if m["role"] == "user" and isinstance(m["content"], list)
                   for b in m["content"] if b.get("type") == "tool_result"]
        step = len(results)
        if step < len(commands):
            tool_input = {"command": commands[step]}
            if tool_name == "Bash":
                tool_input["description"] = f"autoresearch step {step + 1}"
            return {"content": [{"type": "tool_use", "id": f"toolu_{step:04d}", "name": tool_name, "input": tool_input}],
                    "stop_reason": "tool_use"}
        return "The tool has decided; see the journal."

    return reply


def start_run(root: Path) -> RunDir:
    done = subprocess.run([sys.executable, "-m", "autoresearch", "run", "evals/meeting-notes.yaml", "--baseline-only",
                           "--run-id", "agent"], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return RunDir(root / ".autoresearch" / "agent")


def agent_commands(root: Path) -> list[str]:
    body_file = root / "new-section.md"
    body_file.write_text(NEW_BODY)
    return ["autoresearch next agent > next.txt",
            f"autoresearch try agent --section meeting-notes/output-format --file {body_file} "
            f"--hypothesis '{HYPOTHESIS}' --kind add-instruction > try.txt"]


def assert_agent_attempt(root: Path, run: RunDir) -> None:
    assert "SECTION TO CHANGE:" in (root / "next.txt").read_text()
    entries = run.entries()
    assert [e["decision"] for e in entries] == ["baseline", "keep"]
    attempt = entries[-1]
    assert attempt["section"] == "meeting-notes/output-format" and attempt["hypothesis"] == HYPOTHESIS
    assert attempt["kind"] == "add-instruction" and attempt["p_value"] < 0.05 and attempt["calls"] > 0
    target = (root / "examples/meeting-notes/SKILL.md").read_text()
    assert sha256(target) == attempt["skill_after"] == attempt["candidate"]
    assert "## Output format\n\n" + NEW_BODY in target
    assert "decision: keep" in (root / "try.txt").read_text()


def test_claude_code_agent_turn_calls_next_and_try(project):
    root, _ = project
    run = start_run(root)
    with MessagesServer(reply=scripted_agent("Bash", agent_commands(root))) as server:
        done = claude(project, server, "-p", "/autoresearch-create examples/meeting-notes/SKILL.md",
                      "--allowedTools", "Bash", "--output-format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"] == "The tool has decided; see the journal."
    assert_agent_attempt(root, run)


def test_pi_agent_turn_calls_next_and_try(project):
    root, _ = project
    run = start_run(root)
    with MessagesServer(reply=scripted_agent("bash", agent_commands(root))) as server:
        done = pi(project, server, "-p", "/skill:autoresearch-create examples/meeting-notes/SKILL.md")
    assert done.returncode == 0, done.stderr
    assert "The tool has decided" in done.stdout
    assert_agent_attempt(root, run)
