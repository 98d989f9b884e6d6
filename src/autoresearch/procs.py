"""Whether a process named by a pid in our files still runs: the one check behind live runs, workers and stale cells."""

from __future__ import annotations

import os
from pathlib import Path


def pid_alive(pid: int, *, reap: bool = False) -> bool:
    """The process exists and has not exited. A zombie counts as gone (an orphan stays one where init does not
    reap, as in some containers); with `reap`, an exited child of ours is reaped here (only for children no
    `subprocess.Popen` waits on)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if reap:
        try:
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                return False
        except ChildProcessError:
            pass
    return not is_zombie(pid)


def is_zombie(pid: int) -> bool:
    """A process that has exited and waits to be reaped: dead, though a signal 0 still reaches it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:  # no /proc (macOS) or already reaped
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def alive_since(pid: int, made: Path) -> bool:
    """Process `pid` runs and started before `made` was created (not a later process given the same pid)."""
    if not pid_alive(pid):
        return False
    try:
        started = Path(f"/proc/{pid}").stat().st_mtime
    except OSError:
        return True
    return started <= made.stat().st_mtime + 1
