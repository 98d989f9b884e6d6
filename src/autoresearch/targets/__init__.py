"""Targets: what is measured. A target runs one input with one version of the skill and returns an Outcome.

- a model target (`sim`, `anthropic:<model>`, `command:<cli>`) sends the skill as a harness shows an
  invoked skill and scores the reply text;
- a harness target (`claude-code[:MODEL]`, `pi[:PROVIDER/MODEL]`, `codex[:MODEL]`, `gemini[:MODEL]`,
  `opencode[:PROVIDER/MODEL]`) runs the real CLI in a fresh
  workspace with the whole skill folder installed, and records its tool calls and files too.
Models (judge, mutator) only answer prompts; see `autoresearch.models`.

A module per harness (claude_code, pi) beside the shared workspace and event-stream machinery (harness).
May import: sim, suite, models and the base modules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Protocol, Sequence

from ..models import HARNESS_BACKENDS, Model, ModelSpec, register_backend
from ..models.outcome import Outcome

HARNESSES = HARNESS_BACKENDS  # one list of the harnesses, kept where model names are checked
# The harness versions `make harness` installs and the tests run (the Makefile's HARNESS_PACKAGES says the same).
HARNESS_VERSIONS = {"claude-code": ("@anthropic-ai/claude-code", "2.1.332"),
                    "pi": ("@earendil-works/pi-coding-agent", "1.6.0"),
                    "codex": ("@openai/codex", "0.171.0"),
                    "gemini": ("@google/gemini-cli", "0.61.0"),
                    "opencode": ("opencode-ai", "1.18.33")}
MODEL_BACKENDS = ("sim", "anthropic", "command")


@dataclass(frozen=True)
class SkillUnderTest:
    """One version of the target skill: its SKILL.md text, and the folder its scripts and references come from."""

    text: str
    folder: Path
    companions: tuple[Path, ...] = ()  # other skill folders installed beside it (distractors)
    installed: bool = True  # False: the no-skill arm of an uplift measurement (nothing installed, nothing shown)

    @cached_property
    def name(self) -> str:
        match = re.search(r"^name:\s*['\"]?([^'\"\n]+?)['\"]?\s*$", self._frontmatter, re.M)
        return match.group(1).strip() if match else self.folder.name

    @cached_property
    def description(self) -> str:
        from ..suite.skill import parse_skill

        try:
            return str(parse_skill(self.text).frontmatter.get("description", "") or "")
        except Exception:  # a broken document is reported by validation; here it only lacks a description
            return ""

    @cached_property
    def body(self) -> str:
        """The skill without its frontmatter: what a harness shows the agent when the skill is invoked."""
        match = re.match(r"\ufeff?---\r?\n.*?\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|$)", self.text, re.S)
        return self.text[match.end():].lstrip("\r\n") if match else self.text

    @cached_property
    def _frontmatter(self) -> str:
        match = re.match(r"\ufeff?---\r?\n(.*?)\r?\n(?:---|\.\.\.)", self.text, re.S)
        return match.group(1) if match else ""


class Target(Protocol):
    spec: ModelSpec

    def check(self, skill: SkillUnderTest) -> None:
        """Raise InputError when this skill cannot be run at all (before any cell runs)."""
        ...

    async def run(self, skill: SkillUnderTest, item, run: int) -> Outcome:
        """Run `item` once (`run` is the sample index) and return what happened; ModelError when it could not run."""
        ...

    def release(self, outcome: Outcome) -> Outcome:
        """Called once the outcome is scored: remove its workspace unless kept; returns the outcome to store."""
        ...

    async def aclose(self) -> None:
        ...


def is_harness(spec: ModelSpec) -> bool:
    return spec.backend in HARNESSES


def open_target(spec: ModelSpec, open_model, keep_workspaces: bool = False) -> Target:
    """The target named by `spec`: a harness CLI, or a model through `open_model` (which applies the cache)."""
    if spec.backend == "claude-code":
        from .claude_code import ClaudeCode
        from .harness import HarnessTarget

        return HarnessTarget(spec, ClaudeCode(), keep_workspaces)
    if spec.backend == "pi":
        from .harness import HarnessTarget
        from .pi import Pi

        return HarnessTarget(spec, Pi(), keep_workspaces)
    if spec.backend == "codex":
        from .codex import Codex
        from .harness import HarnessTarget

        # `:sim` keeps CODEX_HOME in a temp folder, where Codex refuses to set up its sandbox helper
        # Codex's own sandbox (`codex_sandbox`), apart from ours (`sandbox`: the bubblewrap cage around the cell)
        sandbox = spec.option("codex_sandbox",
                              "danger-full-access" if spec.name.endswith(":sim") else "workspace-write")
        return HarnessTarget(spec, Codex(str(sandbox)), keep_workspaces)
    if spec.backend == "gemini":
        from .gemini import Gemini
        from .harness import HarnessTarget

        return HarnessTarget(spec, Gemini(), keep_workspaces)
    if spec.backend == "opencode":
        from .harness import HarnessTarget
        from .opencode import OpenCode

        return HarnessTarget(spec, OpenCode(), keep_workspaces)
    from .model import ModelTarget

    return ModelTarget(open_model(spec))


def fixture_note(files: Sequence[tuple[str, str]]) -> str:
    """An input's fixture files, inlined for a target that has no workspace."""
    return "".join(f'\n\n<file path="{path}">\n{text}\n</file>' for path, text in files)


def describe_sandbox(spec) -> str:
    """The sandbox a target spec's cells will use, for records and `validate`: bwrap, none, or n/a (no local code)."""
    from ..errors import InputError
    from ..sandbox import choose

    if spec.backend not in HARNESS_BACKENDS:
        return "n/a"
    simulated = spec.name.split(":", 1)[1:] == ["sim"]
    try:
        return choose(str(spec.option("sandbox", "auto")), simulated).kind
    except InputError:
        return "none (refused: no sandbox available; --no-sandbox to run anyway)"


def harness_model(spec: ModelSpec) -> Model:
    """A harness answering one plain prompt as a model (judge, mutator), imported on first use."""
    from .model_mode import HarnessModel

    return HarnessModel(spec)


for _harness in HARNESS_BACKENDS:  # the model registry builds these by name: the models wing never imports this
    register_backend(_harness, harness_model)
