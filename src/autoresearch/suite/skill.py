"""The SKILL.md document: YAML frontmatter plus an ordered tree of sections, rendered byte-exact.

A section is a top-level ATX heading (`#` to `######`) and the text up to the next such heading. Block
structure is CommonMark's (markdown-it-py): a `#` line inside a fence, an HTML block or comment, a list item
or a block quote is not a heading. Setext headings (a line underlined with `===` or `---`) are deliberately
not sections: they stay text of the section above, and validation warns about each one, because a body
rewritten above one could silently turn it into paragraph text. Ids are Unicode slugs of the titles.
The text between the frontmatter and the first heading is the pseudo-section `_preamble`.
Rendering an unchanged document returns the exact input; replacing one body touches nothing else.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import Problem, input_error

PREAMBLE_ID = "_preamble"

_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")  # the lines as CommonMark counts them
SPEC_KEYS = ("name", "description", "license", "compatibility", "metadata", "allowed-tools")


@dataclass(frozen=True)
class Section:
    """One heading and the text under it up to the next heading of any level."""

    id: str
    title: str
    level: int
    heading: str  # the raw heading line, with its line ending
    body: str  # the raw text after the heading, up to the next heading
    line: int  # 1-based line of the heading in the file
    parent: str | None = None

    @property
    def text(self) -> str:
        return self.heading + self.body


@dataclass(frozen=True)
class SkillDocument:
    """A parsed SKILL.md. `render()` gives back the exact text it was parsed from."""

    frontmatter: dict[str, Any]
    frontmatter_raw: str  # the `---` block with its delimiters, "" when absent
    sections: tuple[Section, ...]  # preamble first when present, then headings in order
    bom: str = ""
    newline: str = "\n"
    path: str = "SKILL.md"
    frontmatter_lines: dict[str, int] = field(default_factory=dict, compare=False)
    setext_lines: tuple[int, ...] = field(default=(), compare=False)  # setext headings, left as text

    def render(self) -> str:
        return self.bom + self.frontmatter_raw + "".join(s.text for s in self.sections)

    @property
    def body(self) -> str:
        """Everything after the frontmatter: what a harness shows the model when the skill is used."""
        return "".join(s.text for s in self.sections)

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.sections]

    def section(self, section_id: str) -> Section:
        for s in self.sections:
            if s.id == section_id:
                return s
        raise KeyError(f"no section {section_id!r} in {self.path}; sections: {', '.join(self.ids) or '(none)'}")

    def replace_body(self, section_id: str, new_body: str) -> "SkillDocument":
        """Return a document whose one section has `new_body`; every other byte is unchanged."""
        target = self.section(section_id)
        index = self.sections.index(target)
        body = new_body.replace("\r\n", "\n").replace("\r", "\n").replace("\n", self.newline)
        if body == target.body or not (body.strip() or target.body.strip()):
            return self  # the same text, or blank for blank: keep the original bytes (spaces, blank lines)
        trailing = target.body[len(target.body.rstrip("\r\n")):]
        leading = target.body[: len(target.body) - len(target.body.lstrip("\r\n"))] if target.body.strip() else ""
        if not body.strip():
            body = trailing if index < len(self.sections) - 1 else ""
        else:  # the blank lines around the old body stay, so the document keeps its shape
            body = leading + body.strip("\r\n") + (trailing or (self.newline if index < len(self.sections) - 1 else ""))
        heading = target.heading
        if body and heading and not heading.endswith(("\n", "\r")):
            heading += self.newline
        if target.id == PREAMBLE_ID and body and not body.endswith(("\n", "\r")) and index < len(self.sections) - 1:
            body += self.newline
        sections = list(self.sections)
        sections[index] = replace(target, heading=heading, body=body)
        return replace(self, sections=tuple(sections))


def slugify(title: str) -> str:
    """Lowercase slug keeping letters, marks and digits of every script, so it depends on the title alone.

    A title with none of them (only symbols or emoji) gets `section-` plus a short hash of the title, not a
    position: an id must not change when a sibling is added or removed. An empty title is `section`.
    """
    text = unicodedata.normalize("NFC", title).lower()
    kept = "".join(c if unicodedata.category(c)[0] in "LMN" else "-" for c in text)
    slug = re.sub(r"-+", "-", kept).strip("-")
    if slug or not title.strip():
        return slug or "section"
    return "section-" + hashlib.sha1(title.strip().encode("utf-8")).hexdigest()[:6]


def _split_frontmatter(text: str, path: str) -> tuple[str, str]:
    """Split `text` (BOM removed) into the raw frontmatter block and the rest."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\r\n").rstrip() != "---":
        return "", text
    for i in range(1, len(lines)):
        if lines[i].rstrip("\r\n").rstrip() in ("---", "..."):
            return "".join(lines[: i + 1]), "".join(lines[i + 1:])
    raise input_error(path, "frontmatter opened with '---' on line 1 is never closed", 1)


