"""`status`, `view`, `statusline`, `diff`, `report`: look at a run while it goes and after."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import _reports_errors, _run_reference, echo


@click.command()
@_run_reference
def status(run_ref: str, runs_dir: Path) -> None:
    """Best score, experiments, keeps and discards, budget spent, train beside holdout (default: newest run)."""
    from ..review.report import status_text
    from ..runs.journal import RunDir
    from ..runs.live import run_state

    run_dir = RunDir.find(run_ref, runs_dir)
    echo(status_text(run_dir.id, run_dir.entries(), run_dir.config(), str(run_state(run_dir.path))))


@click.command()
@click.argument("target", metavar="[RUN|RESULT.json]", required=False, default="")
@click.option("--runs-dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".autoresearch"),
              show_default=True, help="Where run directories live.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0: a free one).")
@_reports_errors
def view(target: str, runs_dir: Path, port: int) -> None:
    """A live dashboard of a run in your browser: chart, per-eval rows, every attempt, every output.

    Serves on 127.0.0.1 only and updates as the journal grows; also shows an `eval --json` result.
    Ctrl-C stops it. Default: the newest run.
    """
    from ..review.view import open_dashboard

    try:
        dashboard = open_dashboard(target, runs_dir, port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}")
    echo(f"dashboard: {dashboard.url}  (Ctrl-C stops it)", err=False)
    try:
        dashboard.serve()
    except KeyboardInterrupt:
        echo("\nstopped", err=True)
    finally:
        dashboard.server.server_close()


@click.command()
@click.option("--runs-dir", default=".autoresearch", show_default=True,
              help="Run directory name inside the project.")
def statusline(runs_dir: str) -> None:
    """One line on the newest live run in this project, for Claude Code's statusLine setting.

    Reads Claude Code's JSON from standard input when there is one (its workspace's project folder);
    prints nothing when no run is live. See `install --statusline`.
    """
    from ..runs.live import statusline_text

    project = Path.cwd()
    if not sys.stdin.isatty():
        import json

        try:
            data = json.loads(sys.stdin.read() or "{}")
        except ValueError:
            data = {}
        workspace = data.get("workspace") if isinstance(data, dict) else None
        folder = (workspace or {}).get("project_dir") or (workspace or {}).get("current_dir") or \
            (data.get("cwd") if isinstance(data, dict) else None)
        project = Path(folder) if folder else project
    try:
        echo(statusline_text(project, runs_dir))
    except Exception as exc:  # a status line must never break the harness's UI: say it in one line
        echo(f"autoresearch: {type(exc).__name__}")


@click.command()
@_run_reference
@click.option("--format", "fmt", type=click.Choice(["unified", "markdown", "html"]), default="unified",
              show_default=True, help="markdown is ready to paste into a PR comment; html is a standalone page.")
def diff(run_ref: str, runs_dir: Path, fmt: str) -> None:
    """Baseline against best, section by section, with a header per section (default: newest run)."""
    from ..review.diffs import section_diff
    from ..review.html import render_diff
    from ..runs.journal import RunDir

    run_dir = RunDir.find(run_ref, runs_dir)
    before = (run_dir.path / "baseline" / "SKILL.md").read_text(encoding="utf-8")
    best = run_dir.path / "best" / "SKILL.md"
    after = best.read_text(encoding="utf-8") if best.exists() else before
    echo(render_diff(section_diff(before, after), fmt, f"run {run_dir.id}, baseline -> best"), nl=False)


@click.command()
@_run_reference
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the page (default: report.html in the run directory).")
def report(run_ref: str, runs_dir: Path, output: Path | None) -> None:
    """Write a single static HTML report of a run: score chart, per-eval breakdown, every attempt."""
    from ..fsio import atomic_write
    from ..review.html import html_report, run_files
    from ..runs.journal import RunDir
    from ..runs.live import run_state

    run_dir = RunDir.find(run_ref, runs_dir)
    target = output or run_dir.path / "report.html"
    entries = run_dir.entries()
    atomic_write(target, html_report(run_dir.id, entries, run_dir.config(), run_files(run_dir, entries),
                                     str(run_state(run_dir.path))))
    echo(str(target))
