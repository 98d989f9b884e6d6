"""Eval suites: the target skill, model settings, inputs (train / holdout) and binary evals, from YAML.

Loading validates everything up front and reports each problem with file, line and key, so that a
typo is caught before any model call is paid for. Over 500 lines for one concept: the suite file's
schema, every key of which is read and checked here, where its line is known.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..errors import AutoresearchError, InputError, Problem, input_error
from ..models import ROLE_MAX_TOKENS, ModelSpec, name_problem
from .checks import CHECK_TYPES, NEEDS_VALUE, NUMBER_VALUE, REGEX_VALUE, Check, load_python_function
from .isolation import DEFAULT_MEMORY_MB, DEFAULT_SECONDS, Limits
from .trigger_set import Trigger, parse_distractors, parse_triggers
from .userfiles import OutsideError, confined_path, read_user_text, skill_bound
from .yamlsource import LocatedDict, LocatedList, load_located

SPLITS = ("train", "holdout")
DEFAULT_RUNS = 8
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\Z")  # \Z: `$` would let a trailing newline through

SUITE_KEYS = {"name", "description", "skill", "model", "judge", "mutator", "runs", "holdout_runs", "concurrency",
              "threshold", "inputs", "evals", "triggers", "distractors", "check_timeout", "check_memory_mb",
              "allow_outside", "targets", "guard_targets", "holdout_file"}
MODEL_KEYS = {"name", "max_tokens", "temperature", "seed", "latency", "timeout", "max_retries", "retry_base",
              "concurrency", "prices", "batch", "batch_window", "batch_poll", "command", "skills_folder",
              "mode", "allowed_tools", "max_turns", "binary", "keep_workspaces", "extra_args", "sandbox",
              "codex_sandbox"}
INPUT_KEYS = {"id", "text", "file", "split", "files"}
EVAL_KEYS = {"id", "question", "check", "judge", "threshold", "inputs"}
CHECK_KEYS = {"type", "value", "min", "max", "path", "pattern", "timeout"}
JUDGE_KEYS = {"pass", "fail", "model", "sees"}
JUDGE_SEES = ("output", "trace")


@dataclass(frozen=True)
class Input:
    id: str
    text: str
    split: str = "train"
    files: tuple[str, ...] = ()  # fixture files, relative to `base` (the suite's folder)
    base: Path = field(default=Path("."), compare=False)

    def fixture_paths(self) -> list[tuple[str, Path]]:
        return [(rel, self.base / rel) for rel in self.files]

    def fixture_texts(self) -> list[tuple[str, str]]:
        return [(rel, path.read_text(encoding="utf-8", errors="replace")) for rel, path in self.fixture_paths()]


@dataclass(frozen=True)
class Judge:
    """A yes/no question answered by a model, with explicit pass and fail conditions."""

    pass_condition: str
    fail_condition: str
    model: ModelSpec | None = None
    sees: str = "output"  # output: the final text; trace: also the tool calls and files (harness targets)


@dataclass(frozen=True)
class Eval:
    """One binary eval: a question plus either a deterministic check or a judge."""

    id: str
    question: str
    check: Check | None = None
    judge: Judge | None = None
    threshold: float | None = None
    inputs: tuple[str, ...] = ()  # the inputs it applies to; empty: every input

    def applies_to(self, input_id: str) -> bool:
        return not self.inputs or input_id in self.inputs

    @property
    def kind(self) -> str:
        return self.check.name if self.check else "judge"


@dataclass(frozen=True)
class Suite:
    path: Path
    skill_path: Path
    inputs: tuple[Input, ...]
    evals: tuple[Eval, ...]
    runs: int = DEFAULT_RUNS
    model: ModelSpec = ModelSpec()
    judge_model: ModelSpec | None = None
    mutator_model: ModelSpec | None = None
    concurrency: int = 8
    threshold: float | None = None
    name: str = ""
    warnings: tuple[Problem, ...] = field(default=(), compare=False)
    holdout_runs: int | None = None  # runs of the holdout inputs for the baseline and each keep (default: runs)
    triggers: tuple[Trigger, ...] = ()  # trigger queries (see triggers.py)
    distractors: tuple[Path, ...] = ()  # other skill folders installed beside the target in harness runs
    allow_outside: bool = False
    outside: tuple[str, ...] = ()  # files it reads from outside its folder (only with allow_outside)
    targets: tuple[ModelSpec, ...] = ()  # `eval` measures each of these (a matrix) when no --model is given
    guard_targets: tuple[ModelSpec, ...] = ()  # `run` keeps a candidate only if none of these regresses
    holdout_file: str = ""  # the file of holdout inputs kept apart from the suite (`holdout_file:`), if any
    holdout_sealed: bool = False  # ...sealed, so that only the tool reads it (suite/sealed.py)

    @property
    def holdout_run_count(self) -> int:
        return self.holdout_runs or self.runs

    def split(self, name: str) -> tuple[Input, ...]:
        return tuple(i for i in self.inputs if i.split == name)

    def input(self, input_id: str) -> Input:
        return next(i for i in self.inputs if i.id == input_id)

    def eval(self, eval_id: str) -> Eval:
        return next(e for e in self.evals if e.id == eval_id)


class _Reader:
    """Collects every problem of one suite file, so the user sees them all at once."""

    def __init__(self, path: Path, allow_outside: bool = False):
        self.path = path
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.allow_outside = allow_outside
        self.limits = Limits()
        self.outside: list[str] = []

    def confined(self, relative: str) -> Path:
        """A path the suite names, inside its folder unless outside reads are allowed (then noted)."""
        path = confined_path(self.path.parent, relative, self.allow_outside)
        if not path.is_relative_to(self.path.parent.resolve()):
            self.outside.append(str(path))
        return path

    def fail(self, message: str, line: int | None, key: str | None = None) -> None:
        self.problems.append(Problem(str(self.path), message, line, key))

    def warn(self, message: str, line: int | None, key: str | None = None) -> None:
        self.warnings.append(Problem(str(self.path), message, line, key, "warning"))

    def mapping(self, value: Any, where: str, line: int) -> LocatedDict | None:
        if not isinstance(value, LocatedDict):
            self.fail(f"must be a mapping, got {type(value).__name__}", line, where)
            return None
        return value

    def known_keys(self, data: LocatedDict, allowed: set[str], where: str) -> None:
        for key in data:
            if key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(sorted(allowed))})"
                self.fail(f"unknown key '{key}'{hint}", data.line_of(key), f"{where}.{key}" if where else key)

    def number(self, data: LocatedDict, key: str, where: str, kind: type, low: float, high: float | None = None):
        value = data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
            self.fail(f"must be {'a whole number' if kind is int else 'a number'}, got {value!r}", data.line_of(key),
                      f"{where}{key}")
            return None
        if value != value or value in (float("inf"), float("-inf")):  # .nan compares false with any bound
            self.fail(f"must be a finite number, got {value!r}", data.line_of(key), f"{where}{key}")
            return None
        if value < low or (high is not None and value > high):
            self.fail(f"must be between {low} and {high}" if high is not None else f"must be at least {low}",
                      data.line_of(key), f"{where}{key}")
            return None
        return value

    def items(self, data: LocatedDict, key: str, allowed: set[str], what: str) -> Iterator[tuple[str, LocatedDict, str | None]]:
        """Walk a required list of mappings: (where, the item, its id or None when the id is bad)."""
        raw = data.get(key)
        if raw is None or (isinstance(raw, LocatedList) and not raw):
            self.fail(f"no {key}: add an `{key}:` list with at least one item", data.line_of(key), key)
            return
        if not isinstance(raw, LocatedList):
            self.fail(f"must be a list of {what}", data.line_of(key), key)
            return
        seen: dict[str, int] = {}
        for index, item in enumerate(raw):
            where = f"{key}[{index}]"
            item_data = self.mapping(item, where, raw.line_of(index))
            if item_data is None:
                continue
            self.known_keys(item_data, allowed, where)
            yield where, item_data, _parse_id(self, item_data, where, seen)

    def text(self, data: LocatedDict, key: str, where: str, required: bool = True) -> str | None:
        value = data.get(key)
        if value is None:
            if required:
                self.fail(f"required key '{key}' is missing", data.line, f"{where}{key}")
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail("must be a non-empty string", data.line_of(key), f"{where}{key}")
            return None
        return value


# the type and range of each model option the backends read, so a wrong one is a message with its line
OPTION_NUMBERS = {"concurrency": (int, 1, 1024), "max_retries": (int, 0, 100), "max_turns": (int, 1, 10000),
                  "timeout": (float, 0.01, None), "retry_base": (float, 0, 600), "batch_window": (float, 0, 3600),
                  "batch_poll": (float, 0.01, 86400), "latency": (float, 0, 600)}
OPTION_FLAGS = ("batch", "skills_folder", "keep_workspaces")
OPTION_TEXTS = ("command", "mode", "binary", "sandbox", "codex_sandbox")
PRICE_KEYS = {"input", "output", "cache_write", "cache_read"}


def check_model_options(data: LocatedDict, reader: _Reader, where: str) -> None:
    """Each model option of the right type and range: `batch: 'no'` is not true, `concurrency: 0` would hang,
    a misspelt price key would price every call at $0."""
    for key, (kind, low, high) in OPTION_NUMBERS.items():
        reader.number(data, key, f"{where}.", kind, low, high)
    for key in OPTION_FLAGS:
        if key in data and not isinstance(data[key], bool):
            reader.fail(f"must be true or false, got {data[key]!r}", data.line_of(key), f"{where}.{key}")
    for key in OPTION_TEXTS:
        if key in data and (not isinstance(data[key], str) or not data[key].strip()):
            reader.fail(f"must be a non-empty string, got {data[key]!r}", data.line_of(key), f"{where}.{key}")
    for key in ("allowed_tools", "extra_args"):
        value = data.get(key)
        if value is not None and not isinstance(value, str) and not (
                isinstance(value, list) and all(isinstance(v, str) for v in value)):
            reader.fail(f"must be a string or a list of strings, got {value!r}", data.line_of(key), f"{where}.{key}")
    if "prices" in data:
        prices = reader.mapping(data["prices"], f"{where}.prices", data.line_of("prices"))
        if prices is not None:
            reader.known_keys(prices, PRICE_KEYS, f"{where}.prices")
            for key in PRICE_KEYS & set(prices):
                reader.number(prices, key, f"{where}.prices.", float, 0)


def parse_model(value: Any, reader: _Reader, where: str, line: int, max_tokens_default: int = 1024) -> ModelSpec | None:
    """A model is a name (`sim`, `anthropic:claude-...`, `command:...`) or a mapping with settings."""
    if value is None:
        return None
    if isinstance(value, str):
        problem = name_problem(value)
        if problem:
            reader.fail(problem, line, where)
        return ModelSpec(name=value, max_tokens=max_tokens_default)
    data = reader.mapping(value, where, line)
    if data is None:
        return None
    reader.known_keys(data, MODEL_KEYS, where)
    name = reader.text(data, "name", f"{where}.")
    problem = name_problem(name) if name else None
    if problem:
        reader.fail(problem, data.line_of("name"), f"{where}.name")
    max_tokens = reader.number(data, "max_tokens", f"{where}.", int, 1)
    temperature = reader.number(data, "temperature", f"{where}.", float, 0, 2)
    seed = reader.number(data, "seed", f"{where}.", int, 0)
    check_model_options(data, reader, where)
    options = tuple(sorted((k, _freeze(v)) for k, v in data.items()
                           if k not in ("name", "max_tokens", "temperature", "seed")))
    return ModelSpec(name=name or "sim", max_tokens=max_tokens or max_tokens_default,
                     temperature=1.0 if temperature is None else float(temperature), seed=seed or 0, options=options)


def parse_targets(reader: _Reader, data: LocatedDict, key: str) -> tuple[ModelSpec, ...]:
    """`targets:` or `guard_targets:`: a list of targets, each a name or a mapping as `model:` takes."""
    raw = data.get(key, [])
    if not isinstance(raw, list) or not raw and key in data:
        reader.fail("must be a non-empty list of targets (names such as claude-code:sim, or mappings)",
                    data.line_of(key), key)
        return ()
    specs = [parse_model(value, reader, f"{key}[{i}]", data.line_of(key)) for i, value in enumerate(raw)]
    return tuple(s for s in specs if s is not None)


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _parse_inputs(reader: _Reader, data: LocatedDict) -> list[Input]:
    inputs: list[Input] = []
    for where, item_data, input_id in reader.items(data, "inputs", INPUT_KEYS, "inputs"):
        split = item_data.get("split", "train")
        if split not in SPLITS:
            reader.fail(f"must be 'train' or 'holdout', got {split!r}", item_data.line_of("split"), f"{where}.split")
        if ("text" in item_data) == ("file" in item_data):
            reader.fail("give exactly one of `text` or `file`", item_data.line, where)
            continue
        if "text" in item_data:
            text = item_data["text"]
            if not isinstance(text, str):
                reader.fail("must be a string", item_data.line_of("text"), f"{where}.text")
                continue
        else:
            file = reader.text(item_data, "file", f"{where}.")
            if file is None:
                continue
            try:
                target = reader.confined(file)
                text = read_user_text(target)
            except OutsideError as exc:
                reader.fail(f"input file {exc}", item_data.line_of("file"), f"{where}.file")
                continue
            except InputError as exc:
                reader.fail(f"cannot read input file {file!r}: {exc}", item_data.line_of("file"), f"{where}.file")
                continue
        if not text.strip():
            key = "text" if "text" in item_data else "file"
            reader.warn("the input is empty: the target gets nothing to work on", item_data.line_of(key),
                        f"{where}.{key}")
        files = _parse_files(reader, item_data, where)
        if input_id and files is not None:
            inputs.append(Input(input_id, text, split if split in SPLITS else "train", files, reader.path.parent))
    return inputs


def _parse_holdout_file(reader: _Reader, data: LocatedDict, inputs: list[Input]) -> tuple[list[Input], bool]:
    """The inputs of the file `holdout_file:` names (all holdout; sealed or plain YAML), and whether it is sealed.
    Its problems name that file and, for a plain one, its line; a sealed one's inputs are never quoted."""
    from .sealed import is_sealed, key_path, read_key, unseal

    line = data.line_of("holdout_file")
    name = reader.text(data, "holdout_file", "")
    if name is None:
        return [], False
    try:
        path = reader.confined(name)
        text = read_user_text(path, "not found")
    except (OutsideError, InputError) as exc:
        reader.fail(f"holdout file {name!r}: {exc}", line, "holdout_file")
        return [], False
    sealed = is_sealed(text)
    if sealed:
        try:
            key = read_key(path.parent)
            if key is None:
                reader.fail(f"holdout file {name!r} is sealed and this project has no key to open it "
                            f"({key_path(path.parent)}): copy in the key that sealed it", line, "holdout_file")
                return [], True
            text = unseal(text, key, str(path))
        except AutoresearchError as exc:
            reader.fail(str(exc), line, "holdout_file")
            return [], True
    try:
        hdata = load_located(text, str(path))
    except InputError as exc:
        reader.problems += exc.problems
        return [], sealed
    if not isinstance(hdata, LocatedDict):
        reader.fail("a holdout file is a YAML mapping with an `inputs:` list", 1 if not sealed else line,
                    "holdout_file")
        return [], sealed
    sub = _Reader(path, reader.allow_outside)
    sub.known_keys(hdata, {"inputs"}, "")
    hidden = _parse_inputs(sub, hdata)
    for where, item in ((f"inputs[{n}]", item) for n, item in enumerate(hdata.get("inputs") or [])):
        if isinstance(item, LocatedDict) and item.get("split", "holdout") != "holdout":
            sub.fail("every input of a holdout file is holdout: leave `split` out", item.line_of("split"),
                     f"{where}.split")
    seen = {i.id for i in inputs}
    for item in hidden:
        if item.id in seen:
            sub.fail(f"input id {item.id!r} is used in the suite too", None, "inputs")
    reader.problems += sub.problems
    reader.warnings += sub.warnings
    reader.outside += sub.outside
    if [i for i in inputs if i.split == "holdout"]:
        reader.warn("holdout inputs in the suite file itself are readable by an agent that reads the suite: "
                    f"put them in {name} too (autoresearch holdout seal {reader.path} moves them)", line,
                    "holdout_file")
    return [dataclasses.replace(i, split="holdout") for i in hidden], sealed


