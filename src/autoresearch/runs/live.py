"""Is a run alive? A heartbeat file the running process keeps fresh, a record of why it stopped, and
the one-line summary Claude Code's status line shows.

`heartbeat.json` (pid, host, stage, started, last beat) is rewritten atomically every second by
the process running the loop; `stopped.json` (why, when) is written when it stops. A heartbeat
left behind by a process that no longer exists means the run crashed.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..procs import pid_alive

HEARTBEAT = "heartbeat.json"
STOPPED = "stopped.json"
BEAT_SECONDS = 1.0
STALE_SECONDS = 30.0  # a heartbeat older than this, from another host, counts as gone
STOP_KINDS = (("target reached", "target"), ("budget spent", "budget"), ("plateau", "plateau"),
              ("stopped on request", "finalized"), ("baseline measured", "baseline only"))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _write_json(path: Path, data: dict) -> None:
    """Replace `path` atomically (no fsync: a lost beat is harmless, a torn one is not)."""
    from ..fsio import _mode_for

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _mode_for(path))  # as open() would: not mkstemp's 0600
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def stop_kind(reason: str) -> str:
    """The short word for why a loop stopped: target, budget, plateau, finalized, ..."""
    return next((kind for prefix, kind in STOP_KINDS if reason.startswith(prefix)), "stopped")


class Heartbeat:
    """Keep `<run>/heartbeat.json` fresh from a background thread while the run works; record the stop.

    Use as a context manager around the work; `stage(text)` says what the run is doing now. On exit
    the heartbeat is removed and `stopped.json` says why: the reason set with `stopped()`, Ctrl-C,
    or the exception that crashed the run.
    """

    def __init__(self, run_path: Path, interval: float = BEAT_SECONDS):
        self.path = Path(run_path)
        self.interval = interval
        self.data = {"pid": os.getpid(), "host": socket.gethostname(), "stage": "starting", "started": _now(),
                     "beat": _now()}
        self.reason: tuple[str, str] | None = None
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._beat_forever, name="autoresearch-heartbeat", daemon=True)

    def __enter__(self) -> "Heartbeat":
        try:
            (self.path / STOPPED).unlink(missing_ok=True)
            self._beat()
            self._thread.start()
        except BaseException as exc:  # Ctrl-C right after the first beat: still record why the run stopped
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def stage(self, text: str) -> None:
        with self._lock:
            self.data["stage"] = text

    def stopped(self, reason: str, kind: str | None = None) -> None:
        self.reason = (kind or stop_kind(reason), reason)

    def _beat(self) -> None:
        with self._lock:
            self.data["beat"] = _now()
            data = dict(self.data)
        _write_json(self.path / HEARTBEAT, data)

    def _beat_forever(self) -> None:
        while not self._wake.wait(self.interval):
            try:
                self._beat()
            except OSError:  # the run directory went away (tests, a user's rm): nothing left to mark alive
                return

    def __exit__(self, kind, exc, tb) -> None:
        self._wake.set()
        if self._thread.ident is not None:
            self._thread.join()
        from ..errors import AutoresearchError

        if kind is not None and issubclass(kind, KeyboardInterrupt):
            self.reason = ("Ctrl-C", "interrupted (Ctrl-C)")
        elif kind is not None and issubclass(kind, AutoresearchError):
            self.reason = self.reason or ("error", f"error: {exc}")  # one set by stopped() says it better
        elif kind is not None:
            self.reason = ("crashed", f"crashed: {kind.__name__}: {exc}")
        what, why = self.reason or ("stopped", "stopped")
        _write_json(self.path / STOPPED, {"kind": what, "reason": why, "at": _now(), "pid": self.data["pid"]})
        (self.path / HEARTBEAT).unlink(missing_ok=True)


@dataclass(frozen=True)
class RunState:
    """running / stopped (why) / finalized, with the live heartbeat when there is one."""

    state: str  # running | stopped | finalized
    why: str = ""  # target, budget, plateau, Ctrl-C, crashed, finalized, ...
    detail: str = ""
    heartbeat: dict | None = None

    def __str__(self) -> str:
        if self.state == "running":
            return f"running ({self.detail})" if self.detail else "running"
        if self.why == "interrupted":
            return f"{self.state} ({self.why}: {self.detail})"
        return f"{self.state} ({self.why})" if self.why and self.why != self.state else self.state


def _beat_age(beat: dict) -> float:
    try:
        return time.time() - datetime.fromisoformat(beat["beat"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return float("inf")


def run_state(run_path: Path) -> RunState:
    """Read a run's liveness from its files: a fresh heartbeat of a live process is running."""
    path = Path(run_path)
    beat = _read_json(path / HEARTBEAT)
    doing = _unfinished(path)
    if doing and beat is None and pid_alive(int(doing.get("pid", 0) or 0)):
        return RunState("running", detail=f"{_what(doing)} in progress: starting, pid {doing.get('pid')}")
    if beat is not None:
        pid = int(beat.get("pid", 0) or 0)
        fresh = _beat_age(beat) < STALE_SECONDS
        local = beat.get("host") == socket.gethostname()  # a process elsewhere can only be judged by its beat
        exists = local and pid > 0 and pid_alive(pid)
        if exists and not fresh:
            return RunState("stopped", "not responding", f"process {pid} exists but has not beaten since "
                            f"{beat.get('beat')} (suspended or hung?)", beat)
        if exists or (not local and fresh and pid > 0):
            finalizing = "; finalize requested, stops before the next experiment" if (path / "STOP").exists() else ""
            progress = f"{_what(doing)} in progress: " if doing else ""
            return RunState("running", detail=f"{progress}{beat.get('stage', '')}, pid {beat.get('pid')} on "
                                              f"{beat.get('host')}{finalizing}", heartbeat=beat)
    if doing:
        return RunState("stopped", "interrupted", f"{_what(doing)} was interrupted before its journal line; "
                        f"`autoresearch wait {path.name}` resumes it where it stopped", beat)
    if beat is not None:
        return RunState("stopped", "crashed", f"process {beat.get('pid')} on {beat.get('host')} is gone; "
                        f"last beat {beat.get('beat')} during {beat.get('stage')}", beat)
    if (path / "STOP").exists():
        return RunState("finalized", "finalized")
    return last_stop(path)


