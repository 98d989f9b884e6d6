"""Write-ahead of paid calls: a call goes on the run's spend ledger just before its request leaves, so that a
kill -9 cannot lose from the budgets a call the provider saw (and billed) but the run never heard back from.

A run sets `CALL_LEDGER` (the loop's spend ledger) while it works; a backend that sends requests itself (the
Messages API) takes a `Ticket` per call, writes it with `sent` the moment its first request's body starts on the wire,
and hands the ticket's id back on the Completion, so the run's charge of the answer settles it. A ticket never
settled was paid for as far as anyone can tell: a resumed run counts it.
"""

from __future__ import annotations

import itertools
import os
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol


class CallLedger(Protocol):
    def sent(self, ticket: str, cache: str | None) -> None:
        """Record (written, visible to a resumed run) that the call `ticket` is leaving; `cache`: its answer's file."""
        ...

    def durable(self) -> None:
        """Make what `sent` wrote survive a power loss too (fsync), once the request is on the wire."""
        ...

    def settle(self, ticket: str) -> None:
        """The call `ticket` failed for good: it is not charged (as an error cell is not)."""
        ...


CALL_LEDGER: ContextVar[CallLedger | None] = ContextVar("autoresearch_call_ledger", default=None)
CACHE_ENTRY: ContextVar[str | None] = ContextVar("autoresearch_cache_entry", default=None)  # set by the cache

_numbers = itertools.count(1)


@dataclass
class Ticket:
    """One call's place on the ledger: written once, at its first request (retries are the same call)."""

    ledger: CallLedger
    cache: str | None
    id: str = ""
    sent: bool = False

    def __post_init__(self) -> None:
        self.id = f"{os.getpid()}.{next(_numbers)}"

    def leaving(self) -> None:
        """The request's last bytes (its body) are about to go: write the ticket (before them, never after)."""
        if not self.sent:
            self.ledger.sent(self.id, self.cache)
            self.sent = True

    def on_wire(self) -> None:
        """The request is out: make the ticket durable (fsync after the send, so it does not widen the window)."""
        self.ledger.durable()


def new_ticket() -> Ticket | None:
    """A ticket for a call about to be made, when a run keeps a ledger (None otherwise: nothing to write)."""
    ledger = CALL_LEDGER.get()
    return Ticket(ledger, CACHE_ENTRY.get()) if ledger is not None else None
