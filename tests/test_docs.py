"""Every command the README and the docs/ pages show runs as shown, in a project laid out as a user's would be.

A page's ```bash lines run in order in a fresh copy of the project (so a page's later commands may use what
its earlier ones made, as a reader's would); the few files a page only names (a promptfoo config, a trigger
set, the agent's new section) are made first. Commands that set up the machine itself are run elsewhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_newuser import git, run_shown

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
# Commands about the machine, not the product: each is run by CI or by another test.
ELSEWHERE = {
    "make demo": "CI runs `make test`; tests/test_newuser.py runs the demo script",
    "make test": "this very test suite",
    "make harness": "`make test` depends on it",
    "pip install .": "tests/test_newuser.py installs the built wheel in a fresh venv",
}
PLACEHOLDERS = {"[RUN]": "", "RUN": "docs-run"}
SHOWN_RUN_ID = "20261123-101620-meeting-notes"  # a time-stamped run id as `run` makes: the newest such run


def page_commands(text: str) -> list[str]:
    """The lines of a page's ```bash blocks, continuation lines joined, comments dropped."""
    commands, fence, pending = [], None, ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence else stripped[3:] or "text"
            continue
        if fence != "bash" or not stripped or stripped.startswith("#"):
            continue
        code = re.sub(r"\s+#\s.*$", "", stripped)
        if code.endswith("\\"):
            pending += code[:-1].strip() + " "
            continue
        commands.append(pending + code)
        pending = ""
    return commands


def fill(command: str) -> str:
    for key, value in PLACEHOLDERS.items():
        command = re.sub(rf"(?<![\w./-]){re.escape(key)}(?![\w./-])", value, command)
    return " ".join(command.split())


@pytest.fixture
def project(tmp_path):
    """A git project with the examples, our suites, a finished run to look at, and the files pages name."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "examples", root / "examples", ignore=shutil.ignore_patterns(".autoresearch"))
    shutil.copytree(ROOT / "evals", root / "evals")
    (root / ".harness").symlink_to(ROOT / ".harness")
    fixtures = ROOT / "tests/fixtures"
    shutil.copy(fixtures / "promptfoo/full/promptfooconfig.yaml", root / "promptfooconfig.yaml")
    for path in (fixtures / "promptfoo/full").iterdir():
        if path.name != "promptfooconfig.yaml":
            (shutil.copytree if path.is_dir() else shutil.copy)(path, root / path.name)
    shutil.copy(root / "examples/meeting-notes/SKILL.md", root / "SKILL.md")
    shutil.copytree(fixtures / "skill-creator/report-writer", root / "my-skill")
    shutil.copytree(root / "examples/harness/tally", root / "tally")
    (root / "eval_set.json").write_text(json.dumps(
        [{"query": "Count the open action items in notes.txt.", "should_trigger": True},
         {"query": "How many open items are left in these notes?", "should_trigger": True},
         {"query": "Write the minutes of this meeting transcript.", "should_trigger": False},
         {"query": "Translate this paragraph into French.", "should_trigger": False}]))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "start")
    run_shown("autoresearch run evals/meeting-notes.yaml --max-experiments 2 --run-id docs-run", root)
    run_shown("autoresearch eval evals/meeting-notes.yaml --json baseline.json", root)
    return root


def test_every_page_shows_commands_and_names_the_machine_ones():
    shown = {fill(c) for page in PAGES for c in page_commands((ROOT / page).read_text())}
    assert sum(c.startswith("autoresearch ") for c in shown) >= 25
    assert all(c.startswith("autoresearch ") or c in ELSEWHERE for c in shown), \
        sorted(c for c in shown if not c.startswith("autoresearch ") and c not in ELSEWHERE)


@pytest.mark.slow
def test_every_command_shown_runs_as_shown(project, tmp_path):
    """Pages in a reader's order (the README first) in one project, so one page may use what another made
    (`view results.json` after the README's `eval --json results.json`); a command shown twice runs once."""
    home = tmp_path / "home"
    home.mkdir()
    done = set()
    for page in PAGES:
        for command in map(fill, page_commands((ROOT / page).read_text())):
            if command in ELSEWHERE or command in done:
                continue
            done.add(command)
            if SHOWN_RUN_ID in command:
                newest = max(p.name for p in (project / ".autoresearch").iterdir() if re.match(r"\d{8}-\d{6}-", p.name))
                command = command.replace(SHOWN_RUN_ID, newest)
                # the agent path's `try` (run `notes`) may have kept since: a resume refuses an edited target, so the
                # reader restores the run's best first, as that refusal says (this project follows every page)
                best = (project / ".autoresearch" / newest / "best" / "SKILL.md").read_text()
                (project / "examples/meeting-notes/SKILL.md").write_text(best)
            if command.startswith("autoresearch try "):  # the agent writes the section's new body first
                skill = (project / "examples/meeting-notes/SKILL.md").read_text()
                body = skill.split("## Workflow\n", 1)[1].split("\n## ", 1)[0]
                (project / "new.md").write_text(body.rstrip() + "\n- Name who owns each item and by when.\n")
            if command.startswith("autoresearch view"):
                served(command, project)
                continue
            run_shown(f"HOME={home} {command}" if "--user" in command else command, project)


def served(command: str, cwd: Path) -> None:
    """`view` serves until stopped: it must say where, then stop cleanly on Ctrl-C."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line, (command, line, proc.stderr.read() if not line else "")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
