"""The loop with a real model behind the Messages API: a cache keyed on everything that changes the answer,
feedback an agent or a mutator model can act on, and the mutator's answers read with care (issues 16, 13)."""

import asyncio
import dataclasses
import itertools
import json
import shutil
import textwrap

import pytest
from click.testing import CliRunner
from conftest import ROOT, SKILL

from autoresearch.cli.common import _with_models
from autoresearch.cli.main import main
from autoresearch.decide.stats import KeepRule
from autoresearch.evaluate.runner import Models
from autoresearch.loop.experiment import Budget, Experiment, LoopConfig, run_loop
from autoresearch.loop.mutation import MutationRefused, Proposal, apply_proposal, parse_proposal
from autoresearch.models import Completion, ModelSpec, open_model
from autoresearch.models.anthropic_api import price_table
from autoresearch.models.cache import CachedModel, cache_key
from autoresearch.runs.journal import RunDir
from autoresearch.runs.rundirs import new_run
from autoresearch.sim.server import MessagesServer
from autoresearch.suite.skill import parse_skill
from autoresearch.suite.suite import load_suite


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def last_user_text(body: dict) -> str:
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else " ".join(b.get("text", "") for b in content)


def proposal_text(n: int, where: str = "") -> str:
    return (f"<hypothesis>variant {n} names the summary first{where}</hypothesis>\n<kind>clarify</kind>\n"
            f"<section_body>\n- Start with the summary, variant {n}.\n- List the action items.\n</section_body>")


def endpoint(name: str, mutator=None):
    """A scripted endpoint: the target answers with the endpoint's name, the mutator proposes new variants."""
    counter = itertools.count(1)

    def reply(body: dict):
        text = last_user_text(body)
        if "<mutation_task>" in text:
            return (mutator or proposal_text)(next(counter))
        if "<judge_task>" in text:
            return "VERDICT: FAIL\nREASON: not yet"
        return f"summary written by {name}"

    return reply


ENDPOINT_SUITE = """\
skill: notes/SKILL.md
model: {name: "anthropic:claude-fake-1", retry_base: 0.01}
runs: 2
inputs:
  - id: one
    text: "Ann: I will send the report by Friday."
  - id: two
    text: "Bob: I will fix the build today."
  - id: three
    text: "Cy: The launch moves to May."
    split: holdout
evals:
  - id: from-a
    question: Was it written by endpoint A?
    check: {type: icontains, value: endpoint-a}
"""


