"""A small local server that speaks the Anthropic Messages API on 127.0.0.1: the offline model's door.

The harness targets `claude-code:sim`, `pi:sim`, `codex:sim`, `gemini:sim` and `opencode:sim` point the real CLIs
at it, answered by the tool-using simulator; tests and benchmarks script its replies.

It answers POST /v1/messages (JSON, or SSE when "stream" is true), /v1/messages/count_tokens and
the Message Batches endpoints; HEAD /api/hello for Claude Code; and, through protocol adapters, the
OpenAI Responses API (POST /v1/responses, for Codex: autoresearch.responses_api) and the Gemini API
(POST /v1beta/models/M:generateContent, :streamGenerateContent, :countTokens: autoresearch.gemini_api).
Replies come from a script (a function of the request body); a base URL of the form `URL/cell/<token>` tags
every request of one cell with its token (passed to the reply as `body["_cell"]`); every request is logged, the most requests in flight at once
are recorded, and faults are served on demand: 429 with retry-after, 529, 500, slow replies,
truncated and garbage bodies.
"""

from __future__ import annotations

import itertools
import json
import random
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from . import gemini_api, responses_api

Reply = Callable[[dict], "str | dict"]
FAULTS = ("429", "529", "500", "slow", "truncated", "garbage")


def default_reply(body: dict) -> str:
    """Echo the last user text, so tests can see what was sent."""
    last = body["messages"][-1]["content"]
    text = last if isinstance(last, str) else " ".join(b.get("text", "") for b in last if isinstance(b, dict))
    return f"echo: {text}"


def simulator_reply(body: dict) -> str:
    """The plain simulator as the server's model (`sim` answered over HTTP): it judges a judge task, proposes for
    a mutation task, else follows the system prompt; the same request gets the same answer."""
    from . import model as sim

    system, prompt = _text_of(body.get("system")), _text_of(body["messages"][-1]["content"])
    rng = random.Random(f"{system}\0{prompt}")
    if "<judge_task>" in prompt:
        return sim.judge(prompt, rng)
    if "<mutation_task>" in prompt:
        return sim.mutate(prompt, rng)
    return sim.follow(system, prompt, rng)


def _text_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(_text_of(v.get("text", v.get("content", ""))) if isinstance(v, dict) else str(v) for v in value)
    return ""


class _Listener(ThreadingHTTPServer):
    """Queues a burst of connections (16 clients at once) instead of dropping all but 5 of them, which TCP retries
    a second later: a delay a real API never adds."""

    request_queue_size = 128


