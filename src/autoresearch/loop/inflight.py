"""Spend in flight: spent since the last journal line, kept on disk so a kill -9 cannot lose it from the budget.

The run's spend ledger (LEDGER_FILE, one JSON line each, appended) holds two kinds of line until a journal line
carries what they add up to:
- a ticket, `{"sent": ID, "cache": FILE}`, written the moment a Messages API call's request starts on the wire
  (before its first byte; fsync'd once the request is out: `autoresearch.models.ledger`);
- a charge, `{"calls", "tokens", "cost", "settles": ID}`, written as each answer is recorded (a harness cell's
  turns, a judge's or the mutator's call); `settles` names the ticket it pays for, if any.

A resumed run charges the next journal line with every charge of that line, plus every ticket no charge settled:
a call the provider may have answered after the kill. Its tokens and cost are the answer's in the response cache
when the answer got that far, else it counts as one call of unknown size.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Callable

from ..evaluate.runner import Spend
from ..models import Usage
from ..runs.journal import RunDir

LEDGER_FILE = "spend.jsonl"  # spend not yet on a journal line, so a crash cannot lose it from the budget
INFLIGHT_FILE = "inflight.json"  # the ledger of earlier versions (one rewritten total): still read on resume


class InFlight:
    """Everything spent since the run's last journal line, mirrored in LEDGER_FILE until a line carries it;
    also the run's CALL_LEDGER (models.ledger), so paid calls are written before they are sent."""

    def __init__(self, run: RunDir, next_id: Callable[[], int] = lambda: 0):
        self.run = run
        self.spend = Spend()
        self.next_id = next_id  # the journal line that the calls being made now will be charged to
        self._handle = None

    def _append(self, record: dict) -> None:
        """One ledger line, written through to the OS at once (a kill -9 cannot lose it)."""
        if self._handle is None:
            path = self.run.path / LEDGER_FILE
            torn = path.exists() and path.stat().st_size and not path.read_bytes().endswith(b"\n")
            self._handle = open(path, "a", encoding="utf-8")
            if torn:  # a line cut by a kill: end it, so it does not swallow the next
                self._handle.write("\n")
        self._handle.write(json.dumps(record) + "\n")
        self._handle.flush()

    def charge(self, spent: Spend, next_id: int, ticket: str = "") -> None:
        """Write what was just spent to the ledger (settling `ticket`, the call it pays for): after a kill -9
        the resumed run charges it to its next journal line, so the budgets still hold."""
        if not (spent.calls or spent.cost or spent.usage.total or ticket):
            return
        self.spend.merge(spent)
        self._append({"next_id": next_id, "calls": spent.calls, "tokens": asdict(spent.usage), "cost": spent.cost,
                      **({"settles": ticket} if ticket else {})})

    def sent(self, ticket: str, cache: str | None) -> None:
        """A paid call is leaving: on the ledger before the provider can see it (CALL_LEDGER)."""
        self._append({"next_id": self.next_id(), "sent": ticket, "cache": cache})

    def durable(self) -> None:
        """What the ledger holds survives a power loss too (a kill -9 needs no fsync)."""
        if self._handle is not None:
            os.fsync(self._handle.fileno())

    def settle(self, ticket: str) -> None:
        """A call that failed for good is an error cell and costs nothing, as in a run never killed."""
        self.charge(Spend(), self.next_id(), ticket)

    def live(self, next_id: int) -> "ChargedSpend":
        """A Spend that charges each call to the ledger the moment it is recorded (not once the batch ends),
        so a kill -9 in the middle of an evaluation loses no paid call from the budgets."""
        return ChargedSpend(lambda spent, ticket: self.charge(spent, next_id, ticket))

    def reclaim(self, next_id: int) -> Spend:
        """On resume: what a killed attempt spent before its journal line `next_id` was written (nothing if none),
        its calls in flight at the kill included (`unsettled`)."""
        records = _read_lines(self.run.path / LEDGER_FILE)
        settled = {r["settles"] for r in records if isinstance(r.get("settles"), str)}
        carried = _legacy(self.run.path / INFLIGHT_FILE, next_id)
        for record in records:
            if record.get("next_id") != next_id:
                continue
            if "sent" in record:
                if isinstance(record["sent"], str) and record["sent"] not in settled:
                    carried.merge(unsettled(record.get("cache")))
            else:
                carried.merge(_charged(record))
        self.spend.merge(carried)
        return carried

    def clear(self) -> None:
        """A journal line now carries everything spent: nothing is in flight."""
        self.spend = Spend()
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        (self.run.path / LEDGER_FILE).unlink(missing_ok=True)
        (self.run.path / INFLIGHT_FILE).unlink(missing_ok=True)


def unsettled(cache: str | None) -> Spend:
    """A call sent but never heard back from, counted as paid: at the cost of its answer when the response
    cache stored it before the kill, else one call of unknown size."""
    try:
        data = json.loads(open(cache, encoding="utf-8").read()) if cache else None
        return Spend(1, Usage(**data["usage"]), float(data.get("cost", 0.0)))
    except (OSError, ValueError, KeyError, TypeError):
        return Spend(1)


def _read_lines(path) -> list[dict]:
    """The ledger's lines; a line torn by a kill in mid-write is skipped (its call was not yet sent)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _charged(record: dict) -> Spend:
    """The spend a ledger line (or the legacy file) records; a damaged one is as unreadable as garbage."""
    try:
        return Spend(int(record.get("calls", 0)), Usage(**record.get("tokens", {})), float(record.get("cost", 0.0)))
    except (TypeError, ValueError):
        return Spend()


def _legacy(path, next_id: int) -> Spend:
    """The in-flight total an earlier version wrote (INFLIGHT_FILE), if it is for journal line `next_id`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return Spend()
    if not isinstance(data, dict) or data.get("next_id") != next_id:
        return Spend()
    return _charged(data)


class ChargedSpend(Spend):
    """Spend whose every recorded call is also handed to `charge` at once, with the ledger ticket it settles
    (cache hits cost nothing and are not)."""

    def __init__(self, charge):
        super().__init__()
        self._charge = charge

    def record(self, answer, calls: int = 1) -> None:
        super().record(answer, calls)
        if not answer.cached:
            spent = Spend()
            spent.record(answer, calls)
            self._charge(spent, getattr(answer, "ticket", ""))
