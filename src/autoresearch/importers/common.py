"""What every importer shares: the imported suite, source locations, templates and file reading."""

from __future__ import annotations

import glob
import itertools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, input_error
from ..suite.userfiles import read_user_bytes
from ..suite.yamlsource import load_located


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

        from ..fsio import atomic_write

        skill = output.parent / self.suite["skill"] if self.suite.get("skill") else None
        refuse_overwrite(output, [output.parent / d for _, d in self.copies] + [output.parent / n for n in self.written]
                         + [output], Path(source), skill)
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


def refuse_overwrite(output: Path, targets: list[Path], source: Path, skill: Path | None) -> None:
    """InputError before anything is written when an import would write over its own source file, the target
    skill or any SKILL.md (`-o SKILL.md` is an easy slip that would lose the user's skill)."""
    protected = {Path(source).resolve(): "the file being imported"}
    if skill is not None:
        protected[Path(skill).resolve()] = "the target skill"
    for target in targets:
        what = protected.get(Path(target).resolve()) or ("a SKILL.md" if Path(target).name == "SKILL.md" else None)
        if what:
            raise input_error(str(output), f"writing the suite here would overwrite {what} ({target}); "
                                           "choose another -o path")


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


def _inside(base: Path, file: Path, ref: str, where: Where) -> Path:
    """`file`, or InputError when it lies outside the source's folder (`file:///etc/passwd`, `../../x`)."""
    if not _within(base, file):
        raise input_error(str(where.path), f"file://{ref} is outside the folder of the file being imported "
                          f"({base}); an import reads only files inside it: copy the file there", where.line)
    return file


MAX_GLOB_MATCHES = 10_000


def _expand(base: Path, ref: str, where: Where) -> list[Path]:
    """A `file://` reference (glob patterns allowed) as existing files, relative to `base` and inside it.
    A pattern is confined before it is walked (`/**`, `../**` would walk the disk) and its matches are bounded."""
    pattern = str(base / ref)
    if glob.has_magic(ref):
        if os.path.isabs(ref) or ".." in Path(ref).parts:
            raise input_error(str(where.path), f"file://{ref}: a pattern must stay inside the folder of the file "
                              f"being imported ({base}): no absolute path, no `..`", where.line)
        found = list(itertools.islice(glob.iglob(pattern, recursive=True), MAX_GLOB_MATCHES + 1))
        if len(found) > MAX_GLOB_MATCHES:
            raise input_error(str(where.path), f"file://{ref} matches more than {MAX_GLOB_MATCHES:,} files: "
                              "name fewer", where.line)
        files = sorted(Path(p) for p in found)
    else:
        files = [base / ref]
    files = [_inside(base, f, ref, where) for f in files if f.is_file()]
    if not files:
        raise input_error(str(where.path), f"file://{ref}: no such file (looked for {pattern})", where.line)
    return files


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


def _within(base: Path, file: Path) -> bool:
    """Whether `file` (links followed) is inside the source's folder `base`: an import reads nothing else."""
    return Path(os.path.realpath(file)).is_relative_to(os.path.realpath(base))
