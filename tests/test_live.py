"""Watching a run: live progress on a terminal, the heartbeat behind `status`, Claude Code's status line,
`eval --show-failures`, and which run is the newest."""

import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from conftest import BASIC_SUITE, ROOT

from autoresearch.cli.main import main
from autoresearch.runs.journal import RunDir

CLI = [sys.executable, "-m", "autoresearch"]

SLOW_SUITE = BASIC_SUITE.replace("runs: 2\n", "model: {name: sim, latency: LATENCY}\nruns: 5\nconcurrency: 1\n")


def slow(make_suite, latency: float):
    return make_suite(SLOW_SUITE.replace("LATENCY", str(latency)))


def cli(cwd, *args, **kw):
    return subprocess.run(CLI + [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=120, **kw)


def wait_until(predicate, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


# -- live progress -------------------------------------------------------------------------------

def test_run_on_a_terminal_shows_progress_updating_during_the_baseline(make_suite, tmp_path):
    suite = slow(make_suite, 0.15)
    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen(CLI + ["run", str(suite), "--baseline-only", "--run-id", "p"], cwd=tmp_path,
                            stdin=child_fd, stdout=child_fd, stderr=child_fd, close_fds=True)
    os.close(child_fd)
    screen = b""
    deadline = time.time() + 120
    while time.time() < deadline:
        ready, _, _ = select.select([main_fd], [], [], 1)
        if ready:
            try:
                chunk = os.read(main_fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(main_fd)
    text = screen.decode("utf-8", "replace")
    assert proc.returncode == 0, text
    frames = [f for f in text.split("\r") if "#0 baseline train" in f]
    counts = {f.split("#0 baseline train ")[1].split()[0] for f in frames}
    assert {"1/5", "2/5", "3/5", "4/5", "5/5"} <= counts, text  # the line is redrawn in place as the baseline goes
    assert "\x1b[2K" in text and "#0 baseline holdout" in text
    assert "#0 baseline: train" in text  # the event line is printed above the progress line


def test_run_without_a_terminal_prints_one_plain_line_per_stage(make_suite, tmp_path):
    suite = slow(make_suite, 0)
    done = cli(tmp_path, "run", suite, "--max-experiments", "3", "--run-id", "plain")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "\r" not in out and "\x1b" not in out
    assert "#0 baseline train\n" in out and "#0 baseline holdout\n" in out and "#1 mutator" in out
    decided = [line for line in out.splitlines() if line.startswith("#") and (" discard: " in line or " keep: " in line)]
    assert decided and all(" on run" in line and "same cells for both" in line for line in decided)


# -- heartbeat and status ------------------------------------------------------------------------

def test_status_says_running_then_stopped_crashed_after_kill_9(make_suite, tmp_path):
    suite = slow(make_suite, 0.3)
    proc = subprocess.Popen(CLI + ["run", str(suite), "--max-experiments", "1000", "--plateau", "1000",
                                   "--run-id", "live"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = tmp_path / ".autoresearch/live"
    try:
        assert wait_until(lambda: (run / "journal.jsonl").exists())  # the baseline is measured
        beat = json.loads((run / "heartbeat.json").read_text())
        assert beat["pid"] == proc.pid and {"host", "stage", "started", "beat"} <= set(beat)
        status = cli(tmp_path, "status", "live")
        assert "state: running" in status.stdout, status.stdout
        line = cli(tmp_path, "statusline", input=json.dumps({"workspace": {"project_dir": str(tmp_path)}}))
        assert line.returncode == 0 and line.stdout.startswith("autoresearch ") and "#" in line.stdout
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    status = cli(tmp_path, "status", "live")
    assert "state: stopped (crashed)" in status.stdout, status.stdout
    assert cli(tmp_path, "statusline", input="{}").stdout.strip() == ""  # no live run, nothing shown


def test_a_heartbeat_left_by_an_exited_but_unreaped_process_reads_as_crashed(tmp_path):
    """A killed worker whose parent died stays a zombie where init does not reap (some containers): a signal 0
    still reaches it, yet it is gone, so its run is not running and `wait` or `try` must resume the attempt."""
    import socket
    from datetime import datetime, timezone
    from pathlib import Path

    from autoresearch.runs.live import run_state

    if not Path("/proc/self/stat").exists():
        pytest.skip("no /proc: a zombie cannot be told from a live process here")
    exited = subprocess.Popen(["true"])  # not waited for yet: a zombie until reaped
    stat = Path(f"/proc/{exited.pid}/stat")
    try:
        assert wait_until(lambda: stat.read_text().rpartition(")")[2].split()[0] == "Z")
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        (tmp_path / "heartbeat.json").write_text(json.dumps({"pid": exited.pid, "host": socket.gethostname(),
                                                             "stage": "candidate", "started": now, "beat": now}))
        state = run_state(tmp_path)
        assert (state.state, state.why) == ("stopped", "crashed"), state
    finally:
        exited.wait()


def test_status_says_why_a_run_stopped(make_suite, tmp_path):
    shutil.copytree(ROOT / "examples/meeting-notes", tmp_path / "examples/meeting-notes")
    shutil.copytree(ROOT / "evals", tmp_path / "evals")
    meeting = tmp_path / "evals/meeting-notes.yaml"
    assert cli(tmp_path, "run", meeting, "--max-experiments", "2", "--run-id", "b").returncode == 0
    assert "state: stopped (budget)" in cli(tmp_path, "status", "b").stdout
    assert cli(tmp_path, "run", meeting, "--plateau", "1", "--max-experiments", "50", "--run-id", "pl").returncode == 0
    suite = slow(make_suite, 0)
    assert cli(tmp_path, "run", suite, "--target", "0.5", "--run-id", "t").returncode == 0
    assert "state: stopped (target)" in cli(tmp_path, "status", "t").stdout
    assert "state: stopped (plateau)" in cli(tmp_path, "status", "pl").stdout
    assert cli(tmp_path, "finalize", "b").returncode == 0
    assert "state: finalized" in cli(tmp_path, "status", "b").stdout
    assert not (tmp_path / ".autoresearch/b/heartbeat.json").exists()


def test_ctrl_c_is_recorded_as_the_stop_reason(make_suite, tmp_path):
    suite = slow(make_suite, 0.2)
    proc = subprocess.Popen(CLI + ["run", str(suite), "--max-experiments", "1000", "--run-id", "int"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_until(lambda: (tmp_path / ".autoresearch/int/heartbeat.json").exists())
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert "state: stopped (Ctrl-C)" in cli(tmp_path, "status", "int").stdout


def test_newest_run_is_the_newest_created_not_the_last_touched(make_suite, tmp_path):
    suite = slow(make_suite, 0)
    for run_id in ("b-first", "a-second"):
        assert cli(tmp_path, "run", suite, "--max-experiments", "1", "--run-id", run_id).returncode == 0
    older = tmp_path / ".autoresearch/b-first"
    (older / "report.html").write_text("touched")  # a report written later moves the folder's mtime
    os.utime(older, (time.time() + 100, time.time() + 100))
    assert RunDir.find("", tmp_path / ".autoresearch").id == "a-second"
    assert "run a-second" in cli(tmp_path, "status").stdout


# -- Claude Code's status line --------------------------------------------------------------------

def test_install_statusline_keeps_every_other_setting(tmp_path):
    settings = tmp_path / ".claude/settings.local.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps({"model": "opus", "permissions": {"allow": ["Bash(ls:*)"]}}, indent=2))
    done = cli(tmp_path, "install", "--claude", "--statusline")
    assert done.returncode == 0, done.stderr
    data = json.loads(settings.read_text())
    assert data["model"] == "opus" and data["permissions"] == {"allow": ["Bash(ls:*)"]}
    assert data["statusLine"]["type"] == "command" and data["statusLine"]["command"].endswith("autoresearch statusline")
    assert (tmp_path / ".claude/skills/autoresearch/SKILL.md").exists()
    again = cli(tmp_path, "install", "--claude", "--statusline")
    assert "up to date: statusLine" in again.stdout and json.loads(settings.read_text()) == data
    # the command Claude Code will run works, with Claude Code's JSON on stdin
    command = data["statusLine"]["command"]
    shown = subprocess.run(command, shell=True, cwd="/", input=json.dumps({"workspace": {"project_dir": str(tmp_path)}}),
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and shown.stdout.strip() == ""  # no live run in this project


def test_install_statusline_refuses_to_replace_another_or_to_read_bad_json(tmp_path):
    settings = tmp_path / ".claude/settings.local.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps({"statusLine": {"type": "command", "command": "my-line"}}))
    refused = cli(tmp_path, "install", "--claude", "--statusline")
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert json.loads(settings.read_text())["statusLine"]["command"] == "my-line"
    assert not (tmp_path / ".claude/skills").exists()  # nothing written
    settings.write_text('{"model": "opus",\n  oops}')
    bad = cli(tmp_path, "install", "--claude", "--statusline")
    assert bad.returncode == 2 and f"{settings}:2" in bad.stderr and "Traceback" not in bad.stderr
    forced = cli(tmp_path, "install", "--claude", "--statusline", "--force")
    assert forced.returncode == 2  # --force never overwrites a file it cannot read


# -- eval --show-failures ------------------------------------------------------------------------

def test_eval_show_failures_prints_each_failing_output_in_full(tmp_path):
    shutil.copytree(ROOT / "examples/meeting-notes", tmp_path / "examples/meeting-notes")
    shutil.copytree(ROOT / "evals", tmp_path / "evals")
    out = tmp_path / "r.json"
    done = CliRunner().invoke(main, ["eval", str(tmp_path / "evals/meeting-notes.yaml"), "--runs", "1",
                                     "--show-failures", "--json", str(out)])
    assert done.exit_code in (0, 1), done.output
    data = json.loads(out.read_text())
    failing = [c for c in data["cells"] if c["status"] == "fail"]
    assert failing
    outputs = {(o["input"], o["run"]): o["text"] for o in data["outcomes"]}
    for cell in failing:
        assert f"=== {cell['input']} run {cell['run']}:" in done.output
        assert f"FAIL {cell['eval']}: {cell['reason']}" in done.output  # the reason, whole
        assert outputs[(cell["input"], cell["run"])].rstrip("\n") in done.output  # the output, whole
