import pytest
from conftest import BASIC_SUITE

from autoresearch.errors import InputError
from autoresearch.suite.suite import load_suite


def errors_of(make_suite, text, **kw):
    path = make_suite(text, **kw)
    with pytest.raises(InputError) as err:
        load_suite(path)
    return str(err.value), path


def test_a_valid_suite_loads_with_splits_and_defaults(make_suite):
    suite = load_suite(make_suite(BASIC_SUITE))
    assert [i.id for i in suite.split("train")] == ["one"] and [i.id for i in suite.split("holdout")] == ["two"]
    assert suite.runs == 2 and suite.model.name == "sim" and suite.skill_path.name == "SKILL.md"
    assert [e.kind for e in suite.evals] == ["icontains", "word-count"]


def test_inputs_can_come_from_files(make_suite):
    text = BASIC_SUITE.replace('text: "Ann: I will send the report by Friday. Bob: I will fix the build today."',
                               "file: in.txt")
    suite = load_suite(make_suite(text, files={"in.txt": "from a file\n"}))
    assert suite.input("one").text == "from a file\n"


def test_malformed_yaml_names_file_and_line(make_suite):
    message, path = errors_of(make_suite, "skill: notes/SKILL.md\ninputs: [\n  - id: x\n")
    assert str(path) in message and "malformed YAML" in message and ":3:" in message or ":4:" in message


def test_unknown_key_is_named_with_a_suggestion(make_suite):
    message, path = errors_of(make_suite, BASIC_SUITE.replace("type: icontains", "type: contans").replace(
        "question: Is it under", "questoin: Is it under"))
    assert f"{path}:12: evals[0].check.type: unknown check type 'contans' (did you mean 'contains'?)" in message
    assert f"{path}:14: evals[1].questoin: unknown key 'questoin' (did you mean 'question'?)" in message


def test_duplicate_ids_and_keys_are_errors(make_suite):
    message, path = errors_of(make_suite, BASIC_SUITE.replace("id: two", "id: one"))
    assert f"{path}:6: inputs[1].id: duplicate id 'one' (first used on line 4)" in message
    message, _ = errors_of(make_suite, BASIC_SUITE.replace("runs: 2", "runs: 2\nruns: 3"))
    assert ":3: runs: duplicate key (first defined on line 2)" in message


def test_missing_target_and_missing_inputs(make_suite):
    message, path = errors_of(make_suite, BASIC_SUITE.replace("skill: notes/SKILL.md", "skill: nope/SKILL.md"))
    assert f"{path}:1: skill: target skill 'nope/SKILL.md' not found" in message
    no_inputs = BASIC_SUITE[: BASIC_SUITE.index("inputs:")] + BASIC_SUITE[BASIC_SUITE.index("evals:"):]
    message, _ = errors_of(make_suite, no_inputs)
    assert "no inputs" in message


def test_invalid_regex_names_the_line(make_suite):
    message, path = errors_of(make_suite, BASIC_SUITE.replace("{type: icontains, value: summary}",
                                                               '{type: regex, value: "([a-z"}'))
    assert f"{path}:12: evals[0].check.value: invalid regex" in message


def test_python_check_missing_or_raising_on_import(make_suite):
    suite = BASIC_SUITE.replace("{type: icontains, value: summary}", '{type: python, value: "chk.py:ok"}')
    message, path = errors_of(make_suite, suite)
    assert f"{path}:12: evals[0].check.value: python check file 'chk.py' not found" in message
    message, _ = errors_of(make_suite, suite, files={"chk.py": "def ok(o:\n"})
    assert "python check file 'chk.py' line 1" in message
    message, _ = errors_of(make_suite, suite, files={"chk.py": "def other(o):\n    return True\n"})
    assert "has no function 'ok'" in message
    loaded = load_suite(make_suite(suite, files={"chk.py": "def ok(o):\n    return True\n"}))
    assert loaded.evals[0].check.function("x") is True


def test_broken_frontmatter_in_the_target_skill(make_suite):
    message, _ = errors_of(make_suite, BASIC_SUITE, skill="---\nname: notes\n# no closing\n")
    assert "SKILL.md:1:" in message and "never closed" in message
    message, _ = errors_of(make_suite, BASIC_SUITE, skill="---\nname: Notes!\ndescription: d\n---\n# A\n")
    assert "SKILL.md:2: name:" in message


def test_every_problem_is_reported_at_once(make_suite):
    text = BASIC_SUITE.replace("runs: 2", "runs: zero").replace("split: holdout", "split: test")
    message, _ = errors_of(make_suite, text)
    assert "runs: must be a whole number" in message and "must be 'train' or 'holdout'" in message


def test_eval_needs_exactly_one_of_check_or_judge(make_suite):
    text = BASIC_SUITE.replace("check: {type: word-count, max: 400}",
                               "check: {type: word-count, max: 400}\n    judge: {pass: p, fail: f}")
    message, _ = errors_of(make_suite, text)
    assert "exactly one of `check` or `judge`" in message


def test_input_files_are_fixtures_inside_the_suite_folder(make_suite):
    text = BASIC_SUITE.replace("    split: holdout\n", "    split: holdout\n    files: [data/in.csv]\n")
    (make_suite(text).parent / "data").mkdir()
    (make_suite(text).parent / "data/in.csv").write_text("a,b\n")
    assert load_suite(make_suite(text)).input("two").files == ("data/in.csv",)
    assert load_suite(make_suite(BASIC_SUITE)).input("two").files == ()
    for bad in ("[../outside.txt]", "[missing.csv]", "data/in.csv"):
        message, path = errors_of(make_suite, text.replace("[data/in.csv]", bad))
        assert f"{path}:9:" in message and "inputs[1].files" in message
