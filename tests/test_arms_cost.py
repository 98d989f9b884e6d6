"""The cost preview counts every arm and target: its call count matches the calls made (a matrix, a guarded run)."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from conftest import BASIC_SUITE

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
