"""The OpenAI Responses API on the local server (`POST /v1/responses`), for `codex:sim`.

Only the wire format lives here: a Responses request is read as a Messages-API body (developer
messages and `instructions` as the system prompt, `function_call` / `function_call_output` items as
`tool_use` / `tool_result` blocks), the ONE simulator answers it, and its message is written back as
the Responses API's SSE events (`response.created`, `response.output_item.added`,
`response.output_text.delta`, `response.output_item.done`, `response.completed` with usage) or as one
JSON response.
"""

from __future__ import annotations

import json
from typing import Any


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for part in content or []:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            parts.append(part["text"])
    return "\n".join(parts)


def to_messages(body: dict) -> dict:
    """A Responses request as the Messages-API body the simulator reads."""
    system = [body["instructions"]] if isinstance(body.get("instructions"), str) and body["instructions"] else []
    messages: list[dict] = []

    def add(role: str, block: dict) -> None:
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].append(block)
        else:
            messages.append({"role": role, "content": [block]})

    items = body.get("input")
    for item in [{"role": "user", "content": items}] if isinstance(items, str) else items or []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role in ("developer", "system"):
                system.append(_text(item.get("content")))
            elif role in ("user", "assistant"):
                add(role, {"type": "text", "text": _text(item.get("content"))})
        elif kind == "function_call":
            try:
                arguments = json.loads(item.get("arguments") or "{}")
            except ValueError:
                arguments = {}
            add("assistant", {"type": "tool_use", "id": item.get("call_id", ""), "name": item.get("name", ""),
                              "input": arguments if isinstance(arguments, dict) else {}})
        elif kind == "function_call_output":
            output = item.get("output")
            add("user", {"type": "tool_result", "tool_use_id": item.get("call_id", ""),
                         "content": output if isinstance(output, str) else _text(output)})
    tools = [{"name": t["name"]} for t in body.get("tools") or [] if isinstance(t, dict) and t.get("name")]
    return {"model": body.get("model", ""), "system": "\n\n".join(system), "messages": messages, "tools": tools}


def _usage(message: dict) -> dict:
    usage = message["usage"]
    prompt = usage["input_tokens"] + usage["cache_read_input_tokens"] + usage["cache_creation_input_tokens"]
    return {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": usage["cache_read_input_tokens"]},
            "output_tokens": usage["output_tokens"], "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + usage["output_tokens"]}


def output_items(message: dict) -> list[dict]:
    """The Messages-API reply's content as Responses output items (a message, function calls)."""
    items = []
    for index, block in enumerate(message["content"]):
        if block.get("type") == "tool_use":
            items.append({"type": "function_call", "id": f"fc_{message['id']}_{index}", "status": "completed",
                          "call_id": block["id"], "name": block["name"], "arguments": json.dumps(block["input"])})
        elif block.get("type") == "text":
            items.append({"type": "message", "id": f"{message['id']}_{index}", "status": "completed",
                          "role": "assistant",
                          "content": [{"type": "output_text", "text": block["text"], "annotations": []}]})
    return items


def response(message: dict) -> dict:
    """The whole response object (the non-streamed reply, and `response.completed`'s payload)."""
    return {"id": f"resp_{message['id']}", "object": "response", "status": "completed", "model": message["model"],
            "output": output_items(message), "usage": _usage(message)}


def events(message: dict) -> list[tuple[str, dict]]:
    """The SSE events of a streamed response, in order."""
    whole = response(message)
    started = dict(whole, status="in_progress", output=[], usage=None)
    out = [("response.created", {"type": "response.created", "response": started})]
    for index, item in enumerate(whole["output"]):
        empty = dict(item, content=[]) if item["type"] == "message" else dict(item, arguments="")
        out.append(("response.output_item.added", {"type": "response.output_item.added", "output_index": index,
                                                   "item": empty}))
        if item["type"] == "message":
            out.append(("response.output_text.delta", {"type": "response.output_text.delta", "item_id": item["id"],
                                                       "output_index": index, "content_index": 0,
                                                       "delta": item["content"][0]["text"]}))
        out.append(("response.output_item.done", {"type": "response.output_item.done", "output_index": index,
                                                  "item": item}))
    out.append(("response.completed", {"type": "response.completed", "response": whole}))
    return out
