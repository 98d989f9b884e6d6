"""Claude Code as a harness: its skills folder, headless flags, simulator setup and stream-json events."""

from __future__ import annotations

from pathlib import Path

from ..models import Usage
from ..models.outcome import ToolCall
from .harness import (
    CLAUDE_EXIT,
    SIM_MODEL,
    Events,
    _blocks,
    _content_text,
    _float,
    _int,
    _json_lines,
    _mapping,
    _usage,
    _with_result,
)


class ClaudeCode:
    name = "claude-code"
    binary = "claude"
    package = "@anthropic-ai/claude-code"
    tools = ("Bash", "Read", "Write", "Edit", "Glob", "Grep", "Skill", "TodoWrite", "WebFetch", "WebSearch",
             "NotebookEdit", "Agent", "Task")
    default_tools = ("Skill", "Read", "Write", "Edit", "Bash", "Glob", "Grep")

    def skill_dir(self, work: Path, name: str) -> Path:
        return work / ".claude" / "skills" / name

    def argv(self, binary: str, prompt: str, model: str, tools: tuple[str, ...], max_turns: int) -> list[str]:
        argv = [binary, "-p", prompt, "--output-format", "stream-json", "--verbose", "--max-turns", str(max_turns),
                "--allowedTools", " ".join(tools)]
        return argv + (["--model", model] if model else [])

    def explicit(self, name: str, text: str) -> str:
        return f"/{name} {text}"

    def sim_env(self, url: str, home: Path) -> dict[str, str]:
        return {"ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": "sim", "DISABLE_TELEMETRY": "1",
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1"}

    def sim_model(self) -> str:
        return SIM_MODEL

    def parse(self, lines: list[str], skill: str, explicit: bool, skill_file: Path) -> Events:
        text, calls, turns, usage, cost, stop, error = "", [], 0, Usage(), 0.0, "", None
        listed = used = False
        result_seen = False
        ids: dict[str, int] = {}  # tool_use id -> index in calls, to attach each result to its call
        for data in _json_lines(lines):
            kind = data.get("type")
            if kind == "system" and data.get("subtype") == "init":
                listed = skill in (data.get("skills") or []) or skill in (data.get("slash_commands") or [])
            elif kind == "user":
                for block in _blocks(data.get("message")):
                    index = ids.get(str(block.get("tool_use_id"))) if block.get("type") == "tool_result" else None
                    if index is not None:
                        calls[index] = _with_result(calls[index], _content_text(block.get("content")),
                                                    bool(block.get("is_error")), CLAUDE_EXIT)
            elif kind == "assistant":
                for block in _blocks(data.get("message")):
                    if block.get("type") == "tool_use":
                        call = ToolCall(str(block.get("name", "")), _mapping(block.get("input")))
                        ids[str(block.get("id"))] = len(calls)
                        calls.append(call)
                        used = used or (call.name == "Skill" and call.input.get("skill") == skill)
                    elif block.get("type") == "text" and isinstance(block.get("text"), str):
                        text = block["text"]
            elif kind == "result":
                result_seen = True
                turns = _int(data.get("num_turns"))
                cost = _float(data.get("total_cost_usd"))
                usage = _usage(data.get("usage"), ("input_tokens", "output_tokens", "cache_read_input_tokens",
                                                   "cache_creation_input_tokens"))
                subtype = str(data.get("subtype") or "")
                stop = "max_turns" if subtype == "error_max_turns" else str(data.get("stop_reason") or subtype)
                if isinstance(data.get("result"), str):
                    text = data["result"]
                if data.get("is_error") and subtype != "error_max_turns":
                    error = f"claude reported an error ({subtype}): {str(data.get('result'))[:300]}"
        if not result_seen:
            error = error or "claude ended without a result event"
        return Events(text, tuple(calls), used or (explicit and listed), turns, usage, cost, stop, error)
