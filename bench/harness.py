"""Harness target overhead: a `claude-code:sim` cell against the bare `claude -p` call it wraps, and the same
for each other installed harness (`pi`, `codex`, `gemini`, `opencode`: fewer pairs and cells, see BENCH_MORE_PAIRS).

Both talk to the same local Messages-API server answered by the simulator. A cell adds: a fresh
workspace, the skill folder and fixtures copied in, the event stream parsed, the files read back,
the workspace removed. Runs alternate (cell, bare, cell, bare, ...) so drift in the machine's speed
hits both; the figure is the median of the per-pair ratios. Then cells per minute at concurrency 1,
4 and 8; and for trigger evals, model calls per trigger decision and wall time per query. Writes
bench/results/harness.json. Needs `make harness`.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from autoresearch.evaluate.runner import Models, evaluate  # noqa: E402
from autoresearch.evaluate.triggers import trigger_suite  # noqa: E402
from autoresearch.models import ModelSpec  # noqa: E402
from autoresearch.suite.suite import load_suite  # noqa: E402
from autoresearch.targets import SkillUnderTest  # noqa: E402

PAIRS = int(os.environ.get("BENCH_PAIRS", 8))
MORE_PAIRS = int(os.environ.get("BENCH_MORE_PAIRS", 3))
MORE = {"pi": "pi", "codex": "codex", "gemini": "gemini", "opencode": "opencode"}  # harness -> binary
BIN = ROOT / ".harness" / "node_modules" / ".bin"


async def one_cell(target, skill, item, run) -> float:
    started = time.perf_counter()
    outcome = await target.run(skill, item, run)
    target.release(outcome)
    return time.perf_counter() - started


def bare_call(target, skill, item, run) -> float:
    """The same CLI call in a prepared folder, with nothing around it."""
    work = Path(tempfile.mkdtemp(prefix="bench-bare-"))
    try:
        (work / "work").mkdir()
        target._install(skill, work / "work")
        for rel, source in item.fixture_paths():
            (work / "work" / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, work / "work" / rel)
        env = {**target._environment(work, "bare"), "PWD": str(work / "work")}
        target._agent.register("bare", run)
        prompt = target.flavour.explicit(skill.name, item.text)
        argv = target.flavour.argv(target.binary, prompt, target.flavour.sim_model(), target.tools, target.max_turns)
        stdin = {"input": str(prompt).encode()} if getattr(target.flavour, "stdin_prompt", False) \
            else {"stdin": subprocess.DEVNULL}  # as the cell has it
        started = time.perf_counter()
        subprocess.run(argv, cwd=work / "work", env=env, capture_output=True, check=True, **stdin)
        return time.perf_counter() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def main() -> None:
    if not (BIN / "claude").exists():
        sys.exit("bench/harness.py needs the harnesses: run `make harness` first")
    os.chdir(ROOT)
    suite = load_suite(ROOT / "examples/harness/suite.yaml")
    skill = SkillUnderTest(suite.skill_path.read_text(encoding="utf-8"), suite.skill_path.parent)
    item = suite.inputs[0]
    models = Models(ModelSpec("claude-code:sim"))
    target = models.target
    target.check(skill)
    await one_cell(target, skill, item, 0)  # warm-up: the server, node's file cache
    cells, bares, ratios = [], [], []
    for i in range(PAIRS):
        cell = await one_cell(target, skill, item, i)
        bare = await asyncio.to_thread(bare_call, target, skill, item, i)
        cells.append(cell)
        bares.append(bare)
        ratios.append(cell / bare)
    overhead = {"pairs": PAIRS, "cell_seconds_median": round(statistics.median(cells), 3),
                "bare_seconds_median": round(statistics.median(bares), 3),
                "ratio_median": round(statistics.median(ratios), 3), "ratio_min": round(min(ratios), 3),
                "ratio_max": round(max(ratios), 3)}
    print(f"overhead: cell {overhead['cell_seconds_median']}s vs bare claude -p {overhead['bare_seconds_median']}s "
          f"(median of {PAIRS} paired ratios {overhead['ratio_median']}, min {overhead['ratio_min']}, "
          f"max {overhead['ratio_max']}; goal <= 1.15)")
    await models.aclose()
    throughput = {}
    for concurrency in (1, 4, 8):
        spec = ModelSpec("claude-code:sim", options=(("concurrency", concurrency),))
        models = Models(spec)
        runs = list(range(max(4, concurrency * 2) // len(suite.inputs)))
        started = time.perf_counter()
        result = await evaluate(suite, skill, models, runs=runs, concurrency=concurrency)
        seconds = time.perf_counter() - started
        await models.aclose()
        count = len(runs) * len(suite.inputs)
        errors = len(result.errors)
        throughput[str(concurrency)] = {"cells": count, "seconds": round(seconds, 2),
                                        "cells_per_minute": round(60 * count / seconds, 1), "error_cells": errors}
        print(f"concurrency {concurrency}: {count} cells in {seconds:.1f}s = {60 * count / seconds:.1f} cells/min"
              f" ({errors} error cells)")
    triggers = trigger_suite(load_suite(ROOT / "examples/harness/triggers.yaml"))
    models = Models(triggers.model)
    started = time.perf_counter()
    result = await evaluate(triggers, skill, models, runs=[0], concurrency=1)
    seconds = time.perf_counter() - started
    await models.aclose()
    decisions = len({(c.input_id, c.run) for c in result.cells})
    trigger = {"queries": decisions, "model_calls": result.spend.calls,
               "calls_per_decision": round(result.spend.calls / decisions, 2),
               "seconds_per_query": round(seconds / decisions, 2), "error_cells": len(result.errors)}
    print(f"triggers: {decisions} queries, {trigger['calls_per_decision']} model calls per trigger decision, "
          f"{trigger['seconds_per_query']}s per query at concurrency 1")
    others = {name: await measure(name, suite, skill) for name, binary in MORE.items() if (BIN / binary).exists()}
    out = ROOT / "bench" / "results" / "harness.json"
    out.write_text(json.dumps({"machine_cores": os.cpu_count(), "load_average": os.getloadavg()[0],
                               "overhead": overhead, "throughput": throughput, "triggers": trigger,
                               "harnesses": others}, indent=1) + "\n")
    print(f"wrote {out}")


async def measure(name: str, suite, skill) -> dict:
    """One harness's `:sim` cell against its bare CLI call (paired, median ratio), then cells per minute at
    concurrency 1, 4 and 8 (as many cells as the concurrency, two at least: short, not precise)."""
    models = Models(ModelSpec(f"{name}:sim"))
    target, item = models.target, suite.inputs[0]
    target.check(skill)
    await one_cell(target, skill, item, 0)  # warm-up
    ratios, cells, bares = [], [], []
    for i in range(MORE_PAIRS):
        cells.append(await one_cell(target, skill, item, i))
        bares.append(await asyncio.to_thread(bare_call, target, skill, item, i))
        ratios.append(cells[-1] / bares[-1])
    await models.aclose()
    overhead = {"pairs": MORE_PAIRS, "cell_seconds_median": round(statistics.median(cells), 3),
                "bare_seconds_median": round(statistics.median(bares), 3),
                "ratio_median": round(statistics.median(ratios), 3)}
    throughput = {}
    for concurrency in (1, 4, 8):
        models = Models(ModelSpec(f"{name}:sim", options=(("concurrency", concurrency),)))
        runs = list(range(max(2, concurrency) // len(suite.inputs)))
        started = time.perf_counter()
        result = await evaluate(suite, skill, models, runs=runs, concurrency=concurrency)
        seconds = time.perf_counter() - started
        await models.aclose()
        count = len(runs) * len(suite.inputs)
        throughput[str(concurrency)] = {"cells": count, "seconds": round(seconds, 2),
                                        "cells_per_minute": round(60 * count / seconds, 1),
                                        "error_cells": len(result.errors)}
    print(f"{name}: cell {overhead['cell_seconds_median']}s vs bare {overhead['bare_seconds_median']}s (median ratio "
          f"{overhead['ratio_median']} of {MORE_PAIRS} pairs; goal <= 1.15); cells/min at 1/4/8: "
          + "/".join(str(throughput[c]["cells_per_minute"]) for c in ("1", "4", "8")))
    return {"overhead": overhead, "throughput": throughput}


if __name__ == "__main__":
    asyncio.run(main())
