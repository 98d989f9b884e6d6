"""The Gemini API on the local server, for `gemini:sim`: `POST /v1beta/models/M:generateContent`,
`:streamGenerateContent?alt=sse` and `:countTokens`.

Only the wire format lives here: `contents` (roles `user` / `model`, parts `text`, `functionCall`,
`functionResponse`) and `systemInstruction` are read as a Messages-API body for the ONE simulator, and
its message is written back as a `GenerateContentResponse` (candidates with `functionCall` parts,
`usageMetadata`), one JSON object or one SSE `data:` event.
"""

from __future__ import annotations

import json
import re
from typing import Any

_PATH = re.compile(r"^/v1(?:beta|alpha|)?/models/([^/:]+):(generateContent|streamGenerateContent|countTokens)$")


def route(path: str) -> tuple[str, str] | None:
    """(model, method) of a Gemini API path, None for any other path."""
    match = _PATH.match(path)
    return (match.group(1), match.group(2)) if match else None


def _parts_text(parts: Any) -> str:
    return "\n".join(p["text"] for p in parts or [] if isinstance(p, dict) and isinstance(p.get("text"), str)
                     and not p.get("thought"))


def to_messages(body: dict, model: str) -> dict:
    """A Gemini request as the Messages-API body the simulator reads (calls and results paired in order)."""
    system = body.get("systemInstruction") or body.get("system_instruction") or {}
    system_text = system if isinstance(system, str) else _parts_text(system.get("parts"))
    messages: list[dict] = []
    pending: list[tuple[str, str]] = []  # (name, id) of calls not yet answered
    count = 0
    for content in body.get("contents") or []:
        if not isinstance(content, dict):
            continue
        role = "assistant" if content.get("role") == "model" else "user"
        blocks = []
        for part in content.get("parts") or []:
            if not isinstance(part, dict) or part.get("thought"):
                continue
            if isinstance(part.get("text"), str):
                blocks.append({"type": "text", "text": part["text"]})
            elif isinstance(part.get("functionCall"), dict):
                call = part["functionCall"]
                count += 1
                call_id = str(call.get("id") or f"gemini_call_{count}")
                pending.append((str(call.get("name", "")), call_id))
                blocks.append({"type": "tool_use", "id": call_id, "name": call.get("name", ""),
                               "input": call.get("args") if isinstance(call.get("args"), dict) else {}})
            elif isinstance(part.get("functionResponse"), dict):
                answer = part["functionResponse"]
                name = str(answer.get("name", ""))
                match = next((p for p in pending if answer.get("id") and p[1] == answer["id"]), None) \
                    or next((p for p in pending if p[0] == name), None) or (name, str(answer.get("id", "")))
                if match in pending:
                    pending.remove(match)
                result = answer.get("response")
                output = result.get("output", result.get("error", result)) if isinstance(result, dict) else result
                blocks.append({"type": "tool_result", "tool_use_id": match[1],
                               "content": output if isinstance(output, str) else json.dumps(output)})
        if blocks:
            messages.append({"role": role, "content": blocks})
    tools = [{"name": f["name"]} for t in body.get("tools") or [] if isinstance(t, dict)
             for f in t.get("functionDeclarations") or t.get("function_declarations") or []
             if isinstance(f, dict) and f.get("name")]
    return {"model": model, "system": system_text, "messages": messages, "tools": tools}


def response(message: dict) -> dict:
    """The simulator's Messages-API reply as one GenerateContentResponse."""
    parts = []
    for block in message["content"]:
        if block.get("type") == "tool_use":
            parts.append({"functionCall": {"name": block["name"], "args": block["input"], "id": block["id"]}})
        elif block.get("type") == "text":
            parts.append({"text": block["text"]})
    usage = message["usage"]
    prompt = usage["input_tokens"] + usage["cache_read_input_tokens"] + usage["cache_creation_input_tokens"]
    return {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": prompt, "candidatesTokenCount": usage["output_tokens"],
                              "cachedContentTokenCount": usage["cache_read_input_tokens"],
                              "totalTokenCount": prompt + usage["output_tokens"]},
            "modelVersion": message["model"], "responseId": message["id"]}


def count_tokens(body: dict) -> dict:
    """`:countTokens`: about four characters a token, as the Messages server counts."""
    inner = body.get("generateContentRequest") if isinstance(body.get("generateContentRequest"), dict) else body
    text = json.dumps(inner.get("contents") or [])
    return {"totalTokens": max(1, len(text) // 4)}
