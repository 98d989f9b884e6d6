"""`make demo`: score the example meeting-notes skill on the embedded simulator, no API key needed."""

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
    print("\n== Baseline: 8 transcripts x 5 runs, 5 binary evals, on the offline simulator ==")
    subprocess.run(cli + ["eval", "evals/meeting-notes.yaml"], cwd=WORK)
    return 0


if __name__ == "__main__":
    sys.exit(main())