def _parse_files(reader: _Reader, item: LocatedDict, where: str) -> tuple[str, ...] | None:
    """An input's fixture files: existing regular files inside the suite's folder, no links."""
    raw = item.get("files", [])
    line = item.line_of("files") if "files" in item else item.line
    if not isinstance(raw, list) or not all(isinstance(f, str) and f.strip() for f in raw):
        reader.fail("must be a list of file paths, relative to the suite's folder", line, f"{where}.files")
        return None
    base = reader.path.parent.resolve()
    for rel in raw:
        path = reader.path.parent / rel
        inside = Path(os.path.normpath(base / rel))
        if Path(rel).is_absolute() or not inside.is_relative_to(base):
            reader.fail(f"fixture {rel!r} is outside the suite's folder; fixtures are copied into the workspace "
                        "and must live beside the suite", line, f"{where}.files")
        elif _links_in(Path(os.path.normpath(path)), Path(os.path.normpath(reader.path.parent))):
            reader.fail(f"fixture {rel!r} is a symbolic link; give the file itself", line, f"{where}.files")
        elif not path.is_file():
            reader.fail(f"fixture {rel!r} not found (looked for {path})", line, f"{where}.files")
    return tuple(raw)


def _links_in(path: Path, top: Path) -> bool:
    """Whether `path`, or a folder between it and `top`, is a symbolic link (which could lead outside)."""
    while path != top and path != path.parent:
        if path.is_symlink():
            return True
        path = path.parent
    return False


