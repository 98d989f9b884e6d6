"""The embedded offline model: a deterministic, noisy SIMULATOR for demos and tests, not a language model.

It reads the skill in the system prompt as a list of directives and obeys each one with a probability
that grows with how clearly it is stated (must/always, emphasis, a literal, an example) and how
prominently (early in the document, in a short document). Seeded on (seed, system, prompt, sample),
so a run is reproducible while N samples differ. It also plays a keyword-matching judge and a
mutator that proposes plausible edits from the failing evals' reasons. Scores it produces say
nothing about a real model; they exist so the whole loop can run, and be tested, with no API key.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
from dataclasses import dataclass
from functools import lru_cache

from ..keywords import content_words, stem
from ..models import Completion, ModelSpec, Usage

_STRONG = re.compile(r"\b(must|always|never|required|important|make sure|ensure|exactly|only)\b", re.I)
_SHOULD = re.compile(r"\bshould\b", re.I)
_WEAK = re.compile(r"\b(may|might|can|could|consider|try to|if possible|optionally|ideally|feel free)\b", re.I)
_EMPHASIS = re.compile(r"\*\*[^*]+\*\*|\b[A-Z]{4,}\b")
_NEGATIVE = re.compile(r"\b(never|do not|don't|avoid|must not|no)\b", re.I)
_LIMIT = re.compile(r"(?:under|at most|no more than|fewer than|less than|maximum of|within|up to)\s+(\d+)\s+words", re.I)
_JSON_VERB = re.compile(r"\b(respond|reply|return|output|answer|format|write)\b", re.I)
_START = re.compile(r"\b(start|begin|open|first line)", re.I)
_END = re.compile(r"\b(end with|finish|close with|last line|sign off)", re.I)
_LITERAL = re.compile(r"`([^`\n]+)`|\"([^\"\n]+)\"")
_HABIT = "Sure! Here is what you asked for."


@dataclass(frozen=True)
class Directive:
    """One instruction found in the skill, and the chance that the simulated model obeys it."""

    kind: str  # include | exclude | limit | json | mention
    p: float
    literal: str = ""
    where: str = "any"  # start | end | any
    number: int = 0
    keys: tuple[str, ...] = ()
    words: tuple[str, ...] = ()


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _clamp(p: float, low: float = 0.03, high: float = 0.96) -> float:
    return max(low, min(high, p))


def _strip_frontmatter(text: str) -> str:
    m = re.match(r"\ufeff?---\r?\n.*?\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|$)", text, re.S)
    return text[m.end():] if m else text


_INVOKED = re.compile(r'<skill name="[^"]*"[^>]*>\n(.*?)\n?</skill>', re.S)


def _skill_body(text: str) -> str:
    """The skill's body, whether given raw or framed as a harness shows an invoked skill (`<skill ...>body</skill>`)."""
    invoked = _INVOKED.search(text)
    return invoked.group(1) if invoked else _strip_frontmatter(text)


