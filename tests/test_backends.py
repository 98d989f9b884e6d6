"""The real anthropic SDK over real HTTP against the package's local server (autoresearch.sim.server), and the command backend."""

import asyncio
import functools
import json
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import BASIC_SUITE

from autoresearch.cli.main import main
from autoresearch.errors import AutoresearchError, ModelError
from autoresearch.evaluate.runner import ERROR, Models, evaluate_sync
from autoresearch.models import ModelSpec, open_model
from autoresearch.models.anthropic_api import cost_of, price_table
from autoresearch.sim.server import MessagesServer
from autoresearch.suite.suite import load_suite


@pytest.fixture
def server(monkeypatch):
    with MessagesServer() as srv:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.url)
        yield srv


def spec(**options):
    return ModelSpec("anthropic:claude-fake-1", max_tokens=256, temperature=1.0,
                     options=tuple(sorted({"retry_base": 0.01, **options}.items())))


def call(model, system="SKILL TEXT " * 50, prompt="hello", sample=0):
    async def go():
        try:
            return await model.complete(system, prompt, sample=sample)
        finally:
            await model.aclose()

    return asyncio.run(go())


def test_skill_goes_in_a_cached_system_block_and_usage_becomes_dollars(server):
    model = open_model(spec(), cache=None)
    first = call(model)
    second = call(open_model(spec(), cache=None))
    body = server.message_requests()[0]["body"]
    assert body["system"] == [{"type": "text", "text": "SKILL TEXT " * 50, "cache_control": {"type": "ephemeral"}}]
    assert body["model"] == "claude-fake-1" and body["max_tokens"] == 256 and "temperature" not in body
    call(open_model(ModelSpec("anthropic:claude-fake-1", temperature=0.3), cache=None))
    assert server.message_requests()[-1]["body"]["temperature"] == 0.3
    assert first.text == "echo: hello"
    assert first.usage.cache_creation_input_tokens > 0 and first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    prices = price_table(spec())
    assert second.cost == pytest.approx((second.usage.input_tokens * 3 + second.usage.output_tokens * 15
                                         + second.usage.cache_read_input_tokens * 0.3) / 1e6)
    assert second.cost < first.cost  # cache reads are cheaper than cache writes
    custom = price_table(spec(prices=(("input", 1.0), ("output", 2.0))))
    assert custom["input"] == 1.0 and custom["cache_read"] == pytest.approx(0.3)
    assert cost_of(second.usage, prices) == second.cost


@pytest.mark.parametrize("faults", [["429"], ["529"], ["500", "500"], ["garbage"], ["truncated"], ["slow"]])
def test_transient_faults_are_retried(server, faults):
    server.faults.extend(faults)
    server.slow_seconds = 1.0
    model = open_model(spec(timeout=0.4), cache=None)
    assert call(model).text == "echo: hello"
    assert model.retries == len(faults) and len(server.message_requests()) == len(faults) + 1


def test_retry_after_is_honoured(server):
    server.faults.extend(["429"])
    model = open_model(spec(retry_base=5.0), cache=None)  # without retry-after this would wait ~5 s
    import time

    started = time.perf_counter()
    call(model)
    assert time.perf_counter() - started < 2.0


def test_a_call_that_still_fails_is_an_error_never_a_fail(server, make_suite):
    server.faults.extend(["500"] * 3)
    with pytest.raises(ModelError, match="after 3 attempts"):
        call(open_model(spec(max_retries=2), cache=None))
    server.faults.extend(["529"] * 50)
    text = BASIC_SUITE.replace("runs: 2", "runs: 1\nmodel: {name: anthropic:claude-fake-1, max_retries: 1, "
                               "retry_base: 0.01}")
    suite = load_suite(make_suite(text))
    result = evaluate_sync(suite, models=Models.for_suite(suite, lambda s: open_model(s, cache=None)))
    assert {c.status for c in result.cells} == {ERROR} and result.rate().n == 0
    assert "OverloadedError" in result.cells[0].reason or "529" in result.cells[0].reason


