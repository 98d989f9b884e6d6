"""What a new user meets first: installing the package and the skills, file modes, locks, a run's lifecycle."""

import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from conftest import ROOT

from autoresearch.runs.journal import RunDir, atomic_write

CLI = [sys.executable, "-m", "autoresearch"]
SKILLS = ["autoresearch", "autoresearch-create", "autoresearch-finalize", "autoresearch-status"]
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def cli(cwd, *args, env=None):
    return subprocess.run(CLI + [str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV, **(env or {})})


def git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                          env={**os.environ, **GIT_ENV}).stdout


@pytest.fixture
def workspace(tmp_path):
    """A project holding a copy of the example skill and its suite."""
    shutil.copytree(ROOT / "examples/meeting-notes", tmp_path / "examples/meeting-notes")
    shutil.copytree(ROOT / "evals", tmp_path / "evals")
    return tmp_path


# -- installed from a wheel, not from the checkout ---------------------------------------------------

CI_WORKFLOW = ROOT / "examples/ci/autoresearch.yml"


def workflow_env(workflow: dict, venv: Path) -> dict:
    """The environment a workflow step sees here: the workflow's env, no API key, the venv's pip first."""
    env = {**os.environ, **{k: str(v) for k, v in workflow.get("env", {}).items()},
           "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "ANTHROPIC_API_KEY": ""}
    env.pop("VIRTUAL_ENV", None)
    return env


def run_step(step: dict, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    """One `run:` step, verbatim, as GitHub runs it (bash -e)."""
    return subprocess.run(["bash", "-e", "-c", step["run"]], cwd=cwd, env=env, capture_output=True, text=True)


@pytest.fixture(scope="session")
def ci_install(tmp_path_factory):
    """A copy of the checkout, and a fresh virtualenv in which the CI example's install step (`pip install
    "$AUTORESEARCH_SOURCE"`, run verbatim) built a wheel from it and installed it, not editable.

    The dependencies come from this test environment through a .pth file, so none is downloaded; the
    package itself is only in the new venv's site-packages, as for a user who installed it.
    """
    import yaml

    base = tmp_path_factory.mktemp("ci")
    checkout = base / "checkout"
    shutil.copytree(ROOT, checkout, ignore=shutil.ignore_patterns(
        ".venv", ".harness", ".git", ".demo", ".promptfoo", "node_modules", ".autoresearch", "build", "*.egg-info",
        "__pycache__", ".pytest_cache", "results"))
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    purelib = subprocess.run([venv / "bin/python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    workflow = yaml.safe_load(CI_WORKFLOW.read_text())
    install = next(step for step in workflow["jobs"]["eval"]["steps"] if "run" in step)
    assert "pip install" in install["run"]
    done = run_step(install, checkout, workflow_env(workflow, venv))
    assert done.returncode == 0, done.stdout + done.stderr
    where = subprocess.run([venv / "bin/python", "-c", "import autoresearch; print(autoresearch.__file__)"],
                           capture_output=True, text=True, check=True, cwd=base).stdout
    assert where.startswith(str(venv))  # installed into the venv, not a link to the source
    return venv, checkout, workflow


@pytest.fixture(scope="session")
def wheel_venv(ci_install):
    return ci_install[0]


def test_install_from_a_wheel_finds_the_bundled_skills(wheel_venv, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    done = subprocess.run([wheel_venv / "bin/autoresearch", "install"], cwd=project, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for folder in (".claude/skills", ".pi/skills"):
        for name in SKILLS:
            assert (project / folder / name / "SKILL.md").read_text() == (ROOT / "skills" / name / "SKILL.md").read_text()
    assert done.stdout.count("installed: ") == 2 * len(SKILLS)


def test_eval_on_the_simulator_from_a_wheel(wheel_venv, workspace):
    done = subprocess.run([wheel_venv / "bin/autoresearch", "eval", "evals/meeting-notes.yaml", "--model", "sim",
                           "--runs", "2"], cwd=workspace, capture_output=True, text=True)
    assert done.returncode in (0, 1), done.stderr
    assert "overall" in done.stdout


def test_an_install_that_finds_no_skills_is_an_error(tmp_path):
    from autoresearch.errors import AutoresearchError
    from autoresearch.install import install_skills

    with pytest.raises(AutoresearchError, match="no skills"):
        install_skills(["claude"], "project", tmp_path / "p", tmp_path / "home", source=tmp_path / "empty")


# -- install: where, and .gitignore ------------------------------------------------------------------

def test_install_from_a_subfolder_installs_at_the_repository_root(tmp_path):
    git(tmp_path, "init", "-q")
    sub = tmp_path / "src" / "deep"
    sub.mkdir(parents=True)
    done = cli(sub, "install", "--claude")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / ".claude/skills/autoresearch-create/SKILL.md").is_file()
    assert not (sub / ".claude").exists()


def test_install_into_a_folder_given(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    done = cli(tmp_path, "install", "--pi", "--project-dir", other)
    assert done.returncode == 0, done.stderr
    assert (other / ".pi/skills/autoresearch/SKILL.md").is_file() and not (tmp_path / ".pi").exists()


def test_install_project_and_user_together_is_a_usage_error(tmp_path):
    done = cli(tmp_path, "install", "--project", "--user", env={"HOME": str(tmp_path / "home")})
    assert done.returncode == 2 and "--project" in done.stderr and "--user" in done.stderr
    assert not (tmp_path / ".claude").exists() and not (tmp_path / "home").exists()


def test_install_and_the_first_run_ignore_autoresearch_once(workspace):
    git(workspace, "init", "-q")
    (workspace / ".gitignore").write_text("# mine\n*.log\nbuild")  # no final newline: kept as it is
    assert cli(workspace, "install", "--claude").returncode == 0
    assert (workspace / ".gitignore").read_text() == "# mine\n*.log\nbuild\n.autoresearch/\n"
    assert cli(workspace, "install", "--claude").returncode == 0
    done = cli(workspace, "run", "evals/meeting-notes.yaml", "--baseline-only", "--run-id", "g")
    assert done.returncode == 0, done.stderr
    assert (workspace / ".gitignore").read_text().count(".autoresearch/") == 1
    assert ".autoresearch/" not in git(workspace, "status", "--porcelain", "--untracked-files=all")


def test_the_first_run_creates_gitignore_in_a_fresh_repository(workspace):
    git(workspace, "init", "-q")
    assert cli(workspace / "evals", "run", "meeting-notes.yaml", "--baseline-only", "--run-id", "h").returncode == 0
    assert (workspace / ".gitignore").read_text() == ".autoresearch/\n"
    assert ".autoresearch/" not in git(workspace, "status", "--porcelain", "--untracked-files=all")


# -- file modes and links ----------------------------------------------------------------------------

def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_write_keeps_the_mode_of_an_existing_file(tmp_path):
    target = tmp_path / "SKILL.md"
    target.write_text("old\n")
    target.chmod(0o644)
    atomic_write(target, "new\n")
    assert target.read_text() == "new\n" and mode(target) == 0o644
    target.chmod(0o755)
    atomic_write(target, "newer\n")
    assert mode(target) == 0o755


def test_atomic_write_gives_new_files_the_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "a.txt", "x")
        os.umask(0o077)
        atomic_write(tmp_path / "b.txt", "x")
    finally:
        os.umask(old)
    assert mode(tmp_path / "a.txt") == 0o644 and mode(tmp_path / "b.txt") == 0o600


def test_atomic_write_writes_through_a_symlink(tmp_path):
    real = tmp_path / "skills" / "notes" / "SKILL.md"
    real.parent.mkdir(parents=True)
    real.write_text("old\n")
    link = tmp_path / "SKILL.md"
    link.symlink_to(real)
    atomic_write(link, "new\n")
    assert link.is_symlink() and real.read_text() == "new\n"
    assert not list(tmp_path.glob(".SKILL.md.*")) and not list(real.parent.glob(".SKILL.md.*"))


def test_a_run_keeps_the_skills_mode_and_writes_readable_files(workspace):
    skill = workspace / "examples/meeting-notes/SKILL.md"
    skill.chmod(0o664)
    old = os.umask(0o022)
    try:
        done = cli(workspace, "run", "evals/meeting-notes.yaml", "--max-experiments", "6", "--run-id", "m")
        report = cli(workspace, "report", "m")
        installed = cli(workspace, "install", "--claude")
    finally:
        os.umask(old)
    assert done.returncode == 0 and report.returncode == 0 and installed.returncode == 0
    run = workspace / ".autoresearch/m"
    assert any(e["decision"] == "keep" for e in RunDir(run).entries())  # the skill was rewritten
    assert mode(skill) == 0o664
    for path in [run / "best/SKILL.md", run / "changelog.md", run / "report.html", run / "run.json",
                 workspace / ".claude/skills/autoresearch/SKILL.md"]:
        assert mode(path) == 0o644, path


# -- a finalized run is read-only ----------------------------------------------------------------------

def snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_next_try_and_resume_never_rewrite_a_finalized_run(workspace):
    skill = workspace / "examples/meeting-notes/SKILL.md"
    baseline = skill.read_text()
    assert cli(workspace, "run", "evals/meeting-notes.yaml", "--max-experiments", "6", "--run-id", "f").returncode == 0
    assert cli(workspace, "finalize", "f").returncode == 0
    skill.write_text(baseline)  # the user goes back to the baseline after reviewing
    before = snapshot(workspace / ".autoresearch")
    shown = cli(workspace, "next", "f")
    assert shown.returncode == 0 and "STOP" in shown.stdout and "finalized" in shown.stdout
    assert "resuming" not in shown.stdout + shown.stderr
    (workspace / "x.md").write_text("- x\n")
    tried = cli(workspace, "try", "f", "--section", "meeting-notes/style", "--file", "x.md", "--hypothesis", "h")
    resumed = cli(workspace, "run", "--resume", "f")
    assert tried.returncode == 2 and "finalized" in tried.stderr
    assert resumed.returncode == 2 and "finalized" in resumed.stderr
    assert skill.read_text() == baseline and snapshot(workspace / ".autoresearch") == before


def test_next_writes_nothing(workspace):
    assert cli(workspace, "run", "evals/meeting-notes.yaml", "--baseline-only", "--run-id", "n").returncode == 0
    (workspace / ".autoresearch/n/changelog.md").unlink()
    with open(workspace / ".autoresearch/n/journal.jsonl", "a") as journal:
        journal.write('{"torn')  # a writer mid-append: a reader must leave it alone
    before = snapshot(workspace)
    assert cli(workspace, "next", "n").returncode == 0
    assert snapshot(workspace) == before


# -- locks -----------------------------------------------------------------------------------------

def start_long_run(workspace, run_id, *extra, suite="evals/meeting-notes.yaml"):
    """A headless run that goes on until stopped; returns the process once its baseline is logged."""
    import time

    process = subprocess.Popen(CLI + ["run", suite, "--max-experiments", "100000", "--plateau",
                                      "100000", "--target", "1", "--run-id", run_id, *extra], cwd=workspace,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    journal = workspace / ".autoresearch" / run_id / "journal.jsonl"
    for _ in range(600):  # at most a minute
        if journal.exists() and journal.read_text().count("\n") >= 1 or process.poll() is not None:
            break
        time.sleep(0.1)
    assert process.poll() is None, process.communicate()
    return process


def stop(process):
    if process.poll() is None:
        process.kill()
    process.communicate()


def test_a_second_writer_is_told_who_holds_the_target_and_the_run(workspace):
    first = start_long_run(workspace, "one")
    try:
        second = cli(workspace, "run", "evals/meeting-notes.yaml", "--run-id", "two")
        assert second.returncode == 2
        assert f"pid {first.pid}" in second.stderr and "run one" in second.stderr and "SKILL.md" in second.stderr
        assert not (workspace / ".autoresearch/two").exists()
        (workspace / "x.md").write_text("- Keep it short.\n")
        tried = cli(workspace, "try", "one", "--section", "meeting-notes/style", "--file", "x.md", "--hypothesis", "h")
        assert tried.returncode == 2 and f"pid {first.pid}" in tried.stderr and "run one" in tried.stderr
        entries = RunDir(workspace / ".autoresearch/one").entries()
        assert all(e["hypothesis"] != "h" for e in entries)
    finally:
        stop(first)


def test_finalize_stops_a_live_run_then_summarises_the_final_journal(workspace):
    slow = workspace / "evals/slow.yaml"  # many runs: an experiment is always in flight when finalize comes
    slow.write_text((workspace / "evals/meeting-notes.yaml").read_text().replace("\nruns: 8 ", "\nruns: 60 "))
    live = start_long_run(workspace, "live", suite=slow)
    try:
        done = cli(workspace, "finalize", "live")
        assert done.returncode == 0, done.stderr
        assert live.wait(timeout=60) is not None  # bounded: the run has stopped, not carried on
    finally:
        stop(live)
    entries = RunDir(workspace / ".autoresearch/live").entries()
    summary = (workspace / ".autoresearch/live/summary.md").read_text()
    assert f"experiments: {len(entries) - 1} " in summary and f"last: #{entries[-1]['id']} " in summary
    skill = (workspace / "examples/meeting-notes/SKILL.md").read_text()
    assert skill == (workspace / ".autoresearch/live/best/SKILL.md").read_text()


# -- try: usage errors, exit codes, --json ------------------------------------------------------------

def test_try_exit_codes_tell_keep_from_discard_and_refused(workspace):
    """Replaying a headless run's proposals through `try` gives the same decisions, told by the exit code."""
    from autoresearch.loop.mutation import section_text
    from autoresearch.suite.skill import parse_skill

    skill = workspace / "examples/meeting-notes/SKILL.md"
    baseline = skill.read_text()
    assert cli(workspace, "run", "evals/meeting-notes.yaml", "--max-experiments", "8", "--run-id", "headless",
               "--runs-dir", "headless").returncode == 0
    headless = RunDir(workspace / "headless/headless")
    attempts = [e for e in headless.entries()[1:] if e["decision"] != "refused"]
    assert {"keep", "discard"} <= {e["decision"] for e in attempts}
    skill.write_text(baseline)
    assert cli(workspace, "run", "evals/meeting-notes.yaml", "--baseline-only", "--run-id", "t").returncode == 0
    for e in attempts:
        (workspace / "new.md").write_text(section_text(parse_skill(headless.version(e["candidate"]), "S"), e["section"]))
        done = cli(workspace, "try", "t", "--section", e["section"], "--file", "new.md", "--hypothesis", "h", "--json")
        assert done.returncode == {"keep": 0, "discard": 1}[e["decision"]], done.stderr
        assert json.loads(done.stdout)["entry"]["decision"] == e["decision"]
    (workspace / "new.md").write_text("- x\n\n## New heading\n")
    refused = cli(workspace, "try", "t", "--section", "meeting-notes/style", "--file", "new.md", "--hypothesis", "h")
    assert refused.returncode == 3 and "decision: refused" in refused.stdout


def test_try_usage_errors_log_nothing(workspace):
    assert cli(workspace, "run", "evals/meeting-notes.yaml", "--baseline-only", "--run-id", "u",
               "--max-experiments", "1").returncode == 0
    (workspace / "x.md").write_text("- Keep it short and name every owner.\n")
    journal = workspace / ".autoresearch/u/journal.jsonl"
    before = journal.read_text()
    unknown = cli(workspace, "try", "u", "--section", "no-such", "--file", "x.md", "--hypothesis", "h")
    empty = cli(workspace, "try", "u", "--section", "meeting-notes/style", "--file", "x.md", "--hypothesis", "  ")
    assert unknown.returncode == 2 and "may not change" in unknown.stderr
    assert empty.returncode == 2 and "hypothesis" in empty.stderr
    assert journal.read_text() == before
    first = cli(workspace, "try", "u", "--section", "meeting-notes/style", "--file", "x.md", "--hypothesis", "h")
    assert first.returncode in (0, 1, 3)
    assert "STOP: budget spent" in cli(workspace, "next", "u").stdout
    after_first = journal.read_text()
    late = cli(workspace, "try", "u", "--section", "meeting-notes/workflow", "--file", "x.md", "--hypothesis", "h")
    assert late.returncode == 2 and "budget spent" in late.stderr
    assert journal.read_text() == after_first


# -- finalize: what the target holds, and --branch ---------------------------------------------------

def test_finalize_of_an_older_run_says_what_the_target_holds(workspace):
    assert cli(workspace, "run", "evals/meeting-notes.yaml", "--max-experiments", "4", "--run-id", "old").returncode == 0
    assert cli(workspace, "run", "evals/meeting-notes.yaml", "--max-experiments", "6", "--run-id", "new").returncode == 0
    assert any(e["decision"] == "keep" for e in RunDir(workspace / ".autoresearch/new").entries())
    old = cli(workspace, "finalize", "old")
    assert old.returncode == 0, old.stderr
    assert "best version" not in old.stdout and "holds another version" in old.stdout
    new = cli(workspace, "finalize", "new")
    assert "holds this run's best version" in new.stdout


def git_project(workspace):
    git(workspace, "init", "-q", "-b", "main")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "start")


def test_finalize_branch_reuses_the_git_branch_and_goes_back(workspace):
    git_project(workspace)
    baseline = (workspace / "examples/meeting-notes/SKILL.md").read_text()
    assert cli(workspace, "run", "evals/meeting-notes.yaml", "--git", "--max-experiments", "6", "--run-id", "g").returncode == 0
    best = (workspace / ".autoresearch/g/best/SKILL.md").read_text()
    done = cli(workspace, "finalize", "g", "--branch", "review/g")
    assert done.returncode == 0, done.stderr
    assert git(workspace, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert (workspace / "examples/meeting-notes/SKILL.md").read_text() == baseline
    assert git(workspace, "show", "review/g:examples/meeting-notes/SKILL.md") == best
    assert "train:" in git(workspace, "log", "-1", "--format=%B", "review/g")


def test_finalize_branch_commit_carries_the_scores(workspace):
    git_project(workspace)
    assert cli(workspace, "run", "evals/meeting-notes.yaml", "--max-experiments", "6", "--run-id", "b").returncode == 0
    done = cli(workspace, "finalize", "b", "--branch", "review/b")
    assert done.returncode == 0, done.stderr
    message = git(workspace, "log", "-1", "--format=%B", "review/b")
    import re

    entries = RunDir(workspace / ".autoresearch/b").entries()
    base, best = entries[0]["scores"], next(e for e in reversed(entries) if e["decision"] == "keep")["scores"]
    assert f"train: {base['train']['rate']:.1%} -> {best['train']['rate']:.1%}" in message
    assert re.search(r"holdout: \d+\.\d% -> \d+\.\d%", message) and "experiments: 6 " in message


def test_finalize_branch_with_nothing_kept_exits_0_and_makes_no_branch(workspace):
    git_project(workspace)
    assert cli(workspace, "run", "evals/meeting-notes.yaml", "--max-experiments", "0", "--run-id", "z").returncode == 0
    done = cli(workspace, "finalize", "z", "--branch", "review/z")
    assert done.returncode == 0, done.stderr
    assert "nothing kept" in done.stdout and "review/z" not in git(workspace, "branch", "--list")


def test_finalize_branch_outside_git_fails_before_writing(workspace):
    assert cli(workspace, "run", "evals/meeting-notes.yaml", "--max-experiments", "2", "--run-id", "o").returncode == 0
    done = cli(workspace, "finalize", "o", "--branch", "review/o")
    assert done.returncode == 2 and "not inside a git repository" in done.stderr and "Traceback" not in done.stderr
    folder = workspace / ".autoresearch/o"
    assert not any((folder / name).exists() for name in ("summary.md", "report.html", "STOP"))


# -- options: checked before the first model call; --resume may change some ---------------------------

def test_bad_options_are_refused_before_any_model_call(workspace):
    (workspace / "bad.j2").write_text("{% for x in %}\n")
    (workspace / "undefined.j2").write_text("Improve {{ section_id }} in {{ no_such_value }}\n")
    for args, words in ((["--sections", "meeting-notes/nope"], "meeting-notes/nope"),
                        (["--template", "bad.j2"], "bad.j2:1"),
                        (["--template", "undefined.j2"], "no_such_value"),
                        (["--model", "sym"], "sym")):
        done = cli(workspace, "run", "evals/meeting-notes.yaml", "--run-id", "x", *args)
        assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
        assert "measuring the baseline" not in done.stdout and not (workspace / ".autoresearch/x").exists()


def test_resume_may_change_budget_and_sections_and_records_it(workspace):
    assert cli(workspace, "run", "evals/meeting-notes.yaml", "--sections", "meeting-notes/style",
               "--max-experiments", "2", "--run-id", "r").returncode == 0
    config = workspace / ".autoresearch/r/run.json"
    saved = config.read_text()
    bad = cli(workspace, "run", "--resume", "r", "--sections", "meeting-notes/nope")
    assert bad.returncode == 2 and "meeting-notes/nope" in bad.stderr and config.read_text() == saved
    fixed = cli(workspace, "run", "--resume", "r", "--sections", "meeting-notes/workflow", "--max-experiments", "4")
    assert fixed.returncode == 0, fixed.stderr
    assert "sections" in fixed.stdout and "experiments 2 -> 4" in fixed.stdout
    entries = RunDir(workspace / ".autoresearch/r").entries()
    assert [e["section"] for e in entries[1:]] == ["meeting-notes/style"] * 2 + ["meeting-notes/workflow"] * 2
    data = json.loads(config.read_text())
    assert data["config"]["budget"]["experiments"] == 4 and data["config"]["sections"] == ["meeting-notes/workflow"]
    assert data["changes"][0]["at_experiment"] == 3 and "budget.experiments" in data["changes"][0]["changed"]
    assert "experiments 4" in cli(workspace, "status", "r").stdout
    keep_rule = cli(workspace, "run", "--resume", "r", "--keep-rule", "naive")
    assert keep_rule.returncode == 2 and "--keep-rule" in keep_rule.stderr


def test_resume_repairs_a_bad_saved_sections_value(workspace):
    assert cli(workspace, "run", "evals/meeting-notes.yaml", "--max-experiments", "1", "--run-id", "s").returncode == 0
    config = workspace / ".autoresearch/s/run.json"
    data = json.loads(config.read_text())
    data["config"]["sections"] = ["meeting-notes/nope"]  # saved by an older version, after a paid baseline
    config.write_text(json.dumps(data))
    stuck = cli(workspace, "run", "--resume", "s", "--max-experiments", "2")
    assert stuck.returncode == 2 and "--sections" in stuck.stderr
    done = cli(workspace, "run", "--resume", "s", "--max-experiments", "2", "--sections", "meeting-notes/style")
    assert done.returncode == 0, done.stderr
    assert RunDir(workspace / ".autoresearch/s").entries()[-1]["section"] == "meeting-notes/style"


# -- validate: names, empty inputs, no holdout, misleading model choices ------------------------------

def test_validate_refuses_an_unknown_model_name_with_its_line(make_suite):
    from conftest import BASIC_SUITE

    path = make_suite("model: sym\n" + BASIC_SUITE)
    done = cli(path.parent, "validate", path)
    assert done.returncode == 2 and f"{path}:1:" in done.stderr and "'sym'" in done.stderr and "sim" in done.stderr
    judge = make_suite(BASIC_SUITE + 'judge: "anthropic:"\n')
    done = cli(path.parent, "validate", judge)
    assert done.returncode == 2 and "judge" in done.stderr


def test_validate_warns_on_empty_inputs_no_holdout_and_simulated_choices(make_suite):
    path = make_suite("""\
        skill: notes/SKILL.md
        inputs:
          - id: one
            text: "Ann: I will send the report."
          - id: blank
            text: "   "
        evals:
          - id: owners
            question: Does every item name an owner?
            judge: {pass: Every item names an owner., fail: An item has no owner.}
        """)
    done = cli(path.parent, "validate", path)
    assert done.returncode == 0 and "ok" in done.stdout
    lines = done.stderr.splitlines()
    assert any(f"{path}:6: warning:" in line and "empty" in line for line in lines)
    assert any("warning:" in line and "no holdout" in line for line in lines)
    assert any("warning:" in line and "no `model:`" in line for line in lines)
    real = cli(path.parent, "validate", make_suite(path.read_text().replace("inputs:", "model: anthropic:claude-x\njudge: sim\ninputs:", 1)))
    assert "the judge of owners is the simulator" in real.stderr and "no `model:`" not in real.stderr
    on_sim = cli(path.parent, "eval", path, "--model", "sim", "--runs", "1")
    assert "no `model:`" not in on_sim.stderr


# -- small things -------------------------------------------------------------------------------------

def test_sections_of_a_suite_file_is_an_error(workspace):
    done = cli(workspace, "sections", "evals/meeting-notes.yaml")
    assert done.returncode == 2 and "suite" in done.stderr and "_preamble" not in done.stdout


def test_counts_agree_with_their_nouns(workspace, make_suite):
    skill = workspace / "one.md"
    skill.write_text("---\nname: one\ndescription: Does one thing. Use when asked.\n---\n\n## Only\n\n- Do it.\n")
    assert "(skill, 1 section)" in cli(workspace, "validate", skill).stdout
    assert cli(workspace, "run", "evals/meeting-notes.yaml", "--max-experiments", "1", "--run-id", "c").returncode == 0
    shown = cli(workspace, "next", "c")
    assert "budget spent: 1 experiment of 1" in shown.stdout


def test_next_json_has_real_types_and_next_names_the_kinds(workspace):
    assert cli(workspace, "run", "evals/meeting-notes.yaml", "--baseline-only", "--run-id", "j").returncode == 0
    plan = json.loads(cli(workspace, "next", "j", "--json").stdout)
    assert plan["stop"] is False and plan["stop_reason"] is None
    for f in plan["failing_evals"]:
        assert isinstance(f["negate"], bool) and f["min"] != "" and f["max"] != "" and f["value"] != ""
    text = cli(workspace, "next", "j")
    assert "--kind KIND" in text.stdout and "add-example" in text.stdout and "--kind clarify" not in text.stdout
    assert "resuming" not in text.stdout + text.stderr


def test_the_demo_prints_paths_that_open_from_the_repository(tmp_path):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    shutil.copytree(ROOT / "evals", tmp_path / "evals")
    done = subprocess.run([sys.executable, tmp_path / "examples/demo.py"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    changelogs = [line.split(": ", 1)[1] for line in done.stdout.splitlines() if line.startswith("changelog: ")]
    assert changelogs and all(Path(p).is_absolute() and Path(p).is_file() for p in changelogs)


# -- the CI example: its run: lines, verbatim --------------------------------------------------------

def test_the_ci_workflow_commands_run_as_written(ci_install):
    """After the install step (the fixture), each later `run:` step of examples/ci/autoresearch.yml, in order,
    in the copy of the checkout; the main-branch step keeps a baseline that the next run compares with."""
    venv, checkout, workflow = ci_install
    env = workflow_env(workflow, venv)
    steps = [step for step in workflow["jobs"]["eval"]["steps"] if "run" in step][1:]
    first = [run_step(step, checkout, env) for step in steps]
    assert first[0].returncode == 0, first[0].stdout + first[0].stderr  # the example passes its own gate
    assert json.loads((checkout / "results.json").read_text())["schema"] == "autoresearch.eval/1"
    assert (checkout / "results.xml").read_text().startswith("<?xml")
    assert all(done.returncode == 0 for done in first[1:]) and (checkout / "baseline.json").exists()
    again = run_step(steps[0], checkout, env)
    assert again.returncode == 0 and "no regression" in again.stdout.lower(), again.stdout


def test_estimate_only_previews_the_cost_and_runs_nothing(make_suite, monkeypatch, tmp_path):
    from click.testing import CliRunner
    from conftest import BASIC_SUITE

    from autoresearch.cli.main import main
    from autoresearch.sim.server import MessagesServer

    monkeypatch.chdir(tmp_path)
    paid = make_suite("model: anthropic:claude-sonnet-4-5\njudge: anthropic:claude-haiku-4-5\n" + BASIC_SUITE)
    with MessagesServer() as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        done = CliRunner().invoke(main, ["run", str(paid), "--estimate-only", "--max-experiments", "30"])
        assert done.exit_code == 0, done.output
        assert not server.message_requests()  # counting tokens is free; no message was sent
    assert "baseline" in done.output and "30 experiments: up to about $" in done.output
    assert not (tmp_path / ".autoresearch").exists()
    sim = CliRunner().invoke(main, ["run", str(make_suite(BASIC_SUITE)), "--estimate-only"])
    assert sim.exit_code == 0 and "costs nothing" in sim.output and not (tmp_path / ".autoresearch").exists()


# -- every command our skills show runs as shown --------------------------------------------------------

PLACEHOLDERS = {"<skill-name>": "meeting-notes", "<suite>": "meeting-notes", "<run>": "meeting-notes",
                "<kind>": "clarify", "<one line>": "Name the owner and the date of every action item"}
SHELL_STARTS = ("autoresearch ", "ls ", "printenv ", "tail ", "mkdir ")
ALLOWED_EXIT = {"eval": (0, 1), "try": (0, 1, 3), "wait": (0, 1, 3)}  # documented non-zero codes that are answers, not failures


def skill_commands(text: str) -> list[tuple[str, list[str]]]:
    """(### heading or "", commands) for each part of a skill: lines of ```bash blocks and inline `...` spans
    that are shell commands, in the order a reader meets them. Each ### part is an alternative path."""
    import re

    parts: list[tuple[str, list[str]]] = [("", [])]
    fence = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence else stripped[3:] or "text"
            continue
        if fence:
            if fence == "bash" and stripped and not stripped.startswith("#"):
                parts[-1][1].append(stripped)
            continue
        if line.startswith("### "):
            parts.append((line[4:], []))
            continue
        parts[-1][1].extend(span for span in re.findall(r"`([^`]+)`", line) if span.startswith(SHELL_STARTS))
    return parts


def fill(command: str, values: dict) -> str:
    for key, value in {**PLACEHOLDERS, **values}.items():
        command = command.replace(key, value)
    assert "<" not in command.replace("2>&1", "").replace(" > ", ""), f"unknown placeholder in {command!r}"
    return command


def run_shown(command: str, cwd: Path) -> subprocess.CompletedProcess:
    """A command exactly as a skill shows it, in bash; background jobs are waited for."""
    env = {**os.environ, **GIT_ENV, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("ANTHROPIC_API_KEY", None)
    done = subprocess.run(["bash", "-c", command + "\nstatus=$?\nwait\nexit $status"], cwd=cwd, env=env,
                          capture_output=True, text=True)
    verb = command.split()[1] if command.startswith("autoresearch ") else ""
    assert done.returncode in ALLOWED_EXIT.get(verb, (0,)), f"{command}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture
def project(tmp_path):
    """A git project holding the example skill and its suite on the simulator, as a user's would."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "examples/meeting-notes", root / "examples/meeting-notes")
    (root / "evals").mkdir()
    shutil.copy(ROOT / "evals/meeting-notes.yaml", root / "evals/meeting-notes.yaml")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "start")
    return root


def run_skill(name: str, project: Path, setup: list[str] = ()) -> None:
    """Run every command of skills/<name>/SKILL.md: the shared part once, each ### path in its own copy."""
    for command in setup:
        run_shown(command, project)
    parts = skill_commands((ROOT / "skills" / name / "SKILL.md").read_text())
    assert sum(len(commands) for _, commands in parts) >= 3
    for command in parts[0][1]:
        run_shown(fill(command, {}), project)
    for index, (heading, commands) in enumerate(parts[1:]):
        where = project.parent / f"path-{index}"
        shutil.copytree(project, where, symlinks=True)
        for command in commands:
            values = {}
            if "<id>" in command:  # the agent writes the section `next` names into new-section.md
                plan = json.loads(run_shown("autoresearch next meeting-notes --json", where).stdout)
                (where / "new-section.md").write_text(plan["body"] + "\n- Name who owns each item and by when.\n")
                values["<id>"] = plan["section"]
            run_shown(fill(command, values), where)


def test_every_command_in_the_create_skill_runs_as_shown(project):
    import yaml

    text = (ROOT / "skills/autoresearch-create/SKILL.md").read_text()
    suite = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    (project / "evals/inputs").mkdir()
    (project / "evals/inputs/another.txt").write_text("Kim: the release moves to June. Raj: I will tell support.\n")
    (project / "evals/drafted.yaml").write_text(fill(suite, {}).replace("../path/to/SKILL.md",
                                                                        "../examples/meeting-notes/SKILL.md"))
    assert yaml.safe_load((project / "evals/drafted.yaml").read_text())["model"].startswith("anthropic:")
    run_shown("autoresearch validate evals/drafted.yaml", project)
    run_skill("autoresearch-create", project)


def test_every_command_in_the_package_skill_runs_as_shown(project):
    run_skill("autoresearch", project)


def test_every_command_in_the_status_skill_runs_as_shown(project):
    run_skill("autoresearch-status", project,
              ["autoresearch run evals/meeting-notes.yaml --max-experiments 3 --run-id meeting-notes"])


def test_every_command_in_the_finalize_skill_runs_as_shown(project):
    run_skill("autoresearch-finalize", project,
              ["autoresearch run evals/meeting-notes.yaml --max-experiments 3 --run-id meeting-notes"])


def test_no_skill_shows_a_harness_cli_as_a_command_model():
    for path in sorted((ROOT / "skills").glob("*/SKILL.md")):
        assert "command:claude" not in path.read_text() and "command:pi" not in path.read_text(), path


def test_a_git_failure_shows_gits_own_words(tmp_path):
    from autoresearch.errors import AutoresearchError
    from autoresearch.loop.publish import _git

    git(tmp_path, "init", "-q")
    (tmp_path / "SKILL.md").write_text("x\n")
    with pytest.raises(AutoresearchError) as failed:
        _git(tmp_path / "SKILL.md", "commit", "-q", "-m", "nothing staged")
    assert "nothing added to commit" in str(failed.value) or "nothing to commit" in str(failed.value)


# -- issue 26: the CI example copied into a user's repository, and a newcomer's first session -------------

@pytest.fixture(scope="session")
def user_wheel(ci_install, tmp_path_factory):
    """The wheel a user builds in a clone of autoresearch (as the CI example says), to commit in their repository."""
    venv, checkout, _ = ci_install
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([venv / "bin/pip", "wheel", "--no-deps", "-q", "-w", out, checkout], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    return next(out.glob("autoresearch-*.whl"))


def test_the_ci_example_copied_into_another_repository_installs_and_passes(ci_install, user_wheel, tmp_path):
    """A user's repository: the workflow copied as the header says, the wheel committed at AUTORESEARCH_SOURCE,
    their own suite (here the example's). Every step runs verbatim in a fresh venv; the gate passes."""
    import yaml

    _, checkout, workflow = ci_install
    repo = tmp_path / "their-repo"
    (repo / ".github/workflows").mkdir(parents=True)
    shutil.copy(CI_WORKFLOW, repo / ".github/workflows/autoresearch.yml")
    source = repo / workflow["env"]["AUTORESEARCH_SOURCE"]
    source.parent.mkdir(parents=True)
    shutil.copy(user_wheel, source)
    shutil.copytree(ROOT / "examples/ci/release-notes", repo / "examples/ci/release-notes")
    (repo / "evals").mkdir()
    shutil.copy(ROOT / "evals/ci-example.yaml", repo / "evals/ci-example.yaml")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    purelib = subprocess.run([venv / "bin/python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    copied = yaml.safe_load((repo / ".github/workflows/autoresearch.yml").read_text())
    env = workflow_env(copied, venv)
    steps = [step for step in copied["jobs"]["eval"]["steps"] if "run" in step]
    done = [run_step(step, repo, env) for step in steps]
    assert all(d.returncode == 0 for d in done), [(d.stdout, d.stderr) for d in done]
    assert (repo / "baseline.json").exists() and (venv / "bin/autoresearch").exists()
    again = run_step(steps[1], repo, env)
    assert again.returncode == 0 and "no regression" in again.stdout, again.stdout + again.stderr


NEWCOMER_SKILL = """\
---
name: standup
description: Summarises a team standup into a short update. Use when asked to summarise a standup.
---

# Standup

## Format

- Write a short update.
"""

NEWCOMER_SUITE = """\
name: standup
skill: ../standup/SKILL.md
model: sim
runs: 6
inputs:
  - id: monday
    text: "Ann: I shipped the login fix. Bob: I am blocked on the API keys. Cy: I will review the design today."
  - id: tuesday
    text: "Di: The build is red since last night. Ed: I am on it, fix by noon. Fay: I start the docs sprint."
  - id: friday
    text: "Gus: The release went out. Hal: Two bugs came in, I took both. Ivy: Vacation next week."
    split: holdout
evals:
  - id: blockers
    question: Does it have a Blockers section?
    check: {type: icontains, value: "blockers:"}
  - id: heading
    question: Does it start with the update heading?
    check: {type: starts-with, value: "## Standup"}
"""

FALSE_MESSAGES = ("Traceback", "continue with --resume", "stopped (error)", "(0/0)")


def test_a_newcomer_installs_the_wheel_and_improves_their_own_skill(wheel_venv, tmp_path):
    """Install from the wheel, write a skill and a suite, eval, run, view, finalize --branch: each step as a
    newcomer types it, nothing stale or false printed."""
    import signal
    import urllib.request

    project = tmp_path / "mine"
    (project / "standup").mkdir(parents=True)
    (project / "standup/SKILL.md").write_text(NEWCOMER_SKILL)
    (project / "evals").mkdir()
    (project / "evals/standup.yaml").write_text(NEWCOMER_SUITE)
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "my skill")
    tool = str(wheel_venv / "bin/autoresearch")

    def step(*args, codes=(0,)):
        done = subprocess.run([tool, *map(str, args)], cwd=project, capture_output=True, text=True,
                              env={**os.environ, **GIT_ENV})
        assert done.returncode in codes, (args, done.stdout, done.stderr)
        assert not any(words in done.stdout + done.stderr for words in FALSE_MESSAGES), (args, done.stdout, done.stderr)
        return done

    assert "installed: " in step("install", "--claude").stdout
    assert "ok" in step("validate", "evals/standup.yaml").stdout
    assert "overall" in step("eval", "evals/standup.yaml", codes=(0, 1)).stdout
    ran = step("run", "evals/standup.yaml", "--max-experiments", "6", "--run-id", "first")
    assert "run first" in ran.stdout
    view = subprocess.Popen([tool, "view", "first"], cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        url = view.stdout.readline().split()[1]
        page = urllib.request.urlopen(url, timeout=30).read().decode()
        assert "autoresearch run first" in page
    finally:
        view.send_signal(signal.SIGINT)
        view.communicate(timeout=30)
    final = step("finalize", "first", "--branch", "review/standup", "--with-suite")
    summary = (project / ".autoresearch/first/summary.md").read_text()
    assert "target model: sim" in summary and "offline simulator" in summary
    if "nothing kept" in final.stdout:
        assert "review/standup" not in git(project, "branch", "--list")
    else:
        message = git(project, "log", "-1", "--format=%B", "review/standup")
        assert "target model: sim" in message and "suite: evals/standup.yaml (fingerprint " in message
        assert git(project, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
        assert (project / "standup/SKILL.md").read_text() == NEWCOMER_SKILL  # the baseline back for review


def test_a_run_stopped_by_finalize_does_not_offer_resume(workspace):
    slow = workspace / "evals/slow.yaml"  # many runs: an experiment is always in flight when finalize comes
    slow.write_text((workspace / "evals/meeting-notes.yaml").read_text().replace("\nruns: 8 ", "\nruns: 60 "))
    live = start_long_run(workspace, "fin", suite=slow)
    try:
        assert cli(workspace, "finalize", "fin").returncode == 0
        _, said = live.communicate(timeout=120)
    finally:
        stop(live)
    assert "--resume" not in said and "stopped by finalize" in said and "start a new run" in said
    resumed = cli(workspace, "run", "--resume", "fin")
    assert resumed.returncode == 2 and "finalized" in resumed.stderr


def test_the_create_skills_path_b_as_an_agent_runs_it(project):
    """Path B of the create skill, command by command as an agent types them: validate, the cost preview, the
    baseline, then next and try three times, status, finalize. Every message is true when it is printed."""
    name = "meeting-notes"
    said = []

    def agent(command, codes=(0,)):
        done = subprocess.run(["bash", "-c", command], cwd=project, capture_output=True, text=True,
                              env={**os.environ, **GIT_ENV,
                                   "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"})
        assert done.returncode in codes, f"{command}\n{done.stdout}\n{done.stderr}"
        for words in ("Traceback", "stopped (error)", "(0/0)", "continue with: autoresearch run --resume"):
            assert words not in done.stdout + done.stderr, f"{command}: {words!r}\n{done.stdout}\n{done.stderr}"
        said.append(done.stdout + done.stderr)
        return done

    assert "ok" in agent(f"autoresearch validate evals/{name}.yaml").stdout
    assert "costs nothing" in agent(f"autoresearch run evals/{name}.yaml --max-experiments 30 --estimate-only").stdout
    assert not (project / ".autoresearch" / name).exists()  # the preview runs and writes nothing
    agent(f"autoresearch run evals/{name}.yaml --baseline-only --max-experiments 30 --run-id {name}")
    decisions = []
    for attempt in range(1, 4):
        shown = agent(f"autoresearch next {name}").stdout  # the agent reads the text, as the skill says
        entries = RunDir(project / ".autoresearch" / name).entries()
        best = [e for e in entries if e["decision"] in ("baseline", "keep")][-1]
        assert f"best #{best['id']} " in shown and f"next is experiment #{attempt}" in shown and "STOP" not in shown
        body = shown.split("\n-----\n")[1]
        section = shown.split("THEN RUN: ")[1].split("--section ")[1].split()[0]
        (project / "new-section.md").write_text(body + f"\n- Name who owns each item and by when ({attempt}).\n")
        tried = agent(f"autoresearch try {name} --section {section} --file new-section.md "
                      f"--hypothesis \"Owners and dates, take {attempt}\" --kind add-instruction", codes=(0, 1, 3))
        decision = {0: "keep", 1: "discard", 3: "refused"}[tried.returncode]
        assert f"decision: {decision}" in tried.stdout and f"#{attempt} " in tried.stdout
        decisions.append(decision)
        status = agent(f"autoresearch status {name}").stdout
        assert f"experiments: {attempt} " in status and f"last: #{attempt} {decision}" in status
        assert "waiting for try" in status  # the state the agent left it in, not an error
    final = agent(f"autoresearch finalize {name}")
    summary = (project / ".autoresearch" / name / "summary.md").read_text()
    assert "experiments: 3 " in summary and "target model: sim" in summary and "offline simulator" in summary
    assert ("holds this run's best version" in final.stdout) == ("keep" in decisions)
    after = agent(f"autoresearch next {name}").stdout
    assert "finalized" in after and "Finish with" not in after
    assert "finalized" in agent(f"autoresearch status {name}").stdout
