"""User check code runs in a worker process with a time and a memory bound, never in ours.

A python check is a suite's own code: it may exit, raise, hang, print or eat memory. Whatever it does
is one error cell with its own words; the evaluation goes on. A worker serves one check function,
imports its file once, and is killed and replaced when a call runs past its time bound.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import AutoresearchError
from ..sandbox import cell_prefix

DEFAULT_SECONDS = 5.0
DEFAULT_MEMORY_MB = 1024
MAX_PROCESSES = 32  # processes a check may start, beyond those its user runs already
MAX_FILE_MB = 64  # the largest file a check may write (in its scratch folder)
ENV_KEPT = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ", "PYTHONPATH", "PYTHONHASHSEED",
            "PYTHONIOENCODING", "PYTHONUTF8", "VIRTUAL_ENV", "SYSTEMROOT")  # nothing else: no API key reaches a check
IMPORT_SECONDS = 30.0  # importing the check's file (and what it imports) may be slower than one call


class IsolatedCheckError(AutoresearchError):
    """The check's code did not give an answer: it raised, exited, timed out or its process died."""


@dataclass(frozen=True)
class Limits:
    """Bounds for one check call: wall seconds and the worker's address space in MB."""

    seconds: float = DEFAULT_SECONDS
    memory_mb: int = DEFAULT_MEMORY_MB


# The worker: loads the function, then answers one JSON line per JSON request line on a private pipe.
# The user's prints go to stderr so they cannot forge an answer.
_WORKER = r"""
import ctypes, importlib.util, inspect, json, os, resource, signal, sys
path, name, memory, processes, file_mb = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
try:  # die with the process that started us (a kill -9 of `eval` too); bwrap does it for the whole sandbox
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
except (OSError, AttributeError):
    pass
answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
os.dup2(2, 1)

def bound(kind, limit):
    # soft AND hard: the check cannot raise it back
    soft, hard = resource.getrlimit(kind)
    limit = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
    resource.setrlimit(kind, (limit, limit))

bound(resource.RLIMIT_AS, memory * 1024 * 1024)
bound(resource.RLIMIT_FSIZE, file_mb * 1024 * 1024)
bound(resource.RLIMIT_NPROC, processes)  # counts every process of this user: the caller adds what runs now

def say(data):
    answers.write(json.dumps(data) + "\n")
    answers.flush()

def what(exc):
    if isinstance(exc, SystemExit):
        return f"called exit({exc.code!r})"
    if isinstance(exc, KeyboardInterrupt):
        return "raised KeyboardInterrupt"
    return f"raised {type(exc).__name__}: {exc}"[:300]

try:
    spec = importlib.util.spec_from_file_location("autoresearch_user_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = getattr(module, name, None)
    if not callable(fn):
        raise LookupError(f"no function {name!r}")
    takes_context = len(inspect.signature(fn).parameters) >= 2
except BaseException as exc:
    say({"ready": False, "error": "on import " + what(exc)})
    sys.exit(0)
say({"ready": True})
for line in sys.stdin:
    request = json.loads(line)
    try:
        result = fn(request["output"], request["context"]) if takes_context else fn(request["output"])
        if isinstance(result, bool):
            say({"value": result})
        elif isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], bool):
            say({"value": [result[0], str(result[1])]})
        else:
            say({"junk": repr(result)[:200]})
    except BaseException as exc:
        say({"error": what(exc)})
"""


