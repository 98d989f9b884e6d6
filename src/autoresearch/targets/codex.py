"""OpenAI's Codex CLI as a target (`codex[:MODEL]`): `codex exec --json` in a fresh workspace per cell.

Skills are installed in `.agents/skills/<name>/` (Codex lists them to the model by name, description and
path; there is no skill tool: the agent loads one by reading its SKILL.md through the shell). Explicit
mode sends `$name TEXT`, which makes Codex inject the skill itself. The JSONL events (`thread.started`,
`turn.started`, `item.started` / `item.completed` with `agent_message`, `command_execution`,
`file_change`, `mcp_tool_call` items, `turn.completed` with usage, `turn.failed`, `error`) give the
outcome. `codex:sim` points Codex at the local server's Responses API through a provider in a
temporary `CODEX_HOME/config.toml`.
"""

from __future__ import annotations

from pathlib import Path

from ..models import Usage
from ..models.outcome import ToolCall
from .harness import Events, _int, _json_lines, _mapping

SIM_MODEL = "codex-sim-1"
SIM_KEY_VARIABLE = "AUTORESEARCH_SIM_KEY"


class Codex:
    name = "codex"
    binary = "codex"
    package = "@openai/codex"
    # Codex has no per-tool allow list; the codex_sandbox option (read-only | workspace-write | danger-full-access)
    # bounds what its shell may do. These are the names its events use.
    tools = ("command_execution", "file_change", "mcp_tool_call", "web_search")
    default_tools = ("command_execution", "file_change")
    turn_event = '"type":"item.started"'  # no --max-turns: a run is stopped after this many steps
    end_event = '{"type":"turn.completed","usage":{}}'
    skill_root = ".agents"

    def __init__(self, sandbox: str = "workspace-write"):
        self.sandbox = sandbox

    def skill_dir(self, work: Path, name: str) -> Path:
        return work / ".agents" / "skills" / name

    def argv(self, binary: str, prompt: str, model: str, tools: tuple[str, ...], max_turns: int) -> list[str]:
        argv = [binary, "exec", "--json", "--skip-git-repo-check", "--sandbox", self.sandbox]
        return argv + (["--model", model] if model else []) + ["--", prompt]

    def explicit(self, name: str, text: str) -> str:
        return f"${name} {text}"

    def env(self) -> dict[str, str]:
        return {}

    def sim_env(self, url: str, home: Path) -> dict[str, str]:
        codex_home = home / ".codex"
        codex_home.mkdir(parents=True, exist_ok=True)
        (codex_home / "config.toml").write_text(
            f'model = "{SIM_MODEL}"\nmodel_provider = "autoresearch-sim"\ncheck_for_update_on_startup = false\n\n'
            f'[model_providers.autoresearch-sim]\nname = "autoresearch sim"\nbase_url = "{url}/v1"\n'
            f'wire_api = "responses"\nenv_key = "{SIM_KEY_VARIABLE}"\nrequest_max_retries = 0\n'
            f'stream_max_retries = 0\n', encoding="utf-8")
        tmp = home / "tmp"  # Codex keeps a daemon's socket folder in the temp dir (codex-daemon-UID): one per cell
        tmp.mkdir(exist_ok=True)
        return {"CODEX_HOME": str(codex_home), SIM_KEY_VARIABLE: "sim", "TMPDIR": str(tmp)}

    def sim_model(self) -> str:
        return SIM_MODEL

    def parse(self, lines: list[str], skill: str, explicit: bool, skill_file: Path) -> Events:
        text, calls, usage, error = "", [], Usage(), None
        used = explicit
        ended = False
        relative = f"{skill_file.parent.parent.name}/{skill}/SKILL.md"  # skills/NAME/SKILL.md
        for data in _json_lines(lines):
            kind = data.get("type")
            item = _mapping(data.get("item"))
            if kind == "item.completed":
                call = _tool_call(item)
                if call is not None:
                    calls.append(call)
                    command = call.input.get("command")
                    if isinstance(command, str) and (str(skill_file) in command or relative in command):
                        used = True
                elif item.get("type") == "agent_message" and isinstance(item.get("text"), str):
                    text = item["text"]
            elif kind == "turn.completed":
                ended = True
                raw = _mapping(data.get("usage"))
                cached, written = _int(raw.get("cached_input_tokens")), _int(raw.get("cache_write_input_tokens"))
                usage = usage + Usage(max(0, _int(raw.get("input_tokens")) - cached - written),
                                      _int(raw.get("output_tokens")), cached, written)
            elif kind == "turn.failed":
                ended = True
                error = f"codex reported an error: {str(_mapping(data.get('error')).get('message'))[:300]}"
        if not ended:
            error = error or "codex ended without a turn.completed event"
        turns = 1 + len(calls)
        return Events(text, tuple(calls), used, turns, usage, 0.0, "end_turn" if not error else "error", error)


def _tool_call(item: dict) -> ToolCall | None:
    """A completed item that is a tool call, as a ToolCall (None for messages, reasoning, errors)."""
    kind = item.get("type")
    if kind == "command_execution":
        return ToolCall("command_execution", {"command": str(item.get("command", "")),
                                              "exit_code": item.get("exit_code")})
    if kind == "file_change":
        return ToolCall("file_change", {"changes": item.get("changes") or []})
    if kind == "mcp_tool_call":
        return ToolCall(f"mcp_tool_call:{item.get('server')}/{item.get('tool')}", _mapping(item.get("arguments")))
    if kind == "web_search":
        return ToolCall("web_search", {"query": str(item.get("query", ""))})
    return None
