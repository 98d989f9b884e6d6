"""Trigger evals in the real harness: does the agent load the skill when it should, and only then?"""

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT, harnesses_on_path, need_harness
from test_targets import real_harness_env

from autoresearch.errors import InputError
from autoresearch.evaluate.runner import Models, evaluate_sync
from autoresearch.evaluate.triggers import trigger_scores, trigger_suite
from autoresearch.models import ModelSpec
from autoresearch.runs.journal import RunDir
from autoresearch.sim.server import MessagesServer
from autoresearch.suite.suite import load_suite

EXAMPLE = ROOT / "examples" / "harness"


@pytest.fixture
def project(tmp_path, monkeypatch):
    need_harness("claude", "pi")
    root = tmp_path / "project"
    shutil.copytree(EXAMPLE, root)
    harnesses_on_path(monkeypatch)
    monkeypatch.chdir(root)
    return root


def cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autoresearch", *args], cwd=root, capture_output=True, text=True,
                          timeout=900)


def write(root: Path, name: str, text: str) -> Path:
    (root / name).write_text(textwrap.dedent(text))
    return root / name


# -- the trigger set: parsing and bad input ---------------------------------------------------------

def test_duplicate_queries_are_an_error_with_the_line(project):
    path = write(project, "dup.yaml", """\
        skill: tally/SKILL.md
        triggers:
          - {id: a, query: "Count the open items.", should_trigger: true}
          - {id: b, query: "count the OPEN items", should_trigger: false}
        """)
    with pytest.raises(InputError) as caught:
        load_suite(path)
    assert "dup.yaml:4: triggers[1].query: duplicate query (the same words as line 3)" in str(caught.value)


def test_one_sided_sets_and_missing_splits_are_warnings_and_the_split_is_stratified(project):
    queries = "".join(f"  - {{id: q{i}, query: \"tally the items of list {i}\", should_trigger: true}}\n"
                      for i in range(10))
    suite = load_suite(write(project, "pos.yaml", "skill: tally/SKILL.md\ntriggers:\n" + queries))
    notes = " ".join(str(w) for w in suite.warnings)
    assert "precision (false triggers) cannot be measured" in notes and "10 trigger queries have no `split`" in notes
    assert sum(t.split == "holdout" for t in suite.triggers) == 4
    again = load_suite(project / "pos.yaml")
    assert [t.split for t in again.triggers] == [t.split for t in suite.triggers]  # reproducible


@pytest.mark.parametrize("body,message", [
    ("triggers:\n  - {id: a, query: x y z, should_trigger: maybe}\n", "should_trigger: true` or `false`"),
    ("distractors: [nowhere]\ntriggers:\n  - {id: a, query: x y z, should_trigger: true}\n",
     "distractor 'nowhere' is not a skill folder"),
])
def test_bad_trigger_input_is_refused_with_file_and_line(project, body, message):
    done = cli(project, "validate", str(write(project, "bad.yaml", "skill: tally/SKILL.md\n" + body)))
    assert done.returncode == 2 and message in done.stderr and "bad.yaml:" in done.stderr


def test_a_distractor_outside_the_suite_folder_is_refused_unless_allowed(project, tmp_path):
    """Distractors are copied into every workspace, like fixtures: confined to the suite's folder by default."""
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(project / "distractors/minutes", elsewhere / "minutes")
    body = "skill: tally/SKILL.md\ndistractors: [../elsewhere/minutes]\n" \
           "triggers:\n  - {id: a, query: x y z, should_trigger: true}\n"
    done = cli(project, "validate", str(write(project, "out.yaml", body)))
    assert done.returncode == 2 and "out.yaml:2" in done.stderr and "outside the suite's folder" in done.stderr
    allowed = load_suite(write(project, "allowed.yaml", "allow_outside: true\n" + body))
    assert allowed.distractors == ((elsewhere / "minutes").resolve(),) and str(elsewhere / "minutes") in allowed.outside[0]


def test_triggers_need_a_harness_target(project):
    done = cli(project, "eval", "triggers.yaml", "--triggers", "--model", "sim")
    assert done.returncode == 2 and "--triggers needs a harness target" in done.stderr


# -- scripted agents in the real binaries: exact recall and precision ------------------------------

SCRIPTED = """\
skill: tally/SKILL.md
runs: 2
distractors: [distractors/minutes]
triggers:
  - {id: p1, query: "Please tally these notes.", should_trigger: true, split: train}
  - {id: p2, query: "Count the open items here.", should_trigger: true, split: train}
  - {id: p3, query: "Tally the tasks.", should_trigger: true, split: holdout}
  - {id: n1, query: "Write the minutes.", should_trigger: false, split: train}
  - {id: n2, query: "Tally ho, a poem about foxes.", should_trigger: false, split: train}
"""


