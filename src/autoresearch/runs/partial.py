"""Cells scored by an attempt that has not reached the journal yet, kept so a killed attempt resumes where it stopped.

Each finished (input, run) of any version is appended to `partial/<sha>.jsonl` in the run directory as soon as it is
scored (its cells, output and harness trace). An evaluation that finds a pair there reuses it instead of running it
again, so an attempt interrupted at any point (a tool call's timeout, kill -9) loses no scored cell and redoes none.
The folder is emptied when the attempt's journal line is written: from then on the version's cells file holds them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..evaluate.cells import Cell
from .journal import RunDir

PARTIAL_DIR = "partial"

Stored = tuple[list[Cell], str, dict | None]  # cells, output, trace


class PartialCells:
    """The in-progress cells of a run, per version digest, keyed by (input id, run)."""

    def __init__(self, run: RunDir):
        self.folder = run.path / PARTIAL_DIR

    def _path(self, digest: str) -> Path:
        return self.folder / f"{digest}.jsonl"

    def load(self, digest: str) -> dict[tuple[str, int], Stored]:
        """Every complete line stored for `digest` (a torn last line, from a kill mid-write, is ignored)."""
        path = self._path(digest)
        if not path.exists():
            return {}
        stored: dict[tuple[str, int], Stored] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                data = json.loads(line)
            except ValueError:
                continue
            stored[(data["input"], data["run"])] = ([Cell(*c) for c in data["cells"]], data["output"], data["trace"])
        return stored

    def add(self, digest: str, input_id: str, run: int, cells: list[Cell], output: str, trace: dict | None) -> None:
        """Append one scored (input, run); the OS keeps it through a kill of this process."""
        self.folder.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"input": input_id, "run": run, "output": output, "trace": trace,
                           "cells": [[c.input_id, c.eval_id, c.run, c.status, c.reason] for c in cells]},
                          ensure_ascii=False)
        path = self._path(digest)
        torn = path.exists() and path.stat().st_size and not path.read_bytes().endswith(b"\n")
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(("\n" if torn else "") + line + "\n")

    def clear(self) -> None:
        """The attempt is on the journal: its cells live in the versions' cells files now."""
        shutil.rmtree(self.folder, ignore_errors=True)
