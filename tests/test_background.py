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
    """The meeting-notes suite cut to 3 train inputs and 1 holdout, at a remote model's pace (0.15 s a call, 2 at
    once), so a `try` lasts about 10 s and can be killed midway 20 times, a pair or two apart."""
    import yaml

    root = tmp_path / "project"
    shutil.copytree(ROOT / "examples/meeting-notes", root / "examples/meeting-notes")
    (root / "evals").mkdir()
    suite = yaml.safe_load((ROOT / "evals/meeting-notes.yaml").read_text())
    train = [i for i in suite["inputs"] if i.get("split") != "holdout"][:3]
    holdout = [i for i in suite["inputs"] if i.get("split") == "holdout"][:1]
    suite.update(inputs=train + holdout, model={"name": "sim", "latency": 0.15}, concurrency=CONCURRENCY)
    (root / "evals/meeting-notes.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    return root


CONCURRENCY = 2
CALLS_PER_PAIR = 2  # the answer, and the one judged eval ("owners"); the other evals are checks that cost nothing


def baseline(root: Path, run_id: str) -> str:
    """A run measured to its baseline; returns the section a `try` will change, with its new body written."""
    done = cli(root, "run", "evals/meeting-notes.yaml", "--baseline-only", "--max-experiments", "20", "--run-id", run_id)
    assert done.returncode == 0, done.stderr
    plan = json.loads(cli(root, "next", run_id, "--json").stdout)
    (root / "new.md").write_text(plan["body"].rstrip("\n") + "\n" + SECTION_BODY)
    (root / "other.md").write_text(plan["body"].rstrip("\n") + "\n- Keep it under 100 words.\n")
    return plan["section"]


def try_args(run_id: str, section: str, body: str = "new.md", hypothesis: str = HYPOTHESIS) -> list[str]:
    return ["try", run_id, "--section", section, "--file", body, "--hypothesis", hypothesis, "--kind", "clarify",
            "--json"]


def decided(root: Path, run_id: str) -> dict:
    """The attempt's journal line and its candidate's stored cells: what must not differ after kills."""
    entries = RunDir(root / ".autoresearch" / run_id).entries()
    assert len(entries) == 2, [e["decision"] for e in entries]
    entry = entries[-1]
    cells = json.loads((root / ".autoresearch" / run_id / "cells" / f"{entry['candidate']}.json").read_text())
    keys = ("decision", "reason", "scores", "per_eval", "wins", "losses", "p_value", "runs", "candidate",
            "skill_after", "paired_evals")  # not `calls`: a pair in flight at a kill is paid again (the_calls_paid)
    return {**{k: entry[k] for k in keys}, "cells": sorted(map(tuple, cells["cells"]))}


def the_calls_paid(root: Path, run_id: str) -> int:
    """The calls the attempt's journal line charges: every call made, a pair redone after a kill included."""
    return RunDir(root / ".autoresearch" / run_id).entries()[-1]["calls"]


def restarted_worker(run: Path, gone: set[int]) -> int | None:
    """The pid of the worker `wait` started again on the killed attempt (None if none within 5 s); `gone` are
    the pids killed so far (a try killed before it wrote its own leaves an earlier one in pending.json)."""
    for _ in range(50):
        with contextlib.suppress(OSError, ValueError):
            pid = json.loads((run / "pending.json").read_text()).get("pid")
            if pid and pid not in gone:
                return pid
        time.sleep(0.1)
    return None


def scored_pairs(run: Path) -> int:
    """The (input, run) pairs the unfinished attempt has saved so far."""
    return sum(len(f.read_text().splitlines()) for f in (run / "partial").glob("*.jsonl"))


def at_a_random_moment(run: Path, rng: random.Random, saved: int, starting: float = 0.25) -> None:
    """Sleep until a random moment of a try (or worker) just started: while it starts up (with odds `starting`),
    otherwise once it has saved a pair beyond `saved`, while its next pairs are in flight."""
    if rng.random() < starting:
        time.sleep(rng.uniform(0.1, 0.8))
        return
    deadline = time.monotonic() + 20
    while scored_pairs(run) <= saved and time.monotonic() < deadline:
        time.sleep(0.02)
    assert scored_pairs(run) > saved, "the attempt scored nothing in 20 s"
    time.sleep(rng.uniform(0, 0.1))


@contextlib.contextmanager
def paused(pid: int):
    """Stop a worker for the block (SIGSTOP): alive and on its attempt, however long the commands in it take."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def killed(process: subprocess.Popen, rng: random.Random) -> None:
    """Stop a process as an agent's tool timeout or a closed laptop would: SIGTERM or SIGKILL, at random."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, rng.choice([signal.SIGKILL, signal.SIGTERM]))
    process.communicate()


@pytest.mark.slow
def test_a_try_killed_at_random_moments_resumes_with_nothing_lost_or_counted_twice(project, tmp_path):
    """20 kills (SIGKILL and SIGTERM) of the processes doing one attempt, some while they start and most while
    they evaluate: the attempt resumes from its saved cells to the decision an uninterrupted `try` reaches."""
    section = baseline(project, "k")
    clean = tmp_path / "clean"
    shutil.copytree(project, clean)
    straight = subprocess.Popen(CLI + try_args("k", section), cwd=clean, stdout=subprocess.PIPE,  # alongside the
                                stderr=subprocess.PIPE, text=True)  # kills below: it waits on the model, not the CPU
    rng, run = random.Random(20), project / ".autoresearch/k"
    kills, gone, refused = 0, set(), False
    while kills < 20:
        saved = scored_pairs(run)
        process = subprocess.Popen(CLI + try_args("k", section), cwd=project, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        at_a_random_moment(run, rng, saved, starting=0.25 if kills else 0)  # the first one midway
        assert process.poll() is None, "the try ended before it was killed 20 times: make it slower\n" + \
            "".join(process.communicate())
        killed(process, rng)
        kills, gone = kills + 1, gone | {process.pid}
        if not refused and (run / "pending.json").exists():  # the try had recorded its attempt:
            other = cli(project, *try_args("k", section, "other.md", "Fewer words"))  # another proposal is refused
            assert other.returncode == 2 and "attempt #1 of run k" in other.stderr and \
                "interrupted" in other.stderr and "autoresearch wait k" in other.stderr, other.stderr
            refused = True
        if kills % 5 == 0:  # the agent comes back with `wait`, which resumes the attempt in a background worker
            waited = subprocess.Popen(CLI + ["wait", "k", "--timeout", "60"], cwd=project, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
            worker = restarted_worker(run, gone)
            assert worker, "wait did not resume the killed attempt"
            at_a_random_moment(run, rng, scored_pairs(run))
            waited.kill()  # the agent's tool call times out; the worker goes on
            waited.communicate()
            if kills == 5:  # another proposal while the worker runs: refused, naming it and how to follow it
                with paused(worker):
                    other = cli(project, *try_args("k", section, "other.md", "Fewer words"))
                assert other.returncode == 2 and f"attempt #1 of run k ({section}: {HYPOTHESIS}) is in progress " \
                    f"(pid {worker})" in other.stderr and "autoresearch wait k" in other.stderr, other.stderr
            os.kill(worker, rng.choice([signal.SIGKILL, signal.SIGTERM]))  # then the worker dies too
            kills, gone = kills + 1, gone | {worker}
    started = cli(project, *try_args("k", section), "--background")  # resumed in a worker from the saved cells
    assert started.returncode == 0 and "started in the background" in started.stdout, started.stdout + started.stderr
    with paused(json.loads((run / "pending.json").read_text())["pid"]):
        again = cli(project, *try_args("k", section), "--background")  # the same, again: it follows the worker
        assert again.returncode == 0 and "already in progress" in again.stdout, again.stdout + again.stderr
        following = subprocess.Popen(CLI + try_args("k", section), cwd=project, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)  # in the foreground: it waits for the worker
        said = following.stderr.readline()
    assert "already in progress" in said and "waiting for its decision" in said, said
    final, _ = following.communicate()
    out, err = straight.communicate()
    assert straight.returncode in (0, 1), err
    assert refused, "no kill left an attempt recorded to refuse another proposal on"
    expected, straight_calls = decided(clean, "k"), the_calls_paid(clean, "k")
    assert following.returncode == straight.returncode, final  # printed as a foreground try prints it
    assert json.loads(final)["entry"] == RunDir(project / ".autoresearch/k").entries()[-1]
    assert decided(project, "k") == expected
    calls = the_calls_paid(project, "k")
    # every call is charged as made, none lost; beyond the uninterrupted try's, only the pairs in flight at a kill
    # are paid twice (a call cut off midway was never charged; a redone saved cell would add far more)
    assert straight_calls <= calls <= straight_calls + kills * CONCURRENCY * CALLS_PER_PAIR, (calls, straight_calls)
    retried = cli(project, *try_args("k", section))  # the same try once more: its decision, not a second attempt
    assert retried.returncode == straight.returncode and json.loads(retried.stdout)["entry"]["id"] == 1
    assert decided(project, "k") == expected
    assert not (project / ".autoresearch/k/partial").exists() and not (project / ".autoresearch/k/pending.json").exists()
    status = cli(project, "status", "k").stdout
    assert "crashed" not in status and "interrupted" not in status


# -- on the real Claude Code, offline ----------------------------------------------------------------------

BIN = ROOT / ".harness" / "node_modules" / ".bin"
TOOL_CALL_SECONDS = 120  # Claude Code's Bash tool stops a command after 2 minutes by default


@pytest.fixture
def harness_project(tmp_path):
    if not (BIN / "claude").exists():
        if os.environ.get("CI"):
            pytest.fail(f"{BIN / 'claude'} is missing: `make test` installs the harnesses")
        pytest.skip("claude is not installed (run `make harness`)")
    root = tmp_path / "project"
    shutil.copytree(ROOT / "examples/harness", root / "evals")
    suite = (root / "evals/suite.yaml").read_text().replace("runs: 2", "runs: 5")  # a suite the keep rule can keep on
    (root / "evals/meeting-notes.yaml").write_text(suite)  # the name the skill's placeholders give
    (root / "evals/suite.yaml").unlink()
    return root


def agent_env() -> dict:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def timed(command: str, cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run(["bash", "-c", command], cwd=cwd, env=agent_env(), capture_output=True, text=True,
                          timeout=TOOL_CALL_SECONDS + 60)
    return done, time.monotonic() - started


@pytest.mark.slow
def test_the_create_skills_path_b_commands_each_fit_in_a_tool_call_on_claude_code_sim(harness_project):
    """Drive the create skill's path B as the agent would, on the real claude, then the finalize skill's status
    and finalize: every command returns within the Bash tool's 2 minutes. The 120 s bound is the product's
    contract with the agent's tool-call timeout, not a speed goal: the commands take a few seconds
    (bench/path_b.py), so the bound is far from the measured value and only a command that blocks breaks it."""
    from test_newuser import fill, skill_commands

    root = harness_project
    parts = dict(skill_commands((ROOT / "skills/autoresearch-create/SKILL.md").read_text()))
    path_b = next(commands for heading, commands in parts.items() if heading.startswith("B."))
    assert any("--background" in c for c in path_b) and any(c.startswith("autoresearch wait") for c in path_b)
    finalize = dict(skill_commands((ROOT / "skills/autoresearch-finalize/SKILL.md").read_text()))[""]
    finishing = [c for c in finalize if c.startswith(("autoresearch status", "autoresearch finalize"))
                 and "--branch" not in c]  # not under git here
    assert [c.split()[1] for c in finishing] == ["status", "finalize"], finishing
    seconds = []
    for command in parts[""] + path_b + finishing:  # validate, doctor, the cost preview, path B, status, finalize
        values = {}
        if "<id>" in command:  # the agent writes the section `next` names into new-section.md
            plan = json.loads(subprocess.run(CLI + ["next", "meeting-notes", "--json"], cwd=root, env=agent_env(),
                                             capture_output=True, text=True).stdout)
            (root / "new-section.md").write_text(plan["body"] + "\n- Always run the script first.\n")
            values["<id>"] = plan["section"]
        done, took = timed(fill(command, values), root)
        seconds.append(took)
        for _ in range(10):  # `wait` exits 4 while the work goes on: the agent runs it again
            if not (command.startswith("autoresearch wait") and done.returncode == 4):
                break
            done, took = timed(fill(command, values), root)
            seconds.append(took)
        assert took < TOOL_CALL_SECONDS, f"{command} took {took:.0f}s"
        assert done.returncode in (0, 1, 3), f"{command}\n{done.stdout}\n{done.stderr}"
    entries = RunDir(root / ".autoresearch/meeting-notes").entries()
    assert [e["id"] for e in entries] == [0, 1] and entries[1]["decision"] in ("keep", "discard", "refused")
    assert (root / ".autoresearch/meeting-notes/summary.md").exists()  # finalize packaged the run
    assert max(seconds) < TOOL_CALL_SECONDS


@pytest.mark.slow
def test_a_background_try_killed_on_claude_code_sim_resumes_with_the_same_decision(harness_project, tmp_path):
    root = harness_project
    env = agent_env()
    run = [*CLI, "run", "evals/meeting-notes.yaml", "--baseline-only", "--run-id", "h", "--no-preflight"]
    assert subprocess.run(run, cwd=root, env=env, capture_output=True, text=True).returncode == 0
    plan = json.loads(subprocess.run(CLI + ["next", "h", "--json"], cwd=root, env=env, capture_output=True,
                                     text=True).stdout)
    (root / "new.md").write_text(plan["body"] + "\n- Always run the script first.\n")
    clean = tmp_path / "clean"
    shutil.copytree(root, clean)
    args = ["try", "h", "--section", plan["section"], "--file", "new.md", "--hypothesis", HYPOTHESIS]
    # the uninterrupted try, in its own copy, runs alongside the one that is killed
    straight = subprocess.Popen(CLI + args, cwd=clean, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    started = subprocess.run(CLI + args + ["--background"], cwd=root, env=env, capture_output=True, text=True)
    assert started.returncode == 0, started.stderr
    worker = json.loads((root / ".autoresearch/h/pending.json").read_text())["pid"]
    for _ in range(200):  # kill it once the first cells are scored
        if (root / ".autoresearch/h/partial").exists():
            break
        time.sleep(0.1)
    running = subprocess.run(CLI + ["status", "h"], cwd=root, env=env, capture_output=True, text=True).stdout
    os.kill(worker, signal.SIGKILL)
    assert "state: running (attempt #1 in progress: " in running, running
    status = subprocess.run(CLI + ["status", "h"], cwd=root, env=env, capture_output=True, text=True).stdout
    assert "crashed" not in status and "attempt #1" in status
    said = ""
    for _ in range(10):  # `wait` exits 4 while the work goes on: the agent runs it again
        done = subprocess.run(CLI + ["wait", "h", "--timeout", "110"], cwd=root, env=env, capture_output=True,
                              text=True)
        said += done.stderr
        if done.returncode != 4:
            break
    _, errors = straight.communicate(timeout=600)
    assert straight.returncode in (0, 1, 3), errors
    assert done.returncode == straight.returncode, done.stdout + said
    assert "resumed where it stopped" in said
    ours, theirs = (RunDir(p / ".autoresearch/h").entries()[-1] for p in (root, clean))
    assert {k: ours[k] for k in ("decision", "scores", "wins", "losses", "calls")} == \
        {k: theirs[k] for k in ("decision", "scores", "wins", "losses", "calls")}