def query_of(body) -> str:
    """The user's query: the first user message's text, less Claude Code's system reminders."""
    content = body["messages"][0]["content"]
    blocks = [content] if isinstance(content, str) else [b.get("text", "") for b in content]
    return " ".join(b for b in blocks if not b.startswith("<system-reminder>"))


def chooser(load):
    """Replies: load `tally` when the query says tally, `minutes` when it says minutes, else answer directly."""

    def reply(body):
        if not body.get("tools"):
            return "ok"
        if '"tool_use"' in json.dumps(body["messages"]):
            return "done"
        query = query_of(body).lower()
        for name in ("tally", "minutes"):
            if name in query:
                return {"content": [{"type": "tool_use", "id": "toolu_1", **load(body, name)}], "stop_reason": "tool_use"}
        return "done"

    return reply


def claude_load(body, name):
    return {"name": "Skill", "input": {"skill": name}}


def pi_load(body, name):
    system = json.dumps(body["system"])
    location = next(part.split("</location>")[0] for part in system.split("<location>")[1:]
                    if f"/{name}/SKILL.md" in part.split("</location>")[0])
    return {"name": "read", "input": {"path": location}}


@pytest.mark.parametrize("target,load", [("claude-code:claude-fake-1", claude_load),
                                         ("pi:fake/claude-fake-1", pi_load)])
def test_recall_and_precision_on_a_scripted_agent_with_a_distractor_installed(project, monkeypatch, tmp_path,
                                                                             target, load):
    path = write(project, "scripted.yaml", SCRIPTED)
    suite = trigger_suite(load_suite(path))
    suite = suite.__class__(**{**suite.__dict__, "model": ModelSpec(target, options=suite.model.options)})
    with MessagesServer(reply=chooser(load)) as server:
        real_harness_env(monkeypatch, server, tmp_path)
        result = evaluate_sync(suite, models=Models(suite.model))
        listed = json.dumps(server.message_requests()[0]["body"])
    assert "minutes" in listed and "tally" in listed  # the distractor was installed beside the target
    assert not result.errors
    train = trigger_scores(result.cells, result.splits, "train")
    # p1 triggers (2/2 runs); p2 never says tally (0/2); n1 loads the distractor, not tally: not counted;
    # n2 says tally: a false trigger on both runs
    assert (train.recall.passed, train.recall.n) == (2, 4)
    assert (train.precision.passed, train.precision.n) == (2, 4)
    assert train.false_triggers == {"n1": (0, 2), "n2": (2, 2)}
    holdout = trigger_scores(result.cells, result.splits, "holdout")
    assert (holdout.recall.passed, holdout.recall.n) == (2, 2)


def test_a_harness_failure_is_an_error_never_a_missed_trigger(project, tmp_path):
    broken = tmp_path / "broken-claude"
    broken.write_text("#!/bin/sh\necho 'claude: cannot start' >&2\nexit 1\n")
    broken.chmod(0o755)
    write(project, "scripted.yaml", SCRIPTED.replace("runs: 2", f"runs: 1\nmodel: {{name: claude-code:sim, "
                                                                  f"binary: {broken}}}"))
    done = cli(project, "eval", "scripted.yaml", "--triggers", "--json", "r.json", "--no-preflight")  # past the canary
    assert done.returncode == 2 and "cannot start" in done.stderr
    data = json.loads((project / "r.json").read_text())
    assert data["triggers"]["overall"]["errors"] == 5 and data["triggers"]["overall"]["recall"]["failed"] == 0


# -- the simulator in the real binaries ---------------------------------------------------------------

@pytest.mark.parametrize("target", ["claude-code:sim", "pi:sim"])
def test_a_matching_query_triggers_and_a_near_miss_does_not(project, target):
    write(project, "two.yaml", """\
        skill: tally/SKILL.md
        runs: 4
        distractors: [distractors/minutes]
        triggers:
          - {id: match, query: "Tally the open action items in these meeting notes.", should_trigger: true}
          - {id: near-miss, query: "Write the minutes of this meeting.", should_trigger: false}
        """)
    done = cli(project, "eval", "two.yaml", "--triggers", "--model", target, "--json", "r.json",
               "--threshold", "recall=0.5", "--threshold", "precision=0.9", "--junit", "r.xml")
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads((project / "r.json").read_text())["triggers"]["overall"]
    assert data["recall"]["passed"] >= 2 and data["false_triggers"]["near-miss"]["triggered"] == 0
    assert "recall" in done.stdout and "precision" in done.stdout
    assert "match" in (project / "r.xml").read_text() and "near-miss" in (project / "r.xml").read_text()


