"""Cost preview of arms and targets (issue 24): the calls the preview counts against the calls made.

- Matrix: the example harness suite (2 inputs x 2 runs, 4 check evals) plus one judge eval on the simulator,
  on four targets at once: sim, anthropic:claude-fake-1 (a local Messages API server), claude-code:sim and
  pi:sim. Per target: calls previewed, calls made, ratio. A harness run makes one call per turn: the preview
  counts each run at the calls per run measured on its first cell.
- Guarded run: the same suite at 5 runs (1 train input x 2 runs could never keep, and `run` refuses it) on
  sim, guarded by anthropic:claude-fake-1, with --uplift: the preview of the baseline over every arm and
  target against the baseline's journal line.
Goal: |preview - made| <= 5% of made for model targets and the guarded baseline.
Usage: python bench/arms.py   (writes bench/results/arms.json)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from autoresearch.sim.server import MessagesServer  # noqa: E402

JUDGE = ("  - id: owner\n    question: Does it name who does each item?\n"
         "    judge: {pass: Names an owner, fail: Names no one}\n")


def cli(root: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autoresearch", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=900)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-arms-"))
    root = work / "project"
    shutil.copytree(ROOT / "examples" / "harness", root)
    suite = (root / "suite.yaml").read_text().replace("model: claude-code:sim", "model: claude-code:sim\njudge: sim")
    (root / "suite.yaml").write_text(suite + JUDGE)
    results: dict = {}
    with MessagesServer() as server:
        env = {**os.environ, "ANTHROPIC_API_KEY": "bench", "ANTHROPIC_BASE_URL": server.url,
               "PATH": f"{ROOT / '.harness/node_modules/.bin'}{os.pathsep}{os.environ['PATH']}"}
        targets = ["sim", "anthropic:claude-fake-1", "claude-code:sim", "pi:sim"]
        done = cli(root, env, "eval", "suite.yaml", *[a for t in targets for a in ("--model", t)], "--no-cache",
                   "--json", "matrix.json")
        preview = dict((name, int(n)) for name, n in re.findall(r"(\S+) (\d+)(?:,|$)", re.search(
            r"estimate: \d+ targets: .*?; (.*)", done.stderr).group(1)))
        data = json.loads((root / "matrix.json").read_text())
        matrix = {}
        for t in targets:
            made = data["results"][t]["spend"]["calls"]
            runs = len(data["results"][t]["outcomes"])
            matrix[t] = {"preview_calls": preview[t], "made_calls": made, "ratio": round(preview[t] / made, 4),
                         "harness_runs_made": runs if ":" in t and not t.startswith("anthropic") else None}
        results["matrix"] = matrix
        model_total = sum(matrix[t]["made_calls"] for t in targets[:2])
        results["matrix_model_targets_error"] = round(abs(sum(matrix[t]["preview_calls"] for t in targets[:2])
                                                          - model_total) / model_total, 4)
        guarded = (root / "suite.yaml").read_text().replace("runs: 2", "runs: 5", 1)  # 1 train input x 2 runs
        (root / "guarded.yaml").write_text(guarded)  # could never keep: `run` refuses it before the baseline
        args = ["run", "guarded.yaml", "--model", "sim", "--also-on", "anthropic:claude-fake-1", "--uplift",
                "--no-cache"]
        estimate = cli(root, env, *args, "--estimate-only")
        counted = int(re.search(r"baseline, every arm and target: (\d+) calls", estimate.stdout).group(1))
        ran = cli(root, env, *args, "--max-experiments", "4", "--run-id", "guarded")
        entries = [json.loads(line) for line in (root / ".autoresearch/guarded/journal.jsonl").read_text().splitlines()]
        results["guarded_run"] = {"preview_baseline_calls": counted, "made_baseline_calls": entries[0]["calls"],
                                  "error": round(abs(counted - entries[0]["calls"]) / entries[0]["calls"], 4),
                                  "experiments": [{"id": e["id"], "decision": e["decision"], "calls": e["calls"]}
                                                  for e in entries[1:]], "exit": ran.returncode}
    out = ROOT / "bench" / "results" / "arms.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
