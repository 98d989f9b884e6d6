"""The preflight canary: a few cheap calls that prove the whole measurement works before anything is paid.

For a harness target the real CLI starts once (twice) with a probe skill installed beside the user's:
an implicit query that must make the agent load the probe by its description, and an explicit
invocation. The canary checks that (a) the binary starts and is logged in, (b) our event parser sees the
probe listed and loaded, (c) the user's skill is listed (this harness version accepts its frontmatter),
and (d) the judge and the mutator the suite resolves to (`runner.Models`) answer one call in the format
we parse. Each failure is one line naming the cause and the fix; the calls it made are counted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import AutoresearchError, InputError
from ..evaluate.runner import Models, Spend
from ..sandbox import cell_prefix
from ..suite.suite import Input, Suite
from ..targets import SkillUnderTest, is_harness, open_target
from ..targets.harness import version_text

PROBE_NAME = "autoresearch-canary"
PROBE_SKILL = f"""---
name: {PROBE_NAME}
description: Answers the autoresearch canary probe. Use only when asked to run the autoresearch canary probe.
---

# Canary

Reply with exactly `CANARY-OK` and nothing else. Use no tool.
"""
IMPLICIT_QUERY = "Run the autoresearch canary probe."
IMPLICIT_TRIES = 2  # an agent may miss a skill once; twice in a row is a finding
PROBE_TURNS = 4
LOGIN_WORDS = re.compile(r"log ?in|/login|api[ _-]?key|authenticat|unauthori[sz]ed|\b401\b|credential", re.I)
JUDGE_PROBE = {"question": "Is the output the single word yes?", "pass": "The output is the word yes.",
               "fail": "The output is anything else.", "input": "Answer with the single word yes.", "output": "yes"}


class PreflightFailed(AutoresearchError):
    """The canary found a problem: one line per cause, each with its fix."""


@dataclass
class CanaryReport:
    """What the canary found: problems (one line each, cause and fix), notes, the calls and time it took."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    spend: Spend = field(default_factory=Spend)
    seconds: float = 0.0
    cell_seconds: float | None = None  # one measured probe cell (the implicit query), for the cost preview

    def summary(self) -> str:
        cell = f", probe cell {self.cell_seconds:.1f}s" if self.cell_seconds is not None else ""
        return (f"preflight: {'ok' if not self.problems else f'{len(self.problems)} problem(s)'}; "
                f"{self.spend.calls} call(s) made{cell}, {self.seconds:.1f}s")


def _init_event(lines: list[str]) -> dict:
    """Claude Code's `system/init` event (skills, tools, slash commands), {} when absent."""
    for line in lines:
        if '"init"' in line:
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict) and data.get("type") == "system" and data.get("subtype") == "init":
                return data
    return {}


def frontmatter_hint(text: str) -> str:
    """Why a harness may not list this SKILL.md although the Agent Skills rules accept it, when we can tell."""
    if text.startswith("\ufeff"):
        return "the file starts with a byte-order mark (save it as UTF-8 without BOM)"
    lines = text.splitlines()
    closing = next((line.strip() for line in lines[1:] if line.strip() in ("---", "...")), "")
    if closing == "...":
        return "the frontmatter is closed by `...` (close it with `---`)"
    if re.search(r"^disable-model-invocation:\s*true\s*$", text.split("\n---", 1)[0], re.M):
        return "`disable-model-invocation: true` hides it from the agent (remove it, or use mode: explicit)"
    return "check its `name` and `description` with `autoresearch validate`"


def _login_problem(harness: str, message: str) -> str | None:
    if LOGIN_WORDS.search(message):
        fix = {"claude-code": "run `claude` once and log in (or set ANTHROPIC_API_KEY)",
               "codex": "run `codex login` (or set OPENAI_API_KEY)",
               "gemini": "run `gemini` once and log in (or set GEMINI_API_KEY)",
               "opencode": "run `opencode auth login` for the model's provider"}.get(
            harness, "configure a provider and its key for pi (`pi` then /login, or ~/.pi/agent/models.json)")
        return f"{harness}: not logged in ({message[:160]}); fix: {fix}"
    return None


async def _harness_checks(models: Models, skill: SkillUnderTest, report: CanaryReport) -> None:
    """Start the target's harness with the probe installed beside the user's skill; record what fails."""
    spec = models.target_spec
    name = spec.backend
    probe_spec = dataclasses.replace(spec, options=tuple(sorted({**dict(spec.options), "mode": "implicit",
                                                                 "max_turns": PROBE_TURNS, "concurrency": 1,
                                                                 "timeout": min(float(spec.option("timeout", 300)),
                                                                                120.0)}.items())))
    try:
        target = open_target(probe_spec, models.get)
    except InputError as exc:
        report.problems.append(f"{name}: binary missing: {exc.problems[0].message if exc.problems else exc}")
        return
    version = version_text(target.binary)
    where = f"{name} {version or '(version unknown)'} ({target.binary})"
    report.notes.append(f"harness: {where}")
    target.check(skill)
    target.transcripts = []
    loading_tool = LOADING_TOOLS.get(name, "read")
    if loading_tool not in target.tools:
        report.problems.append(f"{name}: the `{loading_tool}` tool is not in allowed_tools: the agent cannot load a "
                               f"skill; fix: add {loading_tool} to the model's allowed_tools")
    try:
        await _probe_queries(target, skill, report, name, where)
    finally:
        await target.aclose()


