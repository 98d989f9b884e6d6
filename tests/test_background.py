"""Path B that fits in a tool call: `try --background` / `wait`, and attempts that resume after any kill.

An agent's shell tool stops a command at its timeout; the attempt it was running must resume where it
stopped, keeping the cells already scored, with no cell lost or counted twice and the same decision.
"""

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT

from autoresearch.runs.journal import RunDir

CLI = [sys.executable, "-m", "autoresearch"]
SECTION_BODY = "- Name who owns each item and by when.\n- Always start with `## Summary`.\n"
HYPOTHESIS = "Owners and a summary heading as rules"


def cli(cwd, *args, timeout=300):
    return subprocess.run(CLI + list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    shutil.copytree(ROOT / "examples/meeting-notes", root / "examples/meeting-notes")
    (root / "evals").mkdir()
    suite = (ROOT / "evals/meeting-notes.yaml").read_text()  # a remote model's pace, so a try can be killed midway
    (root / "evals/meeting-notes.yaml").write_text(suite.replace("\nmodel: sim ", "\nmodel: {name: sim, latency: 0.15}\nconcurrency: 4 "))
    return root


def baseline(root: Path, run_id: str) -> str:
    """A run measured to its baseline; returns the section a `try` will change, with its new body written."""
    done = cli(root, "run", "evals/meeting-notes.yaml", "--baseline-only", "--max-experiments", "20", "--run-id", run_id)
    assert done.returncode == 0, done.stderr
    plan = json.loads(cli(root, "next", run_id, "--json").stdout)
    (root / "new.md").write_text(plan["body"].rstrip("\n") + "\n" + SECTION_BODY)
    return plan["section"]


def try_args(run_id: str, section: str) -> list[str]:
    return ["try", run_id, "--section", section, "--file", "new.md", "--hypothesis", HYPOTHESIS, "--kind", "clarify",
            "--json"]


def decided(root: Path, run_id: str) -> dict:
    """The attempt's journal line and its candidate's stored cells: what must not differ after kills."""
    entries = RunDir(root / ".autoresearch" / run_id).entries()
    assert len(entries) == 2, [e["decision"] for e in entries]
    entry = entries[-1]
    cells = json.loads((root / ".autoresearch" / run_id / "cells" / f"{entry['candidate']}.json").read_text())
    keys = ("decision", "reason", "scores", "per_eval", "wins", "losses", "p_value", "runs", "calls", "candidate",
            "skill_after", "paired_evals")
    return {**{k: entry[k] for k in keys}, "cells": sorted(map(tuple, cells["cells"]))}


def restarted_worker(run: Path, killed: int) -> int | None:
    """The pid of the worker `wait` started again on the killed attempt (None if none within 5 s)."""
    for _ in range(50):
        with contextlib.suppress(OSError, ValueError):
            pid = json.loads((run / "pending.json").read_text()).get("pid")
            if pid and pid != killed:
                return pid
        time.sleep(0.1)
    return None


def test_a_try_killed_at_random_moments_resumes_with_nothing_lost_or_counted_twice(project, tmp_path):
    clean = tmp_path / "clean"
    shutil.copytree(project, clean)
    section = baseline(clean, "k")
    straight = cli(clean, *try_args("k", section))
    assert straight.returncode in (0, 1), straight.stderr
    expected = decided(clean, "k")

    assert baseline(project, "k") == section
    rng = random.Random(20)
    kills, started = 0, time.monotonic()
    while kills < 20 and time.monotonic() - started < 240:
        process = subprocess.Popen(CLI + try_args("k", section), cwd=project, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.2, 1.6))
        if process.poll() is not None:
            break
        process.send_signal(rng.choice([signal.SIGKILL, signal.SIGTERM]))
        process.communicate()
        kills += 1
        if kills % 5 == 0:  # sometimes the agent comes back with `wait`, which restarts the attempt in a worker
            waited = subprocess.Popen(CLI + ["wait", "k", "--timeout", "60"], cwd=project, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
            worker = restarted_worker(project / ".autoresearch/k", process.pid)
            time.sleep(rng.uniform(0.2, 1.2))
            waited.kill()  # the agent's tool call times out, then the worker dies too
            waited.communicate()
            if worker:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker, signal.SIGKILL)
                    kills += 1
    assert kills >= 10, "the try ended before it could be killed often enough: make it slower"
    final = cli(project, "wait", "k", "--timeout", "120", "--json")
    if final.returncode == 4 or len(RunDir(project / ".autoresearch/k").entries()) < 2:
        final = cli(project, *try_args("k", section))
    assert final.returncode in (0, 1), final.stdout + final.stderr
    assert decided(project, "k") == expected
    assert not (project / ".autoresearch/k/partial").exists() and not (project / ".autoresearch/k/pending.json").exists()
    status = cli(project, "status", "k").stdout
    assert "crashed" not in status and "interrupted" not in status
