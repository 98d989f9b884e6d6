"""Bad input, from a careless user or a hostile file: each class is exit 2, one line naming the file (and line),
nothing written, no traceback, no hang."""

import os
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import BASIC_SUITE

from autoresearch.cli.main import main


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def refused(result, *words):
    """Exit 2 with the words in the message and no traceback (CliRunner keeps an uncaught exception apart)."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output and all(w in result.output for w in words), result.output


def files_of(folder: Path) -> dict:
    """Every file under `folder` with its bytes and modification time: what "nothing written" compares."""
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def unblock():
    """Open the write end of FIFOs after a while, so a regression that blocks on one fails instead of hanging."""
    done, fifos = threading.Event(), []

    def later():
        if done.wait(30):
            return
        while not done.wait(0.5):  # a reader blocked in open() gets an empty file, then the test fails
            for fifo in fifos:
                try:
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                except OSError:
                    pass

    thread = threading.Thread(target=later, daemon=True)
    thread.start()
    yield fifos.append
    done.set()
    thread.join()


def test_a_fifo_or_a_device_is_refused_not_waited_on(make_suite, tmp_path, unblock):
    suite = make_suite(BASIC_SUITE)
    for name in ("fifo.yaml", "input.txt", "template.md", "body.md", "result.json"):
        os.mkfifo(tmp_path / name)
        unblock(tmp_path / name)
    refused(cli("validate", tmp_path / "fifo.yaml"), "fifo.yaml", "not a regular file")
    with_file = make_suite(BASIC_SUITE.replace('text: "Ann: I will send the report by Friday. Bob: I will fix the '
                                               'build today."', "file: input.txt"))
    refused(cli("eval", with_file), "input.txt", "not a regular file")
    suite = make_suite(BASIC_SUITE)
    runs = tmp_path / "runs"
    refused(cli("run", suite, "--run-id", "r1", "--runs-dir", runs, "--template", tmp_path / "template.md"),
            "template.md", "not a regular file")
    assert not runs.exists()
    refused(cli("eval", suite, "--compare", tmp_path / "result.json"), "result.json", "not a regular file")
    refused(cli("eval", suite, "--compare", "/dev/zero"), "/dev/zero", "not a regular file")


def test_a_file_too_large_to_be_a_prompt_is_refused_before_it_is_read(make_suite, tmp_path):
    huge = tmp_path / "huge.txt"
    with open(huge, "wb") as handle:
        handle.truncate(17 * 1024 * 1024)  # sparse: costs no disk
    suite = make_suite(BASIC_SUITE.replace('text: "Ann: I will send the report by Friday. Bob: I will fix the '
                                           'build today."', "file: huge.txt"))
    refused(cli("validate", suite), "huge.txt", "larger than 16 MB")


@pytest.mark.parametrize("template,words", [
    ('{% include "t.md" %}\n', "a template is one file"),
    ('{% extends "t.md" %}\n', "a template is one file"),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}\n", "calls itself without end"),
    ("{% for i in range(10 ** 9) %}{% endfor %}\n", "Range too big"),
    ("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}\n", "took over"),
])
def test_a_looping_template_is_a_message_before_the_baseline(make_suite, tmp_path, monkeypatch, template, words):
    from autoresearch.loop import mutation

    monkeypatch.setattr(mutation, "TEMPLATE_SECONDS", 0.5)  # the bound itself, made short for the test
    (tmp_path / "t.md").write_text(template)
    runs = tmp_path / "runs"
    refused(cli("run", make_suite(BASIC_SUITE), "--run-id", "r1", "--runs-dir", runs, "--template", tmp_path / "t.md"),
            "t.md: template error", words)
    assert not runs.exists()


@pytest.mark.parametrize("where,value", [("suite", ".nan"), ("suite", ".inf"), ("eval", ".NaN"),
                                         ("check_timeout", ".inf")])
def test_a_number_that_is_not_finite_is_refused_with_its_line(make_suite, where, value):
    if where == "suite":
        text = BASIC_SUITE.replace("runs: 2", f"runs: 2\nthreshold: {value}")
    elif where == "eval":
        text = BASIC_SUITE.replace("    check: {type: icontains, value: summary}",
                                   f"    check: {{type: icontains, value: summary}}\n    threshold: {value}")
    else:
        text = BASIC_SUITE.replace("runs: 2", f"runs: 2\ncheck_timeout: {value}")
    suite = make_suite(text)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if value in row)
    refused(cli("eval", suite), f"suite.yaml:{line}:", "must be a finite number")


def test_a_name_with_a_newline_is_not_an_id(make_suite, tmp_path):
    runs = tmp_path / "runs"
    refused(cli("run", make_suite(BASIC_SUITE), "--baseline-only", "--run-id", "abc\n", "--runs-dir", runs),
            "must be a name")
    assert not runs.exists()
    refused(cli("validate", make_suite(BASIC_SUITE.replace("  - id: one", '  - id: "one\\n"'))),
            "suite.yaml:4:", "may use letters")


def test_deep_nesting_is_a_message_not_a_recursion_error(make_suite, tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    refused(cli("validate", deep), "deep.yaml:1:", "nested too deeply")
    result = tmp_path / "result.json"
    result.write_text('{"schema": "autoresearch.eval/1", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    refused(cli("eval", make_suite(BASIC_SUITE), "--compare", result), "result.json")


@pytest.mark.parametrize("option,words", [
    ("concurrency: 0", "model.concurrency: must be between 1 and 1024"),
    ("concurrency: 'x'", "model.concurrency: must be a whole number"),
    ("timeout: 0", "model.timeout: must be at least 0.01"),
    ("max_retries: -1", "model.max_retries: must be between 0 and 100"),
    ("batch: 'no'", "model.batch: must be true or false"),
    ("prices: {inptu: 3}", "model.prices.inptu: unknown key 'inptu' (did you mean 'input'?)"),
    ("prices: {input: 'cheap'}", "model.prices.input: must be a number"),
    ("retry_base: []", "model.retry_base: must be a number"),
    ("extra_args: [1]", "model.extra_args: must be a string or a list of strings"),
    ("binary: 3", "model.binary: must be a non-empty string"),
])
def test_a_model_option_of_the_wrong_type_names_its_line(make_suite, option, words):
    suite = make_suite(BASIC_SUITE.replace("runs: 2", f"runs: 2\nmodel: {{name: sim, {option}}}"))
    refused(cli("validate", suite), "suite.yaml:3:", words)


def test_try_with_an_unknown_section_writes_nothing(make_suite, tmp_path):
    runs = tmp_path / "runs"
    assert cli("run", make_suite(BASIC_SUITE), "--baseline-only", "--run-id", "r1", "--runs-dir", runs).exit_code == 0
    (tmp_path / "new.md").write_text("## Format\n\n- Always start with the summary.\n")
    before = files_of(runs)
    for extra in ((), ("--background",)):
        refused(cli("try", "r1", "--runs-dir", runs, "--section", "nope", "--file", tmp_path / "new.md",
                    "--hypothesis", "h", *extra), "--section: 'nope' may not change")
    assert files_of(runs) == before


@pytest.mark.parametrize("name,content,words", [
    ("run.json", b"[1, 2]\n", "corrupt run configuration"),
    ("run.json", b'{"suite": "../s', "unreadable run configuration"),
    ("journal.jsonl", b"[1, 2]\n", "journal.jsonl:1: corrupt journal line"),
    ("journal.jsonl", b"\x00\xff\n", "journal.jsonl:1: corrupt journal line"),
    ("journal.jsonl", b"{}\n", "journal.jsonl:1: corrupt journal line"),
    ("cells", b"{garbage", "corrupt run file"),
])
def test_a_corrupt_run_file_is_named_by_every_command_that_reads_it(make_suite, tmp_path, name, content, words):
    runs = tmp_path / "runs"
    assert cli("run", make_suite(BASIC_SUITE), "--baseline-only", "--run-id", "r1", "--runs-dir", runs).exit_code == 0
    run = runs / "r1"
    target = next((run / "cells").glob("*.json")) if name == "cells" else run / name
    target.write_bytes(content)
    before = files_of(runs)
    commands = [("status",), ("next",), ("report", "-o", tmp_path / "r.html"), ("run", "--resume")]
    if name == "cells":
        commands = [("report", "-o", tmp_path / "r.html"), ("next",)]
    for command in commands:
        args = [command[0], *(["--resume", "r1"] if command[0] == "run" else ["r1", *command[1:]])]
        refused(cli(*args, "--runs-dir", runs), words)
    assert files_of(runs) == before and not (tmp_path / "r.html").exists()


def test_view_refuses_a_corrupt_journal_before_it_listens(make_suite, tmp_path):
    from autoresearch.errors import AutoresearchError
    from autoresearch.review.view import open_dashboard

    runs = tmp_path / "runs"
    assert cli("run", make_suite(BASIC_SUITE), "--baseline-only", "--run-id", "r1", "--runs-dir", runs).exit_code == 0
    with open(runs / "r1/journal.jsonl", "a") as journal:
        journal.write("[1, 2]\n")
    with pytest.raises(AutoresearchError, match="journal.jsonl:2: corrupt journal line"):
        open_dashboard(str(runs / "r1"))


def test_import_never_writes_over_its_source_or_a_skill(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes").mkdir()
    skill = tmp_path / "notes/SKILL.md"
    skill.write_text("---\nname: notes\ndescription: Notes. Use for notes.\n---\n\n# Notes\n")
    config = tmp_path / "pf.yaml"
    config.write_text('prompts: ["Summarise: {{a}}"]\ntests:\n  - vars: {a: hello}\n'
                      "    assert: [{type: contains, value: x}]\n")
    trigger_set = tmp_path / "t.json"
    trigger_set.write_text('[{"query": "take notes", "should_trigger": true}]')
    before = files_of(tmp_path)
    refused(cli("import", "promptfoo", "pf.yaml", "-o", "notes/SKILL.md"), "would overwrite a SKILL.md")
    refused(cli("import", "promptfoo", "pf.yaml", "-o", "pf.yaml"), "would overwrite the file being imported")
    refused(cli("import", "promptfoo", "pf.yaml", "--skill", "notes/SKILL.md", "-o", "notes/SKILL.md"),
            "would overwrite the target skill")
    refused(cli("import", "triggers", "t.json", "-o", "t.json"), "would overwrite the file being imported")
    refused(cli("import", "triggers", "t.json", "-o", "notes/SKILL.md"), "would overwrite")
    assert files_of(tmp_path) == before


@pytest.mark.parametrize("tests,words", [
    ("tests: file:///**/*.yaml", "a pattern must stay inside the folder"),
    ("tests:\n  - vars: {a: 'file://../**/*.txt'}\n    assert: [{type: contains, value: x}]",
     "a pattern must stay inside the folder"),
    ("tests:\n  - vars: {a: [" + ",".join(map(str, range(100))) + "], b: [" + ",".join(map(str, range(100)))
     + "], c: [" + ",".join(map(str, range(100))) + "]}\n    assert: [{type: contains, value: x}]",
     "make 1,000,000 tests"),
])
def test_a_promptfoo_config_cannot_walk_the_disk_or_explode(tmp_path, monkeypatch, tests, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pf.yaml").write_text('prompts: ["Summarise: {{a}}"]\n' + tests + "\n")
    refused(cli("import", "promptfoo", "pf.yaml", "-o", "out.yaml"), "pf.yaml:", words)
    assert not (tmp_path / "out.yaml").exists()
