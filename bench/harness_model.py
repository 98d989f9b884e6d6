"""The judge through the harness: one `claude-code` judge call against a bare `claude -p` and the `anthropic:` backend.

All three talk to the same local Messages-API server, which answers every request with the same verdict, so
the figures are the overhead of each way of asking, not a model's speed:
- harness judge: `HarnessModel` (the backend `claude-code:MODEL` as a judge): an empty temporary folder, the real
  `claude -p --output-format json --tools "" --max-turns 1 --system-prompt ...`, the prompt on stdin, the JSON parsed;
- bare: `claude -p PROMPT --output-format json` in a prepared folder, nothing around it;
- anthropic: the `anthropic:MODEL` backend (the Python SDK over HTTP).
Calls alternate (harness, bare, anthropic, ...) so drift in the machine's speed hits all three; the ratios are of
medians. One run, no response cache. Writes bench/results/harness_model.json. Needs `make harness`.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from autoresearch.models import ModelSpec, open_model  # noqa: E402
from autoresearch.prompts import JUDGE_SYSTEM, judge_prompt  # noqa: E402
from autoresearch.sim.server import MessagesServer  # noqa: E402
from autoresearch.targets.model_mode import HarnessModel  # noqa: E402

CALLS = int(os.environ.get("BENCH_CALLS", 5))
BIN = ROOT / ".harness" / "node_modules" / ".bin"
PROMPT = judge_prompt("Does the answer start with Tally:?", "It starts with Tally:.", "It does not.",
                      "Tally the open items.", "Tally: 2 open items.")


async def timed(coro) -> float:
    started = time.perf_counter()
    await coro
    return time.perf_counter() - started


def bare(env: dict) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-bare-") as work:
        started = time.perf_counter()
        subprocess.run([str(BIN / "claude"), "-p", PROMPT, "--output-format", "json", "--model", "claude-fake-1"],
                       cwd=work, env=env, capture_output=True, check=True)
        return time.perf_counter() - started


async def main() -> dict:
    with MessagesServer(reply=lambda body: "VERDICT: PASS\nREASON: it starts with Tally:") as server, \
            tempfile.TemporaryDirectory(prefix="bench-home-") as home:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE"))}, "HOME": home,
               "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "bench", "DISABLE_TELEMETRY": "1",
               "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1"}
        os.environ.clear()
        os.environ.update(env)
        harness = HarnessModel(ModelSpec("claude-code:claude-fake-1", options=(("binary", str(BIN / "claude")),)))
        api = open_model(ModelSpec("anthropic:claude-fake-1"), cache=None)
        times: dict[str, list[float]] = {"harness_judge": [], "bare_claude_p": [], "anthropic": []}
        try:
            for i in range(CALLS):
                times["harness_judge"].append(await timed(harness.complete(JUDGE_SYSTEM, PROMPT, sample=i)))
                times["bare_claude_p"].append(await asyncio.to_thread(bare, env))
                times["anthropic"].append(await timed(api.complete(JUDGE_SYSTEM, PROMPT, sample=i)))
        finally:
            await harness.aclose()
            await api.aclose()
    median = {k: statistics.median(v) for k, v in times.items()}
    return {"machine_cores": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 1), "calls_each": CALLS, "claude_version": harness.version,
            "seconds_median": {k: round(v, 3) for k, v in median.items()},
            "seconds_all": {k: [round(x, 3) for x in v] for k, v in times.items()},
            "ratio_harness_judge_to_bare_claude_p": round(median["harness_judge"] / median["bare_claude_p"], 3),
            "ratio_harness_judge_to_anthropic": round(median["harness_judge"] / median["anthropic"], 1)}


if __name__ == "__main__":
    result = asyncio.run(main())
    out = ROOT / "bench" / "results" / "harness_model.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
