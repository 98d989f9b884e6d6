"""One writer at a time: a lock per run and per target file, so two runs (or two `try`) never race.

A lock is `fcntl.flock` on a small file that also names its holder (pid, run id, command), so a
second writer is told who holds it. The kernel drops a lock when its holder dies, even by kill -9.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..errors import AutoresearchError

RUN_LOCK = "lock"  # in the run directory, beside the journal


class LockHeld(AutoresearchError):
    """Another process holds the lock; `holder` is what it wrote about itself."""

    def __init__(self, what: str, holder: dict):
        self.holder = holder
        who = f"pid {holder.get('pid', '?')}, run {holder.get('run', '?')}"
        doing = f" ({holder['command']})" if holder.get("command") else ""
        super().__init__(f"{what} is in use by another autoresearch process: {who}{doing}. Wait for it to end, or "
                         f"stop it with `autoresearch finalize {holder.get('run', 'RUN')}`")


@dataclass
class Lock:
    """An exclusive, non-blocking lock on `path`; `what` names the thing it guards in messages."""

    path: Path
    what: str
    handle: int | None = None

    def acquire(self, run_id: str, record: bool = True) -> None:
        """Take the lock or raise LockHeld naming the holder; `record` writes who we are into the file."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockHeld(self.what, self.holder()) from None
        if record:
            me = {"pid": os.getpid(), "run": run_id, "command": " ".join(["autoresearch", *sys.argv[1:2]])}
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me).encode(), 0)
        self.handle = fd

    def release(self) -> None:
        if self.handle is not None:
            os.close(self.handle)  # closing drops the flock
            self.handle = None

    def holder(self) -> dict:
        """What the current holder wrote about itself ({} when unreadable)."""
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def is_held(self) -> bool:
        """Whether another process holds the lock now (a probe: takes and drops it when free)."""
        try:
            self.acquire("", record=False)
        except LockHeld:
            return True
        self.release()
        return False


def run_lock(run_path: Path) -> Lock:
    return Lock(Path(run_path) / RUN_LOCK, f"run {Path(run_path).name}")


def target_lock(target: Path) -> Lock:
    """The lock of a target SKILL.md: beside it (in its folder's `.autoresearch/`, which git and the harness
    copies ignore), keyed by its real path, so every run finds it whatever its TMPDIR or HOME."""
    real = Path(os.path.realpath(target))
    return Lock(real.parent / ".autoresearch" / f"{real.name}.lock", str(target))


@contextmanager
def holding(locks: list[Lock], run_id: str) -> Iterator[None]:
    """Hold every lock in `locks` for the block; none is held if any is taken by someone else."""
    taken: list[Lock] = []
    try:
        for lock in locks:
            lock.acquire(run_id)
            taken.append(lock)
        yield
    finally:
        for lock in reversed(taken):
            lock.release()


def wait_released(lock: Lock, seconds: float) -> bool:
    """Poll until nobody holds `lock`, at most `seconds`; True when it is free."""
    deadline = time.monotonic() + seconds
    while lock.is_held():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True
