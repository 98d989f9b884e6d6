"""A content-addressed response cache on disk, so a re-run of an unchanged call costs nothing.

The key is the model, its settings, the system prompt, the prompt and the sample (run) index, so
N runs stay N independent samples. Only successes are stored; errors are never cached.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from . import Completion, Model, ModelSpec, Usage


def cache_key(spec: ModelSpec, system: str, prompt: str, sample: int) -> str:
    material = json.dumps([spec.name, spec.max_tokens, spec.temperature, spec.seed, repr(spec.options), system,
                           prompt, sample], ensure_ascii=False)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class CachedModel:
    """Wraps a model; a hit returns the stored text and usage with cost 0 and `cached=True`."""

    def __init__(self, inner: Model, root: Path):
        self.inner, self.spec, self.root = inner, inner.spec, Path(root)
        self.hits = self.misses = 0

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    async def complete(self, system: str, prompt: str, *, sample: int = 0) -> Completion:
        from ..journal import atomic_write

        path = self._path(cache_key(self.spec, system, prompt, sample))
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            self.hits += 1
            return Completion(data["text"], Usage(**data["usage"]), 0.0, cached=True)
        except (OSError, ValueError, KeyError, TypeError):
            pass
        completion = await self.inner.complete(system, prompt, sample=sample)  # raises on error: nothing stored
        self.misses += 1
        atomic_write(path, json.dumps({"text": completion.text, "usage": asdict(completion.usage),
                                       "cost": completion.cost}))
        return completion

    async def count_tokens(self, system: str, prompt: str) -> int:
        return await self.inner.count_tokens(system, prompt)  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        await self.inner.aclose()