def _parse_id(reader: _Reader, data: LocatedDict, where: str, seen: dict[str, int]) -> str | None:
    value = data.get("id")
    if value is None:
        reader.fail("required key 'id' is missing", data.line, f"{where}.id")
        return None
    value = str(value)
    if not _ID.match(value):
        reader.fail(f"id {value!r} may use letters, digits, '.', '_' and '-' only", data.line_of("id"), f"{where}.id")
        return None
    if value in seen:
        reader.fail(f"duplicate id {value!r} (first used on line {seen[value]})", data.line_of("id"), f"{where}.id")
        return None
    seen[value] = data.line_of("id")
    return value


def _parse_check(reader: _Reader, raw: Any, where: str, line: int) -> Check | None:
    data = reader.mapping(raw, where, line)
    if data is None:
        return None
    reader.known_keys(data, CHECK_KEYS, where)
    kind = data.get("type")
    if not isinstance(kind, str):
        reader.fail("required key 'type' is missing", data.line, f"{where}.type")
        return None
    negate = kind.startswith("not-")
    base = kind[4:] if negate else kind
    if base not in CHECK_TYPES:
        names = sorted(CHECK_TYPES) + [f"not-{k}" for k in CHECK_TYPES]
        close = difflib.get_close_matches(kind, names, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(sorted(CHECK_TYPES))})"
        reader.fail(f"unknown check type '{kind}'{hint}", data.line_of("type"), f"{where}.type")
        return None
    value = data.get("value")
    if base in NEEDS_VALUE and (value is None or value == "" or value == []):
        reader.fail(f"check '{kind}' needs a `value`", data.line, f"{where}.value")
        return None
    if base in ("contains-any", "contains-all", "icontains-any", "icontains-all") and not isinstance(value, list):
        value = [value]
    if base in NUMBER_VALUE:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            reader.fail(f"check '{kind}' needs a number at least 0 as its `value`", data.line_of("value"),
                        f"{where}.value")
            return None
    elif base in NEEDS_VALUE and base not in ("contains-any", "contains-all", "icontains-any", "icontains-all") \
            and not isinstance(value, str):
        value = str(value)
    extra = {}
    for key in ("path", "pattern"):
        given = data.get(key)
        if given is not None and not isinstance(given, str):
            reader.fail("must be a string", data.line_of(key), f"{where}.{key}")
            return None
        extra[key] = given
    if extra["path"] is not None and base not in ("file-contains", "file-regex"):
        reader.fail(f"`path` applies to file-contains and file-regex, not '{kind}'", data.line_of("path"), f"{where}.path")
        return None
    if extra["pattern"] is not None and base != "tool-called":
        reader.fail(f"`pattern` applies to tool-called, not '{kind}'", data.line_of("pattern"), f"{where}.pattern")
        return None
    if base in ("is-json", "contains-json") and value is not None and not isinstance(value, list):
        reader.fail("must be a list of required keys", data.line_of("value"), f"{where}.value")
        return None
    low = reader.number(data, "min", f"{where}.", int, 0)
    high = reader.number(data, "max", f"{where}.", int, 0)
    seconds = reader.number(data, "timeout", f"{where}.", float, 0.01) or reader.limits.seconds
    if base in ("word-count", "char-count") and low is None and high is None:
        reader.fail(f"check '{kind}' needs `min`, `max` or both", data.line, where)
        return None
    function = None
    for key, pattern in (("value", value if base in REGEX_VALUE else None), ("pattern", extra["pattern"])):
        if pattern is None:
            continue
        import regex  # checks search with it (for its timeout), so its syntax is the one to check

        try:
            regex.compile(pattern)
        except regex.error as exc:
            reader.fail(f"invalid regex {pattern!r}: {exc.msg} at position {exc.pos}", data.line_of(key),
                        f"{where}.{key}")
            return None
    if base == "python":
        try:
            reader.confined(value.partition(":")[0])
            function = load_python_function(value, reader.path.parent, Limits(seconds, reader.limits.memory_mb))
        except ValueError as exc:
            reader.fail(str(exc), data.line_of("value"), f"{where}.value")
            return None
    return Check(base, value, negate, low, high, function, extra["path"], extra["pattern"], seconds)


