"""Mutation: which section to change, the mutator's prompt, parsing its answer, and the guards.

A proposal is refused (and logged) when it changes nothing, breaks the document, or copies holdout
inputs or judge wording into the skill (the leakage guard).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..decide.leakage import leakage
from ..errors import AutoresearchError, InputError, input_error
from ..evaluate.cells import FAIL
from ..evaluate.runner import EvalResult
from ..keywords import content_words, stem
from ..models.outcome import Outcome
from ..prompts import render
from ..suite.checks import describe
from ..suite.skill import PREAMBLE_ID, SkillDocument, parse_skill, validate_skill
from ..suite.suite import Suite

MUTATOR_SYSTEM = "You are a careful researcher improving an agent skill by controlled experiments."

DESCRIPTION_ID = "_description"


KINDS = ("add-instruction", "clarify", "add-example", "add-anti-pattern", "move-up", "simplify")
# The format block of templates/mutate.md.j2: a model that echoes it has proposed nothing.
PLACEHOLDERS = ("one line: what you change and why it should help", "one of the kinds above",
                "the complete new body of the section (without its heading line)")


class MutationRefused(AutoresearchError):
    """The proposal may not be tried; the reason is logged as a refused attempt."""

    refusal = "guard"  # why, for counting: guard (the proposal broke a rule) or format (no usable proposal)


class ProposalFormatError(MutationRefused):
    """The mutator's answer holds no usable proposal: the model may not be able to follow the format."""

    refusal = "format"


@dataclass(frozen=True)
class Proposal:
    body: str
    hypothesis: str
    kind: str


@dataclass(frozen=True)
class Attempted:
    """What the mutator is told about an earlier attempt on the same section."""

    kind: str
    eval: str
    decision: str
    hypothesis: str
    reason: str


def editable_sections(doc: SkillDocument, allowed: Sequence[str] | None = None,
                      allow_description: bool = False) -> list[str]:
    """Section ids the loop may change: non-empty bodies (or headed sections), limited by `allowed`."""
    ids = [s.id for s in doc.sections if s.level > 0 or s.body.strip()]
    if allow_description:
        ids.append(DESCRIPTION_ID)
    if allowed:
        unknown = [a for a in allowed if a not in ids]
        if unknown:
            raise AutoresearchError(f"--sections: no section {', '.join(map(repr, unknown))} in {doc.path}; "
                                    f"sections: {', '.join(ids)}")
        ids = [i for i in ids if i in allowed]
    return ids


def section_text(doc: SkillDocument, section_id: str) -> str:
    if section_id == DESCRIPTION_ID:
        return str(doc.frontmatter.get("description", ""))
    return doc.section(section_id).body


def choose_section(doc: SkillDocument, suite: Suite, failures: Counter, candidates: Sequence[str],
                   history: Sequence[str], experiment: int, avoid: Sequence[str] = ()) -> str:
    """Failure-driven: the section whose words best match the failing evals, less so the more it was
    just tried. Every third experiment goes round-robin to the least recently tried section.
    `avoid` lists the sections tried (once per attempt) without a keep for the same failing eval: those tried
    least often come first, so one section full of the eval's words cannot take every attempt."""
    tries = Counter(avoid)
    fewest = min(tries[c] for c in candidates)
    candidates = [c for c in candidates if tries[c] == fewest]
    if experiment % 3 == 0 or not failures:
        never = [c for c in candidates if c not in history]
        if never:
            return never[0]
        return min(candidates, key=lambda c: max(i for i, h in enumerate(history) if h == c))
    eval_words = {ev.id: {stem(w) for w in content_words(ev.question + " " + (describe(ev.check) if ev.check else ""))}
                  for ev in suite.evals}
    recent = Counter(history[-6:])

    def score(section_id: str) -> float:
        heading = "" if section_id in (PREAMBLE_ID, DESCRIPTION_ID) else doc.section(section_id).title
        words = {stem(w) for w in content_words(heading + " " + section_text(doc, section_id))}
        related = sum(count * len(words & eval_words[e]) for e, count in failures.items())
        return related / (1 + recent[section_id])

    return max(candidates, key=lambda c: (score(c), -candidates.index(c)))


def failure_summary(suite: Suite, result: EvalResult, limit_reasons: int = 3) -> list[dict[str, Any]]:
    """Failing evals on train, most failures first, with a few distinct reasons each."""
    rows = []
    for ev in suite.evals:
        cells = result.select(split="train", eval_id=ev.id)
        failed = [c for c in cells if c.status == FAIL]
        if not failed:
            continue
        reasons = list(dict.fromkeys(c.reason for c in failed))[:limit_reasons]
        check = ev.check
        rows.append({"id": ev.id, "failed": len(failed), "total": len(cells), "question": ev.question,
                     "check": check.type if check else "judge", "negate": str(bool(check and check.negate)).lower(),
                     "value": _attr(",".join(check.value) if check and isinstance(check.value, list) else
                                    (check.value if check and check.value is not None else "")),
                     "min": check.min if check and check.min is not None else "",
                     "max": check.max if check and check.max is not None else "",
                     "expectation": ("The output " + describe(check)) if check else ev.question,
                     "reasons": reasons})
    return sorted(rows, key=lambda r: -r["failed"])