async def _run_once(target, skill: SkillUnderTest, text: str, run: int, report: CanaryReport):
    """One probe cell: (outcome or None, its raw events, error text)."""
    started, before = time.perf_counter(), len(target.transcripts)
    try:
        outcome = await target.run(skill, Input("canary", text), run)
    except AutoresearchError as exc:
        return None, (target.transcripts[before] if len(target.transcripts) > before else []), str(exc)
    finally:
        if report.cell_seconds is None:
            report.cell_seconds = time.perf_counter() - started
    report.spend.record(outcome, calls=outcome.turns)
    outcome = target.release(outcome)
    return outcome, target.transcripts[before], ""


# The tool with which each harness's agent loads a skill (Codex: a shell command that reads its SKILL.md).
LOADING_TOOLS = {"claude-code": "Skill", "pi": "read", "codex": "command_execution", "gemini": "activate_skill",
                 "opencode": "skill"}


def _probe_loaded(name: str, outcome) -> bool:
    """Did the agent load the probe: Claude Code's Skill tool naming it, pi's read of its SKILL.md, Gemini CLI's
    activate_skill or OpenCode's skill tool naming it, a Codex command reading its SKILL.md."""
    for call in outcome.tool_calls:
        if name == "claude-code" and call.name == "Skill" and call.input.get("skill") == PROBE_NAME:
            return True
        if name in ("gemini", "opencode") and call.name == LOADING_TOOLS[name] \
                and call.input.get("name") == PROBE_NAME:
            return True
        if name == "codex" and call.name == "command_execution" \
                and f"{PROBE_NAME}/SKILL.md" in str(call.input.get("command", "")):
            return True
        path = str(call.input.get("path", ""))
        if name == "pi" and call.name == "read" and path.endswith(f"{PROBE_NAME}/SKILL.md"):
            return True
    return False


async def _probe_queries(target, skill: SkillUnderTest, report: CanaryReport, name: str, where: str) -> None:
    loaded, lines, error = False, [], ""
    for attempt in range(IMPLICIT_TRIES):
        outcome, lines, error = await _run_once(target, skill, IMPLICIT_QUERY, attempt, report)
        if outcome is None:
            break
        loaded = _probe_loaded(name, outcome)
        if loaded:
            break
    if error:
        report.problems.append(_login_problem(name, error) or f"{where} did not run: {error[:300]}; fix: run it "
                               f"by hand (`{target.binary} --version`) and reinstall it if it fails")
        return
    if name == "claude-code":
        init = _init_event(lines)
        tools, listed = init.get("tools") or [], init.get("skills") or []
        if not init:
            report.problems.append(f"{where}: our event parser saw no init event: this version's events changed; "
                                   "fix: use the tested version (`make harness`)")
            return
        if "Skill" not in tools:
            report.problems.append(f"{where}: the Skill tool is not offered in -p on this version (or the target's "
                                   "extra_args disallow it): the agent can load no skill and every trigger or "
                                   "implicit eval would measure 0%; fix: use a Claude Code version whose -p offers "
                                   "the Skill tool (`make harness` pins a tested one) and do not disallow Skill")
            return
        if PROBE_NAME not in listed:
            report.problems.append(f"{where}: our event parser did not see the probe skill listed; fix: use the "
                                   "tested version (`make harness`)")
        if skill.name not in listed:
            report.problems.append(f"{where}: skill `{skill.name}` is not listed to the agent because of its "
                                   f"frontmatter: {frontmatter_hint(skill.text)}")
    if not loaded:
        report.problems.append(f"{where}: the agent did not load the probe skill from its description (twice); our "
                               "event parser saw no load, so skill-used, trigger and implicit evals would read 0%; "
                               "fix: use the tested harness version (`make harness`)")
    await _explicit_check(target, skill, report, name, where)


async def _explicit_check(target, skill: SkillUnderTest, report: CanaryReport, name: str, where: str) -> None:
    """Claude Code: `/probe` must expand and load; pi (whose events list no skills): `/skill:<user's>` must expand."""
    invoked = PROBE_NAME if name == "claude-code" else skill.name
    outcome, lines, error = await _run_once(target, skill, target.flavour.explicit(invoked, "canary"), 9, report)
    if outcome is None:
        report.problems.append(_login_problem(name, error) or f"{where}: the explicit invocation failed: {error[:300]}")
        return
    skill_file = target.flavour.skill_dir(Path("/w"), invoked) / "SKILL.md"
    if name == "pi":
        used = any(line for line in lines if f'<skill name=\\"{invoked}\\"' in line and '"role":"user"' in line)
        if not used:
            report.problems.append(f"{where}: skill `{skill.name}` is not listed (`/skill:{skill.name}` was not "
                                   f"expanded) because of its frontmatter: {frontmatter_hint(skill.text)}")
        return
    if not target.flavour.parse(lines, invoked, True, skill_file).skill_used:
        report.problems.append(f"{where}: `/{invoked}` did not load the probe skill; fix: use the tested version "
                               "(`make harness`)")


