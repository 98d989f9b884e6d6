"""pi as a harness: its skills folder, headless flags, local provider config and JSON-mode events."""

from __future__ import annotations

import json
from pathlib import Path

from ..models import Usage
from ..models.outcome import ToolCall
from .harness import (
    PI_EXIT,
    SIM_MODEL,
    Events,
    _content_text,
    _float,
    _int,
    _json_lines,
    _mapping,
    _same_file,
    _with_result,
    major_version,
)


class Pi:
    name = "pi"
    binary = "pi"
    package = "@earendil-works/pi-coding-agent"  # 1.x; @mariozechner/pi-coding-agent (frozen at 0.73.1) works too
    tools = ("read", "bash", "edit", "write", "grep", "find", "ls")
    default_tools = ("read", "bash", "edit", "write")
    turn_event = '"type":"turn_start"'  # pi has no --max-turns: a run is stopped after this many turns
    end_event = '{"type": "agent_end"}'

    def skill_dir(self, work: Path, name: str) -> Path:
        return work / ".pi" / "skills" / name

    def argv(self, binary: str, prompt: str, model: str, tools: tuple[str, ...], max_turns: int) -> list[str]:
        argv = [binary, "-p", prompt, "--mode", "json", "--no-session", "--tools", ",".join(tools)]
        if major_version(binary) >= 1:  # pi 1.x loads project skills only in a trusted project; -p cannot ask
            argv.append("--approve")
        provider, _, name = model.partition("/")
        if name:
            argv += ["--provider", provider, "--model", name]
        elif provider:
            argv += ["--model", provider]
        return argv

    def explicit(self, name: str, text: str) -> str:
        return f"/skill:{name} {text}"

    def sim_env(self, url: str, home: Path) -> dict[str, str]:
        agent_dir = home / ".pi" / "agent"
        agent_dir.mkdir(parents=True, exist_ok=True)
        (agent_dir / "models.json").write_text(json.dumps({"providers": {"autoresearch-sim": {
            "baseUrl": url, "api": "anthropic-messages", "apiKey": "sim",
            "models": [{"id": SIM_MODEL, "contextWindow": 200000, "maxTokens": 8192}]}}}), encoding="utf-8")
        return {"PI_CODING_AGENT_DIR": str(agent_dir), "PI_OFFLINE": "1"}

    def sim_model(self) -> str:
        return f"autoresearch-sim/{SIM_MODEL}"

    def parse(self, lines: list[str], skill: str, explicit: bool, skill_file: Path) -> Events:
        text, calls, turns, stop, error = "", [], 0, "", None
        ids: dict[str, int] = {}  # toolCall id -> index in calls, to attach each result to its call
        totals = [0, 0, 0, 0]
        cost = 0.0
        used = ended = False
        for data in _json_lines(lines):
            kind = data.get("type")
            if kind == "turn_start":
                turns += 1
            elif kind == "agent_end":
                ended = True
            elif kind == "message_end":
                message = data.get("message") if isinstance(data.get("message"), dict) else {}
                blocks = [b for b in message.get("content") or [] if isinstance(b, dict)]
                index = ids.get(str(message.get("toolCallId"))) if message.get("role") == "toolResult" else None
                if index is not None:
                    calls[index] = _with_result(calls[index], _content_text(blocks), bool(message.get("isError")),
                                                PI_EXIT)
                if message.get("role") == "user" and explicit:
                    used = used or any(str(b.get("text", "")).startswith(f'<skill name="{skill}"') for b in blocks)
                if message.get("role") != "assistant":
                    continue
                raw = message.get("usage") if isinstance(message.get("usage"), dict) else {}
                for i, key in enumerate(("input", "output", "cacheRead", "cacheWrite")):
                    totals[i] += _int(raw.get(key))
                cost += _float((raw.get("cost") or {}).get("total") if isinstance(raw.get("cost"), dict) else 0)
                stop = str(message.get("stopReason") or "")
                if stop == "error":
                    error = f"pi reported an error: {str(message.get('errorMessage'))[:300]}"
                texts = [b.get("text", "") for b in blocks if b.get("type") == "text" and isinstance(b.get("text"), str)]
                if texts:
                    text = "".join(texts)
                for b in blocks:
                    if b.get("type") == "toolCall":
                        call = ToolCall(str(b.get("name", "")), _mapping(b.get("arguments")))
                        ids[str(b.get("id"))] = len(calls)
                        calls.append(call)
                        path = call.input.get("path")
                        if call.name == "read" and isinstance(path, str) and _same_file(path, skill_file):
                            used = True
        if not ended and error is None:
            error = "pi ended without an agent_end event"
        usage = Usage(totals[0], totals[1], totals[2], totals[3])
        return Events(text, tuple(calls), used, turns, usage, cost, stop, error)
