"""Import eval suites from the peers: promptfoo configs and skill-creator's evals.json.

Each importer returns the suite as a YAML-ready mapping plus notes on what could not be converted.
Assertions and expectations that belong to one test become evals limited to that input (`inputs:`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import Problem, InputError, input_error
from .yamlsource import LocatedDict, LocatedList, load_located

# promptfoo assert types we convert directly (with or without `not-`), and how.
PROMPTFOO_DIRECT = {"contains", "icontains", "equals", "starts-with", "regex", "contains-any", "contains-all",
                    "icontains-any", "icontains-all", "is-json"}


@dataclass
class Imported:
    suite: dict[str, Any]
    unconverted: list[str] = field(default_factory=list)  # one line per item we could not convert

    def yaml(self, source: str) -> str:
        import yaml

        header = f"# Imported by `autoresearch import` from {source}. Review the skill path and the splits.\n"
        if self.unconverted:
            header += "# Not converted:\n" + "".join(f"#   - {u}\n" for u in self.unconverted)
        plain = json.loads(json.dumps(self.suite))  # line-aware containers back to plain dicts and lists
        return header + yaml.safe_dump(plain, sort_keys=False, allow_unicode=True, width=100)


def _slug(text: str, fallback: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")[:40].strip("-")
    return slug or fallback


def _render(template: str, variables: dict[str, Any]) -> str:
    """promptfoo prompts are Nunjucks; plain `{{ var }}` substitution covers test inputs."""
    return re.sub(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}", lambda m: str(variables.get(m.group(1), m.group(0))), template)


def _unique(ids: set[str], wanted: str) -> str:
    candidate, n = wanted, 2
    while candidate in ids:
        candidate, n = f"{wanted}-{n}", n + 1
    ids.add(candidate)
    return candidate


def _promptfoo_eval(assertion: Any, where: str, line: int, base: Path, problems: list[Problem],
                    skipped: list[str]) -> dict[str, Any] | None:
    if not isinstance(assertion, dict) or not isinstance(assertion.get("type"), str):
        problems.append(Problem(where, "an assert must be a mapping with a `type`", line))
        return None
    kind, value = assertion["type"], assertion.get("value")
    negate = kind.startswith("not-")
    base_kind = kind[4:] if negate else kind
    question = assertion.get("description") or assertion.get("metric")
    if base_kind in PROMPTFOO_DIRECT:
        check: dict[str, Any] = {"type": kind}
        if base_kind == "is-json":
            if isinstance(value, dict) and isinstance(value.get("required"), list):
                check["value"] = value["required"]  # a JSON schema: we keep its required keys only
        elif value is None:
            problems.append(Problem(where, f"assert '{kind}' has no value", line))
            return None
        else:
            check["value"] = value
        shown = value if not isinstance(value, (list, dict)) else json.dumps(value)[:60]
        return {"question": question or f"Does the output satisfy {kind} {shown!s}?", "check": check}
    if base_kind == "python" and isinstance(value, str) and value.startswith("file://"):
        file = value[len("file://"):]
        function = "get_assert"
        if ":" in file:
            file, function = file.split(":", 1)
        if not (base / file).is_file():
            problems.append(Problem(where, f"python assert file {file!r} not found", line))
            return None
        return {"question": question or f"Does the output pass {file}?",
                "check": {"type": "not-python" if negate else "python", "value": f"{file}:{function}"}}
    if base_kind == "llm-rubric" and isinstance(value, str) and not negate:
        return {"question": question or f"Does the output meet the rubric: {value}?",
                "judge": {"pass": value, "fail": f"The output does not meet this rubric: {value}"}}
    skipped.append(f"{where}:{line}: assert type '{kind}' is not supported (supported: "
                   f"{', '.join(sorted(PROMPTFOO_DIRECT | {'python (file://)', 'llm-rubric'}))}, and not- forms)")
    return None


def import_promptfoo(path: str | Path, skill: str = "SKILL.md", holdout_every: int = 0) -> Imported:
    """Turn a promptfooconfig.yaml into a suite: tests become inputs, supported asserts become evals."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise input_error(str(path), f"cannot read: {exc.strerror}") from None
    data = json.loads(text) if path.suffix == ".json" else load_located(text, str(path))
    if not isinstance(data, dict):
        raise input_error(str(path), "a promptfoo config is a mapping with `prompts` and `tests`", 1)
    line_of = data.line_of if isinstance(data, LocatedDict) else (lambda key: None)
    prompts = data.get("prompts") or ["{{input}}"]
    prompts = prompts if isinstance(prompts, list) else [prompts]
    template = prompts[0] if isinstance(prompts[0], str) else (prompts[0] or {}).get("raw", "{{input}}")
    unconverted = [f"{path}:{line_of('prompts')}: prompts: only the first of {len(prompts)} prompts is used"] \
        if len(prompts) > 1 else []
    if isinstance(template, str) and template.startswith("file://"):
        template_file = path.parent / template[len("file://"):]
        if not template_file.is_file():
            raise input_error(str(path), f"prompt file {template_file} not found", line_of("prompts"), "prompts")
        template = template_file.read_text(encoding="utf-8")
    tests = data.get("tests")
    if not isinstance(tests, list) or not tests:
        raise input_error(str(path), "no tests: a promptfoo config needs a `tests` list", line_of("tests"), "tests")
    problems: list[Problem] = []
    inputs, evals, ids, eval_ids = [], [], set(), set()
    default_asserts = ((data.get("defaultTest") or {}).get("assert") or []) if isinstance(data.get("defaultTest"), dict) else []
    for index, test in enumerate(tests):
        line = tests.line_of(index) if isinstance(tests, LocatedList) else None
        where = f"tests[{index}]"
        if not isinstance(test, dict):
            problems.append(Problem(str(path), f"{where}: a test must be a mapping", line))
            continue
        variables = test.get("vars") or {}
        input_id = _unique(ids, _slug(test.get("description") or next(iter(variables.values()), ""), f"test-{index + 1}"))
        item = {"id": input_id, "text": _render(str(template), variables)}
        if holdout_every and (index + 1) % holdout_every == 0:
            item["split"] = "holdout"
        inputs.append(item)
        asserts = test.get("assert") or []
        for a_index, assertion in enumerate(asserts):
            a_line = asserts.line_of(a_index) if isinstance(asserts, LocatedList) else line
            ev = _promptfoo_eval(assertion, str(path), a_line, path.parent, problems, unconverted)
            if ev:
                evals.append({"id": _unique(eval_ids, f"{input_id}-{_slug(assertion['type'], 'check')}"), **ev,
                              "inputs": [input_id]})
    for a_index, assertion in enumerate(default_asserts):
        ev = _promptfoo_eval(assertion, str(path), line_of("defaultTest"), path.parent, problems, unconverted)
        if ev:
            evals.append({"id": _unique(eval_ids, _slug(assertion["type"], "check")), **ev})
    if problems:
        raise InputError(problems)
    if not evals:
        raise input_error(str(path), "none of the asserts could be converted; see the supported types", line_of("tests"))
    return Imported({"name": _slug(path.stem, "imported"), "skill": skill, "inputs": inputs, "evals": evals},
                    unconverted)


