"""`autoresearch holdout seal|unseal SUITE`: keep a suite's holdout inputs where only the tool reads them."""

from __future__ import annotations

from pathlib import Path

import click

from .common import _reports_errors, echo


@click.group("holdout")
def holdout_group() -> None:
    """Hide a suite's holdout inputs from an agent that plays the mutator (path B).

    `seal` moves them into a file only autoresearch reads (encrypted with a key in the project's
    .autoresearch/holdout.key); every command measures them as before. `unseal` opens that file again for
    you to edit. See docs/holdout.md.
    """


@holdout_group.command("seal")
@click.argument("suite", type=click.Path(dir_okay=False, path_type=Path))
@_reports_errors
def seal_command(suite: Path) -> None:
    """Move SUITE's holdout inputs into its sealed holdout file (SUITE-stem.holdout.sealed, or `holdout_file:`)."""
    from ..suite.sealing import seal_suite

    echo(seal_suite(suite))


@holdout_group.command("unseal")
@click.argument("suite", type=click.Path(dir_okay=False, path_type=Path))
@_reports_errors
def unseal_command(suite: Path) -> None:
    """Turn SUITE's sealed holdout file back into plain YAML (for you, not an agent, to read and edit)."""
    from ..suite.sealing import unseal_suite

    echo(unseal_suite(suite))
