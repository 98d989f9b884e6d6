"""Import eval suites from the peers: promptfoo configs and skill-creator's evals.json.

An import carries a feature over faithfully, or names it in `unconverted` (file:line and what was not
carried), or refuses with an InputError naming the feature and the file:line: nothing is lost silently.
Assertions and expectations that belong to one test become evals limited to that input (`inputs:`).
Paths in the written suite (the skill, fixtures, python checks) are relative to where it is written.
"""

from __future__ import annotations

import csv
import glob
import io
import itertools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from .errors import InputError, Problem, input_error
from .userfiles import read_user_bytes
from .yamlsource import LocatedDict, LocatedList, load_located

# promptfoo assert types we convert directly (with or without `not-`), and how.
PROMPTFOO_DIRECT = {"contains", "icontains", "equals", "starts-with", "regex", "contains-any", "contains-all",
                    "icontains-any", "icontains-all", "is-json", "contains-json"}
PROMPTFOO_CONVERTED = sorted(PROMPTFOO_DIRECT | {"python", "llm-rubric", "latency", "cost"})
# promptfoo asserts that measure the run, not the text: the outcome check each maps to, and the unit factor.
PROMPTFOO_OUTCOME = {"latency": ("max-seconds", 0.001), "cost": ("max-cost", 1.0)}
# Config keys that do not change what is asked or checked.
PROMPTFOO_IGNORED = {"description", "outputPath", "sharing", "evaluateOptions", "env", "commandLineOptions",
                     "writeLatestResults", "tags", "metadata", "$schema", "prompts", "providers", "tests",
                     "defaultTest"}


@dataclass
class Imported:
    suite: dict[str, Any]
    unconverted: list[str] = field(default_factory=list)  # one line per item we could not convert
    carried: int = 0  # source items carried over: inputs, graded items, model, fixtures
    copies: list[tuple[Path, str]] = field(default_factory=list)  # (fixture, destination beside the suite)
    written: dict[str, str] = field(default_factory=dict)  # generated files beside the suite: name -> text

    def yaml(self, source: str) -> str:
        import yaml

        header = f"# Imported by `autoresearch import` from {source}. Review the skill path and the splits.\n"
        if self.unconverted:
            header += "# Not converted:\n" + "".join(f"#   - {u}\n" for u in self.unconverted)
        plain = json.loads(json.dumps(self.suite))  # line-aware containers back to plain dicts and lists
        return header + yaml.safe_dump(plain, sort_keys=False, allow_unicode=True, width=100)

    def write(self, output: Path, source: str) -> None:
        """Write the fixtures and generated files beside `output`, then the suite itself."""
        import shutil

        from .fsio import atomic_write

        try:
            for fixture, destination in self.copies:
                (output.parent / destination).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(fixture, output.parent / destination)
            for name, content in self.written.items():
                atomic_write(output.parent / name, content)
            atomic_write(output, self.yaml(source))
        except OSError as exc:
            raise input_error(str(exc.filename or output), f"cannot write: {exc.strerror}") from None

    def summary(self) -> str:
        return f"{self.carried} carried over, {len(self.unconverted)} reported as not converted"


@dataclass(frozen=True)
class Where:
    """A place in a source file, for notes and errors."""

    path: Path
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else str(self.path)

    def at(self, line: int | None) -> "Where":
        return Where(self.path, line or self.line)


def _slug(text: str, fallback: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:40].strip("-")
    return slug or fallback


_VAR = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}")
_TEMPLATE_LEFT = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)


def _render(template: str, variables: dict[str, Any]) -> str:
    """promptfoo prompts are Nunjucks; plain `{{ var }}` substitution covers test inputs."""
    def value(match: re.Match[str]) -> str:
        found = variables.get(match.group(1), match.group(0))
        return found if isinstance(found, str) else json.dumps(found) if isinstance(found, (dict, list)) else str(found)

    return _VAR.sub(value, template)