def last_stop(run_path: Path) -> RunState:
    """How the run last stopped, from its stop record alone (not a request in progress, such as this one's)."""
    stopped = _read_json(Path(run_path) / STOPPED)
    if stopped is None:
        return RunState("stopped")
    return RunState("stopped", str(stopped.get("kind", "stopped")), str(stopped.get("reason", "")))


def _unfinished(path: Path) -> dict | None:
    """The try or baseline requested (background.py's pending.json) and not yet on the journal, if any."""
    request = _read_json(path / "pending.json")
    if request is None:
        return None
    from .journal import RunDir

    try:
        done = any(e["id"] == request.get("attempt") for e in RunDir(path).entries())
    except Exception:  # an unreadable journal is reported by the commands that need it
        done = False
    return None if done else request


def _what(request: dict) -> str:
    return "the baseline" if request.get("command") == "baseline" else f"attempt #{request.get('attempt')}"


def statusline_text(project: Path, root_name: str = ".autoresearch") -> str:
    """One short line on the newest live run under `project`, for Claude Code's status line ('' when none)."""
    from .journal import best_entry, newest_runs

    for run in newest_runs(Path(project) / root_name):
        state = run_state(run.path)
        if state.state != "running":
            continue
        entries = run.entries()
        name = run.id  # the id `status`, `next` and `finalize` take; it names the suite too
        stage = (state.heartbeat or {}).get("stage", "")
        if not entries:
            return f"autoresearch {name} · {stage}"
        best = best_entry(entries)
        holdout = best["scores"].get("holdout")
        keeps = sum(e["decision"] == "keep" for e in entries)
        cost = sum(e["cost"] for e in entries)
        parts = [f"autoresearch {name}", stage,
                 f"best train {best['scores']['train']['rate']:.1%}"
                 + (f" holdout {holdout['rate']:.1%}" if holdout else ""),
                 f"{keeps} keep{'s' if keeps != 1 else ''} of {len(entries) - 1}",
                 f"${cost:.2f}" if cost else f"{sum(e['calls'] for e in entries)} calls"]
        return " · ".join(p for p in parts if p)
    return ""
