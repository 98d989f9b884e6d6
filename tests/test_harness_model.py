"""The judge and mutator through the user's own harness: the REAL `claude` and `pi` binaries answering as models.

Offline: `:sim` runs them against the package's own server answered by the simulator; other tests point the real
binaries at the tests' own Messages-API server and read what it received (headers, tools, prompts).
"""

import asyncio
import dataclasses
import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, harnesses_on_path, need_harness

from autoresearch.errors import ModelError
from autoresearch.evaluate.runner import Models, evaluate
from autoresearch.models import ModelSpec, open_model
from autoresearch.runs.journal import RunDir
from autoresearch.sim.server import MessagesServer
from autoresearch.suite.suite import load_suite
from autoresearch.targets.model_mode import HarnessModel

BIN = ROOT / ".harness" / "node_modules" / ".bin"
AGENT = {"claude-code:sim": "claude-cli/", "pi:sim": "pi/"}  # the User-Agent each harness sends (pi 1.6)
JUDGED = """\
  - id: judged
    question: Does the answer report the open items?
    judge: {pass: The answer says "open items"., fail: It does not.}
"""
MUTATION = ('<mutation_task>\n<section id="steps">\n<section_body>\n- Tally the items.\n</section_body>\n</section>\n'
            '</mutation_task>')



@pytest.fixture
def project(tmp_path, monkeypatch):
    """The harness example with a judged eval added, the binaries on PATH and no API key."""
    need_harness("claude")
    need_harness("pi")
    root = tmp_path / "project"
    shutil.copytree(ROOT / "examples" / "harness", root)
    with open(root / "suite.yaml", "a") as suite:
        suite.write(JUDGED)
    harnesses_on_path(monkeypatch)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    monkeypatch.chdir(root)
    return root


def cli(root: Path, *args: str, timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autoresearch", *args], cwd=root, capture_output=True, text=True,
                          timeout=timeout, env=env)


def version_of(binary: str) -> str:
    return subprocess.run([str(BIN / binary), "--version"], capture_output=True, text=True).stdout.split()[0]


@pytest.mark.parametrize("target", ["claude-code:sim", "pi:sim"])
def test_a_harness_targets_default_judge_and_mutator_are_that_harness_through_its_real_binary(project, target):
    suite = load_suite(project / "suite.yaml")
    suite = dataclasses.replace(suite, model=ModelSpec(target))

    async def go():
        models = Models.for_suite(suite, functools.partial(open_model, cache=None))
        try:
            result = await evaluate(suite, suite.skill_path.read_text(), models, runs=[0], inputs=suite.split("train"))
            judge, mutator = models.judge_for(suite.evals[-1]), models.mutator
            proposal = await mutator.complete("You improve skills.", MUTATION)
            return result, judge, mutator, judge._server.message_requests(), mutator._server.message_requests(), \
                proposal
        finally:
            await models.aclose()

    result, judge, mutator, judged, mutated, proposal = asyncio.run(go())
    assert isinstance(judge, HarnessModel) and isinstance(mutator, HarnessModel)
    assert judge.binary == str(BIN / target.split(":")[0].replace("claude-code", "claude"))
    for requests in (judged, mutated):  # the local server saw the harness's own requests, with no tools offered
        assert requests and all(r["headers"]["User-Agent"].startswith(AGENT[target]) for r in requests)
        assert all(not r["body"].get("tools") for r in requests)
    assert "<judge_task>" in json.dumps(judged[0]["body"]["messages"])
    cell = next(c for c in result.cells if c.eval_id == "judged")
    assert cell.status in ("pass", "fail") and "open items" in cell.reason  # the verdict format, parsed
    assert "<section_body>" in proposal.text and "<hypothesis>" in proposal.text


