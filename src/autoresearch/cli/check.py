"""`validate`, `sections`, `doctor`: check a suite, a skill and the harnesses before anything is paid."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .common import (
    EXIT_ERROR,
    EXIT_OK,
    _eval_model_options,
    _open_models,
    _preflight_canary,
    _reports_errors,
    _with_models,
    echo,
)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--allow-outside", is_flag=True, help="Let the suite read input files and python checks from outside "
              "its own folder (a suite is code: allow only suites you trust).")
@_reports_errors
def validate(files: tuple[Path, ...], allow_outside: bool) -> None:
    """Check SKILL.md files and suite files without running anything (a python check is parsed, not run).

    A `.yaml`/`.yml` file is read as a suite (and its target skill is checked too); anything else as
    a SKILL.md. Exit code 2 when any file has an error; warnings are printed but pass. Files a suite
    reads from outside its folder are listed.
    """
    from ..errors import InputError
    from ..review.report import counted
    from ..suite.skill import load_skill, validate_skill
    from ..suite.suite import load_suite
    from ..targets import describe_sandbox

    failed = False
    for path in files:
        try:
            if path.suffix in (".yaml", ".yml"):
                suite = load_suite(path, allow_outside=allow_outside)
                from ..evaluate.reach import self_judged, unreachable_roles

                problems = (list(suite.warnings) + unreachable_roles(suite) + self_judged(suite)
                            + _folder_problems_for(suite))
                for outside in suite.outside:
                    echo(f"{path}: reads outside its folder: {outside}", err=True)
                summary = (f"suite, {counted(len(suite.inputs), 'input')} ({len(suite.split('holdout'))} holdout"
                           f"{', sealed' if suite.holdout_sealed else ''}), "
                           f"{counted(len(suite.evals), 'eval')}, sandbox: {describe_sandbox(suite.model)}")
            else:
                doc = load_skill(path)
                problems = validate_skill(doc, path.resolve().parent.name) + _folder_problems_for(None, path)
                summary = f"skill, {counted(len([s for s in doc.sections if s.level]), 'section')}"
        except InputError as exc:
            problems, summary = exc.problems, ""
        for problem in problems:
            echo(str(problem), err=True)
        bad = any(p.severity == "error" for p in problems)
        failed = failed or bad
        echo(f"{path}: {'invalid' if bad else 'ok'}{' (' + summary + ')' if summary and not bad else ''}")
    sys.exit(EXIT_ERROR if failed else EXIT_OK)


def _folder_problems_for(suite, skill_file: Path | None = None) -> list:
    """What a harness target will refuse in the skill folder: an error for a suite that names one, else a warning."""
    from ..targets import is_harness
    from ..targets.harness import skill_folder_problems

    if suite is None:
        return skill_folder_problems([skill_file.resolve().parent], "warning")
    if not is_harness(suite.model):
        return []
    return skill_folder_problems([suite.skill_path.parent, *suite.distractors])


@click.command()
@click.argument("skill_file", metavar="SKILL.md", type=click.Path(dir_okay=False, path_type=Path))
@_reports_errors
def sections(skill_file: Path) -> None:
    """List the section ids of a SKILL.md (the names `--sections` and `try --section` take)."""
    from ..errors import input_error
    from ..suite.skill import load_skill

    if skill_file.suffix in (".yaml", ".yml"):
        raise input_error(str(skill_file), "this is a suite file, not a SKILL.md: give the skill itself (the suite's "
                                           "`skill:` names it)")
    doc = load_skill(skill_file)
    for s in doc.sections:
        if s.level == 0 and not s.body.strip():
            continue
        words = len(s.body.split())
        title = "(text before the first heading)" if s.level == 0 else f"{'#' * s.level} {s.title}"
        echo(f"{s.id:<40} line {s.line:<5} {words:>4} words  {title}")


@click.command()
@click.argument("suite_file", metavar="[SUITE]", required=False, type=click.Path(dir_okay=False, path_type=Path))
@_eval_model_options
@click.option("--allow-outside", is_flag=True, help="Let the suite read files from outside its own folder.")
@_reports_errors
def doctor(suite_file: Path | None, model_name: tuple[str, ...], judge_model: str | None, batch: bool,
           no_cache: bool, allow_outside: bool) -> None:
    """The preflight canary: does the measurement work here, before anything is paid?

    For a harness target the CLI starts with a probe skill beside yours: it must start (logged in), our
    parser must see the probe listed and loaded, your skill must be listed; the judge and mutator must
    answer one call each in the format we parse. One line per problem with its fix; exit 2 on any.
    Without SUITE, each installed harness is checked offline (`claude-code:sim`, `pi:sim`).
    """
    from ..suite.suite import load_suite

    if suite_file is None:
        failed = False
        for name in ("claude-code:sim", "pi:sim"):
            suite = _probe_suite(name)
            try:
                _preflight_canary(suite, _open_models(suite, True), mutator=False, always=True)
            except Exception as exc:
                from ..errors import AutoresearchError

                if not isinstance(exc, AutoresearchError):
                    raise
                echo(str(exc), err=True)
                failed = True
        sys.exit(EXIT_ERROR if failed else EXIT_OK)
    loaded = load_suite(suite_file, allow_outside=allow_outside)
    for name in model_name or (None,):  # --model may be given for several targets: each is checked
        suite = _with_models(loaded, name, judge_model, None, batch)
        _preflight_canary(suite, _open_models(suite, no_cache), mutator=True, always=True)
        echo(f"{suite_file}: ready on {suite.model.name}")


def _probe_suite(model: str) -> Any:
    """A one-input suite whose skill is the canary's probe, for `doctor` without a suite."""
    import tempfile

    from ..loop.canary import PROBE_NAME, PROBE_SKILL
    from ..sandbox import cell_prefix
    from ..suite.suite import load_suite

    folder = Path(tempfile.mkdtemp(prefix=cell_prefix() + "doctor"))  # removed at the next start if killed
    (folder / PROBE_NAME).mkdir()
    (folder / PROBE_NAME / "SKILL.md").write_text(PROBE_SKILL, encoding="utf-8")
    (folder / "suite.yaml").write_text(f"skill: {PROBE_NAME}/SKILL.md\nmodel: {model}\nruns: 1\ninputs:\n"
                                       "  - {id: probe, text: Run the autoresearch canary probe.}\nevals:\n"
                                       "  - {id: ok, question: Does it answer, check: {type: contains, value: OK}}\n",
                                       encoding="utf-8")
    return load_suite(folder / "suite.yaml")
