"""The leakage guard: a proposal may not copy holdout inputs or a judge's hidden wording into the skill.

What a reviewer would call a copy, measured on normalised text (lower case, stop words out, short
stems, numbers without separators), counting only what the proposal adds to the skill:
- four content words in a row shared with a holdout input (not also in a train input), or five
  words of any kind, two of them content words;
- the facts of a holdout input: two of its names or numbers that no train input, eval or the old
  skill has, or one long number;
- a short holdout input copied whole;
- a judge's pass or fail condition: most of it word for word; or words in a row from it (four
  content words, or five words of any kind) of which two are not in the eval's question; or
  most of its content words in one added sentence, two of them not in the question;
- most of an eval's question word for word (80% of its words, at least six, in a row);
- a holdout input retold in other words: one added sentence that shares with one holdout input its
  particulars, what nothing else the mutator may see has (a name or number and one distinctive word,
  or three distinctive words; common words do not count), or one of its identifiers (a flag, a path,
  an order or VAT number, a version).
The question is shown to the mutator on purpose and its words are the behaviour's own vocabulary:
restating the wanted behaviour in them is teaching it, not copying. A refusal quotes the words it
matched, as the proposal wrote them.
bench/leakage.py measures what it catches and what it refuses wrongly on a fixed set of probes.
"""

from __future__ import annotations

import math
import re
from typing import Iterable

from ..keywords import STOP_WORDS, stem
from ..suite.suite import Suite

NGRAM = 4  # content words in a row that count as copying
WORDS_IN_A_ROW = 5  # any words in a row (two of them content words) that count as copying
QUESTION_SHINGLE = 6  # words in a row copied from an eval's question, at the least
QUESTION_COVER = 0.8  # ...and this share of the question's words: restating part of a question is teaching
SHORT_INPUT = 8  # a holdout input of fewer words than this is refused when copied whole
HIDDEN_IN_A_ROW = 2  # of the condition words copied in a row, how many the question lacks for them to count
CONDITION_COVER = 0.7  # share of a judge condition's content words in one sentence that counts as rewording
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9'-]*|\d[\d,.:]*\d%?|\d%?")
SENTENCE_OVERLAP = 4  # content words one added sentence shares with one holdout sentence, one of them a fact
_SENTENCE = re.compile(r"(?<=[.!?;:])\s+|\n+")
# Capitalised words that name no one: days, months and words a sentence often starts with.
_COMMON_NAMES = set("""monday tuesday wednesday thursday friday saturday sunday january february march april may
june july august september october november december i we you he she they it the a an if when for
each every all please note example e.g mr ms mrs dr""".split())
RETOLD = 3  # distinctive words (a name or number counts two) one added sentence shares with one holdout input
_RETELL_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
# Words too common to tell one input from another, whatever the skill: they never count as distinctive.
_COMMON_WORDS = frozenset(stem(w) for w in """one two three four five six seven eight nine ten first second
third last next new old now today tomorrow yesterday week month year day time hour minute soon later early late
her him his hers she he me my mine i'm i've i'd i'll can't don't won't it's that's let get got give gave go goes
went come came put take took make made say said tell told ask asked need needs want wants like know think see
look find keep let try call send sent write wrote read show thing things way part lot kind sort good bad big
small little long short high low new current previous same different another people person someone anyone
everyone something anything nothing everything thank thanks hello hi dear regards cheers best okay yes yeah
please sorry example instance also too still yet already again back away out off up down well even really
""".split())
_IDENT = re.compile(r"[^\s\"'`()\[\]{}<>,;]+")


def _norm(token: str) -> str:
    return token.replace(",", "").rstrip(".").lower() if token[0].isdigit() else stem(token)


def content_tokens(text: str) -> list[str]:
    """Normalised content words and numbers of `text`, in order."""
    return [_norm(t) for t in _TOKEN.findall(text)
            if t[0].isdigit() or (len(t) >= 3 and t.lower() not in STOP_WORDS)]


def _ngrams(tokens: list[str], n: int = NGRAM) -> set[tuple[str, ...]]:
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _word_runs(text: str) -> set[tuple[str, ...]]:
    """Runs of WORDS_IN_A_ROW words with at least two content words among them."""
    words = _words(text)
    runs = (tuple(words[i:i + WORDS_IN_A_ROW]) for i in range(len(words) - WORDS_IN_A_ROW + 1))
    return {run for run in runs if len(content_tokens(" ".join(run))) >= 2}


def quote_tokens(text: str, tokens: tuple[str, ...]) -> str:
    """The words of `text` that normalise to `tokens` in a row (content words), as the author wrote them."""
    found = [(_norm(m.group()), m.start(), m.end()) for m in _TOKEN.finditer(text)
             if m.group()[0].isdigit() or (len(m.group()) >= 3 and m.group().lower() not in STOP_WORDS)]
    for i in range(len(found) - len(tokens) + 1):
        if tuple(t for t, _, _ in found[i:i + len(tokens)]) == tokens:
            return _short(text[found[i][1]:found[i + len(tokens) - 1][2]])
    return " ".join(tokens)


