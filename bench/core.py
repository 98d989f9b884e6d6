"""Core benchmark: cold start of `autoresearch --help`, and a large suite's eval on the simulator.

Goals (issue 2): --help <= 0.3 s; a 10,000-input eval <= 300 MB peak memory, with time growing
linearly in the number of inputs. Each eval size runs in a fresh subprocess so peak RSS is its own.
Usage: python bench/core.py [--sizes 2500,5000,10000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).parent / "autoresearch"

CHILD = textwrap.dedent("""
    import resource, sys, time
    from autoresearch.runner import evaluate_sync
    from autoresearch.suite import load_suite
    started = time.perf_counter()
    suite = load_suite(sys.argv[1])
    result = evaluate_sync(suite, concurrency=16)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(len(result.cells), round(seconds, 3), round(peak_mb, 1), round(result.rate().value, 4))
""")


def cold_start(repeats: int = 15) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([str(SCRIPT), "--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def write_suite(folder: Path, n: int) -> Path:
    skill = (ROOT / "examples/meeting-notes/SKILL.md").read_text()
    (folder / "meeting-notes").mkdir(parents=True, exist_ok=True)
    (folder / "meeting-notes/SKILL.md").write_text(skill)
    evals = (ROOT / "evals/meeting-notes.yaml").read_text().split("\nevals:\n", 1)[1]
    lines = ["skill: meeting-notes/SKILL.md", "runs: 1", "inputs:"]
    for i in range(n):
        lines += [f"  - id: in-{i}", f"    text: \"P{i}: I will send report {i} by Friday. Q{i}: Budget is {i % 97} over.\"",
                  f"    split: {'holdout' if i % 5 == 0 else 'train'}"]
    path = folder / f"suite-{n}.yaml"
    path.write_text("\n".join(lines) + "\nevals:\n" + evals)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="2500,5000,10000")
    args = parser.parse_args()
    report: dict[str, object] = {"help_cold_start_s": round(cold_start(), 3)}
    print(f"autoresearch --help, median cold start: {report['help_cold_start_s']:.3f} s (goal <= 0.3 s)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            suite = write_suite(Path(tmp), n)
            out = subprocess.run([sys.executable, "-c", CHILD, str(suite)], check=True, capture_output=True, text=True)
            cells, seconds, peak, rate = out.stdout.split()
            rows.append({"inputs": n, "cells": int(cells), "seconds": float(seconds), "peak_mb": float(peak),
                         "us_per_cell": round(float(seconds) / int(cells) * 1e6, 1), "pass_rate": float(rate)})
            print(f"eval {n:>6} inputs: {cells:>6} cells, {float(seconds):6.2f} s, peak {float(peak):6.1f} MB, "
                  f"{rows[-1]['us_per_cell']} us/cell")
    report["eval"] = rows
    out_dir = ROOT / "bench/results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "core.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
