"""`import promptfoo | skill-creator | triggers`: suites from the peers' formats."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click

from .common import _reports_errors, echo


@click.group("import")
def import_group() -> None:
    """Convert a peer's eval suite (promptfoo, skill-creator) into an autoresearch suite."""


def _import_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = _reports_errors(fn)
    fn = click.option("--holdout-every", type=click.IntRange(0), default=0, show_default=True,
                      help="Put every Nth input in the holdout split (0: none).")(fn)
    fn = click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
                      help="Suite file to write (default: print it).")(fn)
    return click.option("--skill", "skill", help="Path of the target SKILL.md (from here; the suite gets it "
                        "relative to where it is written).")(fn)


def _emit(imported: Any, source: Path, output: Path | None) -> None:
    for note in imported.unconverted:
        echo(f"not converted: {note}", err=True)
    if output:
        imported.write(output, str(source))
        echo(f"wrote {output}: {len(imported.suite['inputs'])} inputs, {len(imported.suite['evals'])} evals; "
             f"{imported.summary()}")
        _warn_unless_valid(output)
    else:
        echo(imported.yaml(str(source)), nl=False)
        echo(imported.summary(), err=True)


def _warn_unless_valid(suite_path: Path) -> None:
    """Say so when a written suite does not validate yet (say, the skill is elsewhere: pass --skill)."""
    from ..errors import InputError
    from ..suite.suite import load_suite

    try:
        load_suite(suite_path)
    except InputError as exc:
        echo(f"warning: {suite_path} does not validate yet:\n{exc}", err=True)


@import_group.command("promptfoo")
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--prompt", "prompt", type=click.IntRange(1), metavar="N",
              help="Which of the config's prompts to use (1-based; default: the first, and a note).")
@click.option("--provider", "provider", metavar="ID", help="Which provider (id or label) becomes the suite's model.")
@_import_options
def import_promptfoo_command(config: Path, skill: str | None, output: Path | None, holdout_every: int,
                             prompt: int | None, provider: str | None) -> None:
    """Tests become inputs; contains, equals, regex, is-json, python, llm-rubric... become evals."""
    from ..importers.promptfoo import import_promptfoo

    _emit(import_promptfoo(config, skill, holdout_every, output, prompt, provider), config, output)


@import_group.command("skill-creator")
@click.argument("evals_json", metavar="EVALS.json", type=click.Path(dir_okay=False, path_type=Path))
@_import_options
def import_skill_creator_command(evals_json: Path, skill: str | None, output: Path | None, holdout_every: int) -> None:
    """Prompts become inputs; each expectation becomes a judge eval on its input."""
    from ..importers.skill_creator import import_skill_creator

    _emit(import_skill_creator(evals_json, skill, holdout_every, output), evals_json, output)


@import_group.command("triggers")
@click.argument("eval_set", metavar="EVAL_SET.json", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--skill", "skill", help="Path of the target SKILL.md (from here; the suite gets it relative to "
                                      "where it is written).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Suite file to write (default: print it).")
@_reports_errors
def import_triggers_command(eval_set: Path, skill: str | None, output: Path | None) -> None:
    """skill-creator's trigger eval set ([{query, should_trigger}]) becomes `triggers:`, split 60/40 per class."""
    from ..importers.common import _relative
    from ..importers.triggers import import_trigger_set

    if skill:  # as the other importers: a path from here, written relative to the suite's folder
        skill = _relative(Path(skill), output.parent if output else Path("."))
    imported = import_trigger_set(eval_set, skill)
    for note in imported.unconverted:
        echo(f"not converted: {note}", err=True)
    text = imported.yaml(str(eval_set))
    if output:
        from ..fsio import atomic_write
        from ..importers.common import refuse_overwrite

        refuse_overwrite(output, [output], eval_set, output.parent / skill if skill else None)
        atomic_write(output, text)
        echo(f"wrote {output}: {len(imported.suite['triggers'])} trigger queries; "
             f"measure with: autoresearch eval {output} --triggers")
    else:
        echo(text, nl=False)
