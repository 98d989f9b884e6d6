"""Google's Gemini CLI as a target (`gemini[:MODEL]`): `gemini -p --output-format stream-json` per cell.

Skills are installed in `.gemini/skills/<name>/` and listed to the model in `<available_skills>`; the
agent loads one with the `activate_skill` tool, which is what "skill used" means here. Gemini CLI has no
command that invokes a skill in `-p` mode, so explicit mode asks for the skill by name in the prompt
(`Use the NAME skill.`) and still counts only a real `activate_skill` call. The stream-json events
(`init`, `message`, `tool_use`, `tool_result`, `error`, `result` with stats) give the outcome. Approval
is `yolo` (nothing may block on a prompt) and the fresh workspace is trusted for the run
(`GEMINI_CLI_TRUST_WORKSPACE`). `gemini:sim` points it at the local server's Gemini API
(`GOOGLE_GEMINI_BASE_URL`, an API key and `security.auth.selectedType` in a temporary HOME).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..models import Usage
from ..models.outcome import ToolCall
from .harness import Events, _int, _json_lines, _mapping

SIM_MODEL = "gemini-sim-1"


class Gemini:
    name = "gemini"
    binary = "gemini"
    package = "@google/gemini-cli"
    tools = ("activate_skill", "run_shell_command", "read_file", "write_file", "replace", "list_directory", "glob",
             "grep_search", "web_fetch", "google_web_search", "read_many_files", "save_memory", "write_todos")
    default_tools = tools  # Gemini CLI's `--allowed-tools` is deprecated; yolo approval runs every tool
    turn_event = '"type":"tool_use"'  # no --max-turns flag: a run is stopped after this many tool steps
    end_event = '{"type":"result","status":"success","stats":{}}'
    skill_root = ".gemini"

    def skill_dir(self, work: Path, name: str) -> Path:
        return work / ".gemini" / "skills" / name

    def argv(self, binary: str, prompt: str, model: str, tools: tuple[str, ...], max_turns: int) -> list[str]:
        argv = [binary, "-p", prompt, "--output-format", "stream-json", "--approval-mode", "yolo"]
        return argv + (["--model", model] if model else [])

    def explicit(self, name: str, text: str) -> str:
        return f"Use the {name} skill. {text}"

    def env(self) -> dict[str, str]:
        return {"GEMINI_CLI_TRUST_WORKSPACE": "true"}  # each cell's workspace is a fresh folder it has never seen

    def sim_env(self, url: str, home: Path) -> dict[str, str]:
        settings = home / ".gemini" / "settings.json"
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(json.dumps({
            "security": {"auth": {"selectedType": "gemini-api-key"}},
            "privacy": {"usageStatisticsEnabled": False}, "telemetry": {"enabled": False},
            "general": {"disableAutoUpdate": True, "disableUpdateNag": True}}), encoding="utf-8")
        return {"GEMINI_API_KEY": "sim", "GOOGLE_GEMINI_BASE_URL": url}

    def sim_model(self) -> str:
        return SIM_MODEL

    def parse(self, lines: list[str], skill: str, explicit: bool, skill_file: Path) -> Events:
        text, calls, usage, error, status = "", [], Usage(), None, ""
        used = False
        fresh = True  # the next assistant text starts a new message (after a tool call)
        for data in _json_lines(lines):
            kind = data.get("type")
            if kind == "message" and data.get("role") == "assistant" and isinstance(data.get("content"), str):
                text = (text if data.get("delta") and not fresh else "") + data["content"]
                fresh = False
            elif kind == "tool_use":
                call = ToolCall(str(data.get("tool_name", "")), _mapping(data.get("parameters")))
                calls.append(call)
                used = used or (call.name == "activate_skill" and call.input.get("name") == skill)
                fresh = True
            elif kind == "result":
                status = str(data.get("status") or "")
                stats = _mapping(data.get("stats"))
                cached = _int(stats.get("cached"))
                usage = Usage(max(0, _int(stats.get("input_tokens")) - cached), _int(stats.get("output_tokens")),
                              cached, 0)
                if status == "error":
                    detail = _mapping(data.get("error"))
                    error = f"gemini reported an error ({detail.get('type')}): {str(detail.get('message'))[:300]}"
        if not status:
            error = error or "gemini ended without a result event"
        return Events(text, tuple(calls), used, 1 + len(calls), usage, 0.0, status, error)