async def _judge_checks(suite: Suite, models: Models, report: CanaryReport) -> None:
    """One call to each judge the suite's judge evals resolve to; its answer must hold one verdict line."""
    from ..prompts import JUDGE_SYSTEM, judge_prompt
    from ..suite.checks import CheckError, parse_judge_answer

    seen = set()
    for ev in suite.evals:
        if not ev.judge:
            continue
        model = models.judge_for(ev)
        if model.spec.name in seen:
            continue
        seen.add(model.spec.name)
        p = JUDGE_PROBE
        prompt = judge_prompt(p["question"], p["pass"], p["fail"], p["input"], p["output"], None)
        completion = await _answer(model, JUDGE_SYSTEM, prompt, f"judge {model.spec.name} (eval {ev.id})",
                                   "set another judge (`judge:` or --judge-model)", report)
        if completion is None:
            continue
        try:
            parse_judge_answer(completion.text)
        except CheckError:
            report.problems.append(f"judge {model.spec.name} (eval {ev.id}): judge format not followed: no single "
                                   f"`VERDICT: PASS|FAIL` line in {completion.text.strip()[:80]!r}; fix: set another "
                                   "judge (`judge:` in the suite or --judge-model)")
        else:
            report.notes.append(f"judge {model.spec.name}: answers in the verdict format")


async def _answer(model, system: str, prompt: str, who: str, other: str, report: CanaryReport):
    """One probe call, its spend recorded; None (and a problem with its fix) when the model cannot answer."""
    try:
        completion = await model.complete(system, prompt, sample=0)
    except AutoresearchError as exc:
        report.problems.append(f"{who} cannot answer: {str(exc)[:200]}; fix: give it its key or login, or {other}")
        return None
    report.spend.record(completion)
    return completion


async def _mutator_check(suite: Suite, models: Models, skill: SkillUnderTest, report: CanaryReport) -> None:
    """One mutator call on the suite's own skill; its answer must parse as a proposal."""
    from ..suite.skill import parse_skill
    from .mutation import MUTATOR_SYSTEM, MutationRefused, editable_sections, mutation_prompt, parse_proposal

    doc = parse_skill(skill.text, suite.skill_path)
    sections = editable_sections(doc, None, False)
    if not sections:
        return
    failure = {"id": "canary", "failed": 1, "total": 1, "question": "Is the answer clear?", "check": "judge",
               "negate": "false", "value": "", "min": "", "max": "", "expectation": "Is the answer clear?",
               "reasons": ["the answer was unclear"]}
    prompt = mutation_prompt(doc, sections[0], [failure], [], [])
    model = models.mutator
    completion = await _answer(model, MUTATOR_SYSTEM, prompt, f"mutator {model.spec.name}",
                               "set another mutator (`mutator:` or --mutator-model)", report)
    if completion is None:
        return
    try:
        parse_proposal(completion.text)
    except MutationRefused as exc:
        report.problems.append(f"mutator {model.spec.name}: proposal format not followed ({str(exc)[:120]}); fix: "
                               "set another mutator (`mutator:` or --mutator-model)")
    else:
        report.notes.append(f"mutator {model.spec.name}: answers in the proposal format")


async def canary(suite: Suite, models: Models, *, mutator: bool = True, skill_text: str | None = None) -> CanaryReport:
    """Run the canary for `suite` on `models`: the harness (when the target is one), the judges, the mutator."""
    started = time.perf_counter()
    report = CanaryReport()
    text = skill_text if skill_text is not None else suite.skill_path.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix=cell_prefix() + "canary") as folder:  # a kill -9's is removed later
        probe = Path(folder) / PROBE_NAME
        probe.mkdir()
        (probe / "SKILL.md").write_text(PROBE_SKILL, encoding="utf-8")
        skill = SkillUnderTest(text, suite.skill_path.parent, tuple(suite.distractors))
        if skill.name != PROBE_NAME:  # `doctor` with no suite measures the probe itself
            skill = SkillUnderTest(text, suite.skill_path.parent, (probe, *suite.distractors))
        if is_harness(models.target_spec):
            await _harness_checks(models, skill, report)
        if not any(": binary missing:" in problem for problem in report.problems):  # judge and mutator need it too
            await _judge_checks(suite, models, report)
            if mutator:
                await _mutator_check(suite, models, skill, report)
    report.seconds = time.perf_counter() - started
    return report


def canary_sync(suite: Suite, models: Models, **options) -> CanaryReport:
    """Blocking form of `canary`, closing the models it opened."""
    async def go() -> CanaryReport:
        try:
            return await canary(suite, models, **options)
        finally:
            await models.aclose()

    return asyncio.run(go())


def failure_text(report: CanaryReport) -> str:
    """The problems, one line each, for an error message (exit 2)."""
    return "\n".join(f"preflight: {p}" for p in report.problems) + \
        f"\n{report.summary()}; nothing else was run (skip the canary with --no-preflight)"
