"""The cost preview counts every arm and target: its call count matches the calls made (a matrix, a guarded run)."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import BASIC_SUITE, ROOT

from autoresearch.cli.main import main
from autoresearch.sim.server import MessagesServer

JUDGED = BASIC_SUITE.replace("runs: 2", "runs: 2\njudge: sim") + (
    "  - id: judged\n    question: Does it name an owner?\n    judge: {pass: Names who does it, fail: Names no one}\n")


@pytest.fixture
def server(monkeypatch):
    with MessagesServer() as srv:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.url)
        yield srv


def within(preview: int, made: int) -> bool:
    return abs(preview - made) <= 0.05 * made


def test_matrix_preview_counts_every_target(server, make_suite):
    path = make_suite(JUDGED)
    done = CliRunner().invoke(main, ["eval", str(path), "--model", "sim", "--model", "anthropic:claude-fake-1",
                                     "--no-cache"])
    assert done.exit_code in (0, 1), done.output
    preview = int(re.search(r"estimate: 2 targets: (\d+) calls", done.output).group(1))
    made = int(re.search(r"(\d+) model calls made", done.output).group(1))
    assert made == 2 * (4 + 4) and within(preview, made)  # per target: 2 inputs x 2 runs, and the judge on each
    assert len(server.message_requests()) == 4  # the simulator judges; the anthropic target answers 4 times


def test_guarded_run_preview_counts_the_guard_and_the_no_skill_arm(server, make_suite, tmp_path):
    path = make_suite(JUDGED)
    args = ["run", str(path), "--also-on", "anthropic:claude-fake-1", "--uplift", "--no-cache",
            "--runs-dir", str(tmp_path / "runs")]
    preview = CliRunner().invoke(main, [*args, "--estimate-only"])
    assert preview.exit_code == 0, preview.output
    counted = int(re.search(r"baseline, every arm and target: (\d+) calls", preview.output).group(1))
    assert "guard anthropic:claude-fake-1" in preview.output and "no-skill arm" in preview.output
    assert not (tmp_path / "runs").exists()
    done = CliRunner().invoke(main, [*args, "--baseline-only", "--run-id", "g"])
    assert done.exit_code == 0, done.output
    baseline = json.loads((tmp_path / "runs" / "g" / "journal.jsonl").read_text().splitlines()[0])
    assert set(baseline["guards"]) == {"anthropic:claude-fake-1"} and baseline["uplift"]
    assert within(counted, baseline["calls"]), (counted, baseline["calls"])


BIN = ROOT / ".harness" / "node_modules" / ".bin"


@pytest.fixture
def harness_project(tmp_path, monkeypatch):
    """The example harness suite (its agent loads the skill, runs its script, writes a file: several model calls a
    run), with a judged eval, and every local server this process starts tallied (the requests each answered)."""
    for name in ("claude", "pi"):
        if not (BIN / name).exists():
            if os.environ.get("CI"):
                pytest.fail(f"{BIN / name} is missing: `make test` installs the harnesses")
            pytest.skip(f"{name} is not installed (run `make harness`)")
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    project = tmp_path / "harness"
    shutil.copytree(ROOT / "examples" / "harness", project)
    suite = project / "suite.yaml"
    suite.write_text(suite.read_text().replace("runs: 2", "runs: 1") +
                     "  - id: judged\n    question: Does it give the count?\n"
                     "    judge: {pass: States how many items are open, fail: Gives no count}\n")
    servers = []
    enter = MessagesServer.__enter__

    def tallied(server):  # the server itself, started as usual; only remembered, to read its count after
        servers.append(server)
        return enter(server)

    monkeypatch.setattr(MessagesServer, "__enter__", tallied)
    return suite, lambda: sum(len(s.message_requests()) for s in servers)


def test_harness_matrix_preview_matches_the_calls_the_servers_answered(harness_project):
    suite, served = harness_project
    done = CliRunner().invoke(main, ["eval", str(suite), "--model", "claude-code:sim", "--model", "pi:sim",
                                     "--no-cache"])
    assert done.exit_code in (0, 1), done.output
    preview = int(re.search(r"estimate: 2 targets: (?:at least )?(\d+) calls", done.output).group(1))
    made = served()
    assert made > 4 + 4  # an agent's run is several calls: counting one per run would be far off
    print(f"matrix: preview {preview} calls, the servers answered {made}")
    assert within(preview, made), (preview, made)
    assert "4 harness runs at the model calls per run measured on a first cell" in done.output  # says its basis


def test_harness_guarded_run_preview_matches_the_calls_the_servers_answered(harness_project, tmp_path):
    suite, served = harness_project
    args = ["run", str(suite), "--also-on", "pi:sim", "--uplift", "--no-cache", "--no-preflight",
            "--runs-dir", str(tmp_path / "runs")]
    preview = CliRunner().invoke(main, [*args, "--estimate-only"])
    assert preview.exit_code == 0, preview.output
    counted = int(re.search(r"baseline, every arm and target: (?:at least )?(\d+) calls", preview.output).group(1))
    assert re.search(r"train \d+, holdout \d+, no-skill arm \d+, guard pi:sim \d+", preview.output)
    before = served()  # the preview's own calls: a first cell of each target and arm
    done = CliRunner().invoke(main, [*args, "--baseline-only", "--run-id", "g"])
    assert done.exit_code == 0, done.output
    made = served() - before
    baseline = json.loads((tmp_path / "runs" / "g" / "journal.jsonl").read_text().splitlines()[0])
    assert baseline["calls"] == made  # the run's own count is the servers'
    print(f"guarded run: preview {counted} calls, the servers answered {made}")
    assert within(counted, made), (counted, made)

