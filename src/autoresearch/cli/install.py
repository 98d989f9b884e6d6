"""`install`: put the autoresearch skills where Claude Code and pi find them."""

from __future__ import annotations

from pathlib import Path

import click

from .common import _reports_errors, echo


@click.command()
@click.option("--claude", "claude", is_flag=True, help="Install for Claude Code.")
@click.option("--pi", "pi", is_flag=True, help="Install for pi.")
@click.option("--project", "project", is_flag=True,
              help="Into this project: .claude/skills/, .pi/skills/ at the repository root (default).")
@click.option("--user", "user", is_flag=True, help="For this user: ~/.claude/skills/, ~/.pi/agent/skills/.")
@click.option("--project-dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="The project folder (default: the git repository around the current folder, else the folder).")
@click.option("--force", is_flag=True, help="Overwrite copies you have edited (and another statusLine).")
@click.option("--statusline", "with_statusline", is_flag=True,
              help="Also show the live run in Claude Code's status line (`statusLine` in the project's "
                   ".claude/settings.local.json, git-ignored; with --user, ~/.claude/settings.json).")
@_reports_errors
def install(claude: bool, pi: bool, project: bool, user: bool, project_dir: Path | None, force: bool,
            with_statusline: bool) -> None:
    """Put the autoresearch skills where Claude Code and pi find them (both when neither is named).

    Idempotent; a copy you have edited since it was installed is left alone unless --force.
    In a git repository, `.autoresearch/` (runs and the reply cache) is added to its .gitignore.
    """
    from ..install import install_skills, install_statusline, project_root

    if project and user:
        raise click.UsageError("give --project or --user, not both")
    if user and project_dir:
        raise click.UsageError("--project-dir is for a project install, not --user")
    harnesses = [h for h, chosen in (("claude", claude), ("pi", pi)) if chosen] or ["claude", "pi"]
    root = project_dir.resolve() if project_dir else project_root(Path.cwd())
    scope = "user" if user else "project"
    if with_statusline:  # first: a settings file we cannot read stops everything, nothing written
        echo(install_statusline(scope, root, Path.home(), force))
    for line in install_skills(harnesses, scope, root, Path.home(), force):
        echo(line)