def _attr(value: Any) -> str:
    return str(value).replace('"', "&quot;")


def failing_outputs(result: EvalResult, limit: int = 3, inputs: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """A few train outputs that failed the most evals (with their train inputs' text, one line, when given):
    what the mutator reads to form a hypothesis."""
    failed_by_output: dict[tuple[str, int], list[str]] = {}
    for c in result.select(split="train"):
        if c.status == FAIL:
            failed_by_output.setdefault((c.input_id, c.run), []).append(c.eval_id)
    worst = sorted(failed_by_output.items(), key=lambda kv: -len(kv[1]))[:limit]
    return [{"input_id": key[0], "failed": evals, "text": result.outputs.get(key, "")[:1500],
             "input_text": " ".join((inputs or {}).get(key[0], "").split())[:400],
             "trace": Outcome.from_dict(result.traces[key]).trace_text(1500) if key in result.traces else ""}
            for key, evals in worst]


def mutation_prompt(doc: SkillDocument, section_id: str, failures: list[dict[str, Any]],
                    outputs: list[dict[str, Any]], tried: Iterable[Attempted], template: str | Path | None = None,
                    refusals: Sequence[str] = (), near_misses: Sequence[dict[str, Any]] = (),
                    guard_refusals: Sequence[str] = ()) -> str:
    """The mutator's prompt: the skill, the section, failing evals and outputs, evaluated attempts on this
    section, a count of refusals (never the refused attempts themselves) and near misses to build on."""
    title = {DESCRIPTION_ID: "frontmatter description", PREAMBLE_ID: "text before the first heading"}.get(
        section_id, None) or doc.section(section_id).title
    return render("mutate.md.j2", template, skill=doc.render(), section_id=section_id, section_title=title,
                  section_body=section_text(doc, section_id).strip("\n"), failures=failures, outputs=outputs,
                  tried=list(tried), refusals=list(refusals), near_misses=list(near_misses)[:3],
                  guard_refusals=list(guard_refusals))


_PROPOSAL = re.compile(r"<hypothesis>(?P<hypothesis>.*?)</hypothesis>\s*(?:<kind>(?P<kind>.*?)</kind>\s*)?"
                       r"<section_body>\n?(?P<body>.*?)\n?</section_body>", re.S)


def _placeholder(text: str) -> bool:
    return " ".join(text.split()).strip().lower() in PLACEHOLDERS


def check_template(template: str | Path, doc: SkillDocument, suite: Suite, refusals: Sequence[str] = (),
                   near_misses: Sequence[dict[str, Any]] = ()) -> None:
    """Render the user's mutator template once on sample data shaped by the real helpers, so a mistake
    in it is a message naming its line before any paid call, not a traceback after the baseline."""
    import jinja2

    from ..evaluate.runner import Cell
    from ..suite.userfiles import read_user_text

    read_user_text(Path(template))  # unreadable or not UTF-8: a message naming the line
    item, ev = suite.split("train")[0], suite.evals[0]
    sample = EvalResult([Cell(item.id, ev.id, 0, FAIL, "a reason")], {item.id: "train"}, {(item.id, 0): "an output"},
                        traces={(item.id, 0): Outcome("an output").to_dict()})
    tried = [Attempted("clarify", ev.id, "discard", "a hypothesis", "a reason")]
    section = editable_sections(doc)[0] if editable_sections(doc) else PREAMBLE_ID
    try:
        with _time_bound(TEMPLATE_SECONDS):
            mutation_prompt(doc, section, failure_summary(suite, sample),
                            failing_outputs(sample, inputs={item.id: item.text}), tried, template, refusals, near_misses)
    except jinja2.TemplateSyntaxError as exc:
        raise input_error(str(template), f"template error: {exc.message}", exc.lineno) from None
    except jinja2.TemplateError as exc:
        raise input_error(str(template), f"template error: {exc}") from None
    except OverflowError as exc:  # the sandbox's cap on range()
        raise input_error(str(template), f"template error: {exc}") from None
    except RecursionError:
        raise input_error(str(template), "template error: it calls itself without end (a recursive macro)") from None
    except TimeoutError:
        raise input_error(str(template), f"template error: rendering it took over {TEMPLATE_SECONDS:g} s on sample "
                                         "data (a loop that does not end?)") from None


TEMPLATE_SECONDS = 10.0


class _time_bound:
    """Raise TimeoutError in the main thread after `seconds` (SIGALRM); elsewhere, no bound."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.armed = False

    def __enter__(self) -> None:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
            self.previous = signal.signal(signal.SIGALRM, self._expired)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
            self.armed = True

    def _expired(self, signum: int, frame: Any) -> None:
        raise TimeoutError

    def __exit__(self, *exc: Any) -> None:
        import signal

        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)


def parse_proposal(text: str) -> Proposal:
    """Read the mutator's answer: its LAST well-formed proposal (an answer may echo the prompt's format block
    first). Placeholder text, an unknown kind or no proposal at all are refused as format errors, not a crash."""
    found = [m for m in _PROPOSAL.finditer(text) if not _placeholder(m["hypothesis"]) and not _placeholder(m["body"])]
    if not found:
        if _PROPOSAL.search(text):
            raise ProposalFormatError("the answer only repeats the format block's placeholder text")
        raise ProposalFormatError("the mutator's answer lacks <hypothesis>, <kind> and <section_body> in that order")
    last = found[-1]
    hypothesis = " ".join(last["hypothesis"].split())
    kind = (last["kind"] or "").strip().lower()
    if not hypothesis:
        raise ProposalFormatError("the hypothesis is empty")
    if kind not in KINDS:
        raise ProposalFormatError(f"kind {kind!r} is not one of {', '.join(KINDS)}" if kind else
                                  f"the answer lacks <kind> (one of {', '.join(KINDS)})")
    return Proposal(strip_fence(last["body"]), hypothesis, kind)


def strip_fence(body: str) -> str:
    """A body wrapped whole in one code fence (```markdown ... ```) is the body inside it."""
    lines = body.strip("\n").split("\n")
    if len(lines) >= 2 and re.fullmatch(r"\s*(```|~~~)[\w-]*\s*", lines[0]) and \
            lines[-1].strip() == lines[0].strip()[:3]:
        return "\n".join(lines[1:-1]) + "\n"
    return body


def strip_heading(body: str, section_id: str) -> str:
    """Mutators (models and agents alike) often include the heading: a first line that is a heading is dropped."""
    lines = body.splitlines(keepends=True)
    if section_id not in (PREAMBLE_ID, DESCRIPTION_ID) and lines and lines[0].lstrip().startswith("#"):
        return "".join(lines[1:])
    return body


def check_first_heading(doc: SkillDocument, section_id: str, body: str) -> None:
    """A body whose first line is another section's heading was meant for that section: refuse it, not drop it."""
    first = body.lstrip("\n").split("\n", 1)[0].strip()
    if section_id in (PREAMBLE_ID, DESCRIPTION_ID) or not first.startswith("#"):
        return
    title = doc.section(section_id).title
    if first.lstrip("#").strip().casefold() != title.strip().casefold():
        raise MutationRefused(f"the body's first line is the heading {first!r}, but the section {section_id!r} is "
                              f"'{title}': write the body of that section (its own heading may lead it), or pass "
                              "--section for the section you wrote")