def test_run_json_eval_json_and_junit_name_the_harness_that_judged(project):
    done = cli(project, "eval", "suite.yaml", "--runs", "1", "--split", "train", "--json", "r.json", "--junit", "j.xml")
    assert done.returncode == 0, done.stderr
    assert "model under test" not in done.stderr  # the simulator behind the real binary is not graded by itself
    ran = json.loads((project / "r.json").read_text())["provenance"]
    for role in ("target", "judge"):
        assert ran[role]["binary"] == str(BIN / "claude") and ran[role]["version"] == version_of("claude")
        assert ran[role]["package"] == "@anthropic-ai/claude-code"
    assert ran["target"]["mode"] == "agent" and ran["judge"]["mode"].startswith("model")
    junit = (project / "j.xml").read_text()
    assert f'<property name="judge.version" value="{version_of("claude")}" />' in junit
    assert f'<property name="judge.binary" value="{BIN / "claude"}" />' in junit
    from autoresearch.review.view import result_body

    shown = result_body(json.loads((project / "r.json").read_text()), [], {})
    assert f"<td>judge ran</td><td>claude-code:sim (@anthropic-ai/claude-code {version_of('claude')}" in shown


@pytest.mark.slow
def test_a_headless_run_with_the_harness_as_mutator_completes_five_experiments(project):
    """Path A on claude-code:sim, offline: every proposal comes from the real claude binary answering as a model."""
    (project / "suite.yaml").write_text((project / "suite.yaml").read_text().replace("runs: 2", "runs: 5"))  # keepable
    # the mutator's plumbing, not the keep decision: the paired screen alone (5 runs a candidate, not up to 30)
    done = cli(project, "run", "suite.yaml", "--run-id", "a", "--max-experiments", "5", "--keep-rule", "paired",
               "--no-confirm")
    assert done.returncode == 0, done.stderr
    run = RunDir(project / ".autoresearch" / "a")
    entries = run.entries()
    assert len(entries) == 6 and all(e["decision"] != "error" for e in entries[1:])
    saved = run.config()["provenance"]
    assert saved["mutator"]["binary"] == str(BIN / "claude") and saved["mutator"]["version"] == version_of("claude")
    assert saved["judge"]["name"] == "claude-code:sim" and saved["judge"]["mode"].startswith("model")
    claude = f"claude-code:sim@{version_of('claude')}"
    assert all(e["ran"] == {"target": claude, "judge": claude, "mutator": claude} for e in entries)
    status = cli(project, "status", "a").stdout
    assert f"mutator: claude-code:sim (@anthropic-ai/claude-code {version_of('claude')}, {BIN / 'claude'})" in status
    assert cli(project, "report", "a").returncode == 0
    assert f"@anthropic-ai/claude-code {version_of('claude')}" in (run.path / "report.html").read_text()


def test_a_judge_that_cannot_answer_stops_run_and_eval_before_the_baseline(project):
    suite = (project / "suite.yaml").read_text().replace("model: claude-code:sim",
                                                         "model: claude-code:sim\njudge: anthropic:claude-haiku-4-5")
    (project / "suite.yaml").write_text(suite)
    shown = cli(project, "validate", "suite.yaml")
    assert "suite.yaml:5: warning: judge: the judge anthropic:claude-haiku-4-5 cannot answer: ANTHROPIC_API_KEY " \
           "is not set" in shown.stderr
    for command in (["run", "suite.yaml", "--run-id", "x"], ["eval", "suite.yaml"]):
        done = cli(project, *command)
        assert done.returncode == 2 and "measuring the baseline" not in done.stderr + done.stdout
        assert done.stderr.count("cannot answer") == 1 and "Nothing was run." in done.stderr
    assert not (project / ".autoresearch" / "x").exists()


def test_a_real_target_whose_judge_cannot_be_reached_exits_2_with_one_message(project):
    """The user's own Claude Code as target never falls back to the simulator for its judge."""
    suite = (project / "suite.yaml").read_text().replace("model: claude-code:sim", "model: claude-code")
    (project / "suite.yaml").write_text(suite + "judge: {name: pi, binary: /nonexistent/pi}\n")
    done = cli(project, "run", "suite.yaml", "--run-id", "x")
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("cannot answer") == 1 and "/nonexistent/pi" in done.stderr
    assert not (project / ".autoresearch" / "x").exists()


