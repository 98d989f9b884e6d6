"""Models behind one small async interface: `await model.complete(system, prompt, sample=i)`.

`sample` is the run index: the same (system, prompt, sample) is the same draw, so N runs stay N
independent samples and a response cache can key on it.

May import: the base modules only (errors, fsio, prompts, keywords, install).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Protocol

from ..errors import AutoresearchError


@dataclass(frozen=True)
class ModelSpec:
    """Which model and how to call it. `name` is `sim`, `anthropic:<model>`, `command:<cli>`, `claude-code[:MODEL]`,
    `pi[:PROVIDER/MODEL]`, `codex[:MODEL]`, `gemini[:MODEL]` or `opencode[:PROVIDER/MODEL]` (a harness answering
    as a model, see `autoresearch.targets.model_mode`)."""

    name: str = "sim"
    max_tokens: int = 1024
    temperature: float = 1.0
    seed: int = 0
    options: tuple[tuple[str, Any], ...] = field(default=())

    @property
    def backend(self) -> str:
        return self.name.split(":", 1)[0]

    def option(self, key: str, default: Any = None) -> Any:
        return dict(self.options).get(key, default)


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(*(a + b for a, b in zip(self.astuple(), other.astuple())))

    def astuple(self) -> tuple[int, int, int, int]:
        return (self.input_tokens, self.output_tokens, self.cache_read_input_tokens,
                self.cache_creation_input_tokens)

    @property
    def total(self) -> int:
        return sum(self.astuple())


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage = Usage()
    cost: float = 0.0
    cached: bool = False
    stop_reason: str = ""  # the API's stop reason ("end_turn", "max_tokens", ...), "" when the backend has none
    ticket: str = ""  # the call's id on a run's spend ledger (models.ledger), "" when it was not written ahead


class Model(Protocol):
    """A backend may also define `key_material() -> dict`: what besides the spec and the prompt changes its
    answers (an endpoint, a harness and its version), so the response cache keys on it."""

    spec: ModelSpec

    async def complete(self, system: str, prompt: str, *, sample: int = 0) -> Completion:
        """Answer `prompt` under `system`; raise ModelError when the call fails for good."""
        ...

    async def aclose(self) -> None:
        ...


KNOWN_BACKENDS = ("sim", "anthropic", "command")
# The judge answers a verdict line and a reason; the mutator a whole section body: neither inherits the target's.
ROLE_MAX_TOKENS = {"judge": 1024, "mutator": 4096}
# A harness answering as judge or mutator makes one tool-less call: its own timeout, not the target's agent run's.
ROLE_TIMEOUTS = {"judge": 120, "mutator": 300}
HARNESS_ROLE_OPTIONS = ("binary", "concurrency")  # what a harness target's options pass on to its judge and mutator


def role_spec(target: ModelSpec, role: str) -> ModelSpec:
    """The judge's or mutator's model when the suite names none: the target's model with the role's own settings
    (a harness target: that harness as a model, keeping only its binary and concurrency)."""
    if target.backend in HARNESS_BACKENDS:
        options = {k: v for k, v in target.options if k in HARNESS_ROLE_OPTIONS}
        return replace(target, max_tokens=ROLE_MAX_TOKENS[role],
                       options=tuple(sorted({**options, "timeout": ROLE_TIMEOUTS[role]}.items())))
    return replace(target, max_tokens=ROLE_MAX_TOKENS[role])
# The harnesses: each a target (autoresearch.targets) that also answers as judge or mutator (its model mode).
HARNESS_BACKENDS = ("claude-code", "pi", "codex", "gemini", "opencode")
TARGET_BACKENDS = KNOWN_BACKENDS + HARNESS_BACKENDS


def name_problem(name: str) -> str | None:
    """What is wrong with a model name (None when it is well formed), so a typo is caught before any call."""
    import difflib

    backend, _, rest = name.partition(":")
    if backend not in TARGET_BACKENDS:
        close = difflib.get_close_matches(backend, TARGET_BACKENDS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return (f"unknown model {name!r}: {hint}use sim, anthropic:<model>, command:<cli>, claude-code[:MODEL], "
                "pi[:PROVIDER/MODEL], codex[:MODEL], gemini[:MODEL] or opencode[:PROVIDER/MODEL]")
    if backend in ("anthropic", "command") and not rest.strip():
        return f"model {name!r} names no {'model' if backend == 'anthropic' else 'command'} after '{backend}:'"
    return None
DEFAULT_CACHE = Path(".autoresearch") / "cache"
# Backends a higher wing supplies by name (the simulator in autoresearch.sim, the harnesses answering as models in
# autoresearch.targets), so this wing never imports them: name -> (factory, answers through the response cache).
REGISTERED: dict[str, tuple[Callable[[ModelSpec], Model], bool]] = {}


def register_backend(name: str, factory: Callable[[ModelSpec], Model], cached: bool = True) -> None:
    """Make `open_model` build `name` with `factory`; `cached=False` for a backend that costs nothing."""
    REGISTERED[name] = (factory, cached)


def open_model(spec: ModelSpec, cache: Path | None = DEFAULT_CACHE) -> Model:
    """Build the model named by `spec`; real backends answer through the response cache at `cache`
    (None turns it off). Backends import lazily to keep start-up fast."""
    if spec.backend in REGISTERED:
        factory, cached = REGISTERED[spec.backend]
        model: Model = factory(spec)
        if not cached:
            return model
    elif spec.backend == "anthropic":
        from .anthropic_api import AnthropicModel

        model = AnthropicModel(spec)
    elif spec.backend == "command":
        from .command import CommandModel

        model = CommandModel(spec)
    else:
        raise AutoresearchError(f"unknown model {spec.name!r}: use sim, anthropic:<model>, command:<cli>, "
                                "claude-code[:MODEL] or pi[:PROVIDER/MODEL]")
    if cache is None:
        return model
    from .cache import CachedModel

    return CachedModel(model, cache)
