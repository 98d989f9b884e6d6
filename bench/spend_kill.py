"""Spend that survives kills: 20 kill -9s of `run` mid-evaluation, each followed by `run --resume`, then a resume
to the end. The run's budgets (the calls on its journal lines) must equal the calls the server answered.

`run` drives `anthropic:` models (target, judge, mutator) over real HTTP against the package's local server,
answered by the simulator; the server counts each /v1/messages request it answers (what a provider bills). Each
kill comes after a random number (5-40) of answers in that attempt, so it lands mid-evaluation, with calls in
flight. Writes bench/results/spend_kill.json.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autoresearch.runs.journal import RunDir
from autoresearch.sim.server import MessagesServer, simulator_reply

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "autoresearch"]
KILLS = 20
CONCURRENCY = 4


def main() -> None:
    rng = random.Random(25)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(ROOT / "examples" / "meeting-notes", root / "examples" / "meeting-notes")
        shutil.copytree(ROOT / "evals", root / "evals")
        suite = root / "evals" / "meeting-notes.yaml"
        suite.write_text(suite.read_text().replace("model: sim ", "model: anthropic:claude-fake-1 ")
                         .replace("runs: 8 ", "runs: 4 ") + f"judge: anthropic:claude-fake-1\nconcurrency: {CONCURRENCY}\n")
        run_dir = root / ".autoresearch" / "spend"
        kills, in_flight, started = 0, [], time.perf_counter()
        with MessagesServer(reply=simulator_reply, latency=0.01) as server:
            env = {**os.environ, "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "bench"}
            first = ["run", str(suite), "--max-experiments", "8", "--plateau", "100", "--run-id", "spend",
                     "--mutator-model", "anthropic:claude-fake-1"]
            for _ in range(KILLS + 10):
                if kills == KILLS:
                    break
                args = first if not (run_dir / "run.json").exists() else ["run", "--resume", "spend"]
                before, step = server.answered, rng.randint(5, 40)
                proc = subprocess.Popen(CLI + args, cwd=root, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
                deadline = time.monotonic() + 120
                while proc.poll() is None and server.answered < before + step and time.monotonic() < deadline:
                    time.sleep(0.002)
                if proc.poll() is None:
                    with server._lock:
                        in_flight.append(server.in_flight)
                    os.kill(proc.pid, signal.SIGKILL)
                    kills += 1
                proc.wait()
            done = subprocess.run(CLI + ["run", "--resume", "spend"], cwd=root, env=env, capture_output=True,
                                  text=True, timeout=900)
            if done.returncode != 0:
                sys.exit(f"the last resume failed: {done.stderr[-2000:]}")
            answered = server.answered
        entries = RunDir(run_dir).entries()
        charged = sum(e.get("calls", 0) for e in entries)
        results = {
            "kills": kills,
            "server_answered": answered,
            "run_charged": charged,
            "difference": charged - answered,
            "requests_in_the_server_at_each_kill": in_flight,
            "journal_lines": len(entries),
            "ledger_left": (run_dir / "spend.jsonl").exists(),
            "seconds": round(time.perf_counter() - started, 1),
            "load_average": round(os.getloadavg()[0], 1),
            "holds": kills == KILLS and charged == answered,
        }
    print(f"{kills} kill -9s: the server answered {answered} calls, the run charged {charged} "
          f"({charged - answered:+d}); {sum(in_flight)} requests were in the server at the kills")
    out = ROOT / "bench" / "results" / "spend_kill.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    if not results["holds"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