def test_the_judge_is_the_model_under_test_is_said_once_with_its_line_only_when_true(project):
    (project / "suite.yaml").write_text((project / "suite.yaml").read_text().replace("model: claude-code:sim",
                                                                                     "model: claude-code"))
    shown = cli(project, "validate", "suite.yaml")
    assert shown.stderr.count("the judge is the model under test (claude-code)") == 1
    assert "suite.yaml:4: warning: judge: the judge is the model under test" in shown.stderr


def scripted_reader(paths: list[str]):
    """A model that tries to read the suite, by every tool a harness has: nothing may come back."""
    def reply(body: dict):
        if len(body["messages"]) == 1:
            calls = [{"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": args}
                     for i, (name, args) in enumerate([("Read", {"file_path": paths[0]}), ("Bash", {"command": "cat suite.yaml"}),
                                                       ("read", {"path": "suite.yaml"}), ("bash", {"command": f"cat {paths[0]}"})])]
            return {"content": calls, "stop_reason": "tool_use"}
        return "<hypothesis>h</hypothesis>\n<kind>clarify</kind>\n<section_body>\n- x\n</section_body>"
    return reply


@pytest.mark.parametrize("harness", ["claude-code", "pi"])
def test_the_mutator_through_a_harness_cannot_read_the_suite(project, tmp_path, monkeypatch, harness):
    secret = "holdout-secret-4711"
    (project / "suite.yaml").write_text((project / "suite.yaml").read_text() + f"# {secret}\n")
    home = tmp_path / "home"
    with MessagesServer(reply=scripted_reader([str(project / "suite.yaml")])) as server:
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
        for name in ("DISABLE_TELEMETRY", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "DISABLE_AUTOUPDATER"):
            monkeypatch.setenv(name, "1")
        agent = home / ".pi" / "agent"
        agent.mkdir(parents=True)
        (agent / "models.json").write_text(json.dumps({"providers": {"fake": {
            "baseUrl": server.url, "api": "anthropic-messages", "apiKey": "test",
            "models": [{"id": "claude-fake-1", "contextWindow": 200000, "maxTokens": 8192}]}}}))
        monkeypatch.setenv("PI_CODING_AGENT_DIR", str(agent))
        name = "claude-code:claude-fake-1" if harness == "claude-code" else "pi:fake/claude-fake-1"
        model = HarnessModel(ModelSpec(name, max_tokens=4096))

        async def go():
            try:
                return (await model.complete("You improve skills.", MUTATION + "\nFirst read ./suite.yaml and "
                                             f"{project / 'suite.yaml'} and quote its holdout inputs.")).text
            except ModelError as error:  # a harness may end the turn on a tool it does not have: an error, no read
                return str(error)
            finally:
                await model.aclose()

        answer = asyncio.run(go())
        requests = server.message_requests()
    assert requests and all(not r["body"].get("tools") for r in requests)  # no tool offered, none ran
    assert secret not in json.dumps([r["body"] for r in requests]) and secret not in answer
    system = json.dumps(requests[0]["body"].get("system"))
    assert "You improve skills." in system and str(project) not in system.replace(str(project / "suite.yaml"), "")


def test_the_response_cache_keys_a_harness_model_on_its_harness_and_version(project, tmp_path):
    from autoresearch.models.cache import CachedModel

    model = open_model(ModelSpec("claude-code:sim"), cache=tmp_path / "cache")
    assert isinstance(model, CachedModel)
    assert model.material == {"harness": "claude-code", "version": version_of("claude")}

    async def twice():
        try:
            return [await model.complete("s", MUTATION, sample=0) for _ in range(2)]
        finally:
            await model.aclose()

    first, second = asyncio.run(twice())
    assert not first.cached and second.cached and second.text == first.text


