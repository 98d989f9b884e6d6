"""Spend that survives a kill -9: every model call a run received is in the resumed run's budget.

`run` drives `anthropic:` models (target and mutator) over real HTTP against the package's local server,
answered by the simulator; the run is killed -9 mid-evaluation several times and resumed."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT

from autoresearch.evaluate.runner import Spend
from autoresearch.loop.inflight import InFlight
from autoresearch.models import Completion, Usage
from autoresearch.runs.journal import RunDir
from autoresearch.sim.server import MessagesServer, simulator_reply

CLI = [sys.executable, "-m", "autoresearch"]
CONCURRENCY = 2  # calls in flight at once: the ones a kill -9 cuts off (answered, never received)


@pytest.mark.slow
def test_kill_9s_mid_run_then_resume_charge_every_call_the_server_answered(tmp_path):
    shutil.copytree(ROOT / "examples" / "meeting-notes", tmp_path / "examples" / "meeting-notes")
    shutil.copytree(ROOT / "evals", tmp_path / "evals")
    suite = tmp_path / "evals" / "meeting-notes.yaml"
    suite.write_text(suite.read_text().replace("model: sim ", "model: anthropic:claude-fake-1 ")
                     .replace("runs: 8 ", "runs: 4 ") + f"judge: anthropic:claude-fake-1\nconcurrency: {CONCURRENCY}\n")
    run_dir = tmp_path / ".autoresearch" / "spend"
    with MessagesServer(reply=simulator_reply, latency=0.01) as server:
        env = {**os.environ, "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "test"}
        args = ["run", str(suite), "--max-experiments", "3", "--plateau", "100", "--run-id", "spend",
                "--mutator-model", "anthropic:claude-fake-1"]
        kills = 0
        for step in (7, 23, 11, 31, 5, 17):  # calls answered in this attempt before the kill: mid-evaluation
            more = args if not (run_dir / "run.json").exists() else ["run", "--resume", "spend"]
            before = server.answered
            proc = subprocess.Popen(CLI + more, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 120
            while proc.poll() is None and server.answered < before + step and time.monotonic() < deadline:
                time.sleep(0.005)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
            proc.wait()
        done = subprocess.run(CLI + ["run", "--resume", "spend"], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        answered = server.answered
    assert kills >= 4
    charged = sum(e.get("calls", 0) for e in RunDir(run_dir).entries())
    assert not (run_dir / "spend.jsonl").exists()
    # every call the server answered is charged, those in flight at a kill too (written to the run's spend
    # ledger before their request left, settled by their answer or counted as paid on resume): no more, no less
    assert charged == answered, f"answered {answered}, charged {charged}, {kills} kills"


def test_a_call_in_flight_at_a_kill_is_paid_at_its_cached_answer_or_as_one_call_and_a_settled_one_once(tmp_path):
    run = RunDir(tmp_path)
    cached = tmp_path / "answer.json"  # the response cache stored this answer before the kill
    cached.write_text(json.dumps({"text": "ok", "usage": {"input_tokens": 100, "output_tokens": 20}, "cost": 0.5}))
    killed = InFlight(run, lambda: 3)
    killed.sent("a", str(cached))  # answered and cached, never charged
    killed.sent("b", str(tmp_path / "missing.json"))  # the kill came before any answer
    killed.sent("c", None)
    spend = killed.live(3)
    spend.record(Completion("ok", Usage(10, 5), 0.25, ticket="c"))  # answered and charged: settles its ticket
    killed.sent("d", None)
    killed.settle("d")  # failed for good: an error cell, as in a run never killed
    with open(tmp_path / "spend.jsonl", "a") as ledger:
        ledger.write('{"next_id": 3, "sent": "e"')  # torn by the kill mid-write: its request never left
    resumed = InFlight(run, lambda: 3)
    assert resumed.reclaim(2) == Spend()  # another journal line's (already written): not carried again
    carried = resumed.reclaim(3)
    assert (carried.calls, carried.usage, carried.cost) == (3, Usage(110, 25), 0.75)
    resumed.charge(Spend(1, Usage(1, 1), 0.0), 3)  # the resumed run goes on: a torn line does not swallow it
    assert InFlight(run, lambda: 3).reclaim(3).calls == 4

