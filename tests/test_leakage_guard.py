"""The leakage guard says what it matched, lets a restated behaviour through, and status says when refusals
dominate a run (issue 26, item 7)."""

from pathlib import Path

from click.testing import CliRunner

from autoresearch.cli.main import main
from autoresearch.decide.leakage import leakage
from autoresearch.suite.checks import Check
from autoresearch.suite.suite import Eval, Input, Judge, Suite

SKILL = """---
name: changelog
description: Writes a changelog entry from merged pull requests. Use when asked for a changelog entry.
---

# Changelog entry

## Format

- Group the changes under Added, Changed and Fixed.
"""
SUITE = Suite(Path("s.yaml"), Path("SKILL.md"), (
    Input("api", "Merged: rename the /v1/users endpoint to /v2/accounts; add dark mode."),
    Input("cli", "Merged: the --quiet flag now silences warnings too; Priya fixed the Falcon importer crash.",
          "holdout")), (
    Eval("breaking", "Does the entry call out breaking changes in their own section, before the other changes, "
                     "so that a reader upgrading can see at once what will break for them?",
         judge=Judge("Breaking changes are called out in their own section before the other changes.",
                     "A breaking change is mixed in with the other changes or not marked at all.")),
    Eval("heading", "Does it start with a version heading?", Check("starts-with", "## "))), runs=1)


def refused(line: str) -> str | None:
    return leakage(SKILL + line + "\n", SKILL, SUITE)


def test_a_restatement_of_the_wanted_behaviour_is_not_refused():
    for line in ["- Breaking changes must always be called out in their own section, before the other changes.",
                 "- Call out breaking changes in their own section before anything else.",
                 "- So a reader upgrading can see what will break, put breaking changes first."]:
        assert refused(line) is None, line


def test_a_refusal_quotes_the_words_it_matched_as_written():
    holdout = refused("- Example: Priya fixed the Falcon importer crash.")
    assert holdout and "holdout input 'cli'" in holdout and '"fixed the Falcon importer crash"' in holdout
    judge = refused("- A breaking change is mixed in with the other changes or not marked at all: avoid that.")
    assert judge and "eval 'breaking'" in judge and '"A breaking change is mixed in' in judge
    assert "fail condition" in judge


SUITE_YAML = """\
skill: changelog/SKILL.md
runs: 1
inputs:
  - {id: api, text: 'Merged: rename the /v1/users endpoint to /v2/accounts; add dark mode.'}
  - {id: cli, text: 'Merged: Priya fixed the Falcon importer crash in the nightly build.', split: holdout}
evals:
  - {id: breaking, question: 'Does it have a Breaking heading?', check: {type: contains, value: '## Breaking'}}
"""


def test_status_says_when_refusals_dominate_and_next_quotes_the_words(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "changelog").mkdir()
    (tmp_path / "changelog" / "SKILL.md").write_text(SKILL)
    (tmp_path / "suite.yaml").write_text(SUITE_YAML)
    cli = CliRunner()
    assert cli.invoke(main, ["run", "suite.yaml", "--baseline-only", "--max-experiments", "10", "--run-id", "r"]
                      ).exit_code == 0
    for n, line in enumerate(["Example: Priya fixed the Falcon importer crash.",
                              "Like: Priya fixed the Falcon importer crash in the nightly build.",
                              "E.g. the Falcon importer crash in the nightly build."]):
        (tmp_path / f"p{n}.md").write_text(f"- Group the changes under Added, Changed and Fixed.\n- {line}\n")
        tried = cli.invoke(main, ["try", "r", "--section", "changelog-entry/format", "--file", f"p{n}.md",
                                  "--hypothesis", "an example", "--kind", "add-example"])
        assert tried.exit_code == 3, tried.output
        assert "Falcon importer crash" in tried.output  # the refusal quotes what it matched
    status = cli.invoke(main, ["status", "r"]).output
    assert "REFUSALS DOMINATE: 3 of 3 proposals were refused" in status
    shown = cli.invoke(main, ["next", "r"]).output
    assert "YOUR LAST PROPOSAL WAS REFUSED (#3 on changelog-entry/format): leakage guard: the proposal copies " \
           "text of holdout input 'cli': \"" in shown


def test_a_holdout_input_retold_in_other_words_is_refused_with_the_words_it_shares():
    """Issue 25: paraphrases that keep a holdout input's particulars but none of its word order."""
    retold = refused("- Example: a Falcon importer that crashes in nightly runs gets its own line.")
    assert retold and "holdout input 'cli'" in retold and "(shares Falcon, importer, crashes)" in retold
    assert "identifier \"--quiet\"" in refused("- Say when --quiet now also mutes warnings.")
    assert refused("- E.g. Priya's crash fix goes under Fixed.")


def test_ordinary_instructions_near_a_holdout_input_are_not_refused():
    for line in ["- Mark a flag whose behaviour changed as a change, not a fix.",
                 "- Name the contributor of each fix when the pull request gives one.",
                 "- Describe a crash fix by what the user saw, not by the code."]:
        assert refused(line) is None, line
