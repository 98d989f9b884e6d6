"""Spend in flight: spent since the last journal line, kept on disk so a kill -9 cannot lose it from the budget."""

from __future__ import annotations

import json
from dataclasses import asdict

from ..evaluate.runner import Spend
from ..models import Usage
from ..runs.journal import RunDir

INFLIGHT_FILE = "inflight.json"  # spend not yet on a journal line, so a crash cannot lose it from the budget


class InFlight:
    """Everything spent since the run's last journal line, mirrored in INFLIGHT_FILE until a line carries it."""

    def __init__(self, run: RunDir):
        self.run = run
        self.spend = Spend()

    def charge(self, spent: Spend, next_id: int) -> None:
        """Write what was just spent to the run before the next batch of calls: after a kill -9 the
        resumed run charges it to its next journal line, so the budgets still hold."""
        if not (spent.calls or spent.cost or spent.usage.total):
            return
        self.spend.merge(spent)
        self.run.write_text(INFLIGHT_FILE, json.dumps({
            "next_id": next_id, "calls": self.spend.calls,
            "tokens": asdict(self.spend.usage), "cost": self.spend.cost}) + "\n")

    def live(self, next_id: int) -> "ChargedSpend":
        """A Spend that charges each call to INFLIGHT_FILE the moment it is recorded (not once the batch ends),
        so a kill -9 in the middle of an evaluation loses no paid call from the budgets."""
        return ChargedSpend(lambda spent: self.charge(spent, next_id))

    def reclaim(self, next_id: int) -> Spend:
        """On resume: what a killed attempt spent before its journal line `next_id` was written (nothing if none)."""
        carried = Spend()
        try:
            data = json.loads((self.run.path / INFLIGHT_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return carried
        if not isinstance(data, dict) or data.get("next_id") != next_id:
            return carried
        try:
            carried = Spend(int(data["calls"]), Usage(**data["tokens"]), float(data["cost"]))
        except (LookupError, TypeError, ValueError):  # a damaged file: as unreadable as garbage
            return Spend()
        self.spend.merge(carried)
        return carried

    def clear(self) -> None:
        """A journal line now carries everything spent: nothing is in flight."""
        self.spend = Spend()
        (self.run.path / INFLIGHT_FILE).unlink(missing_ok=True)


class ChargedSpend(Spend):
    """Spend whose every recorded call is also handed to `charge` at once (cache hits cost nothing and are not)."""

    def __init__(self, charge):
        super().__init__()
        self._charge = charge

    def record(self, answer, calls: int = 1) -> None:
        super().record(answer, calls)
        if not answer.cached:
            spent = Spend()
            spent.record(answer, calls)
            self._charge(spent)
