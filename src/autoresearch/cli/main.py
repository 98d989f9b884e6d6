"""The `autoresearch` command group: lists the commands in the order a user meets them."""

from __future__ import annotations

import atexit
import gc

import click

from .agent import next_command, try_command, wait_command, work_command
from .check import doctor, sections, validate
from .evaluate import eval_command
from .holdout import holdout_group
from .importing import import_group
from .install import install
from .review import diff, report, status, statusline, view
from .run import finalize, run


# The process's objects die with it: spare the collector its last sweep over all of them (the SDK's thousands of
# classes) at exit, a few tenths of a second of every command (issue 26, item 10). Files are closed where written.
atexit.register(gc.freeze)


class _WorkflowOrder(click.Group):
    """List commands in the order a user meets them, not alphabetically."""

    ORDER = ["eval", "validate", "sections", "doctor", "run", "status", "view", "diff", "report", "next", "try", "wait",
             "finalize", "holdout", "install", "statusline", "import"]

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: self.ORDER.index(n) if n in self.ORDER else len(self.ORDER))


@click.group(cls=_WorkflowOrder, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="autoresearch")
def main() -> None:
    """Make agent skills better by experiment.

    Score a SKILL.md on binary evals (`eval`), then let the loop change one section at a time and
    keep only changes that beat noise (`run`). Every attempt is logged. New here? In the repository,
    `make demo` runs the whole loop on the embedded offline simulator, with no API key.
    """


for _command in (
    eval_command, validate, sections, doctor, run, next_command, try_command, wait_command, work_command,
    finalize, status, view, statusline, diff, report, import_group, install, holdout_group,
):
    main.add_command(_command)
