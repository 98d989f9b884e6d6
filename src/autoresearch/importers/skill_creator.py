"""Import skill-creator's evals.json: prompts become inputs, expectations judge evals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError, Problem, input_error
from ..suite.yamlsource import LocatedDict, LocatedList
from .common import Imported, Where, _fixture_destination, _is_text, _relative, _slug, _unique, _within, load_json

SKILL_CREATOR_ITEM_KEYS = {"id", "prompt", "expected_output", "files", "expectations", "assertions", "checks",
                           "skill", "name", "description"}


GRADED_KEYS = ("expectations", "assertions", "checks")


_GRADED_TEXT = ("text", "expectation", "assertion", "check", "description", "statement", "criterion", "name")


def import_skill_creator(path: str | Path, skill: str | None = None, holdout_every: int = 0,
                         output: str | Path | None = None) -> Imported:
    """Turn skill-creator's evals/evals.json into a suite: prompts become inputs, graded items judge evals."""
    path = Path(path)
    out_dir = Path(output).parent if output else path.parent
    data = _skill_creator_document(load_json(path), path)
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
            folder = next((p for p in (skill_dir / name, path.parent / name) if p.is_dir()), None)
            if source is None and folder is not None:
                notes.append(f"{at}: {key}.files: {name} is a directory; `files` lists files, so it is not "
                             "converted (list the files in it)")
                continue
            if source is not None and not (_within(skill_dir, source) or _within(path.parent, source)):
                notes.append(f"{at}: {key}.files: {name} is outside the skill's folder; not read, not converted")
                continue
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
            if isinstance(statement, dict):  # a check skill-creator runs by code stays a check
                evals.append({"id": f"{input_id}-x{n}", **statement, "inputs": [input_id]})
                continue
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
                  notes: list[str]) -> list[Any] | None:
    """The statements a grader marks, from `expectations`, `assertions` and `checks` (strings or mappings);
    a coded check (`{check: output_contains, expected: X}`) comes back as an eval's question and check."""
    statements: list[Any] = []
    for field_name in GRADED_KEYS:
        raw = item.get(field_name, [])
        at = where.at(item_line(field_name))
        if not isinstance(raw, list):
            problems.append(Problem(str(at.path), f"`{field_name}` must be a list", at.line, f"{key}.{field_name}"))
            return None
        for n, entry in enumerate(raw):
            coded = _skill_creator_check(entry)
            if coded is not None:
                statements.append(coded)
                continue
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


# skill-creator's coded checks (`{"check": name, "expected": value}`): the suite check each one is.
SKILL_CREATOR_CHECKS = {"output_contains": "contains", "output_not_contains": "not-contains",
                        "output_equals": "equals", "output_matches": "regex", "output_starts_with": "starts-with"}


def _skill_creator_check(entry: Any) -> dict[str, Any] | None:
    """A coded skill-creator check as an eval's question and check, or None when it is a statement to judge."""
    if not isinstance(entry, dict) or entry.get("check") not in SKILL_CREATOR_CHECKS:
        return None
    expected = entry.get("expected", entry.get("value"))
    if not isinstance(expected, str) or not expected:
        return None
    kind = SKILL_CREATOR_CHECKS[entry["check"]]
    question = entry.get("description") if isinstance(entry.get("description"), str) else None
    return {"question": question or f"Does the output satisfy {kind} {expected!r}?",
            "check": {"type": kind, "value": expected}}


def _skill_creator_document(data: Any, path: Path) -> Any:
    """evals.json as a mapping: a bare list of skill-creator items is the `evals` list (a trigger set is not)."""
    if not isinstance(data, list):
        return data
    if data and all(isinstance(i, dict) and "query" in i and "should_trigger" in i for i in data):
        raise input_error(str(path), "this is a trigger eval set ([{query, should_trigger}]): import it with "
                                     "`autoresearch import triggers`", 1)
    if data and all(isinstance(i, dict) and "prompt" in i for i in data):
        return {"evals": data}
    return data
