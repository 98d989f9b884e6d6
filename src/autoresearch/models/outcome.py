"""What one run of one input produced: the final text, and for harness targets the trace and the files.

Checks score an Outcome. Text checks read `text`; outcome checks read the tool calls, the files the
run created or changed, and what it cost. Stored with the cells as plain JSON (`to_dict`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from . import Usage

MAX_RESULT_CHARS = 4000  # a tool call's output as stored: its start and its end (where errors are)
# The shell tools of the harnesses: Claude Code, pi and OpenCode (bash), Gemini CLI, Codex (its events and its tool).
SHELL_TOOLS = ("bash", "run_shell_command", "command_execution", "exec_command")


@dataclass(frozen=True)
class ToolCall:
    name: str
    input: dict[str, Any] = field(default_factory=dict)
    output: str | None = None  # what the call returned (capped); None when the harness reported nothing
    is_error: bool | None = None  # the harness marked the result as an error
    exit_code: int | None = None  # shell calls: the command's exit code

    def result_text(self, limit: int = 400) -> str:
        """The call's result on one line or a few: `exit code 1: Traceback ...`, for `next` and the mutator."""
        if self.output is None and self.is_error is None:
            return ""
        head = f"exit code {self.exit_code}" if self.exit_code is not None else "error" if self.is_error else "ok"
        output = capped((self.output or "").strip(), limit)
        return f"{head}: {output}" if output else head

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
    ticket: str = ""  # the call's id on a run's spend ledger (models.ledger): its charge settles it

    def commands(self) -> list[str]:
        return [c for c in (call.command() for call in self.tool_calls) if c is not None]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tool_calls"] = [asdict(c) for c in self.tool_calls]
        data.pop("cached")
        data.pop("ticket")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Outcome":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k not in ("cached", "ticket")}
        known["tool_calls"] = tuple(ToolCall(c["name"], c.get("input") or {}, c.get("output"), c.get("is_error"),
                                             c.get("exit_code")) for c in data.get("tool_calls", []))
        known["usage"] = Usage(**data["usage"]) if isinstance(data.get("usage"), dict) else Usage()
        return cls(**known)

    def trace_text(self, limit: int = 4000) -> str:
        """The tool calls and files as plain text, for the judge, the mutator and `next`."""
        lines = []
        for i, c in enumerate(self.tool_calls):
            lines.append(f"tool call {i + 1}: {c.name} {_short(c.input)}")
            if c.result_text():
                lines.append("  returned " + c.result_text().replace("\n", "\n  "))
        for path, content in sorted(self.files.items()):
            lines.append(f"file {path}:\n{content}")
        text = "\n".join(lines) or "(no tool calls, no files)"
        return text if len(text) <= limit else text[: limit - 1] + "…"


def _short(value: dict[str, Any], limit: int = 300) -> str:
    import json

    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def capped(text: str, limit: int = MAX_RESULT_CHARS) -> str:
    """`text` within `limit` characters: its start and its end, with how much was cut between them."""
    if len(text) <= limit:
        return text
    keep = max(limit - 40, 2) // 2
    return f"{text[:keep]}\n… {len(text) - 2 * keep} characters cut …\n{text[-keep:]}"
