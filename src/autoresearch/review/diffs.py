"""Baseline against best, section by section, and a diff's lines marked up for HTML."""

from __future__ import annotations

import html


def section_diff(before: str, after: str, path: str = "SKILL.md") -> list[tuple[str, str]]:
    """(section id, unified diff) for every section that differs between two versions of a skill."""
    from ..suite.skill import parse_skill

    old, new = parse_skill(before, path), parse_skill(after, path)
    out = []
    if old.frontmatter_raw != new.frontmatter_raw:
        out.append(("frontmatter", _unified(old.frontmatter_raw, new.frontmatter_raw, "frontmatter")))
    new_sections = {s.id: s for s in new.sections}
    for s in old.sections:
        other = new_sections.get(s.id)
        if other is None or other.text != s.text:
            out.append((s.id, _unified(s.text, other.text if other else "", s.id)))
    for s in new.sections:
        if s.id not in {o.id for o in old.sections}:
            out.append((s.id, _unified("", s.text, s.id)))
    return out


def _unified(before: str, after: str, name: str) -> str:
    import difflib

    return "".join(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                        f"baseline/{name}", f"best/{name}"))


def diff_html(text: str) -> str:
    """A unified diff as a <pre> block with added and removed lines coloured."""
    return f"<pre class='diff'>{_diff_html(text)}</pre>"


def _diff_html(text: str) -> str:
    out = []
    for line in text.splitlines():
        cls = "add" if line.startswith("+") and not line.startswith("+++") else \
            "del" if line.startswith("-") and not line.startswith("---") else "ctx"
        out.append(f"<span class='{cls}'>{html.escape(line)}</span>")
    return "\n".join(out)