def _parse_evals(reader: _Reader, data: LocatedDict) -> list[Eval]:
    evals: list[Eval] = []
    for where, item_data, eval_id in reader.items(data, "evals", EVAL_KEYS, "binary evals"):
        question = reader.text(item_data, "question", f"{where}.")
        threshold = reader.number(item_data, "threshold", f"{where}.", float, 0, 1)
        if ("check" in item_data) == ("judge" in item_data):
            reader.fail("give exactly one of `check` or `judge`", item_data.line, where)
            continue
        check = judge = None
        if "check" in item_data:
            check = _parse_check(reader, item_data["check"], f"{where}.check", item_data.line_of("check"))
            if check is None:
                continue
        else:
            jd = reader.mapping(item_data["judge"], f"{where}.judge", item_data.line_of("judge"))
            if jd is None:
                continue
            reader.known_keys(jd, JUDGE_KEYS, f"{where}.judge")
            passed = reader.text(jd, "pass", f"{where}.judge.")
            failed = reader.text(jd, "fail", f"{where}.judge.")
            model = parse_model(jd.get("model"), reader, f"{where}.judge.model", jd.line_of("model"))
            sees = jd.get("sees", "output")
            if sees not in JUDGE_SEES:
                reader.fail(f"must be one of {', '.join(JUDGE_SEES)}, got {sees!r}", jd.line_of("sees"),
                            f"{where}.judge.sees")
                continue
            if passed is None or failed is None:
                continue
            judge = Judge(passed, failed, model, sees)
        only = item_data.get("inputs", [])
        if not isinstance(only, list) or not all(isinstance(i, (str, int)) for i in only):
            reader.fail("must be a list of input ids", item_data.line_of("inputs"), f"{where}.inputs")
            continue
        if eval_id and question:
            evals.append(Eval(eval_id, " ".join(question.split()), check, judge, threshold, tuple(map(str, only))))
    return evals


