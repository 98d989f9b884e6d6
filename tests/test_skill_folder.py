"""The skill folder a harness target installs: what counts toward its size, what `validate` says, and one copy
per run linked into each cell (issue 26, item 13)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT

from autoresearch.cli.main import main
from autoresearch.errors import InputError
from autoresearch.targets.harness import check_skill_folder

BIN = ROOT / ".harness" / "node_modules" / ".bin"
SKILL = "---\nname: big\ndescription: Sorts files. Use when asked to sort files.\n---\n# Sort\n\nSort them.\n"
SUITE = ("skill: big/SKILL.md\nruns: 1\nmodel: claude-code:sim\ninputs:\n  - {id: one, text: 'Sort these files.'}\n"
         "evals:\n  - {id: sorted, question: 'Is it sorted?', check: {type: icontains, value: sort}}\n")


def sized(path: Path, size: int) -> None:
    """A sparse file of `size` bytes: it counts toward the size without taking the disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.truncate(size)


def skill_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "big"
    folder.mkdir()
    (folder / "SKILL.md").write_text(SKILL)
    return folder


def test_git_history_is_not_counted_since_it_is_never_copied(tmp_path):
    folder = skill_folder(tmp_path)
    sized(folder / ".git" / "objects" / "pack" / "history.pack", 30_000_000)
    sized(folder / "data" / "table.csv", 13_500_000)
    check_skill_folder(folder)  # 13.5 MB is copied; the 30 MB of history is not


def test_the_limit_is_the_20_mb_the_message_and_readme_name(tmp_path):
    folder = skill_folder(tmp_path)
    sized(folder / "data" / "table.csv", 20_500_000)
    with pytest.raises(InputError) as refused:
        check_skill_folder(folder)
    assert "20.5 MB" in str(refused.value) and "over the 20 MB" in str(refused.value)


def test_validate_says_what_eval_will_refuse(tmp_path):
    folder = skill_folder(tmp_path)
    sized(folder / "data" / "table.csv", 25_000_000)
    (tmp_path / "suite.yaml").write_text(SUITE)
    suite = CliRunner().invoke(main, ["validate", str(tmp_path / "suite.yaml")])
    assert suite.exit_code == 2 and "over the 20 MB" in suite.output and "invalid" in suite.output
    alone = CliRunner().invoke(main, ["validate", str(folder / "SKILL.md")])
    assert alone.exit_code == 0 and "warning" in alone.output and "will refuse it" in alone.output
    (tmp_path / "suite.yaml").write_text(SUITE.replace("model: claude-code:sim\n", "model: sim\n"))
    assert CliRunner().invoke(main, ["validate", str(tmp_path / "suite.yaml")]).exit_code == 0


def test_each_cell_links_the_runs_one_copy_of_the_folder_and_gets_its_own_skill_md(tmp_path):
    if not (BIN / "claude").exists():
        pytest.skip("claude is not installed (run `make harness`)")
    root = tmp_path / "project"
    shutil.copytree(ROOT / "examples" / "harness", root)
    (root / "tally" / ".git").mkdir()
    (root / "tally" / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([sys.executable, "-m", "autoresearch", "eval", "suite.yaml", "--runs", "1",
                           "--keep-workspaces", "--json", "r.json"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr
    kept = [Path(o["workspace"]) / ".claude/skills/tally" for o in json.loads((root / "r.json").read_text())["outcomes"]]
    try:
        assert len(kept) == 2
        scripts = [(k / "scripts/tally.py").stat() for k in kept]
        assert scripts[0].st_ino == scripts[1].st_ino and scripts[0].st_nlink >= 2  # one copy, linked
        skills = [(k / "SKILL.md").stat() for k in kept]
        assert skills[0].st_ino != skills[1].st_ino and skills[0].st_nlink == 1  # each cell's own candidate
        assert (kept[0] / "SKILL.md").read_text() == (root / "tally" / "SKILL.md").read_text()
        assert not (kept[0] / ".git").exists()
    finally:
        for k in kept:
            shutil.rmtree(k.parents[2].parent, ignore_errors=True)