def test_concurrency_is_bounded_by_the_model(server, make_suite):
    server.latency = 0.05
    text = BASIC_SUITE.replace("runs: 2", "runs: 6\nconcurrency: 12\nmodel: {name: anthropic:claude-fake-1, "
                               "concurrency: 3}")
    suite = load_suite(make_suite(text))
    evaluate_sync(suite, models=Models.for_suite(suite, lambda s: open_model(s, cache=None)))
    assert server.max_in_flight == 3 and len(server.message_requests()) == 12


def test_response_cache_makes_a_rerun_free_and_keeps_samples_apart(server, make_suite, tmp_path):
    text = BASIC_SUITE.replace("runs: 2", "runs: 3\nmodel: anthropic:claude-fake-1")
    suite = load_suite(make_suite(text))
    cache = tmp_path / "cache"
    opener = lambda s: open_model(s, cache=cache)
    first = evaluate_sync(suite, models=Models.for_suite(suite, opener))
    assert first.spend.calls == 6 and len(server.message_requests()) == 6  # 2 inputs x 3 runs: distinct keys
    again = evaluate_sync(suite, models=Models.for_suite(suite, opener))
    assert again.spend.calls == 0 and again.spend.cache_hits == 6 and again.spend.cost == 0
    assert len(server.message_requests()) == 6
    assert [c.status for c in again.cells] == [c.status for c in first.cells]
    uncached = evaluate_sync(suite, models=Models.for_suite(suite, lambda s: open_model(s, cache=None)))
    assert uncached.spend.calls == 6 and len(server.message_requests()) == 12


def test_errors_are_never_cached(server, tmp_path):
    server.faults.extend(["500"])
    with pytest.raises(ModelError):
        call(open_model(spec(max_retries=0), cache=tmp_path))
    assert call(open_model(spec(max_retries=0), cache=tmp_path)).text == "echo: hello"
    assert len(server.message_requests()) == 2


def test_eval_cli_previews_cost_with_count_tokens(server, make_suite):
    path = make_suite(BASIC_SUITE.replace("runs: 2", "runs: 2\nmodel: anthropic:claude-fake-1"))
    result = CliRunner().invoke(main, ["eval", str(path), "--no-cache"])
    assert result.exit_code == 0, result.output
    assert "estimate: 4 calls" in result.output and "(counted)" in result.output and "$" in result.output
    assert any(r["path"].startswith("/v1/messages/count_tokens") for r in server.requests)


def test_judge_runs_on_its_own_model(server, make_suite):
    text = BASIC_SUITE.replace("runs: 2", "runs: 1\njudge: anthropic:claude-judge-1") + (
        "  - id: judged\n    question: Is it about a report?\n    judge: {pass: Mentions a report, fail: No report}\n")
    server.reply = lambda body: "VERDICT: PASS\nREASON: it mentions the report"
    suite = load_suite(make_suite(text))
    result = evaluate_sync(suite, models=Models.for_suite(suite, lambda s: open_model(s, cache=None)))
    judged = [c for c in result.cells if c.eval_id == "judged"]
    assert {c.status for c in judged} == {"pass"}
    assert {r["body"]["model"] for r in server.message_requests()} == {"claude-judge-1"}  # the target is sim


def test_batch_mode_goes_through_message_batches_at_half_price(server, make_suite):
    text = BASIC_SUITE.replace("runs: 2", "runs: 2\nmodel: {name: anthropic:claude-fake-1, batch: true, "
                               "batch_window: 0.05, batch_poll: 0.05}")
    suite = load_suite(make_suite(text))
    result = evaluate_sync(suite, models=Models.for_suite(suite, lambda s: open_model(s, cache=None)),
                           concurrency=100)
    paths = [r["path"] for r in server.requests]
    assert paths.count("/v1/messages/batches") == 1 and not server.message_requests()
    assert any(p.endswith("/results") for p in paths)
    assert result.spend.calls == 4 and {c.status for c in result.cells} <= {"pass", "fail"}
    batch = next(r for r in server.requests if r["path"] == "/v1/messages/batches")["body"]
    assert len(batch["requests"]) == 4 and batch["requests"][0]["params"]["system"][0]["cache_control"]


