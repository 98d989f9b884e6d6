"""OpenCode as a target (`opencode[:PROVIDER/MODEL]`): `opencode run --format json` per cell.

Skills are installed in `.opencode/skills/<name>/` and listed to the model in `<available_skills>`; the
agent loads one with the `skill` tool, which is what "skill used" means here. Explicit mode runs the
skill as a command (`--command NAME`, OpenCode makes every skill a command). The prompt goes on stdin:
`opencode run` quotes any argument that holds a space. The JSON events (`step_start`, `text`,
`tool_use` with `part.tool` and `part.state.input`, `step_finish` with tokens and cost, `error`) give
the outcome; `--auto` approves permission requests (a headless run would reject them) and `--title`
spares the title-generation call. `opencode:sim` points OpenCode's built-in anthropic provider at the
local server (`options.baseURL`, passed as `OPENCODE_CONFIG_CONTENT`) with the model declared in that
config, `OPENCODE_DISABLE_MODELS_FETCH=1` (no model catalogue) and `OPENCODE_PURE=1` with
`OPENCODE_DISABLE_DEFAULT_PLUGINS=1` (without them it installs its plugin package into the workspace's
`.opencode/node_modules` from the npm registry at start, and fails offline), so it runs with no network.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..models import Usage
from ..models.outcome import ToolCall
from .harness import Events, _float, _int, _json_lines, _mapping

SIM_MODEL = "claude-sim-1"


class SkillCommand(str):
    """An explicit invocation: the prompt text, run as the skill's command."""

    skill: str = ""


class OpenCode:
    name = "opencode"
    binary = "opencode"
    package = "opencode-ai"
    tools = ("bash", "edit", "glob", "grep", "read", "skill", "task", "todowrite", "webfetch", "write", "list",
             "patch")
    default_tools = tools  # `opencode run` has no tool allow list; `--auto` approves what would ask
    turn_event = '"type":"step_start"'  # no --max-turns flag: a run is stopped after this many steps
    end_event = '{"type":"step_finish","part":{"reason":"max_turns"}}'
    stdin_prompt = True
    skill_root = ".opencode"

    def skill_dir(self, work: Path, name: str) -> Path:
        return work / ".opencode" / "skills" / name

    def argv(self, binary: str, prompt: str, model: str, tools: tuple[str, ...], max_turns: int) -> list[str]:
        argv = [binary, "run", "--format", "json", "--auto", "--title", "autoresearch cell"]
        if isinstance(prompt, SkillCommand):
            argv += ["--command", prompt.skill]
        return argv + (["--model", model] if model else [])

    def explicit(self, name: str, text: str) -> str:
        command = SkillCommand(text)
        command.skill = name
        return command

    def env(self) -> dict[str, str]:
        return {"OPENCODE_DISABLE_AUTOUPDATE": "1", "OPENCODE_DISABLE_LSP_DOWNLOAD": "1"}

    def sim_env(self, url: str, home: Path) -> dict[str, str]:
        config = {"$schema": "https://opencode.ai/config.json", "autoupdate": False, "share": "disabled",
                  "provider": {"anthropic": {"options": {"baseURL": f"{url}/v1", "apiKey": "sim"},
                                             "models": {SIM_MODEL: {"name": "autoresearch sim",
                                                                    "limit": {"context": 200000, "output": 8192}}}}},
                  "model": f"anthropic/{SIM_MODEL}"}
        return {"OPENCODE_CONFIG_CONTENT": json.dumps(config), "OPENCODE_DISABLE_MODELS_FETCH": "1",
                "OPENCODE_PURE": "1", "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
                "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local" / "share"),
                "XDG_CACHE_HOME": str(home / ".cache"), "XDG_STATE_HOME": str(home / ".local" / "state")}

    def sim_model(self) -> str:
        return f"anthropic/{SIM_MODEL}"

    def parse(self, lines: list[str], skill: str, explicit: bool, skill_file: Path) -> Events:
        text, calls, turns, cost, stop, error = "", [], 0, 0.0, "", None
        totals = [0, 0, 0, 0]
        used = explicit
        finished = fresh = False
        for data in _json_lines(lines):
            kind = data.get("type")
            part = _mapping(data.get("part"))
            if kind == "step_start":
                turns += 1
                fresh = True
            elif kind == "text" and isinstance(part.get("text"), str):
                text = ("" if fresh else text) + part["text"]
                fresh = False
            elif kind == "tool_use":
                state = _mapping(part.get("state"))
                call = ToolCall(str(part.get("tool", "")), _mapping(state.get("input")))
                calls.append(call)
                used = used or (call.name == "skill" and call.input.get("name") == skill)
            elif kind == "step_finish":
                finished = True
                stop = str(part.get("reason") or "")
                tokens = _mapping(part.get("tokens"))
                cache = _mapping(tokens.get("cache"))
                for i, value in enumerate((tokens.get("input"), tokens.get("output"), cache.get("read"),
                                           cache.get("write"))):
                    totals[i] += _int(value)
                cost += _float(part.get("cost"))
            elif kind == "error":
                detail = _mapping(data.get("error"))
                message = _mapping(detail.get("data")).get("message") or detail.get("name")
                error = f"opencode reported an error: {str(message)[:300]}"
        if not finished:
            error = error or "opencode ended without a step_finish event"
        return Events(text, tuple(calls), used, turns, Usage(*totals), cost, stop, error)
