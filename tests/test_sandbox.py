"""Harness cells in a real bubblewrap sandbox: the agent's commands cannot write outside the cell, and
nothing it starts outlives the cell, not even after a kill -9 of `eval`. Real binaries, offline (`:sim`)."""

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT

from autoresearch.sandbox import find_bwrap, stale_cells

BIN = ROOT / ".harness" / "node_modules" / ".bin"
HARNESS_TARGETS = ["claude-code:sim", "pi:sim"]

ESCAPE = r'''
import json, os, subprocess, sys
outside, user_home, marker = json.load(open(os.path.join(os.path.dirname(__file__), "walls.json")))
subprocess.Popen(["sleep", marker], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
lines = []
for label, path in (("home", os.path.join(os.environ["HOME"], "escaped.txt")), ("outside", outside),
                    ("user-home", user_home)):
    try:
        with open(path, "w") as handle:
            handle.write("escaped\n")
        lines.append(f"{label}: written")
    except OSError as exc:
        lines.append(f"{label}: refused ({exc.strerror})")
open("report.txt", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
'''


def need_tools() -> None:
    missing = [str(BIN / n) for n in ("claude", "pi") if not (BIN / n).exists()]
    missing += ["bwrap"] if not find_bwrap() else []
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"missing: {', '.join(missing)} (`make test` installs the harnesses, .ci/run bubblewrap)")
        pytest.skip(f"missing: {', '.join(missing)}")


@pytest.fixture
def escape(tmp_path):
    """A project whose skill's script writes to $HOME, outside the workspace and the user's home, and starts a
    background `sleep` that would outlive the cell; TMPDIR is a folder of the test's own."""
    need_tools()
    marker = f"600.{secrets.randbelow(10**9):09d}"
    outside = tmp_path / "outside"
    user_home = Path.home() / f"autoresearch-escaped-{marker}.txt"
    root = tmp_path / "project"
    (root / "escape" / "scripts").mkdir(parents=True)
    (root / "escape" / "scripts" / "escape.py").write_text(ESCAPE)
    (root / "escape" / "scripts" / "walls.json").write_text(json.dumps([str(outside), str(user_home), marker]))
    (root / "escape" / "SKILL.md").write_text(
        "---\nname: escape\ndescription: Checks the cell's walls. Use when asked to check the walls.\n---\n\n"
        "# Escape\n\n- Always run `python3 scripts/escape.py` first.\n")
    (root / "suite.yaml").write_text(
        "skill: escape/SKILL.md\nruns: 1\nmodel: claude-code:sim\ninputs:\n"
        "  - id: walls\n    text: Please check the walls of this cell.\n"
        "evals:\n  - id: reported\n    question: Did the script report?\n"
        "    check: {type: file-contains, path: report.txt, value: 'home:'}\n")
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp),
           "PATH": f"{BIN}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    yield root, env, marker, outside, user_home, temp
    user_home.unlink(missing_ok=True)
    for pid in running(marker):
        os.kill(pid, signal.SIGKILL)