def test_missing_api_key_is_a_clear_error(monkeypatch, make_suite):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    path = make_suite(BASIC_SUITE.replace("runs: 2", "runs: 1\nmodel: anthropic:claude-fake-1"))
    result = CliRunner().invoke(main, ["eval", str(path)])
    assert result.exit_code == 2 and "ANTHROPIC_API_KEY is not set" in result.output


# -- the command backend -----------------------------------------------------------------------

FAKE_CLI = """\
import json, os, sys, time
mode = sys.argv[1]
system = open(os.environ["AUTORESEARCH_SYSTEM_FILE"]).read()
if mode == "stdin":
    print("plain: " + sys.stdin.read() + " | skill bytes " + str(len(system)))
elif mode == "json":
    print(json.dumps({"type": "result", "is_error": False, "result": "from json: " + sys.argv[2],
                      "usage": {"input_tokens": 11, "output_tokens": 7}, "total_cost_usd": 0.0123}))
elif mode == "skills":
    print("found: " + open(".claude/skills/notes/SKILL.md").read().splitlines()[1] + " | "
          + str(os.path.exists(".pi/skills/notes/SKILL.md")))
elif mode == "slow":
    time.sleep(5)
else:
    sys.stderr.write("boom\\n")
    sys.exit(3)
"""


@pytest.fixture
def fake_cli(tmp_path):
    path = tmp_path / "fake_cli.py"
    path.write_text(FAKE_CLI)
    return f"{sys.executable} {path}"


SYSTEM = "---\nname: notes\ndescription: d\n---\n# Notes\n"


def command(line, **options):
    return open_model(ModelSpec("command:" + line, options=tuple(sorted(options.items()))), cache=None)


def test_command_backend_passes_input_on_stdin_and_skill_in_a_file(fake_cli):
    out = call(command(f"{fake_cli} stdin"), SYSTEM, "the input")
    assert out.text.strip() == f"plain: the input | skill bytes {len(SYSTEM)}"


def test_command_backend_parses_claude_json_output_and_prompt_argument(fake_cli):
    out = call(command(f"{fake_cli} json {{prompt}}"), SYSTEM, "arg input")
    assert out.text == "from json: arg input" and out.usage.input_tokens == 11 and out.cost == 0.0123


def test_command_backend_can_run_in_a_temporary_skills_folder(fake_cli):
    out = call(command(f"{fake_cli} skills", skills_folder=True), SYSTEM, "x")
    assert out.text.strip() == "found: name: notes | True"


@pytest.mark.parametrize("mode,message", [("slow", "timed out after 0.5s"), ("fail", "exited with 3: boom")])
def test_command_backend_failures_are_model_errors(fake_cli, mode, message):
    with pytest.raises(ModelError, match=message):
        call(command(f"{fake_cli} {mode}", timeout=0.5), SYSTEM, "x")


def test_streaming_replies_work_with_the_sdk(server):
    import anthropic

    async def go():
        client = anthropic.AsyncAnthropic(max_retries=0)
        async with client.messages.stream(model="claude-fake-1", max_tokens=64,
                                          messages=[{"role": "user", "content": "stream me"}]) as stream:
            text = "".join([chunk async for chunk in stream.text_stream])
            final = await stream.get_final_message()
        await client.close()
        return text, final

    text, final = asyncio.run(go())
    assert text == "echo: stream me" and final.usage.output_tokens > 0
    assert server.message_requests()[0]["body"]["stream"] is True


