"""Skill folder install per cell (issue 26, item 13): a copy per cell against one copy per run linked per cell.

A hand-made skill folder of 8,280 small files (as the largest field skill) is installed into CELLS workspaces
the old way (shutil.copytree per cell) and the new way (stage_skill_folder once, link_tree per cell).
Reports seconds per cell for each and their ratio. Usage: python bench/skill_folder.py [--cells 10]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from autoresearch.targets.harness import NOT_COPIED, link_tree, stage_skill_folder

ROOT = Path(__file__).resolve().parent.parent
FILES, PER_DIR = 8280, 90


def make_folder(root: Path) -> Path:
    folder = root / "big-skill"
    (folder / "SKILL.md").parent.mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: big-skill\ndescription: Many files. Use in benchmarks.\n---\n# Big\n")
    for i in range(FILES - 1):
        path = folder / "references" / f"part-{i // PER_DIR:03d}" / f"page-{i:05d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# Page {i}\n\n" + "Reference text. " * 20)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = make_folder(root)
        started = time.perf_counter()
        for cell in range(args.cells):
            shutil.copytree(folder, root / "copy" / str(cell), symlinks=True, ignore=shutil.ignore_patterns(*NOT_COPIED))
        copy = (time.perf_counter() - started) / args.cells
        started = time.perf_counter()
        staged = stage_skill_folder(folder, root / "stage", keep_skill_md=False)
        stage = time.perf_counter() - started
        started = time.perf_counter()
        for cell in range(args.cells):
            link_tree(staged, root / "link" / str(cell))
        link = (time.perf_counter() - started) / args.cells
    report = {"files": FILES, "cells": args.cells, "copy_per_cell_s": round(copy, 4),
              "stage_once_s": round(stage, 4), "link_per_cell_s": round(link, 4),
              "link_over_copy": round(link / copy, 3)}
    out = ROOT / "bench" / "results" / "skill_folder.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
