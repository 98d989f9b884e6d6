"""Attempts that outlive a tool call: `try --background` / `run --baseline-only --background`, then `wait`.

An agent's shell tool stops a command at its timeout (Claude Code's Bash tool: 2 minutes by default). So
the work is described in `pending.json` in the run directory and done by a detached worker process
(`autoresearch work RUN`); `autoresearch wait RUN --timeout S` follows it in short steps. A worker that
died (killed, a closed laptop) is started again by the next `wait`, and resumes where it stopped: the
cells it had scored are on disk (see partial.py), so nothing is redone or counted twice. A foreground
`try` writes the same file, so a `try` stopped by a timeout is finished by `wait` too. A `try` run again
while its attempt goes on attaches to it (see `claim`): one process works on an attempt, the others follow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from ..errors import AutoresearchError
from ..fsio import atomic_write
from ..procs import pid_alive
from .journal import RunDir

PENDING = "pending.json"
ANSWERED = "answered.json"  # the last request a journal line answered: the same `try` again prints that line
WORKER_LOG = "background.log"
MAX_RESTARTS = 3  # a worker that keeps dying is a bug to report, not to retry forever


def pending(run: RunDir) -> dict | None:
    """The work requested and not yet on the journal, or None."""
    return _read(run, PENDING)


def write_pending(run: RunDir, request: dict) -> None:
    atomic_write(run.path / PENDING, json.dumps(request) + "\n")


def clear_pending(run: RunDir) -> None:
    """Drop the request; one a journal line answers is kept as ANSWERED, so a `try` cut off just after its
    line was written, run again, prints that line instead of logging the same candidate twice."""
    request = pending(run)
    if request is not None and done_entry(run, request) is not None:
        write_answered(run, request)
    (run.path / PENDING).unlink(missing_ok=True)


def write_answered(run: RunDir, request: dict) -> None:
    atomic_write(run.path / ANSWERED, json.dumps(request) + "\n")


def next_attempt(run: RunDir) -> int:
    """The id the next journal line gets."""
    entries = run.entries()
    return entries[-1]["id"] + 1 if entries else 0


def same_request(a: dict, b: dict) -> bool:
    keys = ("command", "section", "body", "hypothesis", "kind")
    return all(a.get(k) == b.get(k) for k in keys)


def done_entry(run: RunDir, request: dict) -> dict | None:
    """The journal line that answers `request`, once it is written."""
    return next((e for e in run.entries() if e["id"] == request.get("attempt")), None)


def describe(request: dict) -> str:
    return "the baseline" if request.get("command") == "baseline" else f"attempt #{request.get('attempt')}"


def answered(run: RunDir, request: dict) -> dict | None:
    """The run's last journal line when it answers this very request (the same `try`, run again after its
    tool call was cut off): it is printed again, not tried a second time."""
    entries = run.entries()
    if not entries:
        return None
    for earlier in (pending(run), _read(run, ANSWERED)):
        if earlier and same_request(earlier, request) and earlier.get("attempt") == entries[-1]["id"]:
            return entries[-1]
    return None


def _read(run: RunDir, name: str) -> dict | None:
    try:
        data = json.loads((run.path / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def claim(run: RunDir, request: dict) -> tuple[str, dict | None]:
    """What a `try` does with `request`, given what the run holds: ("decided", its journal line) when it was
    decided already; ("attach", the request in progress) when a live process works on the same attempt;
    ("start", None) when it is free to evaluate (or to resume a dead worker's same attempt from its cells).

    Raises AutoresearchError for another proposal while an attempt is unfinished: never lose one silently."""
    entry = answered(run, request)
    if entry is not None:
        return "decided", entry
    current = pending(run)
    if current is None or done_entry(run, current) is not None:
        return "start", None
    alive = worker_alive(run, current)
    if same_request(current, request):
        return ("attach", current) if alive else ("start", None)
    state = f"in progress (pid {current.get('pid', '?')})" if alive else "interrupted, not finished"
    what = f" ({current['section']}: {current.get('hypothesis', '')})" if current.get("section") else ""
    raise AutoresearchError(f"{describe(current)} of run {run.id}{what} is {state}: `autoresearch wait {run.id}` "
                            f"{'follows' if alive else 'finishes'} it and prints its decision; then propose yours. "
                            "Nothing was evaluated or logged")


def attached(run: RunDir, request: dict) -> str:
    """The line a `try --background` prints when the same attempt already runs: follow it, start nothing."""
    return (f"{describe(request)} of run {run.id} is already in progress (pid {request.get('pid', '?')}); "
            f"follow it with: autoresearch wait {run.id}")


def start_work(run: RunDir, request: dict) -> str:
    """Record the request and start a detached worker on it; returns the line to print."""
    request = {**request, "restarts": request.get("restarts", 0)}
    write_pending(run, request)
    pid = spawn_worker(run)
    write_pending(run, {**request, "pid": pid})
    return (f"{describe(request)} of run {run.id} started in the background (pid {pid}); "
            f"follow it with: autoresearch wait {run.id}")


def spawn_worker(run: RunDir) -> int:
    """`autoresearch work RUN`, in its own session so the caller's tool timeout cannot stop it."""
    log = open(run.path / WORKER_LOG, "ab")
    try:
        process = subprocess.Popen([sys.executable, "-m", "autoresearch", "work", str(run.path)], stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=log, start_new_session=True, cwd=os.getcwd())
    finally:
        log.close()
    return process.pid


def worker_alive(run: RunDir, request: dict) -> bool:
    """The worker named in the request is alive, or some process holds the run (a foreground `try`)."""
    from .live import run_state

    return pid_alive(int(request.get("pid", 0) or 0), reap=True) or run_state(run.path).state == "running"


def restart(run: RunDir, request: dict) -> str:
    """Start a worker again on an interrupted request; it resumes from the cells already scored."""
    restarts = int(request.get("restarts", 0)) + 1
    if restarts > MAX_RESTARTS:
        tail = (run.path / WORKER_LOG).read_text(encoding="utf-8", errors="replace")[-600:] \
            if (run.path / WORKER_LOG).exists() else ""
        clear_pending(run)
        raise AutoresearchError(f"{describe(request)} of run {run.id} stopped {MAX_RESTARTS} times; its log "
                                f"({run.path / WORKER_LOG}) ends with:\n{tail}")
    start_work(run, {**request, "restarts": restarts})
    return f"{describe(request)} was interrupted: resumed where it stopped (cells already scored are kept)"


def wait_for(run: RunDir, timeout: float, say, poll: float = 0.5) -> dict | None:
    """Follow the pending request up to `timeout` seconds: the journal line when done, None when still running.

    Raises AutoresearchError when the worker reported an error (the request is then dropped)."""
    deadline = time.monotonic() + timeout
    while True:
        request = pending(run)
        if request is None:
            entries = run.entries()
            return entries[-1] if entries else None
        entry = done_entry(run, request)
        if entry is not None:
            clear_pending(run)
            return entry
        if request.get("error"):
            clear_pending(run)
            raise AutoresearchError(request["error"])
        if not worker_alive(run, request):
            say(restart(run, request))
        if time.monotonic() >= deadline:
            return None
        time.sleep(min(poll, max(0.0, deadline - time.monotonic())))


def record_error(run: RunDir, message: str) -> None:
    """The worker could not do the request: say why to the next `wait`."""
    request = pending(run)
    if request is not None:
        write_pending(run, {**request, "error": message})


def progress_of(run: RunDir) -> str:
    """What the worker is doing now, from the run's heartbeat."""
    from .live import run_state

    state = run_state(run.path)
    return (state.heartbeat or {}).get("stage", "") if state.heartbeat else ""
