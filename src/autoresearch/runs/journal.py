"""The run directory on disk: atomic file replacement, the append-only journal and the changelog."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..evaluate.cells import Cell
from ..fsio import atomic_write, sha256

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\Z")  # \Z: `$` would let a trailing newline through


def best_entry(entries: list[dict]) -> dict:
    """The journal line of the current best version: the last keep, or the baseline."""
    return next(e for e in reversed(entries) if e["decision"] in ("baseline", "keep"))


def newest_runs(root: Path) -> list["RunDir"]:
    """The runs under `root`, newest first by the creation time recorded in run.json (not a folder's mtime)."""
    from datetime import datetime, timezone

    def created(run: RunDir) -> datetime:
        try:
            return datetime.fromisoformat(run.created())
        except ValueError:
            return datetime.min.replace(tzinfo=timezone.utc)

    runs = [RunDir(p) for p in Path(root).glob("*") if (p / "run.json").is_file()]
    return sorted(runs, key=lambda r: (created(r), r.id), reverse=True)


class RunDir:
    """One run's directory: run.json, journal.jsonl, changelog.md, baseline/, best/, versions/, cells/.

    The journal is the source of truth: one line per attempt, appended and fsynced before anything
    it describes touches the target file, so a crash never loses or double-counts an attempt.
    """

    def __init__(self, path: Path):
        self.path = Path(path)

    @property
    def id(self) -> str:
        return self.path.name

    @classmethod
    def create(cls, root: Path, run_id: str, config: dict) -> "RunDir":
        import json

        from ..errors import AutoresearchError

        if not _RUN_ID.match(run_id):
            raise AutoresearchError(f"run id {run_id!r} must be a name (letters, digits, '.', '_' and '-'; "
                                    "starting with a letter or digit), not a path")
        path = Path(root) / run_id
        if (path / "run.json").exists():
            raise AutoresearchError(f"run {run_id!r} already exists in {root}; resume it with --resume {run_id}")
        run = cls(path)
        atomic_write(path / "run.json", json.dumps(config, indent=1) + "\n")
        return run

    @classmethod
    def find(cls, ref: str | Path, root: Path = Path(".autoresearch")) -> "RunDir":
        """A run by path, by id under `root`, or the newest run under `root` when `ref` is empty."""
        from ..errors import AutoresearchError

        candidates = [Path(ref), Path(root) / str(ref)] if ref else [r.path for r in newest_runs(Path(root))[:1]]
        for path in candidates:
            if (path / "run.json").is_file():
                return cls(path)
        where = f"{ref!r} (looked in {Path(ref)} and {Path(root) / str(ref)})" if ref else f"any run in {root}"
        raise AutoresearchError(f"cannot find {where}: a run directory holds run.json and journal.jsonl")

    def created(self) -> str:
        """When the run was created, as recorded in run.json (ISO time; empty when unreadable)."""
        import json

        try:
            return str(json.loads((self.path / "run.json").read_text(encoding="utf-8")).get("created", ""))
        except (OSError, ValueError, AttributeError):
            return ""

    def config(self) -> dict:
        import json

        from ..errors import input_error

        try:
            data = json.loads((self.path / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:
            raise input_error(str(self.path / "run.json"), f"unreadable run configuration: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("suite"), str) or \
                not isinstance(data.get("config", {}), dict):
            raise input_error(str(self.path / "run.json"), "corrupt run configuration: not the mapping a run "
                                                            "writes (with `suite` and `config`)")
        return data

    def suite_path(self) -> Path:
        """The run's suite file: stored relative to the run directory, so a copied project uses its own."""
        return self.path / self.config()["suite"]

    def entries(self) -> list[dict]:
        """Every complete journal line. A torn last line (a crash, or a writer mid-append) is ignored."""
        import json

        from ..errors import input_error

        path = self.path / "journal.jsonl"
        if not path.exists():
            return []
        data = path.read_bytes()
        entries = []
        for number, line in enumerate(data[: data.rfind(b"\n") + 1].splitlines(), 1):
            try:
                entry = json.loads(line)
            except (ValueError, RecursionError) as exc:  # not UTF-8 is a ValueError too
                raise input_error(str(path), f"corrupt journal line: {exc}", number) from None
            if not journal_entry_shape(entry):
                raise input_error(str(path), "corrupt journal line: not an attempt as the loop writes it (an object "
                                             "with id, decision, scores and skill_after)", number)
            entries.append(entry)
        return entries

    def repair(self) -> None:
        """Cut a torn last line left by a crash, so the next append starts on a fresh line. Writer only."""
        path = self.path / "journal.jsonl"
        if path.exists():
            data = path.read_bytes()
            if data and not data.endswith(b"\n"):
                with open(path, "r+b") as handle:
                    handle.truncate(data.rfind(b"\n") + 1)

    def append(self, entry: dict) -> None:
        import json

        path = self.path / "journal.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def save_version(self, text: str) -> str:
        digest = sha256(text)
        path = self.path / "versions" / f"{digest}.md"
        if not path.exists():
            atomic_write(path, text)
        return digest

    def version(self, digest: str) -> str:
        return (self.path / "versions" / f"{digest}.md").read_text(encoding="utf-8")

    def has_version(self, digest: str) -> bool:
        return (self.path / "versions" / f"{digest}.md").exists()

    def save_cells(self, digest: str, cells: list, outputs: dict, traces: dict | None = None,
                   split: str = "train") -> None:
        """Store a version's scored cells, outputs and harness traces: train ones pair the next candidate without
        re-running the best and let `next` show what the agent did; holdout ones (a file of their own, never
        read by the loop) are for people to read."""
        import json

        data = {"cells": [[c.input_id, c.eval_id, c.run, c.status, c.reason] for c in cells],
                "outputs": [[k[0], k[1], v] for k, v in outputs.items()],
                "traces": [[k[0], k[1], v] for k, v in (traces or {}).items()]}
        atomic_write(self._cells_path(digest, split), json.dumps(data))

    def _cells_path(self, digest: str, split: str) -> Path:
        return self.path / "cells" / (f"{digest}.json" if split == "train" else f"{digest}.{split}.json")

    def load_cells(self, digest: str, split: str = "train") -> tuple[list, dict] | None:
        import json

        path = self._cells_path(digest, split)
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return [Cell(*c) for c in data["cells"]], {(i, r): t for i, r, t in data["outputs"]}
        except (ValueError, RecursionError, LookupError, TypeError) as exc:
            raise _corrupt(path, exc) from None

    def load_traces(self, digest: str, split: str = "train") -> dict:
        """The harness traces stored with a version's cells ({(input id, run): Outcome dict}); {} when none."""
        import json

        path = self._cells_path(digest, split)
        if not path.exists():
            return {}
        try:
            return {(i, r): t for i, r, t in json.loads(path.read_text(encoding="utf-8")).get("traces", [])}
        except (ValueError, RecursionError, LookupError, TypeError, AttributeError) as exc:
            raise _corrupt(path, exc) from None

    def write_text(self, relative: str, text: str) -> None:
        atomic_write(self.path / relative, text)


def journal_entry_shape(entry: object) -> bool:
    """Whether a parsed journal line has the fields every reader relies on (a hand edit or a bad copy may not)."""
    return isinstance(entry, dict) and isinstance(entry.get("id"), int) and isinstance(entry.get("decision"), str) \
        and isinstance(entry.get("scores"), dict) and isinstance(entry.get("skill_after"), str)


def _corrupt(path: Path, exc: Exception) -> Exception:
    """A run file that does not read as the run wrote it: an InputError naming it (exit 2, no traceback)."""
    from ..errors import input_error

    return input_error(str(path), f"corrupt run file ({type(exc).__name__}: {exc}); restore it from a backup "
                                  "or start a new run")
