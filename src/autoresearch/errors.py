"""Errors that point the user at the file, line and key that caused them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, located as precisely as we can."""

    path: str
    message: str
    line: int | None = None
    key: str | None = None
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        key = f" {self.key}:" if self.key else ""
        prefix = "" if self.severity == "error" else f" {self.severity}:"
        return f"{where}:{prefix}{key} {self.message}"


class AutoresearchError(Exception):
    """Base class for every error the tool reports to a user (CLI exit code 2)."""


class InputError(AutoresearchError):
    """A user-supplied file is malformed; carries one or more located problems."""

    def __init__(self, problems: Problem | list[Problem]):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def input_error(path: str, message: str, line: int | None = None, key: str | None = None) -> InputError:
    """Shorthand for an InputError with a single problem."""
    return InputError(Problem(str(path), message, line, key))


class ModelError(AutoresearchError):
    """A model call failed after its retries; the cell it was for is an error, never a fail."""