def import_skill_creator(path: str | Path, skill: str | None = None, holdout_every: int = 0) -> Imported:
    """Turn skill-creator's evals/evals.json into a suite: prompts become inputs, expectations judge evals."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise input_error(str(path), f"cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise input_error(str(path), f"malformed JSON: {exc.msg} (column {exc.colno})", exc.lineno) from None
    if not isinstance(data, dict) or not isinstance(data.get("evals"), list) or not data["evals"]:
        raise input_error(str(path), "expected {\"skill_name\": ..., \"evals\": [{\"id\", \"prompt\", "
                                     "\"expectations\": [...]}, ...]}", 1, "evals")
    problems: list[Problem] = []
    inputs, evals, ids = [], [], set()
    for index, item in enumerate(data["evals"]):
        where = f"evals[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("prompt"), str) or not item["prompt"].strip():
            problems.append(Problem(str(path), "needs a non-empty string `prompt`", None, where))
            continue
        expectations = item.get("expectations", [])
        if not isinstance(expectations, list) or not all(isinstance(x, str) and x.strip() for x in expectations):
            problems.append(Problem(str(path), "`expectations` must be a list of non-empty strings", None,
                                    f"{where}.expectations"))
            continue
        input_id = _unique(ids, f"eval-{item.get('id', index + 1)}")
        text = item["prompt"]
        files = item.get("files") or []
        if files:
            text += "\n\nFiles: " + ", ".join(map(str, files))
        entry: dict[str, Any] = {"id": input_id, "text": text}
        if holdout_every and (index + 1) % holdout_every == 0:
            entry["split"] = "holdout"
        inputs.append(entry)
        for n, expectation in enumerate(expectations, 1):
            evals.append({"id": f"{input_id}-x{n}", "question": f"Is this true of the output: {expectation}",
                          "judge": {"pass": expectation, "fail": f"This is not true of the output: {expectation}"},
                          "inputs": [input_id]})
        if item.get("expected_output"):
            evals.append({"id": f"{input_id}-expected", "question": "Does the output match the expected result?",
                          "judge": {"pass": f"The output achieves this expected result: {item['expected_output']}",
                                    "fail": "The output misses the expected result in a way that matters."},
                          "inputs": [input_id]})
    if problems:
        raise InputError(problems)
    if not evals:
        raise input_error(str(path), "no expectations to turn into evals", 1, "evals")
    name = str(data.get("skill_name") or path.parent.parent.name or "imported")
    return Imported({"name": _slug(name, "imported"), "skill": skill or "../SKILL.md", "inputs": inputs,
                     "evals": evals})