def _parse_frontmatter(raw: str, path: str) -> tuple[dict[str, Any], dict[str, int]]:
    from .yamlsource import LocatedDict, load_located

    if not raw:
        return {}, {}
    inner = "".join(raw.splitlines(keepends=True)[1:-1])
    data = load_located(inner, path, line_offset=1) if inner.strip() else None
    if data is None:
        return {}, {}
    if not isinstance(data, LocatedDict):
        raise input_error(path, "frontmatter must be a YAML mapping of keys to values", 2)
    return dict(data), dict(data.key_lines)


@functools.lru_cache(maxsize=1)
def _commonmark() -> Any:
    """The CommonMark block parser, imported on first use so that `autoresearch --help` stays fast."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").disable(["inline", "text_join"])  # block structure is all we need


@functools.lru_cache(maxsize=64)
def _heading_lines(body: str) -> tuple[dict[int, int], tuple[int, ...]]:
    """Top-level ATX headings as {line index: level}, and the indexes of setext headings (cached: the loop
    parses the same text again and again)."""
    atx: dict[int, int] = {}
    setext: list[int] = []
    for token in _commonmark().parse(body):
        if token.type == "heading_open" and token.level == 0 and token.map:
            if token.markup.startswith("#"):
                atx[token.map[0]] = len(token.markup)
            else:
                setext.append(token.map[0])
    return atx, tuple(setext)


def unclosed_fence(body: str) -> tuple[int, list[int], str] | None:
    """The 0-based line of a top-level code fence never closed, the heading-like lines it hides, its marker.

    CommonMark runs such a fence to the end of the file, so every `#` line after it is code, not a section.
    """
    lines = _LINE.findall(body)
    for token in _commonmark().parse(body):
        if token.type != "fence" or token.level != 0 or not token.map:
            continue
        start, end = token.map
        marker = token.markup[0] * len(token.markup)
        last = lines[end - 1].strip() if end - 1 > start else ""
        closed = last.startswith(marker) and not last.strip(marker[0])
        if end >= len(lines) and not closed:
            hidden = [i for i in range(start + 1, len(lines)) if _HEADING.match(lines[i].rstrip("\r\n"))]
            return start, hidden, marker
    return None


def _sections(body: str, first_line: int) -> tuple[list[Section], list[int]]:
    lines = _LINE.findall(body)
    atx, setext = _heading_lines(body)
    sections: list[Section] = []
    preamble: list[str] = []
    current: dict[str, Any] | None = None
    stack: list[tuple[int, str]] = []  # (level, id) of open ancestors
    used: dict[str | None, dict[str, int]] = {}

    def close() -> None:
        if current is not None:
            sections.append(Section(**current))

    for offset, line in enumerate(lines):
        if offset not in atx:
            _append(current, preamble, line)
            continue
        close()
        level = atx[offset]
        heading = _HEADING.match(line.rstrip("\r\n"))
        title = (heading.group(2) or "").strip() if heading else line.strip().lstrip("#").strip()
        while stack and stack[-1][0] >= level:
            stack.pop()
        parent = stack[-1][1] if stack else None
        slug = slugify(title)
        siblings = used.setdefault(parent, {})
        siblings[slug] = siblings.get(slug, 0) + 1
        if siblings[slug] > 1:
            slug = f"{slug}-{siblings[slug]}"
        section_id = f"{parent}/{slug}" if parent else slug
        stack.append((level, section_id))
        current = dict(id=section_id, title=title, level=level, heading=line, body="",
                       line=first_line + offset, parent=parent)
    close()
    if preamble:
        sections.insert(0, Section(PREAMBLE_ID, "", 0, "", "".join(preamble), first_line, None))
    return sections, [first_line + i for i in setext]


def _append(current: dict[str, Any] | None, preamble: list[str], line: str) -> None:
    if current is None:
        preamble.append(line)
    else:
        current["body"] += line


def _newline(text: str) -> str:
    crlf = text.count("\r\n")
    lf = text.count("\n") - crlf
    return "\r\n" if crlf > lf else "\n"


def parse_skill(text: str, path: str | Path = "SKILL.md") -> SkillDocument:
    """Parse SKILL.md text. Raises InputError (with the line) when the frontmatter is broken."""
    path = str(path)
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    rest = text[len(bom):]
    raw, body = _split_frontmatter(rest, path)
    frontmatter, key_lines = _parse_frontmatter(raw, path)
    first_line = raw.count("\n") + 1
    sections, setext = _sections(body, first_line)
    return SkillDocument(frontmatter, raw, tuple(sections), bom, _newline(text), path, key_lines, tuple(setext))


def load_skill(path: str | Path) -> SkillDocument:
    """Read and parse a SKILL.md file, keeping its bytes exactly (no newline translation)."""
    from .userfiles import read_user_text

    return parse_skill(read_user_text(Path(path)), Path(path))


def _valid_name(name: str) -> bool:
    """The spec's name rule: lowercase letters of any script, digits and single inner hyphens."""
    return (name == name.lower() and not name.startswith("-") and not name.endswith("-") and "--" not in name
            and all(c.isalnum() or c == "-" for c in unicodedata.normalize("NFKC", name)))


