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


def install_skills(harnesses: list[str], scope: str, cwd: Path, home: Path, force: bool = False) -> list[str]:
    """Copy every bundled skill into each harness's skills folder; returns one line per skill and place."""
    from .fsio import atomic_write

    source = bundled_skills_dir()
    skills = sorted(p.parent for p in source.glob("*/SKILL.md"))
    lines = []
    for harness in harnesses:
        root = DESTINATIONS[(harness, scope)](cwd, home)
        for skill in skills:
            dest = root / skill.name
            ours = _digests(skill)
            if dest.exists():
                current = _digests(dest)
                recorded = json.loads((dest / MARKER).read_text()) if (dest / MARKER).exists() else None
                if current == ours:
                    lines.append(f"up to date: {dest}")
                    continue
                if current != recorded and not force:
                    lines.append(f"skipped (edited since it was installed; --force overwrites): {dest}")
                    continue
                verb = "updated"
            else:
                verb = "installed"
            for relative in ours:
                atomic_write(dest / relative, (skill / relative).read_text(encoding="utf-8"))
            for stale in set(_digests(dest)) - set(ours):
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

    path = (cwd if scope == "project" else home) / ".claude" / "settings.json"
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
    return f"{'updated' if current else 'installed'}: statusLine in {path}"
