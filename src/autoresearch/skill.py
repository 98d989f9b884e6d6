"""The SKILL.md document: YAML frontmatter plus an ordered tree of sections, rendered byte-exact.

A section is an ATX heading (`#` to `######`) and the text up to the next heading of any level.
The text between the frontmatter and the first heading is the pseudo-section `_preamble`.
Rendering an unchanged document returns the exact input; replacing one body touches nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import Problem, input_error

PREAMBLE_ID = "_preamble"

_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
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
    """Lowercase ASCII slug of a heading title; `section` when nothing is left."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return slug or "section"


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


def _sections(body: str, first_line: int) -> list[Section]:
    lines = body.splitlines(keepends=True)
    sections: list[Section] = []
    preamble: list[str] = []
    current: dict[str, Any] | None = None
    stack: list[tuple[int, str]] = []  # (level, id) of open ancestors
    used: dict[str | None, dict[str, int]] = {}
    fence: str | None = None

    def close() -> None:
        if current is not None:
            sections.append(Section(**current))

    for offset, line in enumerate(lines):
        stripped = line.rstrip("\r\n")
        fence_match = _FENCE.match(stripped)
        if fence is not None:
            if fence_match and fence_match.group(1)[0] == fence[0] and len(fence_match.group(1)) >= len(fence) \
                    and not stripped.strip().lstrip(fence[0]).strip():
                fence = None
            _append(current, preamble, line)
            continue
        if fence_match:
            fence = fence_match.group(1)
            _append(current, preamble, line)
            continue
        heading = _HEADING.match(stripped)
        if not heading:
            _append(current, preamble, line)
            continue
        close()
        level = len(heading.group(1))
        title = (heading.group(2) or "").strip()
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
    return sections


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
    return SkillDocument(frontmatter, raw, tuple(_sections(body, first_line)), bom, _newline(text), path, key_lines)


def load_skill(path: str | Path) -> SkillDocument:
    """Read and parse a SKILL.md file, keeping its bytes exactly (no newline translation)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise input_error(str(p), "file not found") from None
    except OSError as exc:
        raise input_error(str(p), f"cannot read: {exc.strerror}") from None
    from .userfiles import decode_text

    return parse_skill(decode_text(data, str(p)), p)


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
        if not _NAME.match(name):
            add("use lowercase a-z, 0-9 and single hyphens, not at the start or end", "name")
        if folder_name and name != folder_name:
            add(f"should match the skill's folder name {folder_name!r}", "name", "warning")
    description = fm.get("description")
    if description is None:
        add("required key `description` is missing")
    elif not isinstance(description, str) or not description.strip():
        add("must be a non-empty string", "description")
    elif len(description) > 1024:
        add(f"is {len(description)} characters; at most 1024", "description")
    compatibility = fm.get("compatibility")
    if compatibility is not None and (not isinstance(compatibility, str) or len(compatibility) > 500):
        add("must be a string of at most 500 characters", "compatibility")
    if "metadata" in fm and not isinstance(fm["metadata"], dict):
        add("must be a mapping", "metadata")
    for key in fm:
        if key not in SPEC_KEYS:
            add("not an Agent Skills key (harnesses may accept it; the Skills API will not)", key, "warning")
    body_lines = doc.body.count("\n")
    if body_lines > 500:
        problems.append(Problem(doc.path, f"body is {body_lines} lines; keep it under 500", None, None, "warning"))
    return problems

