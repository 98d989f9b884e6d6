"""A small suite: what it can show is said once, when the run starts, and once in the report; status, next
and the finalize summary do not repeat it (issue 26, item 6)."""

from click.testing import CliRunner
from conftest import BASIC_SUITE

from autoresearch.cli.main import main


def test_the_small_suite_note_is_said_once_where_it_helps(make_suite, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    suite = make_suite(BASIC_SUITE.replace("runs: 2", "runs: 5"))  # the fewest runs the keep rule can keep on
    cli = CliRunner()
    started = cli.invoke(main, ["run", str(suite), "--max-experiments", "2", "--run-id", "r"])
    assert started.exit_code == 0, started.output
    said = started.output  # stdout and stderr
    assert said.count("1 train inputs. A keep means the change scored better on these inputs") == 1
    assert "the 1 holdout input (never shown to whoever changes the skill) tells a general gain" in said
    assert "(< 20)" not in said  # the old warning on every status line is gone from the run's own summary
    for command in (["status", "r"], ["next", "r"]):
        assert "train inputs" not in cli.invoke(main, command).output, command
    assert cli.invoke(main, ["report", "r"]).exit_code == 0
    page = (tmp_path / ".autoresearch" / "r" / "report.html").read_text()
    assert page.count("1 train inputs: each keep is a gain on these inputs") == 1