def _render_all(value: Any, variables: dict[str, Any]) -> Any:
    """Substitute `{{var}}` in every string of an assert value (strings, lists, mappings)."""
    if isinstance(value, str):
        return _render(value, variables)
    if isinstance(value, list):
        return [_render_all(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: _render_all(v, variables) for k, v in value.items()}
    return value


def _unique(ids: set[str], wanted: str) -> str:
    candidate, n = wanted, 2
    while candidate in ids:
        candidate, n = f"{wanted}-{n}", n + 1
    ids.add(candidate)
    return candidate


def _relative(target: Path, folder: Path) -> str:
    """`target` as a path relative to `folder`, with forward slashes (the suite is portable)."""
    return Path(os.path.relpath(os.path.abspath(target), os.path.abspath(folder))).as_posix()


# -- reading files ----------------------------------------------------------------------------------

def read_text(path: Path) -> str:
    """A text file in UTF-8, UTF-16 or UTF-32 (with or without BOM, as JSON allows); errors name the file."""
    data = read_user_bytes(path)
    try:
        return data.decode(json.detect_encoding(data)).lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise input_error(str(path), f"not UTF-8 or UTF-16 text (byte {exc.start})") from None


def load_json(path: Path) -> Any:
    """JSON with line numbers where possible (LocatedDict/LocatedList); malformed JSON names the line."""
    text = read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise input_error(str(path), f"malformed JSON: {exc.msg} (column {exc.colno})", exc.lineno) from None
    try:  # JSON is (nearly) YAML 1.2: reading it again as YAML gives every item its line
        located = load_located(text, str(path), yaml12=True)
    except InputError:
        return data
    return located if located == data else data


def load_data(path: Path) -> Any:
    """A YAML (1.2, as promptfoo reads it) or JSON file."""
    return load_json(path) if path.suffix.lower() == ".json" else load_located(read_text(path), str(path), yaml12=True)


def _file_ref(value: Any) -> str | None:
    return value[len("file://"):] if isinstance(value, str) and value.startswith("file://") else None


def _expand(base: Path, ref: str, where: Where) -> list[Path]:
    """A `file://` reference (glob patterns allowed) as existing files, relative to `base`."""
    pattern = str(base / ref)
    files = sorted(Path(p) for p in glob.glob(pattern, recursive=True)) if glob.has_magic(ref) else [base / ref]
    files = [f for f in files if f.is_file()]
    if not files:
        raise input_error(str(where.path), f"file://{ref}: no such file (looked for {pattern})", where.line)
    return files


# -- promptfoo -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Prompt:
    label: str
    template: str
    where: Where
    system: str = ""  # a chat prompt's system messages
    transcript: str = ""  # a chat prompt's turns before the last user message
    notes: tuple[str, ...] = ()  # what happens to this prompt, said only when it is the one used


@dataclass(frozen=True)
class Test:
    """One promptfoo test after `defaultTest` is applied: vars and asserts, with where it came from."""

    description: str
    variables: dict[str, Any]
    asserts: list[tuple[Any, Where, bool]]  # (assert, where, from defaultTest)
    where: Where


class _Promptfoo:
    """State of one promptfoo import: where files are, and what was carried or noted."""

    def __init__(self, path: Path, out_dir: Path, writes_files: bool):
        self.path = path
        self.base = path.parent
        self.out_dir = out_dir
        self.writes_files = writes_files
        self.notes: list[str] = []
        self.problems: list[Problem] = []
        self.adapters: list[str] = []  # python source of each promptfoo python assert's adapter
        self.carried = 0

    def note(self, where: Where, message: str) -> None:
        line = f"{where}: {message}"
        if line not in self.notes:
            self.notes.append(line)

    # prompts -------------------------------------------------------------------------------------
    def prompts(self, raw: Any, where: Where) -> list[Prompt]:
        if raw is None:
            return [Prompt("{{input}}", "{{input}}", where)]
        if isinstance(raw, dict) and not ({"raw", "id"} & set(raw)):  # {file://path: label}
            raw = [{"id": key, "label": label} for key, label in raw.items()]
        items = raw if isinstance(raw, list) else [raw]
        prompts: list[Prompt] = []
        for index, item in enumerate(items):
            at = where.at(raw.line_of(index) if isinstance(raw, LocatedList) else None)
            label = None
            if isinstance(item, dict):
                label, item = item.get("label"), item.get("raw", item.get("id"))
            if not isinstance(item, str):
                raise input_error(str(at.path), "a prompt is a string, `file://...`, or a mapping with `raw` or "
                                                "`id`", at.line, "prompts")
            ref = _file_ref(item)
            if ref is None:
                prompts.append(self._prompt(item, label or item[:40], at))
                continue
            file_ref, _, function = ref.partition(":") if re.search(r"\.(py|js|ts|mjs|cjs):", ref) else (ref, "", "")
            for file in _expand(self.base, file_ref, at):
                if file.suffix.lower() in (".py", ".js", ".ts", ".mjs", ".cjs"):
                    self.note(at, f"prompt {file.name}{':' + function if function else ''} is generated by code; "
                                  "not converted")
                    continue
                prompts.extend(self._prompt_file(file, label, at))
        return prompts

    def _prompt_file(self, file: Path, label: str | None, at: Where) -> list[Prompt]:
        where = Where(file, 1)
        if file.suffix.lower() in (".json", ".yaml", ".yml", ".jsonl"):
            data = load_data(file) if file.suffix.lower() != ".jsonl" else [
                json.loads(line) for line in read_text(file).splitlines() if line.strip()]
            if isinstance(data, list) and data and all(isinstance(m, dict) and "role" in m for m in data):
                return [self._chat(data, label or file.name, where)]
            if isinstance(data, str):
                return [self._prompt(data, label or file.name, where)]
            raise input_error(str(file), "a prompt file holds a chat (a list of {role, content}) or a string", 1)
        text = read_text(file)
        parts = re.split(r"^-{3,}[ \t]*\r?\n", text, flags=re.MULTILINE)  # promptfoo's separator in .txt files
        return [self._prompt(part.strip("\n"), f"{label or file.name}" + (f" #{n}" if len(parts) > 1 else ""), where)
                for n, part in enumerate(parts, 1) if part.strip()]

    def _prompt(self, text: str, label: str, where: Where) -> Prompt:
        try:
            data = json.loads(text) if text.lstrip().startswith("[") else None
        except ValueError:
            data = None
        if isinstance(data, list) and data and all(isinstance(m, dict) and "role" in m for m in data):
            return self._chat(data, label, where)
        return Prompt(label, text, where)

    def _chat(self, messages: list[dict[str, Any]], label: str, where: Where) -> Prompt:
        """A chat prompt: the last user message is the input; system text and earlier turns go before it."""
        def content(message: dict[str, Any]) -> str:
            value = message.get("content", "")
            if isinstance(value, list):  # content blocks
                return "\n".join(str(b.get("text", "")) if isinstance(b, dict) else str(b) for b in value)
            return str(value)

        users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
        if not users:
            raise input_error(str(where.path), "a chat prompt needs at least one `user` message", where.line)
        last = users[-1]
        system = "\n\n".join(content(m) for m in messages if m.get("role") == "system")
        turns = [m for i, m in enumerate(messages) if i != last and m.get("role") != "system"]
        transcript = "\n\n".join(f"{m.get('role')}: {content(m)}" for m in turns)
        notes = []
        if system:
            notes.append(f"{where}: the chat prompt's system message is put before the input (the skill is the "
                         "system prompt)")
        if turns:
            notes.append(f"{where}: the chat prompt has {len(messages)} messages; the turns other than the last user "
                         "message are put before the input as a transcript")
        return Prompt(label, content(messages[last]), where, system, transcript, tuple(notes))

    def choose_prompt(self, prompts: list[Prompt], number: int | None, where: Where) -> Prompt:
        if not prompts:
            raise input_error(str(where.path), "no prompt could be converted", where.line, "prompts")
        if number is not None:
            if not 1 <= number <= len(prompts):
                listing = "; ".join(f"{n}: {p.label}" for n, p in enumerate(prompts, 1))
                raise input_error(str(where.path), f"--prompt {number}: there are {len(prompts)} prompts ({listing})",
                                  where.line, "prompts")
            chosen = prompts[number - 1]
        else:
            chosen = prompts[0]
            if len(prompts) > 1:
                listing = "; ".join(f"{n}: {p.label[:40]!r}" for n, p in enumerate(prompts, 1))
                self.note(where, f"prompts: {len(prompts)} prompts ({listing}); prompt 1 is used, choose another "
                                 "with --prompt N")
        self.notes.extend(chosen.notes)
        return chosen

    # providers -----------------------------------------------------------------------------------
    def model(self, raw: Any, chosen: str | None, where: Where) -> Any:
        """The suite's `model:` from promptfoo's providers (anthropic ones map), or None and a note."""
        items = raw if isinstance(raw, list) else [] if raw is None else [raw]
        providers: list[tuple[str, str, dict[str, Any]]] = []
        for item in items:
            if isinstance(item, str):
                providers.append((item, item, {}))
            elif isinstance(item, dict) and isinstance(item.get("id"), str):
                providers.append((item["id"], str(item.get("label") or item["id"]), item.get("config") or {}))
            elif isinstance(item, dict) and len(item) == 1:  # {provider-id: {config...}}
                (pid, options), = item.items()
                options = options if isinstance(options, dict) else {}
                providers.append((str(pid), str(options.get("label") or pid), options.get("config") or {}))
            else:
                self.note(where, f"providers: {str(item)[:60]} is not a provider id; not converted")
        if chosen is not None:
            match = [p for p in providers if chosen in (p[0], p[1])]
            if not match:
                listing = ", ".join(p[1] for p in providers) or "none"
                raise input_error(str(where.path), f"--provider {chosen}: no such provider (there are: {listing})",
                                  where.line, "providers")
            providers = match[:1]
        elif len(providers) > 1:
            self.note(where, f"providers: {len(providers)} providers ({', '.join(p[1] for p in providers)}); the suite "
                             "uses its default model, choose one with --provider ID")
            return None
        if not providers:
            return None
        pid, label, config = providers[0]
        name = _anthropic_model(pid)
        if name is None:
            self.note(where, f"providers: {pid} has no autoresearch target (anthropic:<model>, sim, claude-code, pi); "
                             "the suite uses its default model")
            return None
        self.carried += 1
        settings = {k: config[k] for k in ("temperature", "max_tokens") if k in config}
        dropped = sorted(set(config) - set(settings))
        if dropped:
            self.note(where, f"providers: {label} settings not converted: {', '.join(dropped)}")
        return {"name": name, **settings} if settings else name

    # tests ---------------------------------------------------------------------------------------
    def tests(self, raw: Any, where: Where) -> Iterator[tuple[Any, Where]]:
        """Every test mapping with its place, following `file://` references (yaml, json, jsonl, csv; globs)."""
        items = raw if isinstance(raw, list) else [raw]
        for index, item in enumerate(items):
            at = where.at(raw.line_of(index) if isinstance(raw, LocatedList) else None)
            ref = _file_ref(item)
            if ref is None and isinstance(item, str) and Path(item).suffix.lower() in (".csv", ".yaml", ".yml",
                                                                                         ".json", ".jsonl"):
                ref = item  # promptfoo also takes a plain path to a tests file
            if ref is None:
                yield item, at
                continue
            for file in _expand(self.base, ref, at):
                yield from self._tests_file(file)

    def _tests_file(self, file: Path) -> Iterator[tuple[Any, Where]]:
        suffix = file.suffix.lower()
        if suffix == ".csv":
            yield from self._csv_tests(file)
        elif suffix == ".jsonl":
            for number, line in enumerate(read_text(file).splitlines(), 1):
                if line.strip():
                    try:
                        yield json.loads(line), Where(file, number)
                    except ValueError as exc:
                        raise input_error(str(file), f"malformed JSON line: {exc}", number) from None
        elif suffix in (".yaml", ".yml", ".json"):
            data = load_data(file)
            items = data if isinstance(data, list) else [data]
            for index, item in enumerate(items):
                yield item, Where(file, data.line_of(index) if isinstance(data, LocatedList) else 1)
        else:
            raise input_error(str(file), f"tests from a {suffix or 'plain'} file are not supported "
                                         "(yaml, json, jsonl or csv)", 1)

    def _csv_tests(self, file: Path) -> Iterator[tuple[Any, Where]]:
        """promptfoo's CSV tests: columns are vars, `__expected*` asserts, `__description` the description."""
        reader = csv.DictReader(io.StringIO(read_text(file), newline=""))
        for row in reader:
            where = Where(file, reader.line_num)
            test: dict[str, Any] = {"vars": {}, "assert": []}
            for column, value in row.items():
                if column is None or value is None:
                    raise input_error(str(file), "row has more or fewer cells than the header", reader.line_num)
                if column.startswith("__expected"):
                    if value.strip():
                        test["assert"].append(_expected_assert(value.strip()))
                elif column == "__description":
                    test["description"] = value
                elif column.startswith("__"):
                    self.note(Where(file, 1), f"CSV column {column} not converted")
                else:
                    test["vars"][column] = value
            yield test, where

    def variables(self, raw: Any, where: Where) -> dict[str, Any] | None:
        """A test's vars with `file://` loaded; None (and a note) when a var is produced by code."""
        ref = _file_ref(raw)
        if ref is not None:
            files = _expand(self.base, ref, where)
            raw = {}
            for file in files:
                data = load_data(file)
                if not isinstance(data, dict):
                    raise input_error(str(file), "a vars file is a mapping of names to values", 1)
                raw.update(data)
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise input_error(str(where.path), "`vars` must be a mapping (or file://...)", where.line, "vars")
        result: dict[str, Any] = {}
        for name, value in raw.items():
            ref = _file_ref(value)
            if ref is None:
                result[name] = value
                continue
            file = self.base / ref
            if file.suffix.lower() in (".py", ".js", ".ts", ".mjs", ".cjs"):
                self.note(where, f"var {name}: file://{ref} is computed by code; this test is not converted")
                return None
            if not file.is_file():
                raise input_error(str(where.path), f"var {name}: file://{ref} not found", where.line, "vars")
            if file.suffix.lower() in (".json", ".yaml", ".yml"):
                data = load_data(file)
                result[name] = data if isinstance(data, str) else json.dumps(data)
            else:
                try:
                    result[name] = file.read_text(encoding="utf-8")
                except (UnicodeDecodeError, OSError):
                    self.note(where, f"var {name}: file://{ref} is not a text file; this test is not converted")
                    return None
        return result

    # asserts -------------------------------------------------------------------------------------
    def to_eval(self, assertion: Any, variables: dict[str, Any], where: Where, test: dict[str, Any]
                ) -> dict[str, Any] | None:
        """One promptfoo assert as an eval, noting the assert's settings the eval does not carry."""
        ev = self._to_eval(assertion, variables, where, test)
        if ev is not None:
            kind = assertion["type"]
            carried = {"type", "value", "description", "metric", "weight"}
            if kind.endswith(("python", "latency", "cost")):
                carried.add("threshold")
            if kind.endswith("python"):
                carried.add("config")  # given to the function as context["config"], as promptfoo does
            for key in sorted(set(assertion) - carried):
                self.note(where, f"assert '{kind}': `{key}` not converted")
        return ev

    def _to_eval(self, assertion: Any, variables: dict[str, Any], where: Where, test: dict[str, Any]
                 ) -> dict[str, Any] | None:
        """One promptfoo assert as an eval (question plus check or judge), or None with a note or problem."""
        if not isinstance(assertion, dict) or not isinstance(assertion.get("type"), str):
            self.problems.append(Problem(str(where.path), "an assert must be a mapping with a `type`", where.line))
            return None
        kind = assertion["type"]
        negate = kind.startswith("not-")
        base_kind = kind[4:] if negate else kind
        if "transform" in assertion:
            self.note(where, f"assert '{kind}' has a `transform`; not converted (our checks see the raw output)")
            return None
        value = _render_all(assertion.get("value"), variables)
        question = _render(str(assertion.get("description") or assertion.get("metric") or ""), variables) or None
        threshold = assertion.get("threshold")
        if base_kind in PROMPTFOO_DIRECT:
            check: dict[str, Any] = {"type": kind}
            if base_kind in ("is-json", "contains-json"):
                schema = value
                if isinstance(schema, str) and _file_ref(schema):
                    schema = load_data(_expand(self.base, _file_ref(schema), where)[0])
                if isinstance(schema, dict):
                    required = schema.get("required") if isinstance(schema.get("required"), list) else []
                    if required:
                        check["value"] = required
                    if set(schema) - {"required", "type"} or schema.get("type") not in (None, "object"):
                        self.note(where, f"assert '{kind}': only the schema's required keys are checked "
                                         f"({', '.join(map(str, required)) or 'none'}), not its other rules")
            elif value is None:
                self.problems.append(Problem(str(where.path), f"assert '{kind}' has no value", where.line))
                return None
            elif base_kind == "regex" and (error := _regex_error(value)):
                self.note(where, f"assert '{kind}': {error}; not converted")
                return None
            else:
                check["value"] = value
            shown = value if not isinstance(value, (list, dict)) else json.dumps(value)[:60]
            return {"question": question or f"Does the output satisfy {kind} {shown!s}?", "check": check}
        if base_kind in PROMPTFOO_OUTCOME and not negate:
            return self._outcome(kind, assertion, question, where)
        if base_kind == "python" and isinstance(value, str):
            context = {"vars": variables, "test": test, "config": assertion.get("config") or {}}
            return self._python(kind, value, negate, threshold, question, context, where)
        if base_kind in ("llm-rubric", "model-graded-closedqa") and isinstance(value, str) and not negate:
            return {"question": question or f"Does the output meet the rubric: {value}?",
                    "judge": {"pass": value, "fail": f"The output does not meet this rubric: {value}"}}
        self.note(where, f"assert type '{kind}' is not supported")
        return None

    def _outcome(self, kind: str, assertion: dict[str, Any], question: str | None, where: Where
                 ) -> dict[str, Any] | None:
        check_type, factor = PROMPTFOO_OUTCOME[kind]
        threshold = assertion.get("threshold")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            self.problems.append(Problem(str(where.path), f"assert '{kind}' needs a numeric `threshold`", where.line))
            return None
        limit = threshold * factor
        return {"question": question or f"Does the run stay within {kind} {threshold}?",
                "check": {"type": check_type, "value": limit}}

    def _python(self, kind: str, value: str, negate: bool, threshold: Any, question: str | None,
                context: dict[str, Any], where: Where) -> dict[str, Any] | None:
        """A promptfoo python assert, run through a generated adapter that keeps promptfoo's contract."""
        if not self.writes_files:
            self.note(where, f"assert '{kind}' needs an adapter file written beside the suite; import with -o")
            return None
        ref = _file_ref(value)
        if ref is not None:
            file, _, function = ref.partition(":")
            if not (self.base / file).is_file():
                self.problems.append(Problem(str(where.path), f"python assert file {file!r} not found", where.line))
                return None
            runner = f"_function({_relative(self.base / file, self.out_dir)!r}, {(function or 'get_assert')!r})"
            shown = file
        else:
            runner = f"_inline({value!r})"
            shown = "an inline python assert"
        limit = threshold if isinstance(threshold, (int, float)) and not isinstance(threshold, bool) else None
        self.adapters.append(f"_check({runner}, {limit!r}, {json.dumps(context, default=str)!r})")
        name = f"check_{len(self.adapters)}"
        return {"question": question or f"Does the output pass {shown}?",
                "check": {"type": "not-python" if negate else "python", "value": f"{{adapter}}:{name}"}}

    def options(self, options: Any, where: Where, what: str) -> None:
        """promptfoo `options`: none change the text we check except by transforming it; report each."""
        if not isinstance(options, dict):
            return
        for key in options:
            if key in ("transform", "postprocess"):
                self.note(where, f"{what} options.{key} (an output transform) not converted: checks see the raw "
                                 "output")
            else:
                self.note(where, f"{what} options.{key} not converted")


def _regex_error(pattern: Any) -> str | None:
    """Why a promptfoo (JavaScript) regex does not compile as a Python one, or None when it does."""
    try:
        re.compile(str(pattern))
    except re.error as exc:
        return f"/{pattern}/ is not a Python regular expression ({exc.msg})"
    return None


def _anthropic_model(provider: str) -> str | None:
    """An autoresearch target name for a promptfoo provider id, or None."""
    if provider in ("sim", "claude-code", "pi") or provider.startswith(("claude-code:", "pi:")):
        return provider
    if provider in ("anthropic:claude-agent-sdk", "anthropic:claude-code"):
        return "claude-code"  # promptfoo's Claude Agent SDK provider runs the same agent
    parts = provider.split(":")
    if parts[0] == "anthropic" and len(parts) >= 2 and parts[-1].startswith("claude"):
        return f"anthropic:{parts[-1]}"
    return None


_EXPECTED = re.compile(r"^(not-)?([a-z][a-z-]*)(?::\s?(.*))?$", re.DOTALL)
_EXPECTED_TYPES = PROMPTFOO_DIRECT | {"llm-rubric", "grade", "python", "javascript", "fn", "eval", "similar",
                                     "levenshtein", "is-sql", "is-xml", "is-html", "contains-sql", "contains-xml",
                                     "model-graded-closedqa", "factuality", "answer-relevance", "perplexity",
                                     "starts-with", "ends-with", "cost", "latency", "webhook", "rouge-n", "bleu"}


def _expected_assert(text: str) -> dict[str, Any]:
    """A CSV `__expected` cell as an assert: `type: value`, a bare type, or an exact expected output."""
    match = _EXPECTED.match(text)
    if match and match.group(2) in _EXPECTED_TYPES and (match.group(3) is not None or match.group(2) in
                                                        ("is-json", "contains-json", "is-sql", "is-xml", "is-html")):
        negate, kind, value = match.groups()
        kind = {"grade": "llm-rubric", "fn": "javascript", "eval": "javascript"}.get(kind, kind)
        if kind in ("contains-any", "contains-all", "icontains-any", "icontains-all") and value is not None:
            value = [v.strip() for v in value.split(",")]
        return {"type": (negate or "") + kind, **({"value": value} if value is not None else {})}
    return {"type": "equals", "value": text}


def _promptfoo_adapter(source: Path, checks: list[str]) -> str:
    """The python module that runs promptfoo python asserts under autoresearch's check contract."""
    lines = [f'"""Written by `autoresearch import promptfoo` from {source.name}: promptfoo python asserts as checks.',
             "",
             "promptfoo calls get_assert(output, context) (or evaluates inline code with `output` and `context`)",
             "and accepts a bool, a score (passes above 0, or at the assert's threshold) or a dict with `pass`,",
             "`score` and `reason`; autoresearch wants a bool or a (bool, reason) pair. Each check_N adapts one.",
             '"""', "", ADAPTER_CODE]
    lines += [f"check_{n} = {call}" for n, call in enumerate(checks, 1)]
    return "\n".join(lines) + "\n"


ADAPTER_CODE = '''import importlib.util
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _function(file, name):
    spec = importlib.util.spec_from_file_location(f"promptfoo_assert_{abs(hash(str(HERE / file)))}", HERE / file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def _inline(code):
    try:
        expression = compile(code, "<promptfoo assert>", "eval")
        return lambda output, context: eval(expression, {"output": output, "context": context})
    except SyntaxError:
        namespace = {}
        body = "".join("    " + line + "\\n" for line in code.splitlines())
        exec(compile("def _assert(output, context):\\n" + body, "<promptfoo assert>", "exec"), namespace)
        return namespace["_assert"]


def _verdict(result, threshold):
    if isinstance(result, dict):
        passed, score = result.get("pass", result.get("pass_")), result.get("score")
        if passed is None and isinstance(score, (int, float)):
            passed = score >= threshold if threshold is not None else score > 0
        return bool(passed), str(result.get("reason") or f"promptfoo assert returned {result!r}")
    if isinstance(result, bool):
        return result, f"promptfoo assert returned {result}"
    if isinstance(result, (int, float)):
        passed = result >= threshold if threshold is not None else result > 0
        return passed, f"score {result} (passes {'at ' + str(threshold) if threshold is not None else 'above 0'})"
    raise TypeError(f"a promptfoo assert returned {result!r}; expected a bool, a score or a dict with `pass`")


def _check(run, threshold, context_json):
    fixed = json.loads(context_json)

    def check(output, context):
        return _verdict(run(output, {"prompt": context.get("input", ""), **fixed}), threshold)

    return check

'''


def import_promptfoo(path: str | Path, skill: str | None = None, holdout_every: int = 0,
                     output: str | Path | None = None, prompt: int | None = None,
                     provider: str | None = None) -> Imported:
    """Turn a promptfooconfig into a suite: tests become inputs, supported asserts become evals."""
    path = Path(path)
    out_dir = Path(output).parent if output else path.parent
    data = load_data(path)
    if not isinstance(data, dict):
        raise input_error(str(path), "a promptfoo config is a mapping with `prompts` and `tests`", 1)
    line_of = data.line_of if isinstance(data, LocatedDict) else (lambda key: 1)
    job = _Promptfoo(path, out_dir, output is not None)
    top = Where(path, 1)
    for key in data:
        if key not in PROMPTFOO_IGNORED:
            job.note(top.at(line_of(key)), f"`{key}` not converted")
    chosen = job.choose_prompt(job.prompts(data.get("prompts"), top.at(line_of("prompts"))), prompt,
                               top.at(line_of("prompts")))
    model = job.model(data.get("providers"), provider, top.at(line_of("providers")))
    default = data.get("defaultTest") or {}
    default_where = top.at(line_of("defaultTest"))
    if _file_ref(default):
        default = load_data(_expand(path.parent, _file_ref(default), default_where)[0])
    if not isinstance(default, dict):
        raise input_error(str(path), "`defaultTest` must be a mapping", default_where.line, "defaultTest")
    for key in set(default) - {"vars", "assert", "options", "description", "metadata"}:
        job.note(default_where, f"defaultTest.{key} not converted")
    job.options(default.get("options"), default_where, "defaultTest")
    default_vars = job.variables(default.get("vars"), default_where) or {}
    default_asserts = default.get("assert") or []
    if data.get("tests") is None:
        raise input_error(str(path), "no tests: a promptfoo config needs a `tests` list (or file://...)",
                          line_of("tests"), "tests")
    tests: list[Test] = []
    for index, (test, where) in enumerate(job.tests(data["tests"], top.at(line_of("tests")))):
        if not isinstance(test, dict):
            job.problems.append(Problem(str(where.path), f"tests[{index}]: a test must be a mapping", where.line))
            continue
        for key in set(test) - {"vars", "assert", "options", "description", "metadata"}:
            job.note(where, f"test `{key}` not converted")
        job.options(test.get("options"), where, "test")
        variables = job.variables(test.get("vars"), where)
        if variables is None:
            continue
        asserts = test.get("assert") or []
        located = [(a, where.at(asserts.line_of(i) if isinstance(asserts, LocatedList) else None), False)
                   for i, a in enumerate(asserts)]
        located += [(a, default_where.at(default_asserts.line_of(i) if isinstance(default_asserts, LocatedList)
                                         else None), True) for i, a in enumerate(default_asserts)]
        for combination in _combinations({**default_vars, **variables}):
            tests.append(Test(str(test.get("description") or ""), combination, located, where))
    if job.problems:
        raise InputError(job.problems)
    if not tests:
        raise input_error(str(path), "no tests could be converted" + "".join(f"\n  {n}" for n in job.notes),
                          line_of("tests"), "tests")
    inputs, evals, ids, eval_ids = [], [], set(), set()
    shared: dict[int, dict[str, Any]] = {}  # defaultTest asserts without {{vars}}: one eval for every input
    for index, test in enumerate(tests):
        first = next(iter(test.variables.values()), "")
        input_id = _unique(ids, _slug(test.description or first, f"test-{index + 1}"))
        text = _input_text(chosen, test.variables)
        if _TEMPLATE_LEFT.search(text):
            job.note(test.where, "the prompt keeps template syntax we do not render (Nunjucks filters, tags or "
                                 "unknown vars); it is sent as written")
        item: dict[str, Any] = {"id": input_id, "text": text}
        if holdout_every and (index + 1) % holdout_every == 0:
            item["split"] = "holdout"
        inputs.append(item)
        test_record = {"description": test.description, "vars": test.variables}
        for a_index, (assertion, where, from_default) in enumerate(test.asserts):
            if from_default and not _uses_vars(assertion):
                if index == 0:
                    ev = job.to_eval(assertion, test.variables, where, test_record)
                    if ev:
                        shared[a_index] = ev
                continue
            ev = job.to_eval(assertion, test.variables, where, test_record)
            if ev:
                kind = assertion["type"]
                evals.append({"id": _unique(eval_ids, f"{input_id}-{_slug(kind, 'check')}"), **ev,
                              "inputs": [input_id]})
    for ev, assertion in ((shared[i], tests[0].asserts[i][0]) for i in sorted(shared)):
        evals.append({"id": _unique(eval_ids, _slug(assertion["type"], "check")), **ev})
    if job.problems:
        raise InputError(job.problems)
    if not evals:
        if not any(t.asserts for t in tests):  # each test's asserts include defaultTest's
            raise input_error(str(path), "the config has no asserts, so there is nothing to check; add `assert:` "
                                         "to the tests or to defaultTest", line_of("tests"))
        kinds = sorted({str(a.get("type")) for t in tests for a, _, _ in t.asserts if isinstance(a, dict)})
        raise input_error(str(path), f"none of the asserts could be converted (types found: {', '.join(kinds)}; "
                                     f"supported: {', '.join(PROMPTFOO_CONVERTED)})"
                                     + "".join(f"\n  {n}" for n in job.notes), line_of("tests"))
    written = {}
    if job.adapters:
        adapter = f"{Path(output).stem}_promptfoo.py"
        written[adapter] = _promptfoo_adapter(path, job.adapters)
        for ev in evals:
            if ev.get("check", {}).get("type", "").endswith("python"):
                ev["check"]["value"] = ev["check"]["value"].replace("{adapter}", adapter)
    skill_path = Path(skill) if skill else path.parent / "SKILL.md"
    suite: dict[str, Any] = {"name": _slug(path.resolve().parent.name if path.stem == "promptfooconfig"
                                           else path.stem, "imported"),
                             "skill": _relative(skill_path, out_dir)}
    if model:
        suite["model"] = model
    suite.update(inputs=inputs, evals=evals)
    return Imported(suite, job.notes, job.carried + len(inputs) + len(evals), written=written)


def _input_text(prompt: Prompt, variables: dict[str, Any]) -> str:
    text = _render(prompt.template, variables)
    before = [_render(part, variables) for part in (prompt.system, prompt.transcript) if part]
    return "\n\n".join(before + [text])


def _uses_vars(assertion: Any) -> bool:
    """Whether a defaultTest assert differs by test: it names a var, or is python code that sees the vars."""
    python = isinstance(assertion, dict) and str(assertion.get("type", "")).endswith("python")
    return python or bool(_VAR.search(json.dumps(assertion, default=str)))


def _combinations(variables: dict[str, Any]) -> list[dict[str, Any]]:
    """promptfoo runs a test once per combination when vars hold lists."""
    names = list(variables)
    choices = [v if isinstance(v, list) and v else [v] for v in variables.values()]
    return [dict(zip(names, combo)) for combo in itertools.product(*choices)]


# -- skill-creator ---------------------------------------------------------------------------------

SKILL_CREATOR_ITEM_KEYS = {"id", "prompt", "expected_output", "files", "expectations", "assertions", "checks",
                           "skill", "name", "description"}
GRADED_KEYS = ("expectations", "assertions", "checks")
_GRADED_TEXT = ("text", "expectation", "assertion", "check", "description", "statement", "criterion", "name")


def import_skill_creator(path: str | Path, skill: str | None = None, holdout_every: int = 0,
                         output: str | Path | None = None) -> Imported:
    """Turn skill-creator's evals/evals.json into a suite: prompts become inputs, graded items judge evals."""
    path = Path(path)
    out_dir = Path(output).parent if output else path.parent
    data = load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("evals"), list) or not data["evals"]:
        raise input_error(str(path), "expected {\"skill_name\": ..., \"evals\": [{\"id\", \"prompt\", "
                                     "\"expectations\": [...]}, ...]}", 1, "evals")
    skill_dir = path.parent.parent if path.parent.name == "evals" else path.parent
    skill_name = str(data.get("skill_name") or skill_dir.name or "imported")
    line_of = data.line_of if isinstance(data, LocatedDict) else (lambda key: 1)
    notes: list[str] = [f"{path}:{line_of(k)}: `{k}` not converted" for k in data if k not in ("skill_name", "evals")]
    problems: list[Problem] = []
    inputs, evals, ids, copies, fixtures = [], [], set(), [], 0
    taken: set[str] = set()
    items = data["evals"]
    for index, item in enumerate(items):
        where = Where(path, items.line_of(index) if isinstance(items, LocatedList) else 1)
        key = f"evals[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("prompt"), str) or not item["prompt"].strip():
            problems.append(Problem(str(path), "needs a non-empty string `prompt`", where.line, key))
            continue
        item_line = item.line_of if isinstance(item, LocatedDict) else (lambda k: where.line)
        for extra in sorted(set(item) - SKILL_CREATOR_ITEM_KEYS):
            notes.append(f"{where.at(item_line(extra))}: {key}.{extra} not converted")
        graded = _graded_items(item, key, Where(path, None), item_line, problems, notes)
        if graded is None:
            continue
        input_id = _unique(ids, f"eval-{_slug(item.get('id', index + 1), str(index + 1))}")
        target = item.get("skill")
        if target is not None and str(target) not in (skill_name, skill_dir.name):
            notes.append(f"{where.at(item_line('skill'))}: {key}.skill is {target!r}, not this suite's skill "
                         f"{skill_name!r}; not converted: the input runs with the suite's skill")
        text = item["prompt"]
        files = item.get("files") or []
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            problems.append(Problem(str(path), "`files` must be a list of paths", item_line("files"), f"{key}.files"))
            continue
        paths = []
        at = where.at(item_line("files"))
        for name in files:
            source = next((p for p in (skill_dir / name, path.parent / name) if p.is_file()), None)
            if source is None:
                notes.append(f"{at}: {key}.files: {name} not found (looked in {skill_dir}); not converted")
                continue
            destination = _fixture_destination(source, out_dir, output is not None, taken)
            if destination != _relative(source, out_dir):
                copies.append((source, destination))
            paths.append(destination)
            if not _is_text(source):
                notes.append(f"{at}: {key}.files: {destination} is binary: harness targets get the file; API targets "
                             "get it inlined as text, which they cannot read")
        entry: dict[str, Any] = {"id": input_id, "text": text, **({"files": paths} if paths else {})}
        fixtures += len(paths)
        if holdout_every and (index + 1) % holdout_every == 0:
            entry["split"] = "holdout"
        inputs.append(entry)
        for n, statement in enumerate(graded, 1):
            evals.append({"id": f"{input_id}-x{n}", "question": f"Is this true of the output: {statement}",
                          "judge": {"pass": statement, "fail": f"This is not true of the output: {statement}"},
                          "inputs": [input_id]})
        if item.get("expected_output"):
            evals.append({"id": f"{input_id}-expected", "question": "Does the output match the expected result?",
                          "judge": {"pass": f"The output achieves this expected result: {item['expected_output']}",
                                    "fail": "The output misses the expected result in a way that matters."},
                          "inputs": [input_id]})
    if problems:
        raise InputError(problems)
    if not evals:
        raise input_error(str(path), "no expectations, assertions or checks to turn into evals", 1, "evals")
    skill_path = Path(skill) if skill else skill_dir / "SKILL.md"
    return Imported({"name": _slug(skill_name, "imported"), "skill": _relative(skill_path, out_dir),
                     "inputs": inputs, "evals": evals}, notes, len(inputs) + len(evals) + fixtures, copies)