_HARNESSES_ACCEPT = "Claude Code and pi load it anyway; the Skills API would refuse it"


def _kind(value: Any) -> str:
    """A YAML value's kind in the words of the spec (list, mapping, date, number...)."""
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "null" if value is None else "date" if type(value).__name__ in ("date", "datetime") else type(value).__name__


def _spec_shape_warnings(fm: dict[str, Any]) -> list[tuple[str, str]]:
    """Spec rules on the optional keys' shapes: harnesses load such skills, so these only warn."""
    found = []
    compatibility = fm.get("compatibility")
    if compatibility is not None and (not isinstance(compatibility, str) or len(compatibility) > 500):
        found.append((f"must be a string of at most 500 characters ({_HARNESSES_ACCEPT})", "compatibility"))
    if "metadata" in fm and not isinstance(fm["metadata"], dict):
        found.append((f"must be a mapping of keys to strings ({_HARNESSES_ACCEPT})", "metadata"))
    elif isinstance(fm.get("metadata"), dict):
        bad = [f"{k} ({_kind(v)})" for k, v in fm["metadata"].items() if not isinstance(v, str)]
        if bad:
            found.append((f"values must be strings (quote them): {', '.join(bad)} ({_HARNESSES_ACCEPT})", "metadata"))
    tools = fm.get("allowed-tools")
    if tools is not None and not isinstance(tools, str):
        found.append((f"must be one space-separated string, not a {_kind(tools)} ({_HARNESSES_ACCEPT})",
                      "allowed-tools"))
    return found


def validate_skill(doc: SkillDocument, folder_name: str | None = None) -> list[Problem]:
    """Check the frontmatter against the Agent Skills rules; warnings do not block a run."""
    problems: list[Problem] = []
    lines = doc.frontmatter_lines
    fm = doc.frontmatter

    def add(message: str, key: str | None = None, severity: str = "error") -> None:
        problems.append(Problem(doc.path, message, lines.get(key, 1) if key else 1, key, severity))

    if not doc.frontmatter_raw:
        add("no YAML frontmatter: a skill starts with '---', then `name:` and `description:`")
        return problems
    name = fm.get("name")
    if name is None:
        add("required key `name` is missing")
    elif not isinstance(name, str) or not name:
        add("must be a non-empty string", "name")
    else:
        if len(name) > 64:
            add(f"is {len(name)} characters; at most 64", "name")
        if not _valid_name(name):
            add("use lowercase letters (any script), digits and single hyphens, not at the start or end", "name")
        if folder_name and name != folder_name:
            add(f"should match the skill's folder name {folder_name!r}", "name", "warning")
    description = fm.get("description")
    if description is None:
        add("required key `description` is missing")
    elif not isinstance(description, str) or not description.strip():
        add("must be a non-empty string", "description")
    elif len(description) > 1024:
        add(f"is {len(description)} characters; at most 1024", "description")
    for message, key in _spec_shape_warnings(fm):
        add(message, key, "warning")
    for key in fm:
        if key not in SPEC_KEYS:
            add("not an Agent Skills key (harnesses may accept it; the Skills API will not)", key, "warning")
    for line in doc.setext_lines:
        problems.append(Problem(doc.path, "setext heading (text underlined with === or ---) is not a section "
                                "boundary; write it as `# Title` to make it one", line, None, "warning"))
    fence = unclosed_fence(doc.body)
    if fence:
        first = doc.frontmatter_raw.count("\n") + 1
        start, hidden, marker = fence
        hides = (f"; it hides {len(hidden)} heading line(s), the first on line {first + hidden[0]}, which are "
                 "therefore not sections" if hidden else "")
        problems.append(Problem(doc.path, "this code fence is never closed, so it runs to the end of the file"
                                f"{hides}; close it with a line of {marker}", 
                                first + start, None, "warning"))
    body_lines = doc.body.count("\n")
    if body_lines > 500:
        problems.append(Problem(doc.path, f"body is {body_lines} lines; keep it under 500", None, None, "warning"))
    return problems

