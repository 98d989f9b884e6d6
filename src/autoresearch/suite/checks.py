"""Deterministic binary checks (promptfoo-style names) and the strict parser for judge verdicts.

Every check answers pass or fail with a short reason saying what was expected and what was seen;
a check that crashes raises CheckError, which the runner records as an error, never as a fail.
"""

from __future__ import annotations

import ast
import fnmatch
import inspect
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import AutoresearchError
from ..models.outcome import Outcome
from .isolation import DEFAULT_SECONDS, IsolatedCheckError, Limits, PythonCheck


class CheckError(AutoresearchError):
    """A check could not give a verdict (a python check raised, or returned something unusable)."""


class EchoedVerdict(CheckError):
    """The graded output holds the judge's verdict line: the answer may be an echo of a forged verdict."""


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str


@dataclass(frozen=True)
class Check:
    """A deterministic check: `type` is a name from CHECK_TYPES, `negate` inverts it (`not-` prefix)."""

    type: str
    value: Any = None
    negate: bool = False
    min: int | None = None
    max: int | None = None
    function: Callable[..., Any] | None = field(default=None, compare=False, repr=False)
    path: str | None = None  # file checks: a glob inside the workspace
    pattern: str | None = None  # tool-called: a regex over the call's input (as JSON)
    seconds: float = DEFAULT_SECONDS  # the time bound of one call (regex and python checks)

    @property
    def name(self) -> str:
        return ("not-" if self.negate else "") + self.type


def _snippet(text: str, limit: int = 60) -> str:
    """The start of `text` quoted, its whitespace kept visible (a newline shows as \\n, never as a space)."""
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def _contains(output: str, c: Check) -> Verdict:
    ok = c.value in output
    return Verdict(ok, f"{'found' if ok else 'did not find'} {c.value!r}; output starts {_snippet(output)}")


def _icontains(output: str, c: Check) -> Verdict:
    ok = str(c.value).lower() in output.lower()
    return Verdict(ok, f"{'found' if ok else 'did not find'} {c.value!r} (any case); output starts {_snippet(output)}")


def _equals(output: str, c: Check) -> Verdict:
    ok = output.strip() == str(c.value).strip()
    return Verdict(ok, f"expected exactly {_snippet(str(c.value))}, got {_snippet(output)}")


def _starts_with(output: str, c: Check) -> Verdict:
    ok = output.lstrip().startswith(c.value)
    return Verdict(ok, f"expected to start with {c.value!r}, starts {_snippet(output.lstrip(), 40)}")


def _ends_with(output: str, c: Check) -> Verdict:
    ok = output.rstrip().endswith(c.value)
    return Verdict(ok, f"expected to end with {c.value!r}, ends {_snippet(output.rstrip()[-40:], 40)}")


def _search(pattern: str, text: str, c: Check, multiline: bool = False) -> Any:
    """`re.search` within the check's time bound (CPU seconds): a catastrophic pattern is a CheckError."""
    import regex  # the `re` API with a timeout: a catastrophic pattern cannot hang the run

    try:
        return regex.search(pattern, text, regex.MULTILINE if multiline else 0, timeout=c.seconds)
    except TimeoutError:
        raise CheckError(f"pattern /{pattern}/ ran past its time bound of {c.seconds:g}s on {len(text)} "
                         "characters and was stopped") from None


def _regex(output: str, c: Check) -> Verdict:
    match = _search(c.value, output, c, multiline=True)
    seen = f"matched {_snippet(match.group(0), 40)}" if match else f"no match in {_snippet(output)}"
    return Verdict(bool(match), f"pattern /{c.value}/: {seen}")


def _contains_any(output: str, c: Check, fold: bool = False) -> Verdict:
    hay = output.lower() if fold else output
    found = [v for v in _as_list(c.value) if (v.lower() if fold else v) in hay]
    return Verdict(bool(found), f"expected any of {_as_list(c.value)}; found {found or 'none'}")


def _contains_all(output: str, c: Check, fold: bool = False) -> Verdict:
    hay = output.lower() if fold else output
    missing = [v for v in _as_list(c.value) if (v.lower() if fold else v) not in hay]
    return Verdict(not missing, f"expected all of {_as_list(c.value)}; missing {missing or 'none'}")


def _bounds(count: int, unit: str, c: Check) -> Verdict:
    low_ok = c.min is None or count >= c.min
    high_ok = c.max is None or count <= c.max
    wanted = " and ".join(x for x in (f"at least {c.min}" if c.min is not None else "",
                                      f"at most {c.max}" if c.max is not None else "") if x)
    return Verdict(low_ok and high_ok, f"expected {wanted} {unit}, got {count}")