def test_the_loop_never_serves_one_endpoints_replies_for_another(make_suite, tmp_path, monkeypatch):
    """Two servers, one model name, one cache: each run sees only its own server's replies."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
    path = make_suite(ENDPOINT_SUITE)
    runs = {}
    for name in ("endpoint-a", "endpoint-b"):
        with MessagesServer(endpoint(name)) as server:
            monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
            (tmp_path / "notes/SKILL.md").write_text(SKILL)
            run, _ = run_loop(load_suite(path), LoopConfig(budget=Budget(experiments=2)), tmp_path / name,
                              on_event=lambda line: None)  # one response cache: ./.autoresearch/cache
            runs[name] = (run, len(server.message_requests()))
    run_b, requests_b = runs["endpoint-b"]
    assert requests_b > 0  # endpoint B was asked, not the cache holding A's replies
    outputs = [text for f in (run_b.path / "cells").glob("*.json")
               for _, _, text in json.loads(f.read_text())["outputs"]]
    assert outputs and all(text == "summary written by endpoint-b" for text in outputs)
    baseline_b = run_b.entries()[0]
    assert baseline_b["scores"]["train"]["rate"] == 0.0 and baseline_b["calls"] > 0
    assert (tmp_path / ".autoresearch/cache").is_dir()


def test_cache_key_covers_everything_that_changes_the_answer(tmp_path):
    base = ModelSpec("anthropic:m", max_tokens=100, temperature=0.5, options=(("timeout", 5),))
    key = cache_key(base, "sys", "prompt", 0, {"endpoint": "http://a/"})
    variants = [cache_key(base, "sys", "prompt", 0, {"endpoint": "http://b/"}),
                cache_key(dataclasses.replace(base, name="anthropic:n"), "sys", "prompt", 0, {"endpoint": "http://a/"}),
                cache_key(dataclasses.replace(base, max_tokens=101), "sys", "prompt", 0, {"endpoint": "http://a/"}),
                cache_key(dataclasses.replace(base, temperature=0.6), "sys", "prompt", 0, {"endpoint": "http://a/"}),
                cache_key(dataclasses.replace(base, options=(("timeout", 6),)), "sys", "prompt", 0,
                          {"endpoint": "http://a/"}),
                cache_key(base, "sys2", "prompt", 0, {"endpoint": "http://a/"}),
                cache_key(base, "sys", "prompt2", 0, {"endpoint": "http://a/"}),
                cache_key(base, "sys", "prompt", 1, {"endpoint": "http://a/"}),
                cache_key(base, "sys", "prompt", 0, {"endpoint": "http://a/", "harness": "claude-code 2.1"})]
    assert len({key, *variants}) == len(variants) + 1

    class Counting:  # a backend of our own shape: the cache adds its key material and the caller's
        spec = base

        def __init__(self):
            self.calls = 0

        def key_material(self):
            return {"endpoint": "http://a/"}

        async def complete(self, system, prompt, *, sample=0):
            self.calls += 1
            return Completion(f"answer {self.calls}", stop_reason="max_tokens")

        async def aclose(self):
            pass

    inner = Counting()

    def ask(extra):
        return asyncio.run(CachedModel(inner, tmp_path, extra).complete("s", "p"))

    first, again, other = ask({"harness": "v1"}), ask({"harness": "v1"}), ask({"harness": "v2"})
    assert (first.text, again.text, other.text) == ("answer 1", "answer 1", "answer 2") and inner.calls == 2
    assert again.cached and again.stop_reason == "max_tokens"


def test_eval_counts_calls_made_apart_from_answers_from_the_cache(make_suite, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
    path = make_suite(ENDPOINT_SUITE)
    with MessagesServer(endpoint("endpoint-a")) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        first, second = cli("eval", path), cli("eval", path)
    assert "6 model calls made," in first.output and "from the cache" not in first.output
    assert "0 model calls made, 6 answers from the cache" in second.output


# -- what an agent sees after an attempt -----------------------------------------------------------

@pytest.fixture
def meeting(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "examples/meeting-notes", tmp_path / "examples/meeting-notes")
    shutil.copytree(ROOT / "evals", tmp_path / "evals")
    monkeypatch.chdir(tmp_path)
    return tmp_path


LOSING_BODY = "- Write whatever comes to mind.\n"


def test_a_discarded_candidate_keeps_its_outputs_and_try_says_what_it_won_and_lost(meeting):
    assert cli("run", "evals/meeting-notes.yaml", "--baseline-only", "--run-id", "x").exit_code == 0
    (meeting / "new.md").write_text(LOSING_BODY)
    shown = cli("try", "x", "--section", "meeting-notes/output-format", "--file", "new.md",
                "--hypothesis", "fewer rules", "--kind", "simplify")
    assert "discard" in shown.output and "lost on: " in shown.output
    assert "its failing output for input" in shown.output
    entry = RunDir.find("x", meeting / ".autoresearch").entries()[-1]
    assert entry["decision"] == "discard"
    assert RunDir.find("x", meeting / ".autoresearch").load_cells(entry["candidate"])  # kept for the agent
    (meeting / "new2.md").write_text(LOSING_BODY + "- Be brief.\n")
    data = json.loads(cli("try", "x", "--section", "meeting-notes/output-format", "--file", "new2.md",
                          "--hypothesis", "fewer rules, brief", "--kind", "simplify", "--json").stdout)
    feedback = data["feedback"]
    assert data["entry"]["decision"] == "discard" and feedback["lost"]
    assert {"id", "wins", "losses"} <= set(feedback["lost"][0]) and feedback["failing_outputs"][0]["text"]
    shown = cli("next", "x")
    assert f"LAST ATTEMPT #{data['entry']['id']}" in shown.output and "its failing output" in shown.output
    assert json.loads(cli("next", "x", "--json").stdout)["last_attempt"]["id"] == data["entry"]["id"]


def test_next_shows_each_question_and_keeps_whitespace_in_reasons_visible(make_suite, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = make_suite("""\
        skill: notes/SKILL.md
        runs: 2
        inputs:
          - id: one
            text: "Ann: I will send the report by Friday. Bob: I will fix the build today."
        evals:
          - id: numbered
            question: Are the action items numbered one per line?
            check: {type: regex, value: "^1\\\\. "}
        """)
    assert cli("run", path, "--baseline-only", "--run-id", "r").exit_code == 0
    shown = cli("next", "r").output
    assert "question: Are the action items numbered one per line?" in shown
    assert "You may change any one of these sections instead (pass it as --section): notes" in shown
    seen = [line for line in shown.splitlines() if line.strip().startswith("seen:")]
    assert seen and any("\\n" in line for line in seen)  # the output's newlines, escaped, not spaces


def test_refusals_are_counted_for_the_mutator_not_fed_back_as_attempts(meeting):
    assert cli("run", "evals/meeting-notes.yaml", "--baseline-only", "--run-id", "x").exit_code == 0
    doc = parse_skill((meeting / "examples/meeting-notes/SKILL.md").read_text())
    (meeting / "same.md").write_text(doc.section("meeting-notes/output-format").body)
    for i in range(2):  # two proposals (the same try run again would only print its first decision)
        cli("try", "x", "--section", "meeting-notes/output-format", "--file", "same.md", "--hypothesis", f"nothing {i}")
    plan = json.loads(cli("next", "x", "--json").stdout)
    assert all(a["decision"] != "refused" for a in plan["tried"])
    experiment = Experiment(load_suite(meeting / "evals/meeting-notes.yaml"), RunDir.find("x", meeting / ".autoresearch"),
                            LoopConfig(), Models(ModelSpec()))
    plan, _ = experiment.next_sync()
    plan = experiment.plan("meeting-notes/output-format")
    assert plan.refusals == ["2 x the proposal changes nothing"] and not plan.tried
    from autoresearch.loop.mutation import mutation_prompt

    prompt = mutation_prompt(plan.doc, plan.section, plan.failures, plan.outputs, plan.tried, None, plan.refusals)
    assert "2 x the proposal changes nothing" in prompt and "<attempt " not in prompt


# -- a mutator or judge that cannot do the job -------------------------------------------------------

MUTATOR_ON_SERVER = """\
skill: notes/SKILL.md
model: sim
mutator: {name: "anthropic:claude-fake-1", retry_base: 0.01, max_retries: 0}
runs: 2
inputs:
  - id: one
    text: "Ann: I will send the report by Friday. Bob: I will fix the build today."