def load_suite(path: str | Path, *, check_skill: bool = True, allow_outside: bool = False) -> Suite:
    """Read and validate a suite file; raises InputError listing every problem found.

    Loading runs none of the suite's code. Input files and python checks must lie in the suite's
    folder unless `allow_outside` (or the suite's own `allow_outside: true`) says otherwise."""
    from .skill import load_skill, validate_skill

    path = Path(path)
    data = load_located(read_user_text(path, "suite file not found"), str(path))
    if not isinstance(data, LocatedDict):
        raise input_error(str(path), "a suite is a YAML mapping with `skill`, `inputs` and `evals`", 1)
    reader = _Reader(path, allow_outside or data.get("allow_outside") is True)
    reader.known_keys(data, SUITE_KEYS, "")
    if not isinstance(data.get("allow_outside", False), bool):
        reader.fail("must be true or false", data.line_of("allow_outside"), "allow_outside")
    reader.limits = Limits(reader.number(data, "check_timeout", "", float, 0.01) or DEFAULT_SECONDS,
                           reader.number(data, "check_memory_mb", "", int, 64) or DEFAULT_MEMORY_MB)
    skill_value = reader.text(data, "skill", "")
    skill_path = Path(os.path.normpath(path.parent / skill_value)) if skill_value else path.parent / "SKILL.md"
    if skill_value and not skill_path.is_file():
        reader.fail(f"target skill {skill_value!r} not found (looked for {skill_path})", data.line_of("skill"), "skill")
    elif skill_value and not skill_path.resolve().is_relative_to(bound := skill_bound(path.parent)):
        if reader.allow_outside:
            reader.outside.append(str(skill_path.resolve()))
        else:
            reader.fail(f"target skill {skill_value!r} is outside the suite's project {bound} (resolves to "
                        f"{skill_path.resolve()}), and a run rewrites it; pass --allow-outside or set "
                        "`allow_outside: true` in the suite if you trust it", data.line_of("skill"), "skill")
    runs = reader.number(data, "runs", "", int, 1, 1000) or DEFAULT_RUNS
    holdout_runs = reader.number(data, "holdout_runs", "", int, 1, 1000)
    concurrency = reader.number(data, "concurrency", "", int, 1, 1024) or 8
    threshold = reader.number(data, "threshold", "", float, 0, 1)
    targets = parse_targets(reader, data, "targets")
    model = parse_model(data.get("model"), reader, "model", data.line_of("model")) or \
        (targets[0] if targets else ModelSpec())  # `targets:` without `model:`: run optimises for the first
    judge_model = parse_model(data.get("judge"), reader, "judge", data.line_of("judge"), ROLE_MAX_TOKENS["judge"])
    mutator_model = parse_model(data.get("mutator"), reader, "mutator", data.line_of("mutator"),
                                ROLE_MAX_TOKENS["mutator"])
    only_triggers = "triggers" in data and "inputs" not in data and "evals" not in data
    inputs = [] if only_triggers else _parse_inputs(reader, data)
    hidden, sealed = _parse_holdout_file(reader, data, inputs) if "holdout_file" in data else ([], False)
    inputs += hidden
    evals = [] if only_triggers else _parse_evals(reader, data)
    triggers, trigger_notes = parse_triggers(reader, data) if "triggers" in data else ([], [])
    distractors = parse_distractors(reader, data)
    known = {i.id for i in inputs}
    raw_evals = data.get("evals") if isinstance(data.get("evals"), LocatedList) else []
    for index, ev in enumerate(evals):
        unknown = [i for i in ev.inputs if i not in known]
        if unknown and inputs:
            line = next((item.line_of("inputs") for item in raw_evals if isinstance(item, LocatedDict)
                         and str(item.get("id")) == ev.id), data.line_of("evals"))
            reader.fail(f"unknown input id(s) {', '.join(map(repr, unknown))}", line, f"evals[{index}].inputs")
    reader.warnings += harness_only_warnings(path, model, evals, raw_evals)
    warnings: list[Problem] = []
    if not reader.problems and check_skill:
        doc = load_skill(skill_path)
        problems = validate_skill(doc, skill_path.parent.name)
        if [p for p in problems if p.severity == "error"]:
            raise InputError([p for p in problems if p.severity == "error"])
        warnings = problems
    if reader.problems:
        raise InputError(reader.problems)
    if inputs and not any(i.split == "train" for i in inputs):
        raise input_error(str(path), "every input is holdout: at least one must be `split: train`",
                          data.line_of("inputs"), "inputs")
    if inputs and not any(i.split == "holdout" for i in inputs):
        reader.warn("no holdout inputs: overfitting to the train inputs cannot show; mark about one in four "
                    "`split: holdout`", data.line_of("inputs"), "inputs")
    suite = Suite(path, skill_path, tuple(inputs), tuple(evals), runs, model, judge_model, mutator_model, concurrency,
                  threshold, str(data.get("name") or path.stem), tuple(warnings + trigger_notes + reader.warnings),
                  holdout_runs, tuple(triggers), tuple(distractors), allow_outside=reader.allow_outside,
                  outside=tuple(dict.fromkeys(reader.outside)), targets=targets,
                  guard_targets=parse_targets(reader, data, "guard_targets"),
                  holdout_file=str(data.get("holdout_file") or "") if hidden else "", holdout_sealed=sealed)
    if reader.problems:
        raise InputError(reader.problems)
    return dataclasses.replace(suite, warnings=suite.warnings + tuple(model_warnings(suite, "model" in data or "targets" in data,
                                                                                        data.line_of("model"))))