def running(marker: str) -> list[int]:
    """Processes whose command line carries `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            pass
    return found


def settle(marker: str, rounds: int = 100) -> list[int]:
    """The processes still carrying `marker` once they had up to `rounds` tenths of a second to end."""
    for _ in range(rounds):
        if not running(marker):
            return []
        time.sleep(0.1)
    return running(marker)


@pytest.mark.parametrize("target", HARNESS_TARGETS)
def test_a_cell_cannot_write_outside_its_workspace_and_leaves_nothing_running(escape, target):
    root, env, marker, outside, user_home, temp = escape
    done = subprocess.run([sys.executable, "-m", "autoresearch", "eval", "suite.yaml", "--model", target, "--json",
                           "result.json"], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr
    data = json.loads((root / "result.json").read_text())
    assert data["sandbox"] == "bwrap"
    report = data["outcomes"][0]["files"]["report.txt"]
    assert "home: refused (Read-only file system)" in report
    assert "outside: refused" in report and "user-home: refused" in report
    assert not outside.exists() and not user_home.exists()
    assert running(marker) == []  # the background sleep died with the cell
    assert list(temp.iterdir()) == []  # the cell's folder is gone


@pytest.mark.slow
@pytest.mark.parametrize("target", HARNESS_TARGETS)
def test_a_kill_9_of_eval_leaves_nothing_running_and_the_next_start_removes_its_cells(escape, target):
    root, env, marker, outside, user_home, temp = escape
    (root / "suite.yaml").write_text((root / "suite.yaml").read_text().replace("runs: 1", "runs: 3"))
    slow = root / "escape" / "scripts" / "escape.py"
    slow.write_text(slow.read_text() + "import time; time.sleep(600)\n")  # the cell is still running when killed
    proc = subprocess.Popen([sys.executable, "-m", "autoresearch", "eval", "suite.yaml", "--model", target],
                            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(1200):
            if running(marker) or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert running(marker), "the skill's script never started"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert settle(marker) == []
    assert not outside.exists() and not user_home.exists()
    left = [p for p in temp.iterdir() if p.name.startswith("autoresearch-cell-")]
    assert left and stale_cells(temp) == left  # left by the dead run, and known as stale
    (root / "suite.yaml").write_text((root / "suite.yaml").read_text().replace("runs: 3", "runs: 1"))
    slow.write_text(ESCAPE)
    done = subprocess.run([sys.executable, "-m", "autoresearch", "eval", "suite.yaml", "--model", target],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr
    assert list(temp.iterdir()) == []


# -- python checks in the same cage -----------------------------------------------------------------

ROGUE = '''
import os, resource, subprocess, time

MARKER = "{marker}"

def reads_key(output):
    return True, os.environ["ANTHROPIC_API_KEY"]

def raises_memory(output):
    try:
        resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except ValueError:
        pass
    hog = bytearray(2500 * 1024 * 1024)
    return True, f"held {{len(hog)}} bytes"

def forks(output):
    for _ in range(200):
        subprocess.Popen(["sleep", MARKER])
    return True, "forked 200"

def writes_outside(output):
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "written.txt"), "w") as handle:
        handle.write("escaped")
    return True, "wrote beside the suite"

def forks_and_hangs(output):
    for _ in range(3):
        subprocess.Popen(["sleep", MARKER])
    time.sleep(600)
'''


def rogue_suite(tmp_path, marker: str, names: list[str], timeout: int = 60) -> Path:
    need_python_sandbox()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "SKILL.md").write_text("---\nname: notes\ndescription: Writes notes. Use for notes.\n---\n"
                                                 "\n# Notes\n\n- Start with the summary.\n")
    (tmp_path / "rogue.py").write_text(ROGUE.format(marker=marker))
    evals = "".join(f"  - id: {n.replace('_', '-')}\n    question: Does {n} pass?\n"
                    f"    check: {{type: python, value: 'rogue.py:{n}', timeout: {timeout}}}\n" for n in names)
    (tmp_path / "suite.yaml").write_text("skill: notes/SKILL.md\nruns: 1\ninputs:\n  - id: one\n    text: Ann will "
                                         "send the report.\nevals:\n" + evals)
    return tmp_path / "suite.yaml"


def need_python_sandbox() -> None:
    if not find_bwrap():
        if os.environ.get("CI"):
            pytest.fail("bwrap is missing (.ci/run installs bubblewrap)")
        pytest.skip("bwrap is missing")


def test_a_check_cannot_read_keys_raise_its_memory_fork_away_or_write_outside(tmp_path):
    marker = f"600.{secrets.randbelow(10**9):09d}"
    suite = rogue_suite(tmp_path, marker, ["reads_key", "raises_memory", "forks", "writes_outside"])
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "ANTHROPIC_API_KEY": "sk-ant-secret-for-the-test", "TMPDIR": str(temp)}
    try:
        proc = subprocess.Popen([sys.executable, "-m", "autoresearch", "eval", str(suite), "--json", "r.json"],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stdout, stderr = proc.communicate(timeout=300)
        done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
        assert done.returncode == 2, done.stderr  # error cells
        reasons = {c["eval"]: (c["status"], c["reason"]) for c in json.loads((tmp_path / "r.json").read_text())["cells"]}
        assert all(status == "error" for status, _ in reasons.values()), reasons
        assert "KeyError: 'ANTHROPIC_API_KEY'" in reasons["reads-key"][1]
        assert "MemoryError" in reasons["raises-memory"][1]
        assert "BlockingIOError" in reasons["forks"][1] or "Resource temporarily unavailable" in reasons["forks"][1]
        assert "Read-only file system" in reasons["writes-outside"][1]
        assert not (tmp_path / "written.txt").exists()
        assert "sk-ant-secret" not in done.stdout + done.stderr
        assert running(marker) == []  # the children it started ended with the run
        assert list(temp.iterdir()) == []  # and its scratch folders
        assert list(Path("/sys/fs/cgroup/pids").glob(f"autoresearch-check-{proc.pid}-*")) == []  # and its cgroups
    finally:
        for pid in running(marker):
            os.kill(pid, signal.SIGKILL)


def test_a_kill_9_of_eval_takes_a_hanging_check_and_its_children_with_it(tmp_path):
    marker = f"600.{secrets.randbelow(10**9):09d}"
    suite = rogue_suite(tmp_path, marker, ["forks_and_hangs"], timeout=600)
    proc = subprocess.Popen([sys.executable, "-m", "autoresearch", "eval", str(suite)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            if len(running(marker)) >= 3 or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert len(running(marker)) >= 3, "the check never started its children"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert settle(marker) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in running(marker):
            os.kill(pid, signal.SIGKILL)


# -- the target lock holds whatever the temp folder --------------------------------------------------

def test_a_second_run_on_one_skill_with_another_tmpdir_is_refused_naming_the_holder(tmp_path, monkeypatch):
    from autoresearch.runs.locks import target_lock

    shutil.copytree(ROOT / "examples" / "meeting-notes", tmp_path / "examples" / "meeting-notes")
    shutil.copytree(ROOT / "evals", tmp_path / "evals")
    skill = tmp_path / "examples" / "meeting-notes" / "SKILL.md"
    before = skill.read_bytes()
    (tmp_path / "tmp-a").mkdir()
    (tmp_path / "tmp-b").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp-a"))
    monkeypatch.setattr("tempfile.tempdir", None)  # the first run's temp folder
    holder = target_lock(skill)
    holder.acquire("first-run")
    try:
        done = subprocess.run([sys.executable, "-m", "autoresearch", "run", "evals/meeting-notes.yaml",
                               "--max-experiments", "1"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "TMPDIR": str(tmp_path / "tmp-b")})
    finally:
        holder.release()
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"pid {os.getpid()}, run first-run" in done.stderr
    assert skill.read_bytes() == before
    assert not (tmp_path / ".autoresearch").exists() or not any((tmp_path / ".autoresearch").glob("*/run.json"))


# -- which sandbox a run uses, and a refusal where there is none -------------------------------------

def test_validate_and_eval_json_name_the_sandbox_and_a_real_target_without_one_is_refused(tmp_path):
    need_tools()
    shutil.copytree(ROOT / "examples" / "harness", tmp_path / "p")
    cli = [sys.executable, "-m", "autoresearch"]
    found = subprocess.run(cli + ["validate", "suite.yaml"], cwd=tmp_path / "p", capture_output=True, text=True,
                           env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"})
    assert found.returncode == 0 and "sandbox: bwrap" in found.stdout, found.stdout + found.stderr
    no_bwrap = {**os.environ, "PATH": f"{BIN}{os.pathsep}{Path(sys.executable).parent}"}  # no /usr/bin: no bwrap
    refused = subprocess.run(cli + ["eval", "suite.yaml", "--model", "claude-code", "--json", "r.json"],
                             cwd=tmp_path / "p", capture_output=True, text=True, env=no_bwrap)
    assert refused.returncode == 2 and "--no-sandbox" in refused.stderr and "with your account" in refused.stderr
    assert not (tmp_path / "p" / "r.json").exists()
    shown = subprocess.run(cli + ["validate", "suite.yaml"], cwd=tmp_path / "p", capture_output=True, text=True,
                           env={**no_bwrap, "PATH": no_bwrap["PATH"]})
    assert "sandbox: none" in shown.stdout  # a :sim target may run unconfined (with a warning)


def test_a_real_targets_credentials_are_shown_read_only_never_copied_and_its_config_is_copied(tmp_path, monkeypatch):
    from autoresearch.sandbox import Sandbox, confine

    need_python_sandbox()
    home = tmp_path / "user"
    (home / ".claude").mkdir(parents=True)
    (home / ".claude" / ".credentials.json").write_text('{"token": "TOP-SECRET"}')
    (home / ".claude.json").write_text('{"theme": "dark"}')
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    cell = tmp_path / "cell"
    (cell / "work").mkdir(parents=True)
    argv, env = confine(Sandbox("bwrap", find_bwrap()), "claude-code", cell,
                        ["/bin/sh", "-c", 'cat "$CLAUDE_CONFIG_DIR/.credentials.json"; echo x > '
                                          '"$CLAUDE_CONFIG_DIR/.credentials.json" || echo refused'], dict(os.environ),
                        simulated=False)
    done = subprocess.run(argv, cwd=cell / "work", env=env, capture_output=True, text=True)
    assert "TOP-SECRET" in done.stdout and "refused" in done.stdout  # readable, not writable
    assert (home / ".claude" / ".credentials.json").read_text() == '{"token": "TOP-SECRET"}'
    assert "TOP-SECRET" not in (cell / "home" / ".claude" / ".credentials.json").read_text()  # no copy on disk
    assert (cell / "home" / ".claude" / ".claude.json").read_text() == '{"theme": "dark"}'