def apply_proposal(doc: SkillDocument, section_id: str, proposal: Proposal, suite: Suite) -> SkillDocument:
    """The document with the proposal applied, or MutationRefused saying why it may not be tried."""
    old = section_text(doc, section_id)
    check_first_heading(doc, section_id, proposal.body)
    proposal = Proposal(strip_heading(proposal.body, section_id), proposal.hypothesis, proposal.kind)
    if proposal.body.strip() == old.strip():
        raise MutationRefused("the proposal changes nothing")
    if section_id == DESCRIPTION_ID:
        candidate = with_description(doc, proposal.body.strip())
    else:
        candidate = doc.replace_body(section_id, proposal.body)
    try:
        reparsed = parse_skill(candidate.render(), doc.path)
    except InputError as exc:
        raise MutationRefused(f"the result does not parse: {exc}") from None
    if reparsed.ids != doc.ids:
        raise MutationRefused("the proposal adds or removes headings, which would change the section structure")
    if reparsed.frontmatter.get("name") != doc.frontmatter.get("name"):
        raise MutationRefused("the frontmatter name may never change")
    errors = [p for p in validate_skill(reparsed) if p.severity == "error"]
    if errors:
        raise MutationRefused(f"the result breaks the frontmatter: {errors[0]}")
    leak = leakage(candidate.render(), doc.render(), suite)
    if leak:
        raise MutationRefused(f"leakage guard: the proposal {leak}")
    return reparsed


def with_description(doc: SkillDocument, description: str) -> SkillDocument:
    """The document with a new frontmatter description; every other frontmatter line is kept."""
    import json

    lines = doc.frontmatter_raw.splitlines(keepends=True)
    start = doc.frontmatter_lines.get("description")
    if start is None:
        raise MutationRefused("the skill has no description to change")
    end = start
    while end < len(lines) - 1 and (lines[end].startswith((" ", "\t")) or not lines[end].strip()):
        end += 1
    newline = lines[start - 1][len(lines[start - 1].rstrip("\r\n")):] or doc.newline
    lines[start - 1:end] = [f"description: {json.dumps(description, ensure_ascii=False)}{newline}"]
    return parse_skill(doc.bom + "".join(lines) + doc.body, doc.path)