def test_eval_triggers_gates_ci_on_recall(project):
    write(project, "gate.yaml", """\
        skill: tally/SKILL.md
        runs: 2
        triggers:
          - {id: vague, query: "How many are left?", should_trigger: true}
          - {id: other, query: "Write a haiku about autumn leaves.", should_trigger: false}
        """)
    done = cli(project, "eval", "gate.yaml", "--triggers", "--model", "claude-code:sim", "--threshold", "recall=0.99")
    assert done.returncode == 1 and "trigger recall" in done.stderr and "below the threshold 99.0%" in done.stderr


# -- description optimisation --------------------------------------------------------------------------

LOOP = """\
skill: tally/SKILL.md
runs: 2
concurrency: 8
model: claude-code:sim
distractors: [distractors/minutes]
triggers:
  - {id: how-many, query: "How many tasks are still open in these notes?", should_trigger: true, split: train}
  - {id: open-tasks, query: "Which tasks are still open, and how many?", should_trigger: true, split: train}
  - {id: task-count, query: "Give the count of open tasks, please.", should_trigger: true, split: train}
  - {id: left, query: "How many tasks are still open after standup?", should_trigger: true, split: train}
  - {id: todo, query: "How many open tasks did the meeting leave?", should_trigger: true, split: holdout}
  - {id: haiku, query: "Write a haiku about autumn leaves.", should_trigger: false, split: train}
  - {id: fix-test, query: "Fix the failing unit test in parser.py.", should_trigger: false, split: train}
  - {id: french, query: "Translate this paragraph into French.", should_trigger: false, split: holdout}
"""


@pytest.mark.slow
def test_run_triggers_keeps_a_description_that_raises_recall_without_losing_precision(project):
    write(project, "loop.yaml", LOOP)
    done = cli(project, "run", "loop.yaml", "--triggers", "--run-id", "t", "--max-experiments", "1")
    assert done.returncode == 0, done.stderr
    run = RunDir(project / ".autoresearch" / "t")
    entries = run.entries()
    keep = next(e for e in entries if e["decision"] == "keep")
    assert keep["section"] == "_description" and all(e["section"] in (None, "_description") for e in entries)
    assert keep["per_eval"]["triggers"] > entries[0]["per_eval"]["triggers"]
    assert keep["per_eval"]["no-false-trigger"] >= entries[0]["per_eval"]["no-false-trigger"]
    assert keep["scores"]["holdout"] is not None  # holdout queries measured for the keep
    skill = (project / "tally" / "SKILL.md").read_text()
    assert "Use it also when asked to" in skill and skill.count("\n# Tally") == 1
    assert "How many open tasks did the meeting leave" not in skill

    raised = cli(project, "run", "--resume", "t", "--baseline-only", "--max-experiments", "10", "--target", "1")  # try after STOP is refused
    assert raised.returncode == 0, raised.stderr
    long = project / "long.txt"
    long.write_text("Tallies action items. " * 60)
    tried = cli(project, "try", "t", "--section", "_description", "--file", str(long), "--hypothesis", "longer")
    assert "refused" in tried.stdout and "1024" in tried.stdout, tried.stderr
    leak = project / "leak.txt"
    leak.write_text("Tallies action items. Use when asked: How many open tasks did the meeting leave?")
    tried = cli(project, "try", "t", "--section", "_description", "--file", str(leak), "--hypothesis", "copy")
    assert "refused" in tried.stdout and "holdout" in tried.stdout
    assert [e["decision"] for e in run.entries()[-2:]] == ["refused", "refused"]


def test_skill_creators_trigger_eval_set_imports_as_a_trigger_suite(project):
    rows = [{"query": f"tally the action items of sprint {i}", "should_trigger": True} for i in range(5)]
    rows += [{"query": f"write a poem about the number {i}", "should_trigger": False} for i in range(5)]
    (project / "eval_set.json").write_text(json.dumps(rows))
    done = cli(project, "import", "triggers", "eval_set.json", "--skill", "tally/SKILL.md", "-o", "imported.yaml")
    assert done.returncode == 0, done.stderr
    suite = load_suite(project / "imported.yaml")
    assert len(suite.triggers) == 10 and not [w for w in suite.warnings if "no `split`" in str(w)]
    assert sum(t.split == "holdout" for t in suite.triggers if t.should_trigger) == 2
    assert sum(t.split == "holdout" for t in suite.triggers if not t.should_trigger) == 2
    (project / "utf16.json").write_text(json.dumps(rows), encoding="utf-16")  # as some editors save it
    assert cli(project, "import", "triggers", "utf16.json", "--skill", "tally/SKILL.md").returncode == 0
    (project / "bad.json").write_text('[{"query": "x"}]')
    bad = cli(project, "import", "triggers", "bad.json")
    assert bad.returncode == 2 and "should_trigger" in bad.stderr and "Traceback" not in bad.stderr