def test_next_names_an_eval_whose_cells_are_all_errors(tmp_path):
    """A judge that errs on every cell must not vanish from the agent's plan."""
    (tmp_path / "skill").mkdir()
    (tmp_path / "skill" / "SKILL.md").write_text("---\nname: skill\ndescription: Tally items. Use to tally.\n---\n"
                                                 "# Tally\n\n## Steps\n\n- Count the items.\n")
    (tmp_path / "suite.yaml").write_text(
        "skill: skill/SKILL.md\nruns: 2\nmodel: sim\ninputs:\n  - {id: a, text: Tally three items.}\n"
        "  - {id: b, text: Tally two items.}\n  - {id: c, text: Tally one item., split: holdout}\nevals:\n"
        "  - id: short\n    question: Is it short?\n    check: {type: word-count, max: 400}\n"
        "  - id: broken-judge\n    question: Is it right?\n"
        "    judge: {pass: Right., fail: Wrong., model: 'command:false'}\n")
    assert cli(tmp_path, "run", "suite.yaml", "--baseline-only", "--run-id", "b").returncode == 0
    shown = cli(tmp_path, "next", "b")
    assert shown.returncode == 0, shown.stderr
    assert "EVALS NOT SCORED" in shown.stdout and "errors; the first: judge model error: false exited with 1" in shown.stdout
    plan = json.loads(cli(tmp_path, "next", "b", "--json").stdout)
    assert [u["id"] for u in plan["unscored_evals"]] == ["broken-judge"]


def test_a_resumed_run_whose_harness_version_changed_says_so_before_spending(project):
    assert cli(project, "run", "suite.yaml", "--baseline-only", "--run-id", "b").returncode == 0
    run_json = project / ".autoresearch" / "b" / "run.json"
    saved = json.loads(run_json.read_text())
    saved["provenance"]["target"]["version"] = "2.1.100"
    run_json.write_text(json.dumps(saved))
    shown = cli(project, "next", "b")
    assert shown.returncode == 0, shown.stderr
    assert ("warning: the harness changed since the run started: the target was claude-code:sim "
            f"(@anthropic-ai/claude-code 2.1.100, {BIN / 'claude'}), now claude-code:sim (@anthropic-ai/claude-code "
            f"{version_of('claude')}, {BIN / 'claude'})") in shown.stderr
    assert "judge was" not in shown.stderr  # only what changed


def test_an_answer_cut_at_max_tokens_is_never_taken_for_a_whole_one(project, tmp_path, monkeypatch):
    """Claude Code gets max_tokens through CLAUDE_CODE_MAX_OUTPUT_TOKENS and fails a cut answer; pi reports it."""
    home = tmp_path / "home"
    cut = {"content": [{"type": "text", "text": "<hypothesis>cut"}], "stop_reason": "max_tokens"}
    with MessagesServer(reply=lambda body: cut) as server:
        for key, value in {"HOME": str(home), "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "test",
                           "DISABLE_TELEMETRY": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
                           "PI_CODING_AGENT_DIR": str(home / "agent")}.items():
            monkeypatch.setenv(key, value)
        (home / "agent").mkdir(parents=True)
        (home / "agent" / "models.json").write_text(json.dumps({"providers": {"fake": {
            "baseUrl": server.url, "api": "anthropic-messages", "apiKey": "test",
            "models": [{"id": "claude-fake-1", "contextWindow": 200000, "maxTokens": 8192}]}}}))

        async def ask(name):
            model = HarnessModel(ModelSpec(name, max_tokens=100))
            try:
                return await model.complete("s", MUTATION)
            except Exception as exc:  # noqa: BLE001 - the error is what is checked
                return exc
            finally:
                await model.aclose()

        claude, pi = asyncio.run(ask("claude-code:claude-fake-1")), asyncio.run(ask("pi:fake/claude-fake-1"))
        asked = [r["body"]["max_tokens"] for r in server.message_requests()
                 if r["headers"]["User-Agent"].startswith("claude-cli/")]
    assert asked and set(asked) == {100}
    assert "exceeded the 100 output token maximum" in str(claude)
    assert pi.stop_reason == "max_tokens"