evals:
  - id: summary
    question: Does it say summary?
    check: {type: icontains, value: "in short"}
"""


def loop_on(path, tmp_path, **config):
    return run_loop(load_suite(path), LoopConfig(**config), tmp_path / ".autoresearch", on_event=lambda line: None)


@pytest.fixture
def api(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test")

    def start(reply):
        server = MessagesServer(reply).__enter__()
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        started.append(server)
        return server

    started: list = []
    yield start
    for server in started:
        server.__exit__()


def test_a_mutator_that_never_follows_the_format_stops_the_loop_with_a_diagnosis(make_suite, tmp_path, api):
    api(lambda body: "I think the skill is fine as it is.")
    run, reason = loop_on(make_suite(MUTATOR_ON_SERVER), tmp_path, budget=Budget(experiments=20))
    assert "cannot follow the proposal format" in reason and "--mutator-model" in reason and "`mutator:`" in reason
    refused = run.entries()[1:]
    assert len(refused) == 3 and all(e["decision"] == "refused" for e in refused)
    assert all(e["answer"] == "I think the skill is fine as it is." for e in refused)  # the raw answer is kept
    resumed = cli("run", "--resume", run.id, "--runs-dir", tmp_path / ".autoresearch", "--mutator-model", "sim",
                  "--max-experiments", "5")
    assert resumed.exit_code == 0 and "stopped: budget spent: 5 experiments" in resumed.output  # a new mutator goes on


def test_a_truncated_answer_says_so_and_the_mutator_has_its_own_max_tokens(make_suite, tmp_path, api):
    cut = {"content": [{"type": "text", "text": "<hypothesis>longer</hypothesis>\n<kind>clarify</kind>\n"
                                                 "<section_body>\n- Start with"}], "stop_reason": "max_tokens"}
    server = api(lambda body: cut)
    run, reason = loop_on(make_suite(MUTATOR_ON_SERVER), tmp_path, budget=Budget(experiments=1))
    entry = run.entries()[1]
    assert entry["decision"] == "refused" and entry["reason"].startswith("truncated at max_tokens (4096)")
    assert entry["answer"] == cut["content"][0]["text"] and entry["stop_reason"] == "max_tokens"
    assert server.message_requests()[-1]["body"]["max_tokens"] == 4096  # not the target's 1024


def test_judge_and_mutator_get_their_own_settings_and_flags_keep_the_suites_options(make_suite, tmp_path, api):
    server = api(endpoint("endpoint-a"))
    path = make_suite("""\
        skill: notes/SKILL.md
        model: {name: "anthropic:claude-fake-1", max_tokens: 128, retry_base: 0.01}
        runs: 1
        inputs:
          - id: one
            text: "Ann: I will send the report by Friday."
        evals:
          - id: judged
            question: Is it a summary?
            judge: {pass: "it is a summary", fail: "it is not"}
        """)
    loop_on(path, tmp_path, budget=Budget(experiments=1))
    sizes = {("mutation" if "<mutation_task>" in last_user_text(r["body"]) else
              "judge" if "<judge_task>" in last_user_text(r["body"]) else "target"): r["body"]["max_tokens"]
             for r in server.message_requests()}
    assert sizes == {"target": 128, "judge": 1024, "mutation": 4096}
    suite = load_suite(make_suite("""\
        skill: notes/SKILL.md
        model: {name: sim, max_tokens: 300, latency: 0.001}
        mutator: {name: sim, max_tokens: 2000, timeout: 7}
        inputs: [{id: one, text: hello}]
        evals: [{id: e, question: "q?", check: {type: contains, value: x}}]
        """))
    changed = _with_models(suite, "anthropic:claude-fake-2", "anthropic:claude-judge", "anthropic:claude-fake-3", False)
    assert changed.model == ModelSpec("anthropic:claude-fake-2", 300, options=(("latency", 0.001),))
    assert changed.mutator_model == ModelSpec("anthropic:claude-fake-3", 2000, options=(("timeout", 7),))
    assert changed.judge_model.max_tokens == 1024 and changed.judge_model.option("latency") == 0.001


def test_a_judge_whose_answers_never_parse_stops_the_evaluation(make_suite, tmp_path, api, monkeypatch):
    monkeypatch.chdir(tmp_path)
    server = api(lambda body: "Hmm, hard to say." if "<judge_task>" in last_user_text(body) else "some notes")
    path = make_suite("""\
        skill: notes/SKILL.md
        model: {name: "anthropic:claude-fake-1", retry_base: 0.01}
        runs: 8
        concurrency: 1
        inputs:
          - id: one
            text: "Ann: I will send the report by Friday."
          - id: two
            text: "Bob: I will fix the build today."
        evals:
          - id: judged
            question: Is it a summary?
            judge: {pass: "it is a summary", fail: "it is not"}
        """)
    result = cli("eval", path, "--no-cache")
    assert result.exit_code == 2 and "cannot follow the verdict format" in result.output
    assert "--judge-model" in result.output and "judged" not in result.output.split("error")[0]
    assert len(server.message_requests()) < 2 * 16  # stopped early, not a table of 16 errors


def test_a_failed_mutator_call_is_logged_and_the_loop_goes_on_until_k_in_a_row(make_suite, tmp_path, api):
    server = api(endpoint("endpoint-a", lambda n: proposal_text(n).replace("summary", "summary, in short")))
    server.faults.extend(["500"])
    path = make_suite(MUTATOR_ON_SERVER)
    run, reason = loop_on(path, tmp_path, budget=Budget(experiments=3))
    decisions = [e["decision"] for e in run.entries()[1:]]
    assert reason.startswith("budget spent") and decisions[0] == "error" and "error" not in decisions[1:]
    assert "mutator model error" in run.entries()[1]["reason"]
    server.fault_rate, server.fault_kinds = 1.0, ("500",)
    (tmp_path / "notes/SKILL.md").write_text(SKILL)
    suite = load_suite(path)
    run, reason = run_loop(suite, LoopConfig(budget=Budget(experiments=10)), tmp_path / "again",
                           on_event=lambda line: None, models=Models.for_suite(suite, lambda s: open_model(s, None)))
    assert reason.startswith("the mutator model anthropic:claude-fake-1 failed 3 times in a row")
    assert [e["decision"] for e in run.entries()[1:]] == ["error"] * 3


# -- the mutator's answer ----------------------------------------------------------------------------

def meeting_doc():
    suite = load_suite(ROOT / "evals/meeting-notes.yaml")
    return suite, parse_skill(suite.skill_path.read_text(), suite.skill_path)


def test_the_answers_last_proposal_counts_and_an_echoed_format_block_is_refused():
    template = (ROOT / "src/autoresearch/templates/mutate.md.j2").read_text()
    echo = template[template.index("<hypothesis>"):template.index("</mutation_task>")]
    real = "<hypothesis>Owners first</hypothesis>\n<kind>clarify</kind>\n<section_body>\n- Name owners.\n</section_body>"
    assert parse_proposal(echo + "\nMy answer:\n" + real) == Proposal("- Name owners.", "Owners first", "clarify")
    with pytest.raises(MutationRefused, match="placeholder") as refused:
        parse_proposal(echo)
    assert refused.value.refusal == "format"
    with pytest.raises(MutationRefused, match="kind 'rewrite' is not one of"):
        parse_proposal(real.replace("clarify", "rewrite"))
    fenced = real.replace("- Name owners.", "```markdown\n- Name owners.\n- Dates too.\n```")
    assert parse_proposal(fenced).body == "- Name owners.\n- Dates too.\n"


def test_a_heading_line_is_stripped_alike_in_run_and_try():
    suite, doc = meeting_doc()
    body = "## Style\n\n- Use plain words.\n- Bullet points are fine.\n"
    proposal = parse_proposal(f"<hypothesis>plainer</hypothesis><kind>clarify</kind><section_body>\n{body}"
                              "</section_body>")
    changed = apply_proposal(doc, "meeting-notes/style", proposal, suite)
    assert changed.section("meeting-notes/style").body.strip() == "- Use plain words.\n- Bullet points are fine."


def test_unknown_models_cost_nothing_unless_priced_and_the_preview_says_so(make_suite, tmp_path, api, monkeypatch):
    monkeypatch.chdir(tmp_path)
    local = ModelSpec("anthropic:qwen2.5-0.5b-instruct")
    assert set(price_table(local).values()) == {0.0}
    assert price_table(dataclasses.replace(local, options=(("prices", (("input", 1.0), ("output", 2.0))),)))["output"] == 2.0
    assert price_table(ModelSpec("anthropic:claude-sonnet-4-5"))["input"] == 3.0
    api(endpoint("local"))
    path = make_suite(ENDPOINT_SUITE.replace("claude-fake-1", "qwen2.5-0.5b-instruct"))
    result = cli("eval", path)
    assert "qwen2.5-0.5b-instruct: not in the price table, counted as $0" in result.output
    assert "~$0.00" in result.output and ", $0." not in result.output.split("estimate")[-1]


# -- choosing where to work, near misses, holdout ------------------------------------------------------

def test_after_a_discard_the_loop_tries_other_sections_for_the_same_failing_eval(meeting):
    suite = load_suite(meeting / "evals/meeting-notes.yaml")
    run, _ = run_loop(suite, LoopConfig(rule=KeepRule("paired", alpha=1e-12), plateau=12), meeting / ".autoresearch",
                      on_event=lambda line: None)
    entries = run.entries()
    assert all(e["decision"] != "keep" for e in entries)  # one failing eval leads throughout
    candidates = ["meeting-notes", "meeting-notes/workflow", "meeting-notes/output-format", "meeting-notes/style"]
    tried = [e["section"] for e in entries[1:] if e["decision"] in ("discard", "refused")]
    assert len(tried) >= 8
    for end in range(1, len(tried) + 1):  # at every point, no section was tried twice more than another
        counts = [tried[:end].count(c) for c in candidates]
        assert max(counts) - min(counts) <= 1, tried[:end]


def test_a_narrow_discard_is_reported_as_a_near_miss(meeting):
    suite = load_suite(meeting / "evals/meeting-notes.yaml")
    doc = parse_skill(suite.skill_path.read_text(), suite.skill_path)
    section = "meeting-notes/style"

    def attempt(run_id, alpha, line):  # no racing, no confirmation: one exact test, the same p every time
        config = LoopConfig(rule=KeepRule("paired", alpha, 0.0, False))
        experiment = Experiment(suite, new_run(suite, config, meeting / ".autoresearch", run_id), config,
                                Models.for_suite(suite))
        experiment.run_sync(baseline_only=True)
        return experiment.try_sync(section, Proposal(doc.section(section).body + line, line.strip("- \n"),
                                                     "add-instruction"))

    lines = ["- Mention the owner of each task.\n", "- Keep it short.\n", "- Name each owner and date.\n",
             "- Start with `## Summary` when you can.\n"]
    probes = [(line, attempt(f"probe{i}", 1e-9, line)) for i, line in enumerate(lines)]
    line, probe = next((line, e) for line, e in probes if e["wins"] > e["losses"] and e["p_value"] >= 1e-4)
    p = probe["p_value"]
    near, far = attempt("n", p / 1.5, line), attempt("f", p / 3, line)
    assert near["p_value"] == far["p_value"] == p
    assert near["decision"] == "discard" and near["near_miss"]
    assert far["decision"] == "discard" and not far["near_miss"]  # p is 3 x alpha: not narrow
    changelog = (meeting / ".autoresearch/n/changelog.md").read_text()
    assert f"## #{near['id']} discard (near miss)" in changelog
    assert "(near miss)" not in (meeting / ".autoresearch/f/changelog.md").read_text()
    shown = cli("next", "n").stdout
    assert "NEAR MISSES" in shown and f"#{near['id']} {section}" in shown
    assert [n["id"] for n in json.loads(cli("next", "n", "--json").stdout)["near_misses"]] == [near["id"]]


def test_holdout_runs_and_every_printed_holdout_rate_has_its_interval(make_suite, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = make_suite(textwrap.dedent("""\
        skill: notes/SKILL.md
        runs: 2
        holdout_runs: 6
        inputs:
          - id: one
            text: "Ann: I will send the report by Friday. Bob: I will fix the build today."
          - id: two
            text: "Cy: The launch moves to May. Di: I will tell the customers this week."
            split: holdout
        evals:
          - id: mentions-summary
            question: Does it mention a summary?
            check: {type: icontains, value: summary}
        """))
    shown = cli("run", path, "--baseline-only", "--run-id", "h")
    holdout = RunDir.find("h", tmp_path / ".autoresearch").entries()[0]["scores"]["holdout"]
    assert holdout["passed"] + holdout["failed"] == 6
    assert holdout["interval_by"] == "input"  # a holdout rate is about new inputs, and says so
    rate = f"{holdout['rate']:.1%} [{holdout['low']:.0%}–{holdout['high']:.0%} on new inputs] ({holdout['passed']}/6)"
    assert f"holdout {rate}" in shown.output  # the event line
    assert f"baseline {rate}" in cli("status", "h").output
    assert f"holdout {rate}" in cli("next", "h").output
    assert rate in (tmp_path / ".autoresearch/h/changelog.md").read_text()


def test_a_model_targets_outcome_carries_the_stop_reason(tmp_path, api):
    from autoresearch.suite.suite import Input
    from autoresearch.targets import SkillUnderTest

    api(lambda body: {"content": [{"type": "text", "text": "cut"}], "stop_reason": "max_tokens"})
    models = Models(ModelSpec("anthropic:claude-fake-1", options=(("retry_base", 0.01),)),
                    opener=lambda s: open_model(s, None))

    async def go():
        try:
            return await models.target.run(SkillUnderTest(SKILL, tmp_path), Input("one", "hello"), 0)
        finally:
            await models.aclose()

    assert asyncio.run(go()).stop_reason == "max_tokens"
