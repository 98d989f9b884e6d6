"""promptfoo's assertions as our checks: expected-value shorthands, regexes, providers and the python adapter."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

# promptfoo assert types we convert directly (with or without `not-`), and how.
PROMPTFOO_DIRECT = {"contains", "icontains", "equals", "starts-with", "regex", "contains-any", "contains-all",
                    "icontains-any", "icontains-all", "is-json", "contains-json"}


PROMPTFOO_CONVERTED = sorted(PROMPTFOO_DIRECT | {"python", "llm-rubric", "latency", "cost"})


# promptfoo asserts that measure the run, not the text: the outcome check each maps to, and the unit factor.
PROMPTFOO_OUTCOME = {"latency": ("max-seconds", 0.001), "cost": ("max-cost", 1.0)}


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