def _sentences(skill_text: str) -> tuple[list[str], str]:
    """Instruction sentences (outside code fences and headings) and the text of the examples."""
    sentences: list[str] = []
    examples: list[str] = []
    fence = False
    for raw in _skill_body(skill_text).splitlines():
        line = raw.strip()
        if line.startswith(("```", "~~~")):
            fence = not fence
            continue
        if fence:
            examples.append(line)
            continue
        if not line or line.startswith("#"):
            continue
        line = re.sub(r"^(?:[-*+]|\d+[.)])\s+", "", line)
        sentences.extend(s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z*`\"])", line) if s.strip())
    return sentences, "\n".join(examples)


def _strength(sentence: str, literals: list[str], index: int, total: int, examples: str) -> float:
    """How likely a directive is obeyed: stated strongly, with a literal or an example, early, in a short text."""
    p = 0.42
    p += 0.22 if _STRONG.search(sentence) else 0.10 if _SHOULD.search(sentence) else 0.0
    p -= 0.15 if _WEAK.search(sentence) else 0.0
    p += 0.10 if _EMPHASIS.search(sentence) else 0.0
    p += 0.08 if literals or re.search(r"\d", sentence) else 0.0
    if re.search(r"\b(e\.g\.|for example|example)\b", sentence, re.I) or any(lit in examples for lit in literals):
        p += 0.08
    return p + 0.12 * (1 - index / total) - 0.01 * max(0, total - 12)


@lru_cache(maxsize=256)
def directives(skill_text: str) -> tuple[Directive, ...]:
    """Read the skill as directives; repeated directives on the same target reinforce each other."""
    sentences, examples = _sentences(skill_text)
    total = max(1, len(sentences))
    grouped: dict[tuple, list[Directive]] = {}
    for index, s in enumerate(sentences):
        literals = [a or b for a, b in _LITERAL.findall(s)]
        p = _strength(s, literals, index, total, examples)
        negative = bool(_NEGATIVE.search(s))
        limit = _LIMIT.search(s)
        found: list[Directive] = []
        if limit:
            found.append(Directive("limit", p, number=int(limit.group(1))))
        elif re.search(r"\bjson\b", s, re.I) and _JSON_VERB.search(s) and not negative:
            found.append(Directive("json", p, keys=tuple(literals)))
        elif literals:
            where = "start" if _START.search(s) else "end" if _END.search(s) else "any"
            found.extend(Directive("exclude" if negative else "include", p, lit, where) for lit in literals)
        elif not negative:
            words = tuple(content_words(s))
            if words:
                found.append(Directive("mention", p, words=words))
        for d in found:
            key = (d.kind, d.literal.lower(), d.where, d.number, d.keys, tuple(sorted(map(stem, d.words))))
            grouped.setdefault(key, []).append(d)
    result = []
    for same in grouped.values():
        miss = 1.0
        for d in same:
            miss *= 1 - _clamp(d.p)
        result.append(Directive(**{**same[0].__dict__, "p": _clamp(1 - miss, high=0.97)}))
    return tuple(result)


_RUN = re.compile(r"\b(run|execute|invoke|call)\b", re.I)
_WRITE = re.compile(r"\b(write|save|create|store|put)\b", re.I)
_FILENAME = re.compile(r"^[\w.-]+(?:/[\w.-]+)*\.[A-Za-z0-9]{1,6}$")


@dataclass(frozen=True)
class Action:
    """A tool use the skill asks for: run a command, or write the answer to a file."""

    kind: str  # run | write
    literal: str
    p: float


@lru_cache(maxsize=256)
def actions(skill_text: str) -> tuple[Action, ...]:
    """The commands the skill says to run and the files it says to write, in the order it says them."""
    sentences, examples = _sentences(skill_text)
    total = max(1, len(sentences))
    found: list[Action] = []
    for index, s in enumerate(sentences):
        literals = [a or b for a, b in _LITERAL.findall(s)]
        if not literals or _NEGATIVE.search(s):
            continue
        p = _clamp(_strength(s, literals, index, total, examples))
        for lit in literals:
            if _RUN.search(s) and (" " in lit.strip() or lit.startswith(("./", "scripts/"))):
                found.append(Action("run", lit.strip(), p))
            elif _WRITE.search(s) and _FILENAME.match(lit.strip()):
                found.append(Action("write", lit.strip(), p))
    return tuple(found)


def _input_sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+|\n+", text)
    return [p.strip(" -*\t") for p in parts if len(p.split()) >= 3] or [text.strip() or "(empty input)"]


def follow(skill_text: str, user_input: str, rng: random.Random) -> str:
    """Produce an answer that obeys each directive of the skill with its probability."""
    difficulty = (int(hashlib.sha256(user_input.encode()).hexdigest()[:4], 16) / 65535 - 0.5) * 0.16
    obeyed = [(d, rng.random() < _clamp(d.p - difficulty)) for d in directives(skill_text)]
    source = _input_sentences(user_input)
    body: list[str] = []
    if rng.random() < 0.65:
        body.append(_HABIT)
    target = int(min(60 + 0.8 * len(user_input.split()), 260) * rng.uniform(0.8, 1.3))
    fillers = ["This covers the main points.", "Several details were discussed at length.",
               "The discussion moved between topics.", "Further context is available on request."]
    i = 0
    while sum(len(x.split()) for x in body) < target:
        body.append(_sentence(source[i]) if i < len(source) else rng.choice(fillers))
        i += 1
    for d, ok in obeyed:
        if d.kind == "mention" and ok:
            phrase = " ".join(d.words[:8])
            body.insert(rng.randint(1 if body else 0, len(body)), f"{phrase[0].upper()}{phrase[1:]}: {_sentence(rng.choice(source))}")
    start = [d.literal for d, ok in obeyed if d.kind == "include" and ok and d.where == "start"]
    end = [d.literal for d, ok in obeyed if d.kind == "include" and ok and d.where == "end"]
    for d, ok in obeyed:
        if d.kind == "include" and ok and d.where == "any":
            body.insert(rng.randint(0, len(body)), d.literal)
        if d.kind == "exclude" and not ok and rng.random() < 0.6:
            body.insert(rng.randint(0, len(body)), d.literal)
    for d, ok in obeyed:
        if d.kind == "limit":
            budget = d.number - sum(len(x.split()) for x in start + end)
            if ok:
                keep = {d.literal for d, _ in obeyed if d.kind == "include"}
                pinned = [line for line in body if line in keep or ": " in line and line.split(": ")[0][:1].isupper()
                          and line not in source]
                budget -= sum(len(x.split()) for x in pinned)
                rest = _truncate([line for line in body if line not in pinned], max(0, budget))
                body = [line for line in body if line in pinned] + rest
            else:
                while sum(len(x.split()) for x in body) < int(d.number * rng.uniform(1.15, 1.8)):
                    body.append(rng.choice(fillers))
    for d, ok in obeyed:
        if d.kind == "json" and ok:
            keys = d.keys or ("result",)
            return json.dumps({k: rng.choice(source) for k in keys}, indent=2)
    text = "\n\n".join(start + body + end)
    for d, ok in obeyed:
        if d.kind == "exclude" and ok:
            text = re.sub(re.escape(d.literal), "", text, flags=re.I)
    return text.strip()


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


def _truncate(lines: list[str], words: int) -> list[str]:
    kept: list[str] = []
    for line in lines:
        n = len(line.split())
        if n <= words:
            kept.append(line)
            words -= n
        elif words > 0:
            kept.append(" ".join(line.split()[:words]))
            break
    return kept


def _tag(prompt: str, name: str) -> str:
    m = re.search(rf"<{name}(_[0-9a-f]+|)>\n?(.*?)\n?</{name}\1>", prompt, re.S)
    return m.group(2) if m else ""


def judge(prompt: str, rng: random.Random) -> str:
    """Answer a judge prompt: PASS when the output carries the pass condition's literals or keywords."""
    output = _tag(prompt, "output")
    condition = _tag(prompt, "pass_condition") or _tag(prompt, "question")
    literals = [a or b for a, b in _LITERAL.findall(condition)]
    if literals:
        missing = [lit for lit in literals if lit.lower() not in output.lower()]
        passed, detail = not missing, f"missing {missing}" if missing else f"has {literals}"
    else:
        wanted = {stem(w) for w in content_words(condition)}
        seen = {stem(w) for w in content_words(output)}
        hits = sorted(wanted & seen)
        passed = bool(wanted) and len(hits) >= max(1, len(wanted) / 2)
        detail = f"the output mentions {len(hits)} of {len(wanted)} key terms ({', '.join(hits) or 'none'})"
    if rng.random() < 0.04:
        passed = not passed
    return f"VERDICT: {'PASS' if passed else 'FAIL'}\nREASON: {detail}"


_FAILURE = re.compile(r'<failing_eval id="([^"]*)" failed="(\d+)" of="(\d+)" check="([^"]*)" value="([^"]*)"'
                      r' negate="(true|false)" min="([^"]*)" max="([^"]*)">\s*(.*?)</failing_eval>', re.S)
_TRIED = re.compile(r'<attempt kind="([^"]*)" eval="([^"]*)" decision="([^"]*)">')


def _instruction(check: str, value: str, negate: bool, low: str, high: str, question: str) -> str:
    """Turn what a failing eval expects into an instruction for the skill."""
    v = value.replace("&quot;", '"')
    if check in ("contains", "icontains") and not negate:
        return f"Always include `{v}` in your answer."
    if check in ("contains", "icontains", "starts-with", "regex") and negate:
        return f"Never write `{v}`."
    if check == "starts-with":
        return f"Always start your answer with `{v}`."
    if check == "ends-with":
        return f"Always end your answer with `{v}`."
    if check == "file-exists" and not negate and not any(ch in v for ch in "*?["):
        return f"Always write your answer to the file `{v}`."
    if check == "word-count" and high:
        return f"Keep the whole answer under {high} words."
    if check == "is-json":
        keys = ", ".join(f"`{k}`" for k in v.split(",") if k)
        return "Respond only with a JSON object" + (f" with the keys {keys}." if keys else ".")
    topics = list(dict.fromkeys(w.lower() for w in content_words(question)))
    return f"Cover these points in every answer: {', '.join(topics)}." if topics else "Follow the expected format."


_MISSED = re.compile(r'<output input="[^"]*" failed="([^"]*)">\nInput: ([^\n]*)\n')


def _describe(description: str, prompt: str, rng: random.Random) -> str:
    """A new description: the words of missed trigger queries added, or a sentence dropped after false triggers."""
    missed = [text for failed, text in _MISSED.findall(prompt) if "triggers" in failed.split(", ")]
    have = {stem(w) for w in content_words(description)}
    counts: dict[str, int] = {}
    for text in missed:
        for word in dict.fromkeys(w.lower() for w in content_words(text)):
            if stem(word) not in have:
                counts[word] = counts.get(word, 0) + 1
    words = sorted(counts, key=lambda w: (-counts[w], w))[: rng.randint(3, 6)]
    if words:
        return _answer("add-instruction", f"the description misses {len(missed)} queries it is meant for; naming "
                       "what they ask for should make the agent choose the skill", [
                           f"{description.rstrip()} Use it also when asked to {' '.join(words)}."])
    sentences = re.split(r"(?<=[.!?])\s+", description.strip())
    if len(sentences) > 1:
        return _answer("simplify", "the description fires on queries it is not meant for; a narrower one should "
                       "trigger less often by mistake", [" ".join(sentences[:-1])])
    return _answer("clarify", "state plainly when to use the skill", [f"{description.strip()} Use only when asked."])


def mutate(prompt: str, rng: random.Random) -> str:
    """Propose a new body for the section in a mutation prompt, with a one-line hypothesis."""
    section = re.search(r"<section id=[^>]*>\s*<section_body>\n?(.*?)\n?</section_body>", prompt, re.S)
    body = section.group(1) if section else ""
    if re.search(r'<section id="_description"', prompt):
        return _describe(body, prompt, rng)
    failures = [m for m in _FAILURE.finditer(prompt)]
    tried = {(k, e) for k, e, _ in _TRIED.findall(prompt)}
    lines = body.rstrip("\n").split("\n") if body.strip() else []
    if not failures:
        if len(lines) > 1:
            dropped = rng.randrange(len(lines))
            return _answer("simplify", "No eval fails; a shorter section should score the same.",
                           lines[:dropped] + lines[dropped + 1:])
        return _answer("clarify", "Nothing fails; restate the section.", lines + ["Be concise."])
    failures.sort(key=lambda m: -int(m.group(2)))
    pick = failures[0] if rng.random() < 0.7 else rng.choice(failures)
    eval_id, failed, of, check, value, negate, low, high, question = pick.groups()
    question = re.sub(r"\s+", " ", question.split("\n")[0].replace("Question:", "")).strip()
    instruction = _instruction(check, value, negate == "true", low, high, question)
    related = [i for i, line in enumerate(lines)
               if {stem(w) for w in content_words(line)} & {stem(w) for w in content_words(instruction)}]
    kinds = ["add-instruction", "clarify", "add-example", "move-up", "add-anti-pattern"]
    fresh = [k for k in kinds if (k, eval_id) not in tried] or kinds
    kind = rng.choice(fresh[:3])
    roll = rng.random()
    why = f"'{eval_id}' fails {failed}/{of}"
    if roll < 0.15:
        reworded = [re.sub(r"\b(Write|List|Keep|Use)\b", lambda m: {"Write": "Produce", "List": "Enumerate",
                    "Keep": "Maintain", "Use": "Employ"}[m.group(1)], line) for line in lines]
        return _answer("clarify", f"{why}; plainer verbs may read more clearly.", reworded)
    if roll < 0.2 and check == "judge":
        return _answer("add-instruction", f"{why}; state the judge's question directly.",
                       lines + [f"- Your answer will be checked with this question: {question}"])
    if kind == "clarify" and related:
        i = related[0]
        lines[i] = re.sub(r"^(\s*(?:[-*+]|\d+[.)])?\s*)(.*)$", lambda m: f"{m.group(1)}**{instruction}**", lines[i])
        return _answer("clarify", f"{why}; the rule is there but vague, so state it as a MUST.", lines)
    if kind == "move-up" and related:
        line = lines.pop(related[-1])
        return _answer("move-up", f"{why}; the rule is buried, moving it to the top should raise compliance.",
                       [line] + lines)
    if kind == "add-example" and check == "judge":
        return _answer("add-example", f"{why}; a worked example line should show what a complete item holds.",
                       lines + [f"- Example of a complete item: {instruction.split(': ', 1)[-1]}"])
    if kind == "add-example" and "`" in instruction and negate != "true":
        literal = re.search(r"`([^`]+)`", instruction).group(1)
        return _answer("add-example", f"{why}; an example of `{literal}` should anchor the format.",
                       lines + [f"- {instruction} For example:", "", "```", literal, "```"])
    if kind == "add-anti-pattern" and check not in ("judge", "python"):
        return _answer("add-anti-pattern", f"{why}; naming the failure mode explicitly should prevent it.",
                       lines + [f"- IMPORTANT: {instruction} Answers that miss this are wrong."])
    return _answer("add-instruction", f"{why}; an explicit instruction should fix it.", [f"- {instruction}"] + lines)


def _answer(kind: str, hypothesis: str, lines: list[str]) -> str:
    return f"<hypothesis>{hypothesis}</hypothesis>\n<kind>{kind}</kind>\n<section_body>\n" + "\n".join(lines) + \
        "\n</section_body>"


class SimModel:
    """The offline simulator behind the Model interface (backend name `sim`)."""

    def __init__(self, spec: ModelSpec | None = None):
        self.spec = spec or ModelSpec()

    async def complete(self, system: str, prompt: str, *, sample: int = 0) -> Completion:
        latency = float(self.spec.option("latency", 0) or 0)
        if latency:
            await asyncio.sleep(latency)  # pretend to be a remote model, for benchmarks and crash tests
        rng = _rng(self.spec.seed, system, prompt, sample)
        if "<judge_task>" in prompt:
            text = judge(prompt, rng)
        elif "<mutation_task>" in prompt:
            text = mutate(prompt, rng)
        else:
            text = follow(system, prompt, rng)
        return Completion(text, Usage(input_tokens=(len(system) + len(prompt)) // 4, output_tokens=len(text) // 4))

    async def aclose(self) -> None:
        return None
