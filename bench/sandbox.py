"""Sandbox overhead: a harness cell in bubblewrap against the same cell run unconfined (`sandbox: none`).

Both targets are opened in one process and talk to their local Messages-API servers answered by the
simulator; cells alternate (sandboxed, unconfined, sandboxed, ...) with the same input and run index, so
drift in the machine's speed hits both. The figure per harness is the median of the per-pair ratios of
whole-cell wall time (workspace made, CLI run, files read back, workspace removed). Goal: <= 1.10.
`start` is what bwrap adds to starting a command at all (`true` sandboxed against bare), in milliseconds:
on a loaded shared machine the cell ratios are noisy, this fixed cost is not.
Writes bench/results/sandbox.json. Needs `make harness` and bwrap.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from autoresearch.evaluate.runner import Models  # noqa: E402
from autoresearch.models import ModelSpec  # noqa: E402
from autoresearch.sandbox import find_bwrap  # noqa: E402
from autoresearch.suite.suite import load_suite  # noqa: E402
from autoresearch.targets import SkillUnderTest  # noqa: E402

PAIRS = int(os.environ.get("BENCH_PAIRS", 6))
BIN = ROOT / ".harness" / "node_modules" / ".bin"


async def one_cell(target, skill, item, run) -> float:
    started = time.perf_counter()
    outcome = await target.run(skill, item, run)
    target.release(outcome)
    return time.perf_counter() - started


async def overhead(harness: str, skill, item) -> dict:
    boxed = Models(ModelSpec(f"{harness}:sim"))
    bare = Models(ModelSpec(f"{harness}:sim", options=(("sandbox", "none"),)))
    try:
        assert boxed.target.sandbox.kind == "bwrap" and bare.target.sandbox.kind == "none"
        for models in (boxed, bare):
            await one_cell(models.target, skill, item, 0)  # warm-up: the server, node's file cache
        sandboxed, unconfined, ratios = [], [], []
        for i in range(PAIRS):
            a = await one_cell(boxed.target, skill, item, i)
            b = await one_cell(bare.target, skill, item, i)
            sandboxed.append(a)
            unconfined.append(b)
            ratios.append(a / b)
    finally:
        await boxed.aclose()
        await bare.aclose()
    return {"pairs": PAIRS, "sandboxed_seconds_median": round(statistics.median(sandboxed), 3),
            "unconfined_seconds_median": round(statistics.median(unconfined), 3),
            "ratio_median": round(statistics.median(ratios), 3), "ratio_min": round(min(ratios), 3),
            "ratio_max": round(max(ratios), 3)}


def start_cost(repeats: int = 20) -> dict:
    """What bwrap adds to starting any command: `true` in the cell's sandbox against bare `true` (milliseconds)."""
    import subprocess
    import tempfile

    from autoresearch.sandbox import Sandbox, cell_argv

    cell = Path(tempfile.mkdtemp(prefix="bench-sandbox-"))
    (cell / "home" / ".claude").mkdir(parents=True)
    boxed = cell_argv(Sandbox("bwrap", find_bwrap()), ["/bin/true"], cell, cell / "home", (".claude",), dict(os.environ))

    def timed(argv) -> float:
        started = time.perf_counter()
        subprocess.run(argv, check=True)
        return (time.perf_counter() - started) * 1000

    try:
        pairs = [(timed(boxed), timed(["/bin/true"])) for _ in range(repeats)]
    finally:
        import shutil

        shutil.rmtree(cell, ignore_errors=True)
    return {"repeats": repeats, "sandboxed_ms_median": round(statistics.median(a for a, _ in pairs), 2),
            "bare_ms_median": round(statistics.median(b for _, b in pairs), 2),
            "added_ms_median": round(statistics.median(a - b for a, b in pairs), 2)}


async def main() -> None:
    if not (BIN / "claude").exists() or not find_bwrap():
        sys.exit("bench/sandbox.py needs the harnesses (`make harness`) and bwrap (`apt-get install bubblewrap`)")
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ['PATH']}"
    os.chdir(ROOT)
    suite = load_suite(ROOT / "examples/harness/suite.yaml")
    skill = SkillUnderTest(suite.skill_path.read_text(encoding="utf-8"), suite.skill_path.parent)
    item = suite.inputs[0]
    results = {"machine_cores": os.cpu_count(), "goal_ratio": 1.10, "bwrap": find_bwrap(), "start": start_cost()}
    print("start", results["start"], flush=True)
    for harness in ("claude-code", "pi"):
        results[harness] = await overhead(harness, skill, item)
        print(harness, results[harness], flush=True)
    out = ROOT / "bench" / "results" / "sandbox.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    asyncio.run(main())
