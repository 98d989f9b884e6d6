"""Install the autoresearch skills where Claude Code and pi look for them.

Idempotent: an unchanged copy is left as it is, an outdated copy we installed is updated, and a
copy the user edited since (its files no longer match what we recorded) is left alone without force.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

IGNORED = ".autoresearch/"  # the default runs folder and reply cache, anywhere in the project
MARKER = ".autoresearch-installed.json"  # what we installed: {relative path: sha256}
DESTINATIONS = {
    ("claude", "project"): lambda cwd, home: cwd / ".claude" / "skills",
    ("claude", "user"): lambda cwd, home: home / ".claude" / "skills",
    ("pi", "project"): lambda cwd, home: cwd / ".pi" / "skills",
    ("pi", "user"): lambda cwd, home: home / ".pi" / "agent" / "skills",
}


def bundled_skills_dir() -> Path:
    """The skills shipped with the package: inside it when installed, the repository's `skills/` in a checkout."""
    here = Path(__file__).resolve().parent
    installed = here / "bundled_skills"
    return installed if installed.is_dir() else here.parents[1] / "skills"


def project_root(start: Path) -> Path:
    """The project a folder belongs to: the nearest folder holding `.git` at or above it, else the folder itself."""
    start = Path(start).resolve()
    return next((folder for folder in (start, *start.parents) if (folder / ".git").exists()), start)


def in_git_repository(folder: Path) -> bool:
    return (project_root(folder) / ".git").exists()


def ensure_ignored(root: Path, entry: str = IGNORED) -> bool:
    """Add `entry` to `root`/.gitignore unless a line already ignores it; other lines stay as they are.

    Returns True when the file was changed. Run folders and the reply cache do not belong in commits.
    """
    from .fsio import atomic_write

    path = Path(root) / ".gitignore"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    bare = entry.strip("/")
    if any(line.strip().strip("/") == bare for line in text.splitlines()):
        return False
    atomic_write(path, text + ("\n" if text and not text.endswith("\n") else "") + entry + "\n")
    return True


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MARKER and "__pycache__" not in p.parts}


def _recorded(dest: Path) -> tuple[dict[str, str] | None, str]:
    """What the marker says we installed, and why it cannot be used ("" when it can)."""
    marker = dest / MARKER
    if not marker.exists():
        return None, ""
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return None, f"its marker {MARKER} is unreadable ({exc})"
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        return None, f"its marker {MARKER} is not a map of files to hashes"
    return data, ""


def _confined(path: Path, boundary: Path, what: str) -> None:
    """Refuse to write through a link that leads out of `boundary` (the project, or the home folder)."""
    from .errors import AutoresearchError

    if not path.resolve().is_relative_to(boundary.resolve()):
        raise AutoresearchError(f"refusing to install: {path} leads to {path.resolve()}, outside {what} "
                                f"{boundary}; remove the link or install elsewhere")


def install_skills(harnesses: list[str], scope: str, cwd: Path, home: Path, force: bool = False,
                   source: Path | None = None) -> list[str]:
    """Copy every bundled skill into each harness's skills folder; returns one line per skill and place.

    `cwd` is the project folder for the project scope; in a git repository its .gitignore learns
    `.autoresearch/`. Only the files we ship are ever written, and with `force` replaced; a file the user
    added is never deleted, and no link is followed out of the project (or, for `user`, the home folder)."""
    from .errors import AutoresearchError
    from .fsio import atomic_write

    source = source or bundled_skills_dir()
    skills = sorted(p.parent for p in source.glob("*/SKILL.md"))
    if not skills:
        raise AutoresearchError(f"no skills to install: {source} holds no */SKILL.md; the package is incomplete, "
                                "reinstall it (pip install --force-reinstall autoresearch, or pip install . in a clone)")
    boundary, what = (cwd, "the project") if scope == "project" else (home, "your home folder")
    shipped = {skill: _digests(skill) for skill in skills}  # each skill's files and digests, read once
    plan = [(DESTINATIONS[(harness, scope)](cwd, home) / skill.name, skill) for harness in harnesses for skill in skills]
    for dest, skill in plan:  # every refusal before any write
        for relative in [*shipped[skill], MARKER]:
            _confined(dest / relative, boundary, what)
    lines = []
    if scope == "project" and in_git_repository(cwd) and ensure_ignored(project_root(cwd)):
        lines.append(f"added {IGNORED} to {project_root(cwd) / '.gitignore'}")
    for dest, skill in plan:
        ours = shipped[skill]
        recorded, broken = _recorded(dest)
        if dest.exists():
            current = _digests(dest)
            if all(current.get(k) == v for k, v in ours.items()) and not broken:
                lines.append(f"up to date: {dest}")
                continue
            edited = recorded is None or any(current.get(k) != v for k, v in recorded.items() if k in current)
            if edited and not force:
                why = broken or "edited since it was installed"
                lines.append(f"skipped ({why}; --force overwrites the files we ship): {dest}")
                continue
            verb = "updated"
        else:
            current, verb = {}, "installed"
        for relative in ours:
            atomic_write(dest / relative, (skill / relative).read_text(encoding="utf-8"))
        for stale in set(recorded or {}) - set(ours):  # files an older version shipped, unless the user changed them
            if current.get(stale) == (recorded or {}).get(stale):
                (dest / stale).unlink()
        atomic_write(dest / MARKER, json.dumps(ours, indent=1) + "\n")
        lines.append(f"{verb}: {dest}")
    return lines


def statusline_command() -> str:
    """The command Claude Code runs for its status line: this very installation, wherever it lives."""
    import shlex
    import sys

    return f"{shlex.quote(sys.executable)} -m autoresearch statusline"


def install_statusline(scope: str, cwd: Path, home: Path, force: bool = False) -> str:
    """Set `statusLine` in Claude Code's settings.json (project or user), leaving every other key as it was."""
    from .errors import AutoresearchError, input_error
    from .fsio import atomic_write

    # a project's settings.json is committed: this machine's command goes in the local file Claude Code also reads
    path = cwd / ".claude" / "settings.local.json" if scope == "project" else home / ".claude" / "settings.json"
    settings: dict = {}
    if path.exists():
        try:
            settings = json.loads(path.read_text(encoding="utf-8") or "{}")
        except json.JSONDecodeError as exc:
            raise input_error(str(path), f"not valid JSON: {exc.msg}", exc.lineno) from None
        if not isinstance(settings, dict):
            raise input_error(str(path), "Claude Code settings must be a JSON object")
    wanted = {"type": "command", "command": statusline_command()}
    current = settings.get("statusLine")
    if current == wanted:
        return f"up to date: statusLine in {path}"
    if current and "autoresearch" not in json.dumps(current) and not force:
        raise AutoresearchError(f"{path} already has a statusLine ({json.dumps(current)}); --force replaces it")
    settings["statusLine"] = wanted
    atomic_write(path, json.dumps(settings, indent=2) + "\n")
    if scope == "project" and in_git_repository(cwd):
        top = project_root(cwd)
        ensure_ignored(top, f"/{path.resolve().relative_to(top).as_posix()}")
    return f"{'updated' if current else 'installed'}: statusLine in {path}"