HARNESS_ONLY_CHECKS = ("skill-used", "tool-called", "command-ran", "file-exists", "file-contains", "file-regex")
HARNESS_ONLY_NOTE = "reads what an agent did in a harness"


def harness_only_warnings(path: Path, model: ModelSpec, evals: list[Eval], raw_evals: Any) -> list[Problem]:
    """Checks of tool calls, files or skill loading on a plain model target, which has none: they can never pass."""
    from ..models import HARNESS_BACKENDS

    if model.backend in HARNESS_BACKENDS:
        return []
    lines = {str(item.get("id")): item.line_of("check") for item in raw_evals if isinstance(item, LocatedDict)}
    return [Problem(str(path), f"check '{ev.check.name}' {HARNESS_ONLY_NOTE} (tool calls, files, the skill loaded), "
                    f"but the target {model.name} is a plain model that has none, so it can never pass: use a harness "
                    "target (claude-code:sim, pi:sim offline) or a check of the text", lines.get(ev.id),
                    f"evals[{index}].check", "warning")
            for index, ev in enumerate(evals) if ev.check and ev.check.type in HARNESS_ONLY_CHECKS]


def model_warnings(suite: Suite, model_named: bool, line: int | None = None) -> list[Problem]:
    """Model choices that run but mislead: no target named (the simulator is used), a simulated judge
    grading a real target. Keyed `model` and `judge`, so a command line that names models can redo them."""
    out = []
    if not model_named:
        out.append(Problem(str(suite.path), "no `model:`: the target is the offline simulator (sim), whose scores say "
                           "nothing about a real model; name one (see README, Models)", None, "model", "warning"))
    judged = [e for e in suite.evals if e.judge]
    sim_judged = [e.id for e in judged if (e.judge.model or suite.judge_model or suite.model).backend == "sim"]
    if suite.model.backend != "sim" and sim_judged:
        out.append(Problem(str(suite.path), f"the judge of {', '.join(sim_judged)} is the simulator, grading a real "
                           f"target ({suite.model.name}) by keyword matching; name a real judge (`judge:`)",
                           line, "judge", "warning"))
    return out