class _Junk:
    """A result that is neither a bool nor a (bool, reason) pair, shown as the check returned it."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


class PythonCheck:
    """`file.py:function` as a callable that runs in a worker: returns what the function returned,
    or raises IsolatedCheckError saying what went wrong in the user's words."""

    def __init__(self, path: Path, name: str, limits: Limits = Limits()):
        self.path, self.name, self.limits = Path(path), name, limits
        self._proc: subprocess.Popen | None = None
        self._import_error: str | None = None
        self._scratch: Path | None = None
        self._cgroup: Path | None = None
        self._lock = threading.Lock()

    def __call__(self, output: str, context: dict[str, Any] | None = None) -> Any:
        with self._lock:
            if self._import_error:
                raise IsolatedCheckError(self._import_error)
            proc = self._worker()
            try:
                proc.stdin.write(json.dumps({"output": output, "context": _plain(context or {})}) + "\n")
                proc.stdin.flush()
            except OSError:
                pass  # the worker died; reading its answer says how
            answer = self._read(proc, self.limits.seconds)
        if "error" in answer:
            raise IsolatedCheckError(answer["error"])
        if "junk" in answer:
            return _Junk(answer["junk"])
        value = answer["value"]
        return tuple(value) if isinstance(value, list) else value

    def _worker(self) -> subprocess.Popen:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        from ..sandbox import check_argv, for_checks, in_cgroup, pids_cgroup, remove_stale_cells, remove_stale_cgroups

        self.close()  # what a worker that ended left behind
        if not _WORKERS:
            remove_stale_cells()
            remove_stale_cgroups()
        self._scratch = Path(tempfile.mkdtemp(prefix=cell_prefix()))
        self._cgroup = pids_cgroup(MAX_PROCESSES)
        argv = [sys.executable, "-c", _WORKER, str(self.path), self.name, str(self.limits.memory_mb),
                str(_user_processes() + MAX_PROCESSES), str(MAX_FILE_MB)]
        argv = in_cgroup(self._cgroup, check_argv(for_checks(), argv, self._scratch, self.path.parent))
        self._proc = subprocess.Popen(
            argv, env=check_environment(self._scratch),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, encoding="utf-8",
            cwd=self.path.parent, start_new_session=True)
        _WORKERS.add(self)
        ready = self._read(self._proc, max(IMPORT_SECONDS, self.limits.seconds), importing=True)
        if not ready.get("ready"):
            self._import_error = ready.get("error", "could not be loaded")
            self.close()
            raise IsolatedCheckError(self._import_error)
        return self._proc

    def _read(self, proc: subprocess.Popen, seconds: float, importing: bool = False) -> dict:
        """The worker's next answer line within `seconds`; past it, or when the worker dies, an error."""
        assert proc.stdout is not None
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                doing = "took longer to import than" if importing else "ran past its time bound of"
                raise IsolatedCheckError(f"{doing} {seconds:g}s and was stopped")
            ready, _, _ = select.select([proc.stdout], [], [], left)
            if ready:
                break
        line = proc.stdout.readline()
        if not line:
            code = proc.wait()
            self.close()  # its scratch folder and cgroup go too
            died = f"was killed by signal {-code}" if code < 0 else f"ended its process with exit code {code}"
            raise IsolatedCheckError(f"{died} (out of memory past {self.limits.memory_mb} MB?)" if code < 0 else died)
        return json.loads(line)

    def close(self) -> None:
        """Stop the worker, if any (its whole process group, so a child it started goes too)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, 9)
            except OSError:
                proc.kill()
            proc.wait()
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
        scratch, self._scratch = self._scratch, None
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        from ..sandbox import remove_cgroup

        group, self._cgroup = self._cgroup, None
        remove_cgroup(group)


def check_environment(scratch: Path) -> dict[str, str]:
    """The check's environment: an allow-list of harmless variables, its scratch folder as HOME and TMPDIR."""
    kept = {k: v for k, v in os.environ.items() if k in ENV_KEPT}
    return {**kept, "HOME": str(scratch), "TMPDIR": str(scratch)}


def _user_processes() -> int:
    """How many processes this user runs now (RLIMIT_NPROC counts them all, not only the check's)."""
    uid = os.getuid()
    count = 0
    for entry in os.scandir("/proc"):
        try:
            count += entry.name.isdigit() and entry.stat().st_uid == uid
        except OSError:
            pass
    return count


def _plain(value: Any) -> Any:
    """The context as JSON can carry it (anything else as its text)."""
    return json.loads(json.dumps(value, default=str))


_WORKERS: set[PythonCheck] = set()


@atexit.register
def _close_all() -> None:
    for check in list(_WORKERS):
        check.close()
