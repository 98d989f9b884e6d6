import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

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
