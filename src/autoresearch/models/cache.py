"""A content-addressed response cache on disk, so a re-run of an unchanged call costs nothing.

The key is everything that changes the answer: the model, its settings and options, the system prompt,
the prompt, the sample (run) index (so N runs stay N independent samples), and the backend's own key
material (its endpoint; a harness and its version), so another server's replies are never served.
Only successes are stored; errors are never cached.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from . import Completion, Model, ModelSpec, Usage


def cache_key(spec: ModelSpec, system: str, prompt: str, sample: int, material: dict | None = None) -> str:
    """The hash of everything that changes the answer; `material` is the backend's (endpoint, harness...)."""
    parts = [spec.name, spec.max_tokens, spec.temperature, spec.seed, repr(spec.options), system, prompt, sample,
             sorted((str(k), str(v)) for k, v in (material or {}).items())]
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8")).hexdigest()


def key_material(model: Model, extra: dict | None = None) -> dict:
    """The backend's own key material (its `key_material()`, if any) plus `extra` from the caller."""
    own = getattr(model, "key_material", None)
    return {**(own() if own else {}), **(extra or {})}


class CachedModel:
    """Wraps a model; a hit returns the stored text and usage with cost 0 and `cached=True`.
    `extra` adds key material the backend does not know itself (for example a harness's version)."""

    def __init__(self, inner: Model, root: Path, extra: dict | None = None):
        self.inner, self.spec, self.root = inner, inner.spec, Path(root)
        self.in_flight: int | None = getattr(inner, "in_flight", None)
        self.material = key_material(inner, extra)
        self.hits = self.misses = 0

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    async def complete(self, system: str, prompt: str, *, sample: int = 0) -> Completion:
        from ..fsio import atomic_write

        path = self._path(cache_key(self.spec, system, prompt, sample, self.material))
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            self.hits += 1
            return Completion(data["text"], Usage(**data["usage"]), 0.0, cached=True,
                              stop_reason=data.get("stop_reason", ""))
        except (OSError, ValueError, KeyError, TypeError):
            pass
        from .ledger import CACHE_ENTRY

        entry = CACHE_ENTRY.set(str(path))  # a ticket names the file its answer goes to: a resumed run reads its cost
        try:
            completion = await self.inner.complete(system, prompt, sample=sample)  # raises on error: nothing stored
        finally:
            CACHE_ENTRY.reset(entry)
        self.misses += 1
        atomic_write(path, json.dumps({"text": completion.text, "usage": asdict(completion.usage),
                                       "cost": completion.cost, "stop_reason": completion.stop_reason}))
        return completion

    async def count_tokens(self, system: str, prompt: str) -> int:
        return await self.inner.count_tokens(system, prompt)  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        await self.inner.aclose()
