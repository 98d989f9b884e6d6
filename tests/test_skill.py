from pathlib import Path

import pytest
from conftest import ROOT

from autoresearch.errors import InputError
from autoresearch.suite.skill import PREAMBLE_ID, load_skill, parse_skill, validate_skill

FM = "---\nname: demo-skill\ndescription: Does a thing. Use when asked.\n---\n"

CORPUS = {
    "plain": FM + "# Title\n\nBody.\n",
    "no-frontmatter": "# Title\n\nBody text.\n",
    "no-trailing-newline": FM + "# Title\n\nLast line",
    "crlf": FM.replace("\n", "\r\n") + "# Title\r\n\r\nBody.\r\n## Sub\r\ntext\r\n",
    "bom": "\ufeff" + FM + "# Title\nBody\n",
    "bom-crlf-no-newline": "\ufeff" + FM.replace("\n", "\r\n") + "# T\r\nx",
    "empty-sections": FM + "# A\n## B\n### C\n",
    "repeated-titles": FM + "# Steps\n## Example\none\n## Example\ntwo\n## Example\nthree\n",
    "closing-hashes": FM + "# Title ##\n\n## Sub section ###   \nbody\n",
    "fenced-hash": FM + "# Real\n\n```bash\n# not a heading\necho hi\n```\n\n## Also real\n",
    "tilde-fence": FM + "# Real\n~~~\n# no\n~~~~\n# yes\n",
    "unclosed-fence": FM + "# Real\n```\n# inside forever\n",
    "preamble": FM + "Intro text before any heading.\n\n# First\nx\n",
    "only-frontmatter": FM,
    "only-frontmatter-no-newline": FM.rstrip("\n"),
    "empty-file": "",
    "hash-without-space": FM + "#hashtag is text\n# Heading\n",
    "seven-hashes": FM + "####### not a heading\n# Heading\n",
    "indented-heading": FM + "   # three spaces is a heading\n    # four is code\n",
    "deep-nesting": FM + "# A\n## B\n### C\n#### D\n##### E\n###### F\nleaf\n# G\n",
    "level-skip": FM + "# A\n### C\n## B\n",
    "unicode": FM + "# Café ünïcode ✓\n\nTexte accentué — tirets.\n",
    "trailing-blank-lines": FM + "# A\n\n\n\n",
    "empty-heading": FM + "#\n##   \nbody\n",
    "tabs-and-spaces": FM + "#\tTabbed\n\t- item\n",
    "mixed-newlines": FM + "# A\r\nx\n## B\ry\n",
    "yaml-end-marker": "---\nname: x\ndescription: y\n...\n# A\n",
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_unchanged_document_renders_to_the_exact_input(name):
    text = CORPUS[name]
    assert parse_skill(text).render() == text


def test_corpus_has_at_least_twenty_shapes():
    assert len(CORPUS) >= 20


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_replacing_one_section_leaves_every_other_byte(name):
    doc = parse_skill(CORPUS[name])
    for section in doc.sections:
        new = doc.replace_body(section.id, "Rewritten body.\n")
        others_before = [s.text for s in doc.sections if s.id != section.id]
        others_after = [s.text for s in new.sections if s.id != section.id]
        assert others_after == others_before
        assert new.frontmatter_raw == doc.frontmatter_raw and new.bom == doc.bom
        reparsed = parse_skill(new.render())
        assert reparsed.ids == doc.ids, "a body replacement must not change the section structure"
        assert "Rewritten body." in reparsed.section(section.id).body


def test_section_ids_are_slug_paths_with_suffixes_for_repeated_titles():
    doc = parse_skill(CORPUS["repeated-titles"])
    assert doc.ids == ["steps", "steps/example", "steps/example-2", "steps/example-3"]
    deep = parse_skill(CORPUS["deep-nesting"])
    assert "a/b/c/d/e/f" in deep.ids and "g" in deep.ids
    assert parse_skill(CORPUS["level-skip"]).ids == ["a", "a/c", "a/b"]


def test_hash_inside_fenced_code_is_not_a_heading():
    assert parse_skill(CORPUS["fenced-hash"]).ids == ["real", "real/also-real"]
    assert parse_skill(CORPUS["tilde-fence"]).ids == ["real", "yes"]
    assert parse_skill(CORPUS["unclosed-fence"]).ids == ["real"]


def test_headings_follow_commonmark_rules():
    assert parse_skill(CORPUS["hash-without-space"]).ids == [PREAMBLE_ID, "heading"]
    assert parse_skill(CORPUS["indented-heading"]).ids == ["three-spaces-is-a-heading"]
    assert parse_skill(CORPUS["closing-hashes"]).sections[1].title == "Sub section"


def test_section_lines_count_from_the_top_of_the_file():
    doc = parse_skill(FM + "# A\nx\n## B\n")
    assert [s.line for s in doc.sections] == [5, 7]


def test_replacement_keeps_crlf_line_endings():
    doc = parse_skill(CORPUS["crlf"])
    out = doc.replace_body("title", "one\ntwo\n").render()
    assert "one\r\ntwo\r\n" in out and "\n" not in out.replace("\r\n", "")


def test_frontmatter_is_parsed_with_key_lines():
    doc = parse_skill(FM + "# A\n")
    assert doc.frontmatter == {"name": "demo-skill", "description": "Does a thing. Use when asked."}
    assert doc.frontmatter_lines == {"name": 2, "description": 3}


def test_unclosed_frontmatter_is_an_error_on_line_one():
    with pytest.raises(InputError) as err:
        parse_skill("---\nname: x\n# A\n", "s/SKILL.md")
    assert "s/SKILL.md:1:" in str(err.value) and "never closed" in str(err.value)


def test_malformed_frontmatter_yaml_names_the_line():
    with pytest.raises(InputError) as err:
        parse_skill("---\nname: x\ndescription: [unclosed\n---\n", "SKILL.md")
    assert "SKILL.md:4:" in str(err.value) or "SKILL.md:3:" in str(err.value)
    assert "malformed YAML" in str(err.value)


@pytest.mark.parametrize("frontmatter,key,fragment", [
    ("name: Bad_Name\ndescription: d", "name", "lowercase"),
    ("name: -lead\ndescription: d", "name", "lowercase"),
    ("name: a--b\ndescription: d", "name", "lowercase"),
    ("name: " + "a" * 65 + "\ndescription: d", "name", "at most 64"),
    ("description: d", None, "`name` is missing"),
    ("name: ok\ndescription: ''", "description", "non-empty"),
    ("name: ok\ndescription: " + "d" * 1025, "description", "at most 1024"),
])
def test_frontmatter_violations_are_reported_with_key_and_line(frontmatter, key, fragment):
    doc = parse_skill(f"---\n{frontmatter}\n---\n# A\n", "x/SKILL.md")
    errors = [p for p in validate_skill(doc) if p.severity == "error"]
    assert errors, "expected a violation"
    assert any(fragment in p.message and p.key == key for p in errors)
    if key:
        assert errors[0].line == doc.frontmatter_lines[key]


def test_folder_name_mismatch_and_extra_keys_are_warnings():
    doc = parse_skill("---\nname: ok\ndescription: d\nargument-hint: x\n---\n")
    problems = validate_skill(doc, folder_name="other")
    assert {p.severity for p in problems} == {"warning"}
    assert {p.key for p in problems} == {"name", "argument-hint"}


def test_load_skill_keeps_bytes_and_reports_missing_file(tmp_path):
    path = tmp_path / "SKILL.md"
    path.write_bytes(CORPUS["crlf"].encode())
    assert load_skill(path).render() == CORPUS["crlf"]
    with pytest.raises(InputError, match="file not found"):
        load_skill(tmp_path / "missing.md")


def test_replacement_keeps_the_blank_lines_around_the_body():
    doc = parse_skill(FM + "# A\n\nold body\n\n## B\nx\n")
    assert doc.replace_body("a", "new body").render() == FM + "# A\n\nnew body\n\n## B\nx\n"
    assert doc.replace_body("a", "\n\n\nnew\n").render() == FM + "# A\n\nnew\n\n## B\nx\n"


# -- real-world shapes: block structure, Unicode ids, spec details ----------------------------------

FIXTURES = Path(__file__).parent / "fixtures"
EVERY_SKILL = sorted(p for p in ROOT.rglob("SKILL.md") if not {".venv", ".harness", "node_modules"} & set(p.parts)) \
    + sorted((FIXTURES / "skills").glob("*.md"))


@pytest.mark.parametrize("path", EVERY_SKILL, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_skill_in_the_repository_round_trips_and_replaces_byte_exact(path):
    text = path.read_bytes().decode("utf-8")
    doc = parse_skill(text, path)
    assert doc.render() == text
    for section in doc.sections:
        new = doc.replace_body(section.id, "Rewritten body.\n")
        assert [s.text for s in new.sections if s.id != section.id] == \
            [s.text for s in doc.sections if s.id != section.id]
        assert parse_skill(new.render()).ids == doc.ids


def _fixture(name):
    return load_skill(FIXTURES / "skills" / name)


def test_a_fence_opened_in_a_list_item_closes_when_the_item_ends():
    assert _fixture("list-fence.md").ids == [PREAMBLE_ID, "setup", "setup/usage", "setup/troubleshooting"]


def test_headings_in_html_comments_and_html_blocks_are_not_sections():
    assert _fixture("html-blocks.md").ids == [PREAMBLE_ID, "guide", "guide/real-section"]


def test_a_one_line_fence_hides_no_later_heading():
    assert _fixture("one-line-fence.md").ids == [PREAMBLE_ID, "commands", "commands/later", "commands/later/deeper"]


def test_setext_headings_stay_text_and_validation_says_so():
    doc = _fixture("setext.md")
    assert doc.ids == [PREAMBLE_ID, "real"]
    assert "Overview\n========\n" in doc.section(PREAMBLE_ID).body
    warnings = [p for p in validate_skill(doc) if "setext" in p.message]
    assert [p.line for p in warnings] == [6, 11] and {p.severity for p in warnings} == {"warning"}


def test_headings_in_list_items_and_quotes_are_not_sections():
    doc = parse_skill(FM + "# A\n- item\n\n  ## inside the item\n> ## quoted\n## B\n")
    assert doc.ids == ["a", "a/b"]


def test_ids_keep_every_letter_of_every_script():
    assert _fixture("unicode-titles.md").ids == [
        PREAMBLE_ID, "使用方法", "使用方法/安装", "使用方法/配置", "solicitação-de-revisão",
        _fixture("unicode-titles.md").ids[5], "über-straße"]
    symbols = _fixture("unicode-titles.md").ids[5]
    assert symbols.startswith("section-") and symbols != "section"


def test_an_id_does_not_change_when_a_sibling_is_added_or_removed():
    base = FM + "# 使用方法\n## 安装\nx\n## 配置\ny\n# ✓\nz\n# ★\nw\n"
    doc = parse_skill(base)
    gone = {doc.ids[1], doc.ids[3]}  # 安装 and ✓
    added = parse_skill(base.replace("## 安装", "## 新的\nn\n## 安装").replace("# ✓", "# ☆\nq\n# ✓")).ids
    removed = parse_skill(base.replace("## 安装\nx\n", "").replace("# ✓\nz\n", "")).ids
    assert set(doc.ids) <= set(added) and set(doc.ids) - gone == set(removed)
    assert len(set(added)) == len(added) == len(doc.ids) + 2


@pytest.mark.parametrize("frontmatter,key,fragment", [
    ("metadata:\n  version: 1.0\n  author: me", "metadata", "version (number)"),
    ("metadata: [1]", "metadata", "mapping"),
    ("compatibility: " + "c" * 501, "compatibility", "500"),
])
def test_spec_shapes_harnesses_load_anyway_are_warnings_with_key_and_line(frontmatter, key, fragment):
    doc = parse_skill(f"---\nname: ok\ndescription: d\n{frontmatter}\n---\n", "x/SKILL.md")
    problems = validate_skill(doc)
    assert [(p.key, p.line, p.severity) for p in problems] == [(key, 4, "warning")] and fragment in problems[0].message


@pytest.mark.parametrize("name", ["données", "日本語-スキル", "straße-2"])
def test_unicode_lowercase_names_are_allowed(name):
    doc = parse_skill(f"---\nname: {name}\ndescription: d\n---\n")
    assert [p for p in validate_skill(doc) if p.severity == "error"] == []


@pytest.mark.parametrize("name", ["Données", "a_b", "-x"])
def test_names_with_uppercase_or_punctuation_stay_errors(name):
    doc = parse_skill(f"---\nname: {name}\ndescription: d\n---\n")
    assert any(p.key == "name" for p in validate_skill(doc) if p.severity == "error")
