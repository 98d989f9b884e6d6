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
    runs = ["--runs-dir", str(WORK / ".autoresearch")]  # absolute, so every path printed opens from anywhere
    subprocess.run(cli + ["run", "evals/meeting-notes.yaml", "--max-experiments", "40", "--run-id", "demo", *runs],
                   cwd=WORK, check=True)
    print("\n== What changed, baseline -> best ==")
    subprocess.run(cli + ["diff", "demo", *runs], cwd=WORK, check=True)
    print(f"\nEvery attempt, kept or not: {WORK / '.autoresearch/demo/changelog.md'}")
    harness_demo(cli)
    return 0


def harness_demo(cli: list[str]) -> None:
    """The same measurement inside the real Claude Code and pi, offline, when `make harness` installed them."""
    shutil.copytree(ROOT / "examples/harness", WORK / "examples/harness")
    if not (ROOT / ".harness/node_modules/.bin/claude").exists():
        print("\n== Skipped: the skill inside the real Claude Code and pi ==\n"
              "Run `make harness` (npm installs both into .harness/), then `make demo` again.")
        return
    (WORK / ".harness").symlink_to(ROOT / ".harness")
    for target in ("claude-code:sim", "pi:sim"):
        print(f"\n== The tally skill inside the real {target.split(':')[0]}: its script runs, its files are checked ==")
        subprocess.run(cli + ["eval", "examples/harness/suite.yaml", "--model", target], cwd=WORK)


if __name__ == "__main__":
    sys.exit(main())
