"""Cross-harness keep gate (`run --also-on TARGET`, suite key `guard_targets:`).

A candidate that wins on the main target is kept only if, on every guard target, neither the overall
rate nor any eval falls beyond noise on the guard's own runs of the same train inputs: the one-sided
flip test on whole outputs at alpha for the overall rate, the keep rule's per-eval sign tests (Holm-
corrected across evals) for each eval. The best version's guard cells are stored beside its own, so
each candidate costs one guard evaluation per target; the holdout is measured on every target too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from typing import Any, Callable, Sequence

from ..decide.stats import eval_drops, pair
from ..evaluate.cells import cells_map
from ..evaluate.runner import EvalResult, Models, Spend, evaluate
from ..models import ModelSpec
from ..runs.journal import RunDir
from ..suite.suite import Suite
from .entries import rate_dict
from .inflight import ChargedSpend

HOLDS, REGRESSED = "holds", "regressed"


def guard_specs(suite: Suite, names: Sequence[str]) -> list[ModelSpec]:
    """The guard targets named: the suite's `guard_targets:` entry of that name (with its settings), else the name."""
    return [next((s for s in suite.guard_targets if s.name == n), ModelSpec(n)) for n in names]


def _split(name: str, split: str) -> str:
    """Where a guard's cells of a version are stored: `<digest>.guard-<target>.<split>.json`."""
    return f"guard-{re.sub(r'[^A-Za-z0-9._-]', '_', name)}.{split}"


def guard_verdict(target: str, candidate: dict, best: dict, alpha: float) -> dict[str, Any]:
    """The candidate against the best on one guard target's cells: the overall and per-eval drop tests."""
    paired = pair(candidate, best)
    drops = eval_drops(candidate, best, alpha)
    overall = paired.p_worse < alpha
    return {"target": target, "verdict": REGRESSED if overall or drops else HOLDS,
            "before": round(paired.best_rate, 6), "after": round(paired.candidate_rate, 6), "wins": paired.wins,
            "losses": paired.losses, "p_worse": round(paired.p_worse, 6), "overall_regressed": overall,
            "evals": [{"eval": d.eval_id, "before": d.before, "after": d.after, "n": d.n,
                       "p_value": round(d.p_value, 6)} for d in drops]}


def guard_refusal(verdicts: dict[str, dict] | None, alpha: float) -> str | None:
    """Why the guards refuse a keep (the first target that regressed, with its harness and evals), or None."""
    for target, v in (verdicts or {}).items():
        if v["verdict"] != REGRESSED:
            continue
        what = [f"eval '{d['eval']}' fell {d['before']}/{d['n']} -> {d['after']}/{d['n']} (p = {d['p_value']:.4f})"
                for d in v["evals"]]
        if v["overall_regressed"]:
            what.append(f"the overall rate fell {v['before']:.1%} -> {v['after']:.1%} (p = {v['p_worse']:.4f})")
        return f"regression on guard target {target} (one-sided, at {alpha:g}): {'; '.join(what)}"
    return None


class Guards:
    """The guard targets of a run, each with its own models, measuring versions on the same inputs and runs."""

    def __init__(self, suite: Suite, specs: Sequence[ModelSpec], run: RunDir, models: Models, alpha: float,
                 charge: Callable[[Spend, str], None]):
        self.run, self.alpha, self.charge = run, alpha, charge
        self.suites = [dataclasses.replace(suite, model=spec) for spec in specs]
        self.models = [models.for_target(spec) for spec in specs]

    @property
    def names(self) -> list[str]:
        return [s.model.name for s in self.suites]

    async def measure(self, text: str, digest: str, runs: Sequence[int], inputs: Sequence, split: str,
                      spend: Spend, names: Sequence[str] | None = None) -> dict[str, EvalResult]:
        """Evaluate one version on the guard targets (`names`: all) at once, store its cells, charge the calls.

        Cells already stored for the version on other runs are kept: the stored file grows with the runs."""
        chosen = [(s, m) for s, m in zip(self.suites, self.models) if names is None or s.model.name in names]
        share = max(1, self.suites[0].concurrency // max(1, len(chosen)))
        results = await asyncio.gather(*(evaluate(s, text, m, runs=list(runs), inputs=list(inputs), concurrency=share,
                                                  spend=ChargedSpend(self.charge)) for s, m in chosen))
        measured = {}
        for (s, _), result in zip(chosen, results):
            spend.merge(result.spend)  # each call was charged to the ledger as it completed
            stored = self.run.load_cells(digest, _split(s.model.name, split))
            if stored:
                kept = [c for c in stored[0] if c.run not in set(runs)]
                result = EvalResult(kept, result.splits, stored[1], traces=self.run.load_traces(
                    digest, _split(s.model.name, split))).merged(result)
            self.run.save_cells(digest, result.cells, result.outputs, result.traces, _split(s.model.name, split))
            measured[s.model.name] = result
        return measured

    async def baseline(self, text: str, digest: str, runs: Sequence[int], train: Sequence, holdout_runs: Sequence[int],
                       holdout: Sequence, spend: Spend) -> dict[str, dict]:
        """The baseline on every guard target: its train cells (which the first candidates pair with) and holdout."""
        trained = await self.measure(text, digest, runs, train, "train", spend)
        held = await self.measure(text, digest, holdout_runs, holdout, "holdout", spend) if holdout else {}
        return {n: {"train": trained[n].rate().to_dict(), "holdout": held[n].rate().to_dict() if n in held else None}
                for n in self.names}

    async def check(self, candidate_text: str, candidate_digest: str, best_text: str, best_digest: str,
                    runs: Sequence[int], train: Sequence, spend: Spend) -> dict[str, dict]:
        """Each guard's verdict on the candidate against the best, on the same train inputs and `runs` (those
        the main target decided on); the best's runs not yet measured on a guard are measured first."""
        for name in self.names:
            stored = self.run.load_cells(best_digest, _split(name, "train"))
            missing = sorted(set(runs) - {c.run for c in stored[0]}) if stored else list(runs)
            if missing:
                await self.measure(best_text, best_digest, missing, train, "train", spend, [name])
        candidate = await self.measure(candidate_text, candidate_digest, runs, train, "train", spend)
        verdicts = {}
        for name in self.names:
            best_cells = [c for c in self.run.load_cells(best_digest, _split(name, "train"))[0] if c.run in set(runs)]
            verdicts[name] = guard_verdict(name, cells_map(candidate[name].cells), cells_map(best_cells), self.alpha)
        return verdicts

    async def holdout(self, text: str, digest: str, runs: Sequence[int], inputs: Sequence,
                      spend: Spend) -> dict[str, dict]:
        """A kept version's holdout rate on every guard target."""
        held = await self.measure(text, digest, runs, inputs, "holdout", spend)
        return {n: rate_dict(r.cells) for n, r in held.items()}

    async def aclose(self) -> None:
        for m in self.models:
            await m.aclose()