class MessagesServer:
    """Start with `with MessagesServer() as server:`; point a client at `server.url`."""

    def __init__(self, reply: Reply = default_reply, latency: float = 0.0, fault_rate: float = 0.0,
                 fault_kinds: tuple[str, ...] = ("429", "529", "500"), seed: int = 0, slow_seconds: float = 2.0,
                 batch_seconds: float = 0.2):
        self.reply, self.latency, self.fault_rate, self.fault_kinds = reply, latency, fault_rate, fault_kinds
        self.slow_seconds, self.batch_seconds = slow_seconds, batch_seconds
        self.faults: deque[str] = deque()  # served first, one per /v1/messages request
        self.requests: list[dict] = []
        self.answered = 0  # the model answers produced (what a provider bills), on every protocol
        self.in_flight = self.max_in_flight = 0
        self.faults_served = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._seen_systems: set[str] = set()
        self._ids = itertools.count(1)
        self.batches: dict[str, dict] = {}
        self._httpd = _Listener(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> "MessagesServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def message_requests(self) -> list[dict]:
        return [r for r in self.requests if _split_cell(r["path"].split("?")[0])[1] == "/v1/messages"]

    # -- message construction ----------------------------------------------------------------
    def _usage(self, body: dict, output: str) -> dict:
        system = body.get("system", "")
        system_text = _text_of(system)
        cached = isinstance(system, list) and any(isinstance(b, dict) and b.get("cache_control") for b in system)
        rest = sum(len(_text_of(m["content"])) for m in body.get("messages", []))
        usage = {"input_tokens": max(1, rest // 4), "output_tokens": max(1, len(output) // 4),
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        if cached:
            with self._lock:
                seen = system_text in self._seen_systems
                self._seen_systems.add(system_text)
            usage["cache_read_input_tokens" if seen else "cache_creation_input_tokens"] = len(system_text) // 4
        else:
            usage["input_tokens"] += len(system_text) // 4
        return usage

    def message(self, body: dict) -> dict:
        answer = self.reply(body)
        with self._lock:
            self.answered += 1
        content = [{"type": "text", "text": answer}] if isinstance(answer, str) else answer["content"]
        stop = "end_turn" if isinstance(answer, str) else answer.get("stop_reason", "end_turn")
        text = "".join(b.get("text", "") or json.dumps(b.get("input", "")) for b in content)
        return {"id": f"msg_{next(self._ids):06d}", "type": "message", "role": "assistant",
                "model": body.get("model", "claude-fake-1"), "content": content, "stop_reason": stop,
                "stop_sequence": None, "usage": self._usage(body, text)}

    # -- the HTTP handler ---------------------------------------------------------------------
    def _handler(server):  # noqa: N805 - closes over the MessagesServer
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()  # no Nagle: headers and body go out at once, with no delayed-ACK stall
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _send(self, status: int, payload: Any, headers: dict | None = None) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, kind: str, headers: dict | None = None) -> None:
                self._send(status, {"type": "error", "error": {"type": kind, "message": f"scripted {status}"}}, headers)

            def do_HEAD(self) -> None:
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                server.requests.append({"method": "GET", "path": self.path, "headers": dict(self.headers), "body": None})
                parts = self.path.split("?")[0].strip("/").split("/")
                if len(parts) >= 4 and parts[:3] == ["v1", "messages", "batches"]:
                    batch = server.batches.get(parts[3])
                    if batch is None:
                        return self._error(404, "not_found_error")
                    server._advance(batch)
                    if len(parts) == 5 and parts[4] == "results":
                        lines = "".join(json.dumps(r) + "\n" for r in batch["_results"]).encode()
                        self.send_response(200)
                        self.send_header("content-type", "application/binary")
                        self.send_header("content-length", str(len(lines)))
                        self.end_headers()
                        self.wfile.write(lines)
                        return
                    return self._send(200, {k: v for k, v in batch.items() if not k.startswith("_")})
                self._send(200, {"ok": True})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                cell, path = _split_cell(self.path.split("?")[0])
                if cell is not None:
                    body["_cell"] = cell
                server.requests.append({"method": "POST", "path": self.path, "headers": dict(self.headers),
                                        "body": body})
                if path == "/v1/messages/count_tokens":
                    usage = server._usage(body, "")
                    return self._send(200, {"input_tokens": sum(v for k, v in usage.items() if k != "output_tokens")})
                if path == "/v1/messages/batches":
                    return self._send(200, server._create_batch(body))
                protocol = _protocol(path)
                if protocol is None:
                    return self._error(404, "not_found_error")
                if protocol == "gemini:countTokens":
                    return self._send(200, gemini_api.count_tokens(body))
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    fault = server.faults.popleft() if server.faults else None
                    if fault is None and server.fault_rate and server._rng.random() < server.fault_rate:
                        fault = server._rng.choice(server.fault_kinds)
                    if fault:
                        server.faults_served += 1
                try:
                    if server.latency:
                        time.sleep(server.latency)
                    self._answer(body, fault, protocol)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self, body: dict, fault: str | None, protocol: str = "messages") -> None:
                if fault == "429":
                    return self._error(429, "rate_limit_error", {"retry-after": "0.05"})
                if fault == "529":
                    return self._error(529, "overloaded_error")
                if fault == "500":
                    return self._error(500, "api_error")
                if fault == "slow":
                    time.sleep(server.slow_seconds)
                if fault == "garbage":
                    return self._send(200, b"<html>502 bad gateway</html>")
                if protocol != "messages":
                    return self._answer_other(body, protocol)
                message = server.message(body)
                if fault == "truncated":
                    data = json.dumps(message).encode()
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if body.get("stream"):
                    return self._stream(message)
                self._send(200, message)

            def _answer_other(self, body: dict, protocol: str) -> None:
                """The Responses API (Codex) or the Gemini API: the same simulator, another wire format."""
                if protocol == "responses":
                    message = server.message(_with_cell(responses_api.to_messages(body), body))
                    if not body.get("stream"):
                        return self._send(200, responses_api.response(message))
                    return self._sse(responses_api.events(message), named=True)
                model, method = protocol.split(":", 1)[1], self.path.split("?")[0].rsplit(":", 1)[1]
                message = server.message(_with_cell(gemini_api.to_messages(body, model), body))
                reply = gemini_api.response(message)
                if method == "streamGenerateContent":
                    return self._sse([("", reply)], named=False)
                self._send(200, reply)

            def _sse(self, events: list, named: bool) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("cache-control", "no-cache")
                self.send_header("connection", "close")
                self.end_headers()
                self.close_connection = True
                for name, data in events:
                    self.wfile.write(((f"event: {name}\n" if named else "") + f"data: {json.dumps(data)}\n\n").encode())
                self.wfile.flush()

            def _stream(self, message: dict) -> None:
                """The Messages API's streamed events for one message."""
                usage = message["usage"]
                start = dict(message, content=[], stop_reason=None,
                             usage=dict(usage, output_tokens=1))
                events = [("message_start", {"type": "message_start", "message": start})]
                for index, block in enumerate(message["content"]):
                    if block["type"] == "text":
                        events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                               "content_block": {"type": "text", "text": ""}}))
                        events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                               "delta": {"type": "text_delta", "text": block["text"]}}))
                    else:
                        events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                               "content_block": dict(block, input={})}))
                        events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                               "delta": {"type": "input_json_delta",
                                                                         "partial_json": json.dumps(block["input"])}}))
                    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
                events.append(("message_delta", {"type": "message_delta",
                                                 "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                                                 "usage": {"output_tokens": usage["output_tokens"]}}))
                events.append(("message_stop", {"type": "message_stop"}))
                self._sse(events, named=True)

        return Handler

    # -- batches ------------------------------------------------------------------------------
    def _create_batch(self, body: dict) -> dict:
        batch_id = f"msgbatch_{next(self._ids):06d}"
        now = time.time()
        batch = {"id": batch_id, "type": "message_batch", "processing_status": "in_progress",
                 "request_counts": {"processing": len(body["requests"]), "succeeded": 0, "errored": 0,
                                    "canceled": 0, "expired": 0},
                 "created_at": _iso(now), "expires_at": _iso(now + 86400), "ended_at": None,
                 "cancel_initiated_at": None, "archived_at": None, "results_url": None,
                 "_requests": body["requests"], "_due": now + self.batch_seconds, "_results": []}
        self.batches[batch_id] = batch
        return {k: v for k, v in batch.items() if not k.startswith("_")}

    def _advance(self, batch: dict) -> None:
        if batch["processing_status"] == "ended" or time.time() < batch["_due"]:
            return
        counts = batch["request_counts"]
        for request in batch["_requests"]:
            fault = self.faults.popleft() if self.faults else None
            if fault:
                result = {"type": "errored", "error": {"type": "error", "error": {"type": "api_error",
                                                                                  "message": "scripted"}}}
                counts["errored"] += 1
            else:
                result = {"type": "succeeded", "message": self.message(request["params"])}
                counts["succeeded"] += 1
            batch["_results"].append({"custom_id": request["custom_id"], "result": result})
        counts["processing"] = 0
        batch.update(processing_status="ended", ended_at=_iso(time.time()),
                     results_url=f"{self.url}/v1/messages/batches/{batch['id']}/results")


def _protocol(path: str) -> str | None:
    """Which API a model request path speaks: messages, responses, `gemini:MODEL` or `gemini:countTokens`."""
    if path == "/v1/messages":
        return "messages"
    if path == "/v1/responses":
        return "responses"
    route = gemini_api.route(path)
    if route is None:
        return None
    return "gemini:countTokens" if route[1] == "countTokens" else f"gemini:{route[0]}"


def _with_cell(converted: dict, body: dict) -> dict:
    if "_cell" in body:
        converted["_cell"] = body["_cell"]
    return converted


def _split_cell(path: str) -> tuple[str | None, str]:
    """`/cell/<token>/v1/messages` -> (token, `/v1/messages`); other paths have no token."""
    parts = path.split("/", 3)
    if len(parts) == 4 and parts[1] == "cell":
        return parts[2], "/" + parts[3]
    return None, path


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def main() -> None:
    """Serve from the command line (for benchmarks): prints the URL, runs until killed."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="A local Messages API server for tests and benchmarks.")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per /v1/messages reply")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of requests that get 429/529/500")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with MessagesServer(latency=args.latency, fault_rate=args.fault_rate, seed=args.seed) as server:
        print(server.url, flush=True)
        try:
            sys.stdin.read()  # until the parent closes our stdin
        finally:
            print(f"requests={len(server.message_requests())} faults={server.faults_served} "
                  f"max_in_flight={server.max_in_flight}", flush=True)


if __name__ == "__main__":
    main()