def _is_json(output: str, c: Check) -> Verdict:
    text = output.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*\n(.*?)\n```", text, re.DOTALL)
    if fenced:
        text = fenced.group(1)
    try:
        data = json.loads(text)
    except ValueError as exc:
        return Verdict(False, f"not valid JSON ({exc.msg} at char {exc.pos}); output starts {_snippet(output)}")
    return _json_keys(data, c)


def _contains_json(output: str, c: Check) -> Verdict:
    """Some JSON object or array anywhere in the output (with the required keys, if any)."""
    decoder, last = json.JSONDecoder(), None
    for start in (m.start() for m in re.finditer(r"[\[{]", output)):
        try:
            data, _ = decoder.raw_decode(output, start)
        except ValueError:
            continue
        last = _json_keys(data, c)
        if last.passed:
            return last
    return last or Verdict(False, f"no JSON object or array in the output; output starts {_snippet(output)}")


def _json_keys(data: Any, c: Check) -> Verdict:
    keys = _as_list(c.value) if c.value else []
    if keys:
        if not isinstance(data, dict):
            return Verdict(False, f"JSON is a {type(data).__name__}, expected an object with keys {keys}")
        missing = [k for k in keys if k not in data]
        if missing:
            return Verdict(False, f"JSON object lacks keys {missing}; has {sorted(data)[:8]}")
    return Verdict(True, "valid JSON" + (f" with keys {keys}" if keys else ""))


def _python(output: str, c: Check, context: dict[str, Any]) -> Verdict:
    fn = c.function
    assert fn is not None
    try:
        if isinstance(fn, PythonCheck):  # the suite's own code: in its worker process, bounded
            result = fn(output, context)
        else:
            takes_context = len(inspect.signature(fn).parameters) >= 2
            result = fn(output, context) if takes_context else fn(output)
    except IsolatedCheckError as exc:
        raise CheckError(f"python check {c.value} {exc}") from None
    except Exception as exc:  # code given in-process (the Python API): any exception is a crashed check
        raise CheckError(f"python check {c.value} raised {type(exc).__name__}: {exc}") from exc
    if isinstance(result, bool):
        return Verdict(result, f"{c.value} returned {result}")
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], bool):
        return Verdict(result[0], str(result[1]))
    raise CheckError(f"python check {c.value} returned {result!r}; expected a bool or a (bool, reason) pair")


# -- outcome checks: what the agent did, not only what it said -----------------------------------

def _skill_used(outcome: Outcome, c: Check) -> Verdict:
    used = bool(outcome.skill_used)
    loads = [call.name for call in outcome.tool_calls][:6]
    return Verdict(used, "the skill was loaded" if used else f"the skill was not loaded; tool calls: {loads or 'none'}")


def _tool_called(outcome: Outcome, c: Check) -> Verdict:
    named = [call for call in outcome.tool_calls if call.name == c.value]
    if c.pattern:
        named = [call for call in named if _search(c.pattern, json.dumps(call.input, ensure_ascii=False), c)]
    wanted = c.min if c.min is not None else 1
    ok = len(named) >= wanted and (c.max is None or len(named) <= c.max)
    what = f"{c.value}" + (f" with input matching /{c.pattern}/" if c.pattern else "")
    seen = [call.name for call in outcome.tool_calls][:8]
    return Verdict(ok, f"{len(named)} call(s) of {what}; tool calls: {seen or 'none'}")


def _command_ran(outcome: Outcome, c: Check) -> Verdict:
    commands = outcome.commands()
    hit = next((cmd for cmd in commands if _search(c.value, cmd, c)), None)
    seen = f"ran {_snippet(hit, 60)}" if hit else f"commands run: {[_snippet(x, 40) for x in commands[:5]] or 'none'}"
    return Verdict(hit is not None, f"command /{c.value}/: {seen}")


def _matching_files(outcome: Outcome, glob: str) -> list[str]:
    return [path for path in sorted(outcome.files) if fnmatch.fnmatchcase(path, glob)]


def _file_exists(outcome: Outcome, c: Check) -> Verdict:
    found = _matching_files(outcome, c.value)
    return Verdict(bool(found), f"files matching {c.value!r}: {found or 'none'}; files written: "
                                f"{sorted(outcome.files)[:8] or 'none'}")


def _file_contains(outcome: Outcome, c: Check, regex: bool = False) -> Verdict:
    found = _matching_files(outcome, c.path or "*")
    if not found:
        return Verdict(False, f"no file matching {c.path!r} was written; files: {sorted(outcome.files)[:8] or 'none'}")
    for path in found:
        content = outcome.files[path]
        if (_search(c.value, content, c, multiline=True) if regex else c.value in content):
            return Verdict(True, f"{path} {'matches' if regex else 'contains'} {c.value!r}")
    return Verdict(False, f"{', '.join(found)} {'do not match' if regex else 'do not contain'} {c.value!r}; "
                          f"{found[0]} starts {_snippet(outcome.files[found[0]])}")


def _at_most(what: str, show: Callable[[float], str], read: Callable[[Outcome], float]) -> Callable[[Outcome, Check], Verdict]:
    def check(outcome: Outcome, c: Check) -> Verdict:
        seen = read(outcome)
        return Verdict(seen <= float(c.value), f"{what} {show(seen)}, at most {show(float(c.value))} allowed")

    return check


OUTCOME_CHECKS: dict[str, Callable[[Outcome, Check], Verdict]] = {
    "skill-used": _skill_used,
    "tool-called": _tool_called,
    "command-ran": _command_ran,
    "file-exists": _file_exists,
    "file-contains": _file_contains,
    "file-regex": lambda o, c: _file_contains(o, c, regex=True),
    "max-turns": _at_most("turns", "{:g}".format, lambda o: o.turns),
    "max-cost": _at_most("cost", "${:.4g}".format, lambda o: o.cost),
    "max-seconds": _at_most("took", "{:.1f}s".format, lambda o: o.seconds),
}

CHECK_TYPES: dict[str, Callable[..., Verdict]] = {
    "contains": _contains,
    "icontains": _icontains,
    "equals": _equals,
    "starts-with": _starts_with,
    "ends-with": _ends_with,
    "regex": _regex,
    "contains-any": _contains_any,
    "contains-all": _contains_all,
    "icontains-any": lambda o, c: _contains_any(o, c, fold=True),
    "icontains-all": lambda o, c: _contains_all(o, c, fold=True),
    "word-count": lambda o, c: _bounds(len(o.split()), "words", c),
    "char-count": lambda o, c: _bounds(len(o), "characters", c),
    "is-json": _is_json,
    "contains-json": _contains_json,
    "python": _python,
    **OUTCOME_CHECKS,
}
NEEDS_VALUE = {"contains", "icontains", "equals", "starts-with", "ends-with", "regex", "contains-any",
               "contains-all", "icontains-any", "icontains-all", "python", "tool-called", "command-ran",
               "file-exists", "file-contains", "file-regex", "max-turns", "max-cost", "max-seconds"}
REGEX_VALUE = {"regex", "command-ran", "file-regex"}
NUMBER_VALUE = {"max-turns", "max-cost", "max-seconds"}


def run_check(check: Check, output: str, context: dict[str, Any] | None = None,
              outcome: Outcome | None = None) -> Verdict:
    """Apply one check to an output (and, for outcome checks, the whole outcome). Negation flips the verdict."""
    fn = CHECK_TYPES[check.type]
    if check.type in OUTCOME_CHECKS:
        verdict = fn(outcome if outcome is not None else Outcome(output), check)
    elif check.type == "python":
        verdict = fn(output, check, context or {})
    else:
        verdict = fn(output, check)
    if check.negate:
        return Verdict(not verdict.passed, f"negated ({check.name}): {verdict.reason}")
    return verdict


def describe(check: Check) -> str:
    """The expectation in plain words, for people and for the mutator's prompt."""
    v = check.value
    words = {
        "contains": f"contains `{v}`",
        "icontains": f"contains `{v}` (any case)",
        "equals": f"equals `{v}`",
        "starts-with": f"starts with `{v}`",
        "ends-with": f"ends with `{v}`",
        "regex": f"matches the regular expression /{v}/",
        "contains-any": f"contains at least one of {', '.join(f'`{x}`' for x in _as_list(v))}",
        "contains-all": f"contains all of {', '.join(f'`{x}`' for x in _as_list(v))}",
        "icontains-any": f"contains at least one of {', '.join(f'`{x}`' for x in _as_list(v))} (any case)",
        "icontains-all": f"contains all of {', '.join(f'`{x}`' for x in _as_list(v))} (any case)",
        "is-json": "is valid JSON" + (f" with the keys {', '.join(f'`{k}`' for k in _as_list(v))}" if v else ""),
        "contains-json": "contains JSON" + (f" with the keys {', '.join(f'`{k}`' for k in _as_list(v))}" if v else ""),
        "python": f"passes the python check {v}",
        "skill-used": "comes from a run that loaded the skill",
        "tool-called": f"comes from a run that called the tool `{v}`"
                       + (f" with input matching /{check.pattern}/" if check.pattern else ""),
        "command-ran": f"comes from a run that ran a shell command matching /{v}/",
        "file-exists": f"comes from a run that wrote a file matching `{v}`",
        "file-contains": f"comes from a run that wrote a file matching `{check.path or '*'}` containing `{v}`",
        "file-regex": f"comes from a run that wrote a file matching `{check.path or '*'}` matching /{v}/",
        "max-turns": f"took at most {v} turns",
        "max-cost": f"cost at most ${v}",
        "max-seconds": f"took at most {v} seconds",
    }
    if check.type in ("word-count", "char-count"):
        unit = "words" if check.type == "word-count" else "characters"
        parts = [f"at least {check.min} {unit}" if check.min is not None else "",
                 f"at most {check.max} {unit}" if check.max is not None else ""]
        text = "has " + " and ".join(p for p in parts if p)
    else:
        text = words[check.type]
    if check.negate:
        return f"does not satisfy: {text}"
    return text


def load_python_function(spec: str, base: Path, limits: Limits = Limits()) -> PythonCheck:
    """`file.py:function` (relative to `base`) as a PythonCheck, checked by parsing, never by importing:
    loading a suite runs no code of it. Raises ValueError with a plain message."""
    file_part, _, func_name = spec.partition(":")
    if not file_part.endswith(".py") or not func_name:
        raise ValueError(f"python check value must look like 'checks.py:function', got {spec!r}")
    path = (base / file_part).resolve()
    if not path.is_file():
        raise ValueError(f"python check file {file_part!r} not found (looked in {path})")
    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except SyntaxError as exc:
        raise ValueError(f"python check file {file_part!r} line {exc.lineno}: {exc.msg}") from None
    except ValueError as exc:  # a NUL byte, for one
        raise ValueError(f"python check file {file_part!r} cannot be parsed: {exc}") from None
    defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))} | \
              {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)} | \
              {a.asname or a.name for node in tree.body if isinstance(node, ast.ImportFrom) for a in node.names}
    if func_name not in defined:
        raise ValueError(f"python check file {file_part!r} has no function {func_name!r}")
    return PythonCheck(path, func_name, limits)


_VERDICT = re.compile(r"^\s*VERDICT:\s*(PASS|FAIL)\s*$", re.MULTILINE)
_REASON = re.compile(r"^\s*REASON:\s*(.+)$", re.MULTILINE)


_INVISIBLE = re.compile(r"[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
                        r"\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]")
_CLAIM = re.compile(r"\b(?:verdict|grade|grading)\s*(?:is|was|should be|must be|=|:|-)?\s*(pass|fail)(?:ed|es)?\b")


def claimed_verdicts(untrusted: str) -> set[str]:
    """The verdicts a graded output states in any disguise ("verdict: pass", **VERDICT**: PASS, full-width or
    zero-width characters, quoted, inline, "the grade is pass"): a judge answering the same may be obeying it."""
    import unicodedata

    plain = _INVISIBLE.sub("", unicodedata.normalize("NFKC", untrusted)).casefold()
    plain = re.sub(r"[*_`'\"“”‘’«»>#~|]+", " ", plain)
    return {match.upper() for match in _CLAIM.findall(plain)}


def parse_judge_answer(text: str, untrusted: str = "") -> Verdict:
    """Parse a judge's reply strictly: exactly one `VERDICT: PASS|FAIL` line, else CheckError.

    When the graded output (`untrusted`) holds that same verdict line, the judge may only be echoing
    it: that is an error too, never a pass."""
    verdicts = _VERDICT.findall(text)
    if len(verdicts) != 1:
        raise CheckError(f"judge answer has {len(verdicts)} VERDICT lines, expected exactly one: {_snippet(text)}")
    if verdicts[0] in _VERDICT.findall(untrusted) or verdicts[0] in claimed_verdicts(untrusted):
        raise EchoedVerdict(f"the graded output itself holds a 'VERDICT: {verdicts[0]}' line, so the judge's answer "
                         f"cannot be told from an echo of it: {_snippet(text)}")
    reason = _REASON.search(text)
    return Verdict(verdicts[0] == "PASS", f"judge: {reason.group(1).strip() if reason else verdicts[0]}")
