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

from autoresearch.journal import RunDir, atomic_write

from conftest import ROOT

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

@pytest.fixture(scope="session")
def wheel_venv(tmp_path_factory):
    """A fresh virtualenv with the package installed from a freshly built wheel (not editable).

    The dependencies come from this test environment through a .pth file, so no download is needed;
    the package itself is only in the new venv's site-packages, as after `pip install autoresearch`.
    """
    base = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", base / "dist", ROOT], check=True,
                   capture_output=True)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    purelib = subprocess.run([venv / "bin/python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next((base / "dist").glob("autoresearch-*.whl"))
    subprocess.run([venv / "bin/python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel], check=True)
    where = subprocess.run([venv / "bin/python", "-c", "import autoresearch; print(autoresearch.__file__)"],
                           capture_output=True, text=True, check=True, cwd=base).stdout
    assert where.startswith(str(venv))
    return venv


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
