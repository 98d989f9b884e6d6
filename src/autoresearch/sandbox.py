"""The cage every harness cell (and every python check worker) runs in: bubblewrap on Linux.

Inside a cell's sandbox the whole filesystem is read-only except the cell's own folder (its workspace,
its private temp, the harness's own config folders in the cell's home); the user's home and the host's
/tmp are hidden behind empty read-only folders; the cell has its own PID namespace, so when the harness
exits (or we die, `--die-with-parent`) every process it started dies with it. The network is shared
with the host: `:sim` cells must reach the package's server on 127.0.0.1 and real targets the model
endpoint (a new network namespace would cut both).

`none` runs without a sandbox: allowed for `:sim` with a warning, for a real target only when asked
for (`--no-sandbox` or the model option `sandbox: none`).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import input_error
from .procs import alive_since

CHOICES = ("auto", "bwrap", "none")
RISK = ("the agent under test then runs its own commands and the skill's scripts with your account: it can "
        "write, delete or read any file you can, and leave processes running")


@dataclass(frozen=True)
class Sandbox:
    """Which sandbox a run uses: `kind` is bwrap or none; `binary` the bwrap path; `note` why, for messages."""

    kind: str
    binary: str = ""
    note: str = ""


@functools.cache
def for_checks() -> Sandbox:
    """The sandbox of python check workers: bwrap when it works here, else none (limits and a clean
    environment still apply; the children a check starts are then killed with its process group only)."""
    binary = find_bwrap()
    return Sandbox("bwrap", binary) if binary else Sandbox("none", note="no bwrap")


def find_bwrap() -> str:
    """The path of a bwrap that works here ('' when there is none or user namespaces are off)."""
    binary = shutil.which("bwrap")
    if not binary:
        return ""
    probe = [binary, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid",
             "--die-with-parent", "true"]
    try:
        done = subprocess.run(probe, stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return binary if done.returncode == 0 else ""


def choose(requested: str, simulated: bool) -> Sandbox:
    """The sandbox for a harness target: `requested` is auto | bwrap | none (the model option `sandbox`).

    Raises InputError when a real target would run unconfined without being asked to, or bwrap is asked
    for and cannot run."""
    if requested not in CHOICES:
        raise input_error("target", f"sandbox must be one of {', '.join(CHOICES)}, got {requested!r}")
    if requested == "none":
        return Sandbox("none", note="turned off (--no-sandbox or `sandbox: none`)")
    binary = find_bwrap()
    if binary:
        return Sandbox("bwrap", binary, "bubblewrap: read-only filesystem outside the cell, home hidden, own PID "
                                        "namespace, network shared")
    why = ("bubblewrap (`bwrap`) is not installed or cannot create namespaces here (Debian/Ubuntu: "
           "`apt-get install bubblewrap`)")
    if requested == "bwrap" or not simulated:
        raise input_error("target", f"no sandbox for the harness cells: {why}. Give --no-sandbox to run them "
                          f"unconfined anyway: {RISK}")
    return Sandbox("none", note=f"warning: :sim cells run without a sandbox: {why}")


def for_cells(requested: str, simulated: bool) -> Sandbox:
    """`choose`, with its warning (a `:sim` target left unconfined) printed to stderr once per target."""
    sandbox = choose(requested, simulated)
    if sandbox.note.startswith("warning:"):
        print(sandbox.note, file=sys.stderr)
    return sandbox


def install_root(binary: str) -> Path:
    """The folder a harness binary needs beside it: the prefix holding its node_modules, else its own folder."""
    real = Path(os.path.realpath(binary))
    parts = real.parts
    if "node_modules" in parts:
        return Path(*parts[:parts.index("node_modules")])
    return real.parent


def tool_folders(binary: str, path_var: str, hidden: tuple[Path, ...], home: Path) -> list[Path]:
    """Folders inside a hidden one the harness needs to start (its install, the tools on PATH), shown read-only.

    A tool installed in the user's home (~/.nvm, ~/.pyenv, ~/.local) is shown whole: its PATH entry is
    often a shim that runs code from elsewhere in that folder."""
    candidates = [install_root(binary), Path(binary).parent]
    candidates += [Path(os.path.realpath(p)) for p in path_var.split(os.pathsep) if p]
    home = Path(os.path.realpath(home))
    found = []
    for candidate in candidates:
        if _holds(home, candidate) and candidate != home:
            candidate = home / candidate.relative_to(home).parts[0]
        if candidate.is_dir() and candidate not in found and any(_holds(h, candidate) for h in hidden):
            found.append(candidate)
    return found


def bwrap_argv(bwrap: str, cell: Path, readonly: tuple[Path, ...], writable: tuple[Path, ...],
               hidden: tuple[Path, ...], shown: tuple[Path, ...], network: bool = True,
               files: tuple[tuple[Path, Path], ...] = ()) -> list[str]:
    """The bwrap prefix for a command that may write only inside `cell`.

    `readonly`: folders inside the cell made read-only again (the cell's home); `writable`: folders inside
    those made writable again (the harness's own config); `hidden`: host folders replaced by an empty
    read-only folder (the user's home, /tmp); `shown`: folders inside a hidden one shown read-only again;
    without `network` the command gets its own network namespace (no network at all); `files`: (source,
    destination) pairs shown read-only (the user's credentials, over placeholders). Every capability is
    dropped, so even root inside cannot raise its limits or remount.
    """
    argv = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for folder in sorted(hidden, key=lambda p: len(p.parts)):
        argv += ["--tmpfs", str(folder)]
    for folder in shown:
        argv += ["--ro-bind", str(folder), str(folder)]
    argv += ["--bind", str(cell), str(cell)]
    for folder in readonly:
        argv += ["--ro-bind", str(folder), str(folder)]
    for folder in writable:
        argv += ["--bind", str(folder), str(folder)]
    for source, destination in files:
        argv += ["--ro-bind", str(source), str(destination)]
    for folder in sorted(hidden, key=lambda p: len(p.parts), reverse=True):
        argv += ["--remount-ro", str(folder)]
    argv += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent",
             "--new-session", "--cap-drop", "ALL", *([] if network else ["--unshare-net"]), "--"]
    return argv


def hidden_folders() -> tuple[Path, ...]:
    """The host folders a sandboxed command sees as empty: /tmp and the user's home."""
    return tuple(dict.fromkeys(Path(os.path.realpath(p)) for p in (Path("/tmp"), Path(os.path.expanduser("~")))
                               if p.is_dir() and os.path.realpath(p) != "/"))


def check_argv(sandbox: Sandbox, argv: list[str], scratch: Path, folder: Path) -> list[str]:
    """A python check worker's command in `sandbox`: it may write only in `scratch`; of the user's home it sees
    only the top folder holding its suite's `folder` and the Python install; no network; everything it starts
    dies with it (unchanged when there is no sandbox)."""
    if sandbox.kind != "bwrap":
        return argv
    hidden = tuple(p for p in hidden_folders() if p != Path("/tmp"))  # /tmp stays visible (read-only): a suite
    # there may import its files from beside its folder; in the home, the top folder holding the suite is shown
    needed = os.pathsep.join([str(folder), *(p for p in sys.path if p), sys.prefix, sys.base_prefix])
    shown = tuple(f for f in tool_folders(argv[0], needed, hidden, Path(os.path.expanduser("~")))
                  if not _holds(scratch, f))
    return bwrap_argv(sandbox.binary, scratch, (), (), hidden, shown, network=False) + argv


def cell_argv(sandbox: Sandbox, argv: list[str], cell: Path, home: Path, harness_dirs: tuple[str, ...],
              env: dict[str, str], files: tuple[tuple[Path, Path], ...] = ()) -> list[str]:
    """`argv` wrapped in the sandbox for one harness cell (unchanged when there is none).

    `cell` is the cell's folder (workspace, home, tmp); `home` the cell's HOME, read-only but for the
    harness's own folders `harness_dirs` (relative to it), which must exist."""
    if sandbox.kind != "bwrap":
        return argv
    user_home = Path(os.path.expanduser("~"))
    hidden = hidden_folders()
    shown = tuple(f for f in tool_folders(argv[0], env.get("PATH", ""), hidden, user_home) if not _holds(cell, f))
    writable = tuple(home / d for d in harness_dirs)
    command = [os.path.realpath(argv[0]), *argv[1:]]  # a link to it may sit in a hidden folder (.harness in /tmp)
    return bwrap_argv(sandbox.binary, cell, (home,), writable, hidden, shown, files=files) + command


def _holds(folder: Path, path: Path) -> bool:
    """Whether `path` is `folder` or inside it (real paths)."""
    real, inner = os.path.realpath(folder), os.path.realpath(path)
    return inner == real or inner.startswith(real.rstrip(os.sep) + os.sep)


# The harness's own folders in the cell's HOME (writable in the sandbox) and the login files copied into them
# from the user's for a real target: (env var naming the folder or None, folder under HOME, files copied from the
# user's, other top-level folders of HOME the harness writes).
HARNESS_HOME = {
    "claude-code": ("CLAUDE_CONFIG_DIR", ".claude", ((".claude.json", ".claude.json"),
                                                     (".claude/.credentials.json", ".credentials.json"),  # secret
                                                     (".claude/settings.json", "settings.json")), ()),
    "pi": ("PI_CODING_AGENT_DIR", ".pi/agent", ((".pi/agent/auth.json", "auth.json"),  # secret
                                                (".pi/agent/models.json", "models.json"),
                                                (".pi/agent/settings.json", "settings.json")), ()),
    "codex": ("CODEX_HOME", ".codex", ((".codex/auth.json", "auth.json"),  # secret
                                       (".codex/config.toml", "config.toml")), ()),
    "gemini": (None, ".gemini", ((".gemini/oauth_creds.json", "oauth_creds.json"),  # secret
                                 (".gemini/settings.json", "settings.json")), ()),
    "opencode": (None, ".local/share/opencode", ((".local/share/opencode/auth.json", "auth.json"),),  # secret
                 (".config", ".cache")),
}


SECRET_FILES = (".credentials.json", "auth.json", "oauth_creds.json")  # shown read-only in the cell, never copied


def confine(sandbox: Sandbox, harness: str, cell: Path, argv: list[str], env: dict[str, str],
            simulated: bool) -> tuple[list[str], dict[str, str]]:
    """The command and environment of one harness cell in `sandbox` (unchanged when there is none).

    The cell gets a private temp (`cell/tmp`, as TMPDIR) and a HOME of its own (`cell/home`) that is
    read-only but for the harness's config folder. For a real target the user's harness config is copied
    into it and the credentials shown read-only (never copied: a kept workspace holds no secret), so the
    harness logs in as the user does and nothing it writes reaches the user's own config."""
    if sandbox.kind != "bwrap":
        return argv, env
    variable, folder, logins, others = HARNESS_HOME[harness]
    home, tmp = cell / "home", cell / "tmp"
    config = home / folder
    config.mkdir(mode=0o700, parents=True, exist_ok=True)
    for other in others:
        (home / other).mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp.mkdir(mode=0o700, exist_ok=True)
    env = {**env, "HOME": str(home), "TMPDIR": str(tmp), **({variable: str(config)} if variable else {})}
    secrets = []
    for rel, name in logins if not simulated else ():
        given = Path(os.environ[variable]) / name if variable and os.environ.get(variable) else Path.home() / rel
        if given.is_file():
            (config / name).touch(mode=0o600)
            if name in SECRET_FILES:
                secrets.append((given, config / name))
            else:
                shutil.copyfile(given, config / name)
    writable = (folder.split("/")[0], *others)
    return cell_argv(sandbox, argv, cell, home, writable, env, tuple(secrets)), env


CELL_PREFIX = "autoresearch-cell-"
_CELL_NAME = re.compile(rf"^{CELL_PREFIX}(\d+)-[a-z0-9_]+$")


def cell_prefix(kept: bool = False) -> str:
    """The temp-folder prefix of this process's cells: it names the owner, so a later run can tell a dead one's
    (a cell kept with --keep-workspaces is named apart: no later run removes it)."""
    return f"{CELL_PREFIX}kept-" if kept else f"{CELL_PREFIX}{os.getpid()}-"


def stale_cells(temp: Path) -> list[Path]:
    """Cell folders in `temp` left by a process that is gone (killed -9): ours only, never a live run's."""
    found = []
    for path in Path(temp).glob(f"{CELL_PREFIX}*"):
        match = _CELL_NAME.match(path.name)
        try:
            owned = path.is_dir() and not path.is_symlink() and path.stat().st_uid == os.getuid()
        except OSError:
            continue
        if match and owned and not alive_since(int(match.group(1)), path):
            found.append(path)
    return found


def remove_stale_cells(temp: Path | None = None) -> int:
    """Remove the cell folders of dead runs from the temp folder; how many were removed."""
    stale = stale_cells(Path(temp or tempfile.gettempdir()))
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return len(stale)


CGROUP_PREFIX = "autoresearch-check-"


def _pids_base() -> Path | None:
    """The pids cgroup (v1) this process is in, when we may make cgroups under it (root, or delegated)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "pids" in controllers.split(","):
            base = Path("/sys/fs/cgroup/pids") / path.lstrip("/")
            return base if os.access(base, os.W_OK) else None
    return None


def pids_cgroup(limit: int) -> Path | None:
    """A new pids cgroup holding at most `limit` processes (None where cgroups cannot be made: RLIMIT_NPROC,
    which does not bind root, is then the only bound)."""
    base = _pids_base()
    if base is None:
        return None
    try:
        group = Path(tempfile.mkdtemp(prefix=f"{CGROUP_PREFIX}{os.getpid()}-", dir=base))
        (group / "pids.max").write_text(f"{limit}\n")
    except OSError:
        return None
    return group


def in_cgroup(group: Path | None, argv: list[str]) -> list[str]:
    """`argv` started inside `group` (it joins before exec, so every process it makes counts)."""
    if group is None:
        return argv
    return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(group / "cgroup.procs"), *argv]


def remove_cgroup(group: Path | None, tries: int = 50) -> None:
    """Remove an emptied cgroup (its last processes may take a moment to be reaped)."""
    if group is None:
        return
    for _ in range(tries):
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)


def remove_stale_cgroups() -> None:
    """The cgroups of check workers whose run is gone (a kill -9): removed once empty."""
    base = _pids_base()
    for group in base.glob(f"{CGROUP_PREFIX}*") if base else ():
        pid = group.name[len(CGROUP_PREFIX):].split("-")[0]
        if pid.isdigit() and not alive_since(int(pid), group):
            remove_cgroup(group, tries=1)
