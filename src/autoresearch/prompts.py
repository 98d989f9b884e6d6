"""Jinja2 prompt templates shipped in the package; a user may pass a file to use instead."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

JUDGE_SYSTEM = "You are a strict, literal grader of binary evals. You never guess; you follow the format."


@lru_cache(maxsize=16)
def _template(name: str, override: str | None):
    import jinja2

    source = Path(override).read_text(encoding="utf-8") if override else \
        resources.files("autoresearch").joinpath("templates").joinpath(name).read_text(encoding="utf-8")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    return env.from_string(source)


def render(name: str, override: str | Path | None = None, **values: Any) -> str:
    """Render the packaged template `name` (or the user's `override` file) with `values`."""
    return _template(name, str(override) if override else None).render(**values)


def check_template(path: str | Path, trial) -> None:
    """A user's template must load and render (`trial` renders it once) before anything is paid for."""
    import jinja2

    from .errors import input_error

    try:
        _template("mutate.md.j2", str(path))
        trial()
    except (OSError, UnicodeDecodeError) as exc:
        raise input_error(str(path), f"--template: cannot read: {exc}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise input_error(str(path), f"--template: {exc.message}", exc.lineno) from None
    except jinja2.TemplateError as exc:
        raise input_error(str(path), f"--template: {exc}") from None