def quote_words(text: str, words: tuple[str, ...]) -> str:
    """The words of `text` equal to `words` in a row (any case, any punctuation between), as written."""
    match = re.search(r"\b" + r"[^a-z0-9]+".join(map(re.escape, words)) + r"\b", text, re.IGNORECASE)
    return _short(match.group()) if match else " ".join(words)


def _short(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _added_sentence(text: str, tokens: set[str]) -> str:
    """The sentence of `text` whose content words are `tokens`, as written."""
    return next((_short(raw) for raw in _SENTENCE.split(text) if set(content_tokens(raw)) == tokens), "")


def facts(text: str) -> set[str]:
    """Names (capitalised words that are not common ones) and numbers, normalised. A capitalised
    word that only starts a sentence counts too: it matters only when a holdout input has it."""
    found = set()
    for token in _TOKEN.findall(text):
        if token[0].isdigit():
            found.add(_norm(token))
        elif token[0].isupper() and len(token) >= 2 and token.lower() not in _COMMON_NAMES | STOP_WORDS:
            found.add(re.sub(r"'s$", "", token.lower()))
    return found


def identifiers(text: str) -> dict[str, str]:
    """Identifier-like tokens (flags, paths, snake_case, camelCase, letters with digits), normalised, to
    each as written: an order number or a version copied from an input names it as surely as a sentence."""
    found = {}
    for raw in _IDENT.findall(text):
        token = raw.strip(".:!?#*")
        if len(token) < 4 or not re.search(r"[A-Za-z]", token):
            continue
        if (token.startswith("-") or "/" in token or "_" in token or re.search(r"[a-z][A-Z]", token)
                or (re.search(r"\d", token) and re.search(r"[A-Za-z]", token))):
            found.setdefault(token.lower(), token)
    return found


def specific_facts(item, known: set[str]) -> set[str]:
    """The names and numbers of a holdout input that nothing the mutator may see has."""
    return facts(item.text) - known


def _long_number(fact: str) -> bool:
    return sum(c.isdigit() for c in fact) >= 3


def _sentences(text: str) -> Iterable[set[str]]:
    for sentence in _SENTENCE.split(text):
        tokens = set(content_tokens(sentence))
        if tokens:
            yield tokens


def leakage(new_text: str, old_text: str, suite: Suite) -> str | None:
    """What the proposal copied from holdout inputs or eval wording that the skill did not have already."""
    added_grams = _ngrams(content_tokens(new_text)) - _ngrams(content_tokens(old_text))
    added_text = " ".join(_words(new_text))
    old_words = " ".join(_words(old_text))
    old_facts = facts(old_text)
    known_facts = set(old_facts)
    for item in suite.split("train"):
        known_facts |= facts(item.text)
        added_grams -= _ngrams(content_tokens(item.text))
    for ev in suite.evals:
        known_facts |= facts(" ".join([ev.question] + ([ev.judge.pass_condition, ev.judge.fail_condition]
                                                       if ev.judge else [])))
    new_facts = facts(new_text) - old_facts
    background = set(content_tokens(old_text)) | _COMMON_WORDS
    known_idents = set(identifiers(old_text))
    for text in [i.text for i in suite.split("train")] + [_eval_text(ev) for ev in suite.evals]:
        background |= set(content_tokens(text))
        known_idents |= set(identifiers(text))
    old_sentences, new_sentences = list(_sentences(old_text)), list(_sentences(new_text))
    added_runs = _word_runs(new_text) - _word_runs(old_text)
    for item in suite.split("holdout"):
        copied = added_grams & _ngrams(content_tokens(item.text))
        if copied:
            return f"copies text of holdout input '{item.id}': \"{quote_tokens(new_text, sorted(copied)[0])}\""
        runs = added_runs & _word_runs(item.text)
        if runs:
            return f"copies text of holdout input '{item.id}': \"{quote_words(new_text, sorted(runs)[0])}\""
        item_facts = specific_facts(item, known_facts)
        specific = item_facts & new_facts
        if len(specific) >= 2 or any(_long_number(f) for f in specific):
            return f"copies facts of holdout input '{item.id}' ({', '.join(sorted(specific))})"
        item_facts_normed = {_norm(f) for f in item_facts}
        for sentence in _sentences(item.text):
            for added in new_sentences:
                shared = sentence & added
                if len(shared) >= SENTENCE_OVERLAP and (shared & item_facts_normed or len(shared) > SENTENCE_OVERLAP) \
                        and added not in old_sentences:
                    return (f"copies a sentence of holdout input '{item.id}' in other words: "
                            f"\"{_added_sentence(new_text, added)}\"")
        retold = _retells(item, new_text, old_text, background, known_idents, item_facts)
        if retold:
            return f"copies holdout input '{item.id}' in other words: {retold}"
        whole = " ".join(_words(item.text))
        if whole and len(whole.split()) < SHORT_INPUT and f" {whole} " in f" {added_text} " \
                and f" {whole} " not in f" {old_words} ":
            return f"copies holdout input '{item.id}' whole: \"{quote_words(new_text, tuple(whole.split()))}\""
    for ev in suite.evals:
        copied = _copies_eval(ev, added_grams, new_sentences, old_sentences, added_runs, new_text, old_text)
        if copied:
            return f"copies the wording of eval '{ev.id}' into the skill: {copied}"
    return None


def _copies_eval(ev, added_grams: set, new_sentences: list[set], old_sentences: list[set], added_runs: set,
                 new_text: str, old_text: str) -> str | None:
    """The proposal's words that repeat the eval's question, or its judge's conditions, nearly verbatim (quoted,
    with where they come from), or None. The question is shown to the mutator on purpose and its words are
    the behaviour's own vocabulary: restating the behaviour in them is teaching it, not copying."""
    copied = _most_of(ev.question, new_text, old_text)
    if copied:
        return f"\"{copied}\" (most of its question)"
    if not ev.judge:
        return None
    asked = set(content_tokens(ev.question))
    for name, condition in (("pass", ev.judge.pass_condition), ("fail", ev.judge.fail_condition)):
        copied = _most_of(condition, new_text, old_text)
        if copied:
            return f"\"{copied}\" (most of its judge's {name} condition, word for word)"
        runs = {r for r in added_runs & _word_runs(condition)
                if len(_hidden(set(content_tokens(" ".join(r))), asked)) >= HIDDEN_IN_A_ROW}
        if runs:
            return f"\"{quote_words(new_text, sorted(runs)[0])}\" (from its judge's {name} condition)"
        grams = {g for g in added_grams & (_ngrams(content_tokens(condition)) - _ngrams(content_tokens(ev.question)))
                 if len(_hidden(set(g), asked)) >= HIDDEN_IN_A_ROW}
        if grams:
            return f"\"{quote_tokens(new_text, sorted(grams)[0])}\" (from its judge's {name} condition)"
        words = set(content_tokens(condition)) - _COMMON_WORDS
        hidden = _hidden(words, asked)
        for sentence in new_sentences:
            if sentence in old_sentences or len(words) < 4:
                continue
            if len(words & sentence) >= CONDITION_COVER * len(words) and len(hidden & sentence) >= 2:
                return f"\"{_added_sentence(new_text, sentence)}\" rewords its judge's {name} condition"
    return None


def _most_of(source: str, new_text: str, old_text: str) -> str | None:
    """The added words that repeat most of `source` word for word (at least QUESTION_SHINGLE in a row), quoted."""
    words = _words(source)
    n = max(QUESTION_SHINGLE, math.ceil(QUESTION_COVER * len(words)))
    copied = (_ngrams(_words(new_text), n) - _ngrams(_words(old_text), n)) & _ngrams(words, n)
    return quote_words(new_text, sorted(copied)[0]) if copied else None


def _hidden(words: set[str], asked: set[str]) -> set[str]:
    """The condition words the question lacks; a word sharing a stem with a question word (name, names; own,
    owner) is not hidden."""
    return {w for w in words if not any(w.startswith(a) or a.startswith(w) for a in asked if min(len(a), len(w)) >= 3)}


def _eval_text(ev) -> str:
    """An eval's question and its judge's conditions, all the mutator may know of it."""
    return " ".join([ev.question] + ([ev.judge.pass_condition, ev.judge.fail_condition] if ev.judge else []))


def _retells(item, new_text: str, old_text: str, background: set[str], known_idents: set[str],
             item_facts: set[str]) -> str | None:
    """An added sentence that retells holdout `item` in other words (quoted, with the words it shares), or an
    identifier of it the proposal added; None when there is neither. A name or number the mutator could not
    have seen elsewhere counts two, a distinctive word one; RETOLD in one sentence is a retelling."""
    shared_idents = [written for key, written in identifiers(new_text).items()
                     if key in identifiers(item.text) and key not in known_idents]
    if shared_idents:
        return f"its identifier \"{shared_idents[0]}\""
    distinctive = set(content_tokens(item.text)) - background
    particular = {_norm(f) for f in item_facts}
    old_sentences = {raw.strip() for raw in _RETELL_SENTENCE.split(old_text)}
    for raw in _RETELL_SENTENCE.split(new_text):
        if raw.strip() in old_sentences:
            continue
        words = [(w.rstrip("'"), _norm(re.sub(r"'s?$", "", w))) for w in _TOKEN.findall(raw)]
        names = {t for _, t in words if t in particular}
        shared = {t for w, t in words if t in distinctive and (w[0].isdigit() or len(w) >= 3)} - names
        if 2 * len(names) + len(shared) >= RETOLD:
            matched = [w for w, t in words if t in shared | names]
            return f"\"{_short(raw)}\" (shares {', '.join(dict.fromkeys(matched))})"
    return None
