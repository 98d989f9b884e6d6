"""What one run of one input produced: the final text, and for harness targets the trace and the files.

Checks score an Outcome. Text checks read `text`; outcome checks read the tool calls, the files the
run created or changed, and what it cost. Stored with the cells as plain JSON (`to_dict`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from . import Usage

# The shell tools of the harnesses: Claude Code, pi and OpenCode (bash), Gemini CLI, Codex (its events and its tool).
SHELL_TOOLS = ("bash", "run_shell_command", "command_execution", "exec_command")


@dataclass(frozen=True)
class ToolCall:
    name: str
    input: dict[str, Any] = field(default_factory=dict)

    def command(self) -> str | None:
        """The shell command of a shell tool's call (Bash, bash, run_shell_command, command_execution), else None."""
        if self.name.lower() in SHELL_TOOLS:
            value = self.input.get("command", self.input.get("cmd"))
            return value if isinstance(value, str) else None
        return None


@dataclass(frozen=True)
class Outcome:
    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    skill_used: bool | None = None  # None: the target cannot tell (a bare model is always given the skill)
    files: dict[str, str] = field(default_factory=dict)  # created or changed files: relative path -> text (capped)
    turns: int = 1
    usage: Usage = Usage()
    cost: float = 0.0
    seconds: float = 0.0
    stop_reason: str = ""
    workspace: str | None = None  # kept only with --keep-workspaces
    cached: bool = False

    def commands(self) -> list[str]:
        return [c for c in (call.command() for call in self.tool_calls) if c is not None]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tool_calls"] = [asdict(c) for c in self.tool_calls]
        data.pop("cached")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Outcome":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "cached"}
        known["tool_calls"] = tuple(ToolCall(c["name"], c.get("input") or {}) for c in data.get("tool_calls", []))
        known["usage"] = Usage(**data["usage"]) if isinstance(data.get("usage"), dict) else Usage()
        return cls(**known)

    def trace_text(self, limit: int = 4000) -> str:
        """The tool calls and files as plain text, for the judge, the mutator and `next`."""
        lines = [f"tool call {i + 1}: {c.name} {_short(c.input)}" for i, c in enumerate(self.tool_calls)]
        for path, content in sorted(self.files.items()):
            lines.append(f"file {path}:\n{content}")
        text = "\n".join(lines) or "(no tool calls, no files)"
        return text if len(text) <= limit else text[: limit - 1] + "…"


def _short(value: dict[str, Any], limit: int = 300) -> str:
    import json

    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"
