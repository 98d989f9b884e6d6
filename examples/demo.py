"""`make demo`: optimise the example meeting-notes skill on the embedded simulator, no API key needed.

Works on a copy in .demo/ so the example stays as shipped. Shows the baseline, the loop climbing
through keeps and discards, then the diff from baseline to best.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".demo"


def main() -> int:
    shutil.rmtree(WORK, ignore_errors=True)
    shutil.copytree(ROOT / "examples/meeting-notes", WORK / "examples/meeting-notes")
    shutil.copytree(ROOT / "evals", WORK / "evals")
    cli = [sys.executable, "-m", "autoresearch"]
    print("== The example skill, section by section ==")
    subprocess.run(cli + ["sections", "examples/meeting-notes/SKILL.md"], cwd=WORK, check=True)
    print("\n== Baseline: 8 transcripts x 8 runs, 5 binary evals, on the offline simulator ==")
    subprocess.run(cli + ["eval", "evals/meeting-notes.yaml"], cwd=WORK)
    print("\n== The loop: one section at a time, keep only gains that beat noise ==")
    subprocess.run(cli + ["run", "evals/meeting-notes.yaml", "--max-experiments", "40", "--run-id", "demo"],
                   cwd=WORK, check=True)
    print("\n== What changed, baseline -> best ==")
    subprocess.run(cli + ["diff", "demo"], cwd=WORK, check=True)
    print(f"\nEvery attempt, kept or not: {WORK / '.autoresearch/demo/changelog.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