def test_dollar_budget_stops_a_paid_run(server, make_suite, tmp_path):
    server.reply = lambda body: "a short note"  # fails the summary eval, so only the budget can stop the run
    path = make_suite(BASIC_SUITE.replace("runs: 2", "runs: 5\nmodel: anthropic:claude-fake-1"))
    result = CliRunner().invoke(main, ["run", str(path), "--max-dollars", "0.0005", "--runs-dir",
                                       str(tmp_path / "runs"), "--no-cache", "--run-id", "paid"])
    assert result.exit_code == 0, result.output
    assert "estimate per evaluation" in result.output and "budget spent:" in result.output
    assert "dollars of 0.0005" in result.output
    entries = [json.loads(line) for line in (tmp_path / "runs/paid/journal.jsonl").read_text().splitlines()]
    assert sum(e["cost"] for e in entries) >= 0.0005 and entries[0]["cost"] > 0


def test_cost_preview_counts_the_calls_the_evaluation_makes(server, make_suite):
    from autoresearch.evaluate.cost import estimate

    text = BASIC_SUITE.replace("runs: 2", "runs: 2\nmodel: anthropic:claude-fake-1") + (
        "  - id: judged-everywhere\n    question: Is it polite?\n    judge: {pass: Polite, fail: Rude}\n"
        "  - id: judged-once\n    question: Is it short?\n    judge: {pass: Short, fail: Long}\n    inputs: [one]\n")
    server.reply = lambda body: "VERDICT: PASS" if "<judge_task>" in json.dumps(body) else "a summary"
    suite = load_suite(make_suite(text))
    models = Models.for_suite(suite, lambda s: open_model(s, cache=None))
    skill = suite.skill_path.read_text()

    async def go():
        try:
            return await estimate(suite, skill, models, suite.runs)
        finally:
            await models.aclose()

    preview = asyncio.run(go())
    result = evaluate_sync(suite, models=Models.for_suite(suite, lambda s: open_model(s, cache=None)))
    assert preview.calls == result.spend.calls == 2 * 2 + 2 * 2 + 1 * 2  # targets, judged everywhere, judged once


@pytest.mark.parametrize("line", ["claude -p --output-format json", "pi -p", "/usr/local/bin/claude -p {prompt}"])
def test_command_route_that_passes_no_skill_to_a_harness_is_refused(line):
    """`command:claude -p` ran the CLI without the skill: the loop optimised a file the model never read."""
    with pytest.raises(AutoresearchError, match="passes no skill.*claude-code|passes no skill.*pi"):
        command(line)


def test_command_route_to_a_harness_that_is_given_the_skill_is_allowed():
    assert command("claude -p --append-system-prompt-file {system_file}").argv[0] == "claude"
    assert command("pi -p", skills_folder=True).argv[0] == "pi"


def test_the_api_target_sees_the_skill_as_claude_code_shows_an_invoked_skill(server, make_suite):
    """Listed by name and description, then the body without frontmatter; never the raw file as a system prompt."""
    path = make_suite(BASIC_SUITE.replace("runs: 2", "runs: 1\nmodel: anthropic:claude-fake-1"))
    suite = load_suite(path)
    evaluate_sync(suite, models=Models(suite.model, opener=functools.partial(open_model, cache=None)))
    system = json.dumps(server.message_requests()[0]["body"]["system"])
    assert "- notes: Writes notes. Use when asked for notes." in system
    assert "# Notes" in system and "List the action items." in system
    assert "---" not in system and "name: notes" not in system


@pytest.mark.skipif(shutil.which("ss") is None, reason="reads the listen backlog with ss (iproute2)")
def test_the_local_server_queues_a_burst_of_connections():
    """Clients connect 16 at once (bench/backends.py, promptfoo's -j 16); a listen backlog of 5 dropped the rest,
    each retried by TCP a second later, which the benchmark then counted as our start-up (issue 26, item 10)."""
    with MessagesServer() as srv:
        port = srv.url.rsplit(":", 1)[1]
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True,
                                   check=True).stdout.split()
    assert listening[0] == "LISTEN" and int(listening[2]) >= 64, listening  # Send-Q of a listener: its backlog
