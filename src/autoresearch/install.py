"""Install the autoresearch skills where Claude Code and pi look for them.

Idempotent: an unchanged copy is left as it is, an outdated copy we installed is updated, and a
copy the user edited since (its files no longer match what we recorded) is left alone without force.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

MARKER = ".autoresearch-installed.json"  # what we installed: {relative path: sha256}
DESTINATIONS = {
    ("claude", "project"): lambda cwd, home: cwd / ".claude" / "skills",
    ("claude", "user"): lambda cwd, home: home / ".claude" / "skills",
    ("pi", "project"): lambda cwd, home: cwd / ".pi" / "skills",
    ("pi", "user"): lambda cwd, home: home / ".pi" / "agent" / "skills",
}


def bundled_skills_dir() -> Path:
    """The skills shipped with the package (the repository's `skills/` folder)."""
    try:
        from importlib.resources import files

        folder = Path(str(files("autoresearch.bundled_skills")))
        if folder.is_dir():
            return folder
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parents[2] / "skills"


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


def install_skills(harnesses: list[str], scope: str, cwd: Path, home: Path, force: bool = False) -> list[str]:
    """Copy every bundled skill into each harness's skills folder; returns one line per skill and place.

    Only the files we ship are ever written, and with `force` replaced; a file the user added is never
    deleted, and no link is followed out of the project (or, for `user`, the home folder)."""
    from .fsio import atomic_write

    source = bundled_skills_dir()
    skills = sorted(p.parent for p in source.glob("*/SKILL.md"))
    boundary, what = (cwd, "the project") if scope == "project" else (home, "your home folder")
    plan = [(DESTINATIONS[(harness, scope)](cwd, home) / skill.name, skill) for harness in harnesses for skill in skills]
    for dest, skill in plan:  # every refusal before any write
        for relative in [*_digests(skill), MARKER]:
            _confined(dest / relative, boundary, what)
    lines = []
    for dest, skill in plan:
        ours = _digests(skill)
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