def _graded_items(item: dict[str, Any], key: str, where: Where, item_line: Any, problems: list[Problem],
                  notes: list[str]) -> list[str] | None:
    """The statements a grader marks, from `expectations`, `assertions` and `checks` (strings or mappings)."""
    statements: list[str] = []
    for field_name in GRADED_KEYS:
        raw = item.get(field_name, [])
        at = where.at(item_line(field_name))
        if not isinstance(raw, list):
            problems.append(Problem(str(at.path), f"`{field_name}` must be a list", at.line, f"{key}.{field_name}"))
            return None
        for n, entry in enumerate(raw):
            text = entry if isinstance(entry, str) else next(
                (entry[k] for k in _GRADED_TEXT if isinstance(entry, dict) and isinstance(entry.get(k), str)), None)
            if text is None or not text.strip():
                problems.append(Problem(str(at.path), f"item {n} is neither a non-empty string nor a mapping with "
                                        f"`text` or `description`", at.line, f"{key}.{field_name}"))
                return None
            if isinstance(entry, dict) and set(entry) - set(_GRADED_TEXT):
                notes.append(f"{at}: {key}.{field_name}[{n}]: keys {', '.join(sorted(set(entry) - set(_GRADED_TEXT)))} "
                             "not converted (graded by a judge from its text)")
            statements.append(text.strip())
    return statements


def _fixture_destination(source: Path, out_dir: Path, copying: bool, taken: set[str]) -> str:
    """Where a fixture is in the written suite's folder: where it is when inside, else under fixtures/."""
    relative = _relative(source, out_dir)
    if not relative.startswith("../") or not copying:
        return relative
    return _unique(taken, f"fixtures/{source.name}")


def _is_text(path: Path) -> bool:
    """Whether a fixture is UTF-8 text, which API targets can read inlined in the prompt."""
    try:
        path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return False
    return True
