"""The loop's configuration: keep rule, target, plateau, budget, sections; and what `run --resume` may change."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass

from ..decide.stats import KeepRule
from ..evaluate.cost import Budget


@dataclass(frozen=True)
class LoopConfig:
    rule: KeepRule = KeepRule()
    target: float = 0.95
    plateau: int = 10
    budget: Budget = Budget()
    sections: tuple[str, ...] = ()
    allow_description: bool = False
    template: str | None = None
    git: bool = False
    guards: tuple[str, ...] = ()  # guard targets: a keep must not regress on any of them (run --also-on)
    uplift: bool = False  # measure the no-skill arm with the baseline; the baseline and each keep get their uplift
    parallel: int = 1  # candidates evaluated at once, on different sections; at most one kept per round

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "LoopConfig":
        return cls(KeepRule(**data["rule"]), data["target"], data["plateau"], Budget(**data["budget"]),
                   tuple(data["sections"]), data["allow_description"], data["template"], data["git"],
                   tuple(data.get("guards", ())), data.get("uplift", False), data.get("parallel", 1))


def reconfigure(config: LoopConfig, budget: Budget | None = None, sections: tuple[str, ...] = (),
                target: float | None = None, plateau: int | None = None) -> tuple[LoopConfig, dict]:
    """`config` with the options given on resume applied, and what changed: {"budget.calls": [old, new], ...}."""
    given = {k: v for k, v in asdict(budget).items() if v is not None} if budget else {}
    new = dataclasses.replace(config, budget=dataclasses.replace(config.budget, **given),
                              sections=sections or config.sections,
                              target=config.target if target is None else target,
                              plateau=config.plateau if plateau is None else plateau)
    old_flat, new_flat = _flat(config.to_dict()), _flat(new.to_dict())
    return new, {k: [old_flat[k], v] for k, v in new_flat.items() if old_flat[k] != v}


def _flat(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return out
