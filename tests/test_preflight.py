"""The preflight canary on the real binaries: each way the measurement can silently break is one line, exit 2.

A skill the harness does not list, a harness whose Skill tool is disabled, a missing binary and a judge
that never answers in the verdict format are each caught before anything is run or written.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, need_harness

BIN = ROOT / ".harness" / "node_modules" / ".bin"
FIXTURE = ROOT / "examples" / "harness"



@pytest.fixture
def project(tmp_path):
    need_harness("claude")
    root = tmp_path / "project"
    shutil.copytree(FIXTURE, root)
    return root


def cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("AUTORESEARCH_NO_PREFLIGHT")  # the canary runs here as it does for a user (tests/conftest.py)
    return subprocess.run([sys.executable, "-m", "autoresearch", *args], cwd=root, capture_output=True, text=True,
                          timeout=300, env=env)


def problems(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith("preflight: ") and "problem" not in line
            and not line.startswith(("preflight: harness:", "preflight: judge ", "preflight: mutator "))
            or "format not followed" in line]


def model_block(root: Path, block: str) -> None:
    suite = root / "suite.yaml"
    suite.write_text(suite.read_text().replace("model: claude-code:sim\n", block))


def test_the_canary_passes_on_a_working_harness_and_counts_its_calls(project):
    done = cli(project, "doctor", "suite.yaml")
    assert done.returncode == 0, done.stderr
    assert "preflight: ok;" in done.stderr and " call(s) made, probe cell " in done.stderr
    assert "claude-code 2.1" in done.stderr


def test_doctor_checks_each_target_named_with_model(project):
    done = cli(project, "doctor", "suite.yaml", "--model", "pi:sim", "--model", "claude-code:sim")
    assert done.returncode == 0, done.stderr
    assert "suite.yaml: ready on pi:sim" in done.stdout and "suite.yaml: ready on claude-code:sim" in done.stdout


def test_a_skill_the_harness_does_not_list_is_caught_with_its_frontmatter_named(project):
    skill = project / "tally/SKILL.md"  # valid for the Agent Skills rules; Claude Code does not list it
    text = skill.read_text()
    end = text.index("\n---", 3)
    skill.write_text(text[:end] + "\n..." + text[end + 4:])
    assert cli(project, "validate", "tally/SKILL.md").returncode == 0
    done = cli(project, "run", "suite.yaml", "--baseline-only", "--run-id", "x")
    assert done.returncode == 2
    found = problems(done)
    assert len(found) == 1 and "`tally` is not listed to the agent because of its frontmatter" in found[0], done.stderr
    assert "closed by `...`" in found[0]
    assert not (project / ".autoresearch").exists()


def test_a_harness_whose_skill_tool_is_disabled_is_caught(project):
    model_block(project, "model:\n  name: claude-code:sim\n  extra_args: [--disallowedTools, Skill]\n")
    done = cli(project, "eval", "suite.yaml")
    assert done.returncode == 2
    found = problems(done)
    assert len(found) == 1 and "the Skill tool is not offered in -p" in found[0], done.stderr
    assert "make harness" in found[0] and "tally" not in done.stdout  # nothing was evaluated


def test_a_missing_binary_is_caught(project):
    model_block(project, "model:\n  name: claude-code:sim\n  binary: ./no-such-claude\n")
    done = cli(project, "doctor", "suite.yaml")
    assert done.returncode == 2
    found = problems(done)
    assert len(found) == 1 and "binary missing" in found[0] and "npm install" in found[0], done.stderr


def test_a_judge_that_never_answers_in_the_verdict_format_is_caught(project):
    suite = project / "suite.yaml"
    suite.write_text(suite.read_text().replace("runs: 2", "runs: 5")  # a size the keep rule is not refused at
                     .replace("model: claude-code:sim\n", "model: claude-code:sim\n"
                                               "judge: command:echo I think it is fine\n")
                     + "  - id: clear\n    question: Is the answer clear?\n    judge:\n      pass: It is clear.\n"
                       "      fail: It is not clear.\n")
    done = cli(project, "run", "suite.yaml", "--run-id", "x", "--max-experiments", "1")
    assert done.returncode == 2
    found = problems(done)
    assert len(found) == 1 and "judge command:echo I think it is fine (eval clear): judge format not followed" \
        in found[0], done.stderr
    assert not (project / ".autoresearch/x").exists()  # no run was created


def test_the_cost_preview_of_a_harness_target_gives_cells_and_time_from_the_probe_cell(project):
    done = cli(project, "run", "suite.yaml", "--estimate-only", "--max-experiments", "5")
    assert done.returncode == 0, done.stderr
    assert "one evaluation of the train inputs: 2 cells (1 inputs x 2 runs), about " in done.stdout
    assert "a probe cell took " in done.stdout and "baseline: 4 cells with the holdout" in done.stdout
    assert not (project / ".autoresearch").exists()


def test_the_canary_names_the_frontmatter_a_harness_will_not_list():
    from autoresearch.loop.canary import frontmatter_hint

    plain = "---\nname: x\ndescription: Does x.\n---\n# X\n"
    assert "byte-order mark" in frontmatter_hint("\ufeff" + plain)
    assert "closed by `...`" in frontmatter_hint(plain.replace("\n---\n#", "\n...\n#"))
    assert "disable-model-invocation" in frontmatter_hint(plain.replace("Does x.", "Does x.\ndisable-model-invocation: true"))
    assert "autoresearch validate" in frontmatter_hint(plain)
