"""The `anthropic:<model>` backend, on the official SDK's AsyncAnthropic.

The skill goes in the system prompt marked for prompt caching, so repeated runs pay cache-read
rates. Retries (429, 529, other 5xx, 408, 409, timeouts, broken or garbage responses) are ours, with
exponential backoff, jitter and the server's retry-after, so they can be counted; the SDK's own are
off. A call that still fails is a ModelError: the runner records an error, never a fail.
With the option `batch: true` calls are gathered into Message Batches (half price), polled until done.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
from contextvars import ContextVar
from dataclasses import replace
from typing import Any

from ..errors import AutoresearchError, ModelError
from . import Completion, ModelSpec, Usage
from .ledger import Ticket, new_ticket

log = logging.getLogger("autoresearch")

# US dollars per million tokens: input, output. Cache writes cost 1.25x input, reads 0.1x (5-minute TTL).
# Longest matching prefix wins; override per model with `prices: {input, output, cache_write, cache_read}`.
# A model name not in the table (a local model behind the Messages API) costs 0 unless `prices` is given.
PRICES: dict[str, tuple[float, float]] = {
    "claude-opus-4-5": (5.0, 25.0),
    "claude-opus-4": (15.0, 75.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-haiku-4": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "claude-fake": (3.0, 15.0),
}
UNPRICED = (0.0, 0.0)
_CALL: ContextVar[Ticket | None] = ContextVar("autoresearch_anthropic_call", default=None)  # the call being sent
RETRYABLE_STATUS = {408, 409, 429}


def _trace_requests(client: Any) -> bool:
    """Have each request of `client` (the SDK's HTTP client) write its call's ticket the moment its body (the
    bytes that complete it) leaves and fsync it once sent (a trace hook): the window in which a kill leaves a
    ticket the provider never saw is the body's one socket write, microseconds; False if the SDK
    gives no such hook (then the ticket is written just before the SDK is called)."""
    hooks = getattr(getattr(client, "_client", None), "event_hooks", None)
    if not isinstance(hooks, dict) or not isinstance(hooks.get("request"), list):
        return False

    async def watch(request: Any) -> None:
        ticket = _CALL.get()
        extensions = getattr(request, "extensions", None)
        if ticket is None or not isinstance(extensions, dict) or "trace" in extensions:
            return

        async def trace(event: str, info: dict) -> None:
            if event.endswith("send_request_body.started"):
                ticket.leaving()
            elif event.endswith("send_request_body.complete"):
                ticket.on_wire()

        extensions["trace"] = trace

    hooks["request"].append(watch)
    return True


def _table_match(spec: ModelSpec) -> str | None:
    model = spec.name.split(":", 1)[1] if ":" in spec.name else spec.name
    return max((p for p in PRICES if model.startswith(p)), key=len, default=None)


def is_priced(spec: ModelSpec) -> bool:
    """False for a model name the price table does not know and no `prices` option prices: it counts as $0."""
    return _table_match(spec) is not None or bool(spec.option("prices"))


def price_table(spec: ModelSpec) -> dict[str, float]:
    """Per-million-token prices for this model: the user's `prices` option over the built-in table."""
    match = _table_match(spec)
    base_in, base_out = PRICES[match] if match else UNPRICED
    table = {"input": base_in, "output": base_out, "cache_write": base_in * 1.25, "cache_read": base_in * 0.1}
    table.update({k: float(v) for k, v in dict(spec.option("prices", ()) or ()).items()})
    return table


def cost_of(usage: Usage, prices: dict[str, float], discount: float = 1.0) -> float:
    return discount * (usage.input_tokens * prices["input"] + usage.output_tokens * prices["output"]
                       + usage.cache_creation_input_tokens * prices["cache_write"]
                       + usage.cache_read_input_tokens * prices["cache_read"]) / 1_000_000


def completion_of(message: dict, prices: dict[str, float], discount: float = 1.0) -> Completion:
    """A Messages API reply (as JSON) as our Completion: its text blocks, usage and cost.

    A reply of the wrong shape (content or usage of the wrong type, a count that is not a whole
    number) is a ModelError saying what was odd: one error cell, never a crash."""
    content, raw = message.get("content"), message.get("usage")
    if not isinstance(content, list) or not all(isinstance(b, dict) for b in content):
        raise ModelError(f"odd reply: content is {_shape(content)}, expected a list of blocks")
    if not isinstance(raw, dict):
        raise ModelError(f"odd reply: usage is {_shape(raw)}, expected an object of token counts")
    counts = []
    for key in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"):
        value = raw.get(key) or 0
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ModelError(f"odd reply: usage.{key} is {_shape(value)}, expected a whole number")
        counts.append(value)
    texts = [block.get("text") for block in content if block.get("type") == "text"]
    if not all(isinstance(t, str) for t in texts):
        raise ModelError("odd reply: a text block's text is not a string")
    usage = Usage(*counts)
    stop = message.get("stop_reason")
    return Completion("".join(texts), usage, cost_of(usage, prices, discount),
                      stop_reason=stop if isinstance(stop, str) else "")


def _shape(value: Any) -> str:
    """What an odd value is, briefly: its type and the start of its text."""
    return "null" if value is None else f"a {type(value).__name__} ({str(value)[:40]!r})"


def _flat(params: dict) -> dict:
    """Request params as the batch API wants them: extras merged into the body."""
    flat = {k: v for k, v in params.items() if k != "extra_body"}
    flat.update(params.get("extra_body", {}))
    return flat


class AnthropicModel:
    """Messages API model; options: timeout, max_retries, retry_base, concurrency, prices, batch."""

    def __init__(self, spec: ModelSpec):
        from .sdk import client_sdk

        if not os.environ.get("ANTHROPIC_API_KEY") and not os.environ.get("ANTHROPIC_AUTH_TOKEN"):
            raise AutoresearchError(f"model {spec.name}: ANTHROPIC_API_KEY is not set (or use model `sim`, or a "
                                    "`command:` model that runs your harness with its own login)")
        self.spec = spec
        self.model = spec.name.split(":", 1)[1]
        self.prices = price_table(spec)
        self.max_retries = int(spec.option("max_retries", 4))
        self.retry_base = float(spec.option("retry_base", 0.5))
        self.retries = 0
        self._sdk = anthropic = client_sdk()  # the client alone, not the whole SDK: start-up counts
        self._client = anthropic.AsyncAnthropic(max_retries=0, timeout=float(spec.option("timeout", 120)))
        self.in_flight = int(spec.option("concurrency", 16))  # calls in flight at most, whoever asks
        self._limit = asyncio.Semaphore(self.in_flight)
        self._batch = bool(spec.option("batch", False))
        self._pending: list[tuple[str, dict, asyncio.Future]] = []
        self._collector: asyncio.Task | None = None
        self._ids = itertools.count()
        self._traced = _trace_requests(self._client)

    def key_material(self) -> dict:
        """The endpoint answers, not only the model name: the cache must not serve one server's replies for another."""
        return {"endpoint": str(self._client.base_url)}

    def _params(self, system: str, prompt: str) -> dict:
        params: dict[str, Any] = {"model": self.model, "max_tokens": self.spec.max_tokens,
                                  "messages": [{"role": "user", "content": prompt}]}
        if self.spec.temperature != 1.0:  # 1.0 is the API's default; recent SDKs take it only as an extra
            params["extra_body"] = {"temperature": self.spec.temperature}
        if system:
            params["system"] = [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]
        return params

    async def complete(self, system: str, prompt: str, *, sample: int = 0) -> Completion:
        params = self._params(system, prompt)
        if self._batch:
            return await self._enqueue(params)
        async with self._limit:
            ticket = new_ticket()
            token = _CALL.set(ticket)
            try:
                data = await self._with_retries(lambda: self._create_raw(params, ticket))
                completion = completion_of(data, self.prices)
            except ModelError:
                if ticket is not None and ticket.sent:  # failed for good: an error cell, not charged
                    ticket.ledger.settle(ticket.id)
                raise
            finally:
                _CALL.reset(token)
        return replace(completion, ticket=ticket.id) if ticket is not None and ticket.sent else completion

    async def _create_raw(self, params: dict, ticket: Ticket | None = None) -> dict:
        """One call, its JSON body read directly: skipping the SDK's model objects halves our per-call CPU."""
        import json

        if ticket is not None and not self._traced:  # no trace of the wire: write the ticket just before the call
            ticket.leaving()
        raw = await self._client.messages.with_raw_response.create(**params)
        data = json.loads(raw.http_response.content)
        if not isinstance(data, dict) or "content" not in data or "usage" not in data:
            raise ValueError(f"not a Messages API reply: {str(data)[:80]}")
        return data

    async def count_tokens(self, system: str, prompt: str) -> int:
        params = self._params(system, prompt)
        params.pop("max_tokens")
        params.pop("extra_body", None)
        async with self._limit:
            result = await self._with_retries(lambda: self._client.messages.count_tokens(**params))
        return result.input_tokens

    def _retryable(self, exc: Exception) -> bool:
        sdk = self._sdk
        if isinstance(exc, (sdk.APITimeoutError, sdk.APIConnectionError, sdk.APIResponseValidationError, ValueError)):
            return True
        return isinstance(exc, sdk.APIStatusError) and (exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500)

    def _delay(self, attempt: int, exc: Exception) -> float:
        headers = getattr(getattr(exc, "response", None), "headers", None) or {}
        for key, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
            try:
                if headers.get(key) is not None:
                    return min(60.0, max(0.0, float(headers[key]) * scale))
            except ValueError:
                pass
        return min(30.0, self.retry_base * 2**attempt) * random.uniform(0.75, 1.25)

    async def _with_retries(self, call: Any) -> Any:
        for attempt in itertools.count():
            try:
                return await call()
            except Exception as exc:
                if not isinstance(exc, (self._sdk.APIError, ValueError)):
                    raise
                if not self._retryable(exc) or attempt >= self.max_retries:
                    tries = f" after {attempt + 1} attempts" if attempt else ""
                    raise ModelError(f"{self.spec.name}: {type(exc).__name__}{tries}: {str(exc)[:200]}") from exc
                self.retries += 1
                await asyncio.sleep(self._delay(attempt, exc))

    # -- Message Batches --------------------------------------------------------------------
    async def _enqueue(self, params: dict) -> Completion:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((f"r{next(self._ids)}", params, future))
        if self._collector is None:
            self._collector = asyncio.create_task(self._collect())
        return await future

    async def _collect(self) -> None:
        await asyncio.sleep(float(self.spec.option("batch_window", 0.5)))
        items, self._pending, self._collector = self._pending, [], None
        try:
            await self._run_batch(items)
        except Exception as exc:  # the whole batch failed: every caller gets an error result
            for _, _, future in items:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, ModelError) else ModelError(f"batch failed: {exc}"))

    async def _run_batch(self, items: list[tuple[str, dict, asyncio.Future]]) -> None:
        batches = self._client.messages.batches
        created = await self._with_retries(lambda: batches.create(
            requests=[{"custom_id": cid, "params": _flat(params)} for cid, params, _ in items]))
        poll = float(self.spec.option("batch_poll", 10))
        while True:
            batch = await self._with_retries(lambda: batches.retrieve(created.id))
            counts = batch.request_counts
            log.info("batch %s: %s, %d processing, %d succeeded, %d errored", batch.id, batch.processing_status,
                     counts.processing, counts.succeeded, counts.errored)
            if batch.processing_status == "ended":
                break
            await asyncio.sleep(poll)
        futures = {cid: future for cid, _, future in items}
        async for entry in await self._with_retries(lambda: batches.results(created.id)):
            future = futures.pop(entry.custom_id, None)
            if future is None or future.done():
                continue
            if entry.result.type == "succeeded":
                try:
                    future.set_result(completion_of(entry.result.message.model_dump(), self.prices, 0.5))
                except ModelError as exc:
                    future.set_exception(exc)
            else:
                future.set_exception(ModelError(f"{self.spec.name}: batch request {entry.result.type}"))
        for future in futures.values():
            if not future.done():
                future.set_exception(ModelError(f"{self.spec.name}: no batch result"))

    async def aclose(self) -> None:
        await self._client.close()
