"""The skill package: our skills, install, the agent-as-mutator commands, finalize, our own suites."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

from autoresearch.install import install_skills
from autoresearch.runs.journal import RunDir
from autoresearch.suite.skill import load_skill, validate_skill
from autoresearch.suite.suite import load_suite

SKILLS = ["autoresearch", "autoresearch-create", "autoresearch-finalize", "autoresearch-status"]


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "autoresearch", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True)


@pytest.mark.parametrize("name", SKILLS)
def test_our_skills_follow_the_agent_skills_rules(name):
    doc = load_skill(ROOT / "skills" / name / "SKILL.md")
    assert validate_skill(doc, name) == []  # no errors and no warnings: the six spec keys only
    assert len(doc.body.splitlines()) < 500
    if name != "autoresearch":
        assert "## Never" in doc.body or "Never" in doc.body


def test_root_skill_is_the_package_skill_and_routes_to_the_others():
    root = (ROOT / "SKILL.md").read_text()
    assert root == (ROOT / "skills/autoresearch/SKILL.md").read_text()
    for name in SKILLS[1:]:
        assert f"`{name}`" in root


def test_install_is_idempotent_and_respects_edits(tmp_path):
    cwd, home = tmp_path / "p", tmp_path / "home"
    lines = install_skills(["claude", "pi"], "project", cwd, home)
    assert lines == [f"installed: {cwd / d / n}" for d in (".claude/skills", ".pi/skills") for n in SKILLS]
    assert all(line.startswith("up to date") for line in install_skills(["claude", "pi"], "project", cwd, home))
    edited = cwd / ".claude/skills/autoresearch-create/SKILL.md"
    edited.write_text(edited.read_text() + "\nMy own note.\n")
    again = install_skills(["claude"], "project", cwd, home)
    assert any(line.startswith("skipped (edited") for line in again) and "My own note." in edited.read_text()
    forced = install_skills(["claude"], "project", cwd, home, force=True)
    assert any(line.startswith("updated") for line in forced) and "My own note." not in edited.read_text()
    user = install_skills(["claude", "pi"], "user", cwd, home)
    assert {line.split(": ")[1].rsplit("/", 1)[0] for line in user} == {
        str(home / ".claude/skills"), str(home / ".pi/agent/skills")}


def test_every_skill_folder_ships_in_the_wheel():
    import tomllib

    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    folders = sorted(p.parent.name for p in (ROOT / "skills").glob("*/SKILL.md"))
    assert folders == SKILLS and all(f"autoresearch.bundled_skills.{name}" in packages for name in folders)


def test_plugin_and_pi_manifests_point_at_the_skills():
    plugin = json.loads((ROOT / ".claude-plugin/plugin.json").read_text())
    market = json.loads((ROOT / ".claude-plugin/marketplace.json").read_text())
    package = json.loads((ROOT / "package.json").read_text())
    assert plugin["name"] == "autoresearch" and market["plugins"][0]["name"] == "autoresearch"
    assert market["owner"]["name"] and market["plugins"][0]["source"] == "./"
    assert "pi-package" in package["keywords"] and package["pi"]["skills"] == ["./skills"]
    assert all((ROOT / "skills" / name / "SKILL.md").exists() for name in SKILLS)


@pytest.mark.parametrize("suite", ["autoresearch-create", "autoresearch-finalize", "autoresearch-status"])
def test_our_own_skills_have_eval_suites(suite):
    loaded = load_suite(ROOT / "evals" / f"{suite}.yaml")
    assert loaded.skill_path == ROOT / "skills" / suite / "SKILL.md"
    assert len(loaded.split("train")) >= 3 and loaded.split("holdout") and len(loaded.evals) >= 3


@pytest.fixture
def workspace(tmp_path):
    shutil.copytree(ROOT / "examples/meeting-notes", tmp_path / "examples/meeting-notes")
    shutil.copytree(ROOT / "evals", tmp_path / "evals")
    return tmp_path


def test_next_and_try_need_a_baseline_and_refuse_bad_proposals(workspace):
    (workspace / ".autoresearch").mkdir()
    assert run("next", cwd=workspace).returncode == 2
    assert run("run", "evals/meeting-notes.yaml", "--baseline-only", "--run-id", "a", cwd=workspace).returncode == 0
    plan = json.loads(run("next", "a", "--json", cwd=workspace).stdout)
    assert plan["section"] in plan["sections"] and plan["failing_evals"] and not plan["stop"]
    assert {"input", "pass_k", "flip_rate", "state"} <= set(plan["inputs"]["inputs"][0])
    assert all(row["input"] not in ("offsite-logistics", "roadmap-review") for row in plan["inputs"]["inputs"])
    text = run("next", "a", cwd=workspace).stdout
    assert "train inputs: pass^3 is the chance" in text and "evals of one output: correlation" in text
    assert all(o["input_id"] not in ("offsite-logistics", "roadmap-review") for o in plan["failing_outputs"])
    (workspace / "new.md").write_text("## Output format\n\n- Start with the summary.\n\n## Sneaky new heading\n")
    refused = run("try", "a", "--section", "meeting-notes/output-format", "--file", "new.md", "--hypothesis", "h",
                  cwd=workspace)
    assert refused.returncode == 3 and "decision: refused" in refused.stdout and "section structure" in refused.stdout
    bad = run("try", "a", "--section", "no-such", "--file", "new.md", "--hypothesis", "h", cwd=workspace)
    assert bad.returncode == 2 and "may not change" in bad.stderr
    assert [e["decision"] for e in RunDir(workspace / ".autoresearch/a").entries()] == ["baseline", "refused"]


def test_finalize_stops_the_run_and_packages_it(workspace):
    assert run("run", "evals/meeting-notes.yaml", "--max-experiments", "6", "--run-id", "f", "--holdout-gate",
               cwd=workspace).returncode == 0
    assert json.loads((workspace / ".autoresearch/f/run.json").read_text())["config"]["rule"]["holdout_gate"] is True
    done = run("finalize", "f", cwd=workspace)
    assert done.returncode == 0, done.stderr
    folder = workspace / ".autoresearch/f"
    summary = (folder / "summary.md").read_text()
    assert "train:" in summary and "holdout:" in summary and "```diff" in summary
    assert "holdout verdict, best against baseline: better" in done.stdout
    assert "holdout verdict, best against baseline: better" in summary and "train inputs" not in summary
    assert (folder / "report.html").exists() and (folder / "STOP").exists() and "changelog.md" in done.stdout
    assert "train inputs: each keep is a gain on these inputs" in (folder / "report.html").read_text()  # said once
    resumed = run("run", "--resume", "f", cwd=workspace)
    assert resumed.returncode == 2 and "finalized" in resumed.stderr
    (workspace / "x.md").write_text("- x\n")
    late = run("try", "f", "--section", "meeting-notes/style", "--file", "x.md", "--hypothesis", "h", cwd=workspace)
    assert late.returncode == 2 and "finalized" in late.stderr


def test_finalize_onto_a_branch(workspace):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    git = lambda *a: subprocess.run(["git", *a], cwd=workspace, capture_output=True, text=True, env=env, check=True).stdout
    git("init", "-q", "-b", "main")
    (workspace / ".gitignore").write_text(".autoresearch/\n")
    git("add", "-A")
    git("commit", "-q", "-m", "start")
    baseline = (workspace / "examples/meeting-notes/SKILL.md").read_text()
    assert run("run", "evals/meeting-notes.yaml", "--max-experiments", "6", "--run-id", "b", cwd=workspace).returncode == 0
    best = (workspace / ".autoresearch/b/best/SKILL.md").read_text()
    done = subprocess.run([sys.executable, "-m", "autoresearch", "finalize", "b", "--branch", "autoresearch/b-final"],
                          cwd=workspace, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert git("rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert (workspace / "examples/meeting-notes/SKILL.md").read_text() == baseline
    assert git("show", "autoresearch/b-final:examples/meeting-notes/SKILL.md") == best
