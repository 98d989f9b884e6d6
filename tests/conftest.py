import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Every `eval`/`run` on a harness target would start with the preflight canary's probe sessions (seconds of CPU
# each); tests/test_preflight.py tests the canary, with this unset. Subprocesses inherit it.
os.environ["AUTORESEARCH_NO_PREFLIGHT"] = "1"

SKILL = """\
---
name: notes
description: Writes notes. Use when asked for notes.
---

# Notes

## Format

- Start with the summary.
- List the action items.
"""


@pytest.fixture
def make_suite(tmp_path):
    """Write a skill and a suite (YAML text, dedented) into tmp_path; return the suite path."""

    def make(suite_yaml: str, skill: str = SKILL, files: dict | None = None) -> Path:
        skill_dir = tmp_path / "notes"
        skill_dir.mkdir(exist_ok=True)
        (skill_dir / "SKILL.md").write_text(skill)
        for name, content in (files or {}).items():
            (tmp_path / name).write_text(textwrap.dedent(content))
        path = tmp_path / "suite.yaml"
        path.write_text(textwrap.dedent(suite_yaml))
        return path

    return make


BASIC_SUITE = """\
skill: notes/SKILL.md
runs: 2
inputs:
  - id: one
    text: "Ann: I will send the report by Friday. Bob: I will fix the build today."
  - id: two
    text: "Cy: The launch moves to May. Di: I will tell the customers this week."
    split: holdout
evals:
  - id: mentions-summary
    question: Does it mention a summary?
    check: {type: icontains, value: summary}
  - id: bounded
    question: Is it under 400 words?
    check: {type: word-count, max: 400}
"""


HARNESS_BIN = ROOT / ".harness" / "node_modules" / ".bin"


def need_harness(*names: str) -> None:
    """Skip when a harness binary (or OpenCode's ripgrep) is missing here; in CI, where `make test` installs
    them, fail instead."""
    for name in names:
        if not (HARNESS_BIN / name).exists():
            if os.environ.get("CI"):
                pytest.fail(f"{HARNESS_BIN / name} is missing: `make test` installs the harnesses")
            pytest.skip(f"{name} is not installed (run `make harness`)")
        if name == "opencode" and shutil.which("rg") is None:
            if os.environ.get("CI"):
                pytest.fail("ripgrep (`rg`) is missing: .ci/run installs it for OpenCode's skill tool")
            pytest.skip("OpenCode's skill tool needs ripgrep (`rg`) on PATH offline (apt-get install ripgrep)")


def harnesses_on_path(monkeypatch) -> None:
    """The harness binaries and this venv's `autoresearch` first on PATH, as `make harness` leaves a project."""
    monkeypatch.setenv("PATH", f"{HARNESS_BIN}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}"
                               f"{os.environ['PATH']}")


def pytest_collection_modifyitems(items):
    """Tests marked slow run first (a stable sort keeps the rest in order): under `make test`'s xdist
    (`--dist load --maxschedchunk 1`) each worker starts on one, and none is left to run alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
