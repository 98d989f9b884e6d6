"""Candidates in parallel (issue 23): wall time of the same number of attempts at --parallel 1 and K.

The example suite (6 train inputs x 8 runs) on the simulator with a fixed latency per call, so wall time is
set by calls in flight, not by this machine's CPU. Each candidate's evaluation uses the suite's concurrency,
so --parallel K is measured twice: with C / K per candidate (the same calls in flight as --parallel 1 at C)
and with C per candidate (K x C in flight). One run each; the ratios are noisy (other proposals are decided).
With --target claude-code:sim (the real `claude` from `make harness`, answered by the simulator) the suite runs
on that harness, whose own `concurrency:` option (C) caps the sessions in flight across all candidates; the
settings are then: C / K per candidate ("split"), and C per candidate sharing the target's C ("shared": the
same suite and target as --parallel 1, only --parallel differs). A harness session costs this machine's CPU,
so K x C sessions at once would measure the machine, not the loop. --only picks settings; their rows are
merged into --out.
Usage: python bench/parallel.py [--attempts 12] [--parallel 4] [--concurrency 8] [--latency 0.05]
       [--target claude-code:sim] [--runs 8] [--only serial,split,shared] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from autoresearch.loop.experiment import Budget, LoopConfig, run_loop
from autoresearch.suite.suite import load_suite

ROOT = Path(__file__).resolve().parent.parent


def one(parallel: int, attempts: int, concurrency: int, latency: float, target: str = "sim", runs: int = 8,
        in_flight: int | None = None) -> dict:
    """One run from a fresh copy of the example: its wall time (baseline excluded) and decisions."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "examples/meeting-notes", work / "examples/meeting-notes")
        shutil.copytree(ROOT / "evals", work / "evals")
        path = work / "evals/meeting-notes.yaml"
        model = f"{{name: sim, latency: {latency}}}" if target == "sim" else target
        if in_flight:  # the target's own cap on calls in flight, shared by all candidates
            model = f"{{name: {target}, concurrency: {in_flight}}}"
        text = path.read_text().replace("model: sim ", f"model: {model} ", 1)
        path.write_text(text.replace("runs: 8 ", f"runs: {runs}\nconcurrency: {concurrency} ", 1))
        suite = load_suite(path)
        stamps: list[float] = []
        run, reason = run_loop(suite, LoopConfig(budget=Budget(experiments=attempts), plateau=1000, parallel=parallel),
                               work / ".autoresearch", on_event=lambda line: stamps.append(time.perf_counter()))
        entries = run.entries()
        seconds = stamps[-1] - stamps[2]  # from the baseline's end (its line, then the power note) to the stop
        return {"parallel": parallel, "target": target, "runs": runs, "concurrency_per_candidate": suite.concurrency,
                "target_in_flight": in_flight,
                "seconds": round(seconds, 2),
                "attempts": len(entries) - 1, "keeps": sum(e["decision"] == "keep" for e in entries),
                "target_calls": sum(e["calls"] for e in entries[1:]), "reason": reason}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", type=int, default=12)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds a simulator call takes (target sim)")
    parser.add_argument("--target", default="sim", help="the suite's target, e.g. claude-code:sim")
    parser.add_argument("--runs", type=int, default=8, help="the suite's runs")
    parser.add_argument("--only", default="", help="settings to run, comma-separated: serial, split, shared "
                        "(harness) or per_candidate (sim); the rest are kept from --out")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/parallel.json")
    args = parser.parse_args()
    settings = dict(latency=args.latency, target=args.target, runs=args.runs)
    c, k = args.concurrency, args.parallel
    harness = args.target != "sim"
    plans = {"serial": (1, c, c if harness else None),
             "split": (k, max(1, c // k), c if harness else None),  # the same calls in flight in all
             "shared" if harness else "per_candidate": (k, c, c if harness else None)}
    names = {"serial": "serial", "split": "parallel_same_calls_in_flight",
             "shared": "parallel_shared_target_concurrency", "per_candidate": "parallel_same_concurrency_per_candidate"}
    chosen = args.only.split(",") if args.only else list(plans)
    report = json.loads(args.out.read_text()) if args.only and args.out.exists() else {}
    for plan in chosen:
        parallel, per_candidate, in_flight = plans[plan]
        row = one(parallel, args.attempts, per_candidate, **settings, in_flight=in_flight)
        row["keeps_per_attempt"] = round(row["keeps"] / max(1, row["attempts"]), 3)
        report[names[plan]] = row
        print(row, flush=True)
    serial = report["serial"]["seconds"]
    report["ratios"] = {name: round(report[name]["seconds"] / serial, 3) for name in names.values()
                        if name != "serial" and name in report}
    report.update(settings, concurrency=c)
    print(f"wall time of {args.attempts} attempts, --parallel {k} / --parallel 1: {report['ratios']}")
    args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
