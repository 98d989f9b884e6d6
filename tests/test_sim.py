import asyncio

from conftest import ROOT

from autoresearch.decide.stats import sign_test
from autoresearch.evaluate.runner import evaluate_sync
from autoresearch.models import ModelSpec
from autoresearch.sim.model import SimModel, directives
from autoresearch.suite.skill import parse_skill
from autoresearch.suite.suite import load_suite


def complete(model, system, prompt, sample):
    return asyncio.run(model.complete(system, prompt, sample=sample)).text


def test_same_seed_same_answer_and_samples_differ():
    skill = (ROOT / "examples/meeting-notes/SKILL.md").read_text()
    a, b = SimModel(ModelSpec(seed=1)), SimModel(ModelSpec(seed=1))
    assert complete(a, skill, "Ann: I will ship it Friday.", 0) == complete(b, skill, "Ann: I will ship it Friday.", 0)
    answers = {complete(a, skill, "Ann: I will ship it Friday. Bob: I review.", s) for s in range(8)}
    assert len(answers) > 3


def test_clear_prominent_instructions_are_obeyed_more_often_than_vague_ones():
    vague = "---\nname: x\ndescription: y\n---\n# X\n\nYou may mention `## Summary`.\n"
    clear = "---\nname: x\ndescription: y\n---\n# X\n\n- **You MUST always start with `## Summary`.** For example:\n\n```\n## Summary\n```\n"
    (p_vague,), (p_clear,) = [[d.p for d in directives(t)] for t in (vague, clear)]
    assert p_clear - p_vague > 0.3


def test_editing_one_section_moves_the_pass_rate_believably():
    suite = load_suite(ROOT / "evals/meeting-notes.yaml")
    doc = parse_skill(suite.skill_path.read_text())
    better = doc.replace_body("meeting-notes/output-format",
                              "- Always start your answer with `## Summary`.\n- Always include `## Action items`.\n")
    before = evaluate_sync(suite, doc.render(), inputs=suite.split("train"))
    after = evaluate_sync(suite, better.render(), inputs=suite.split("train"))
    gain = after.by("eval_id")["summary-heading"].value - before.by("eval_id")["summary-heading"].value
    assert 0.3 < gain < 1.0, "a clear instruction should help a lot, but not always"
    untouched = after.by("eval_id")["owners"].value - before.by("eval_id")["owners"].value
    assert abs(untouched) < 0.35
    wins = sum(a.status == "pass" and b.status == "fail" for a, b in zip(after.cells, before.cells))
    losses = sum(a.status == "fail" and b.status == "pass" for a, b in zip(after.cells, before.cells))
    assert losses > 0 and sign_test(wins, losses) < 0.001  # noisy, yet a real gain


def test_judge_and_mutator_roles_follow_the_prompt_format():
    model = SimModel()
    verdict = complete(model, "s", "<judge_task>x</judge_task><pass_condition>Names an owner</pass_condition>"
                                   "<output>\nThe owner is named: Ann owns it.\n</output>", 0)
    assert verdict.startswith("VERDICT: ") and "\nREASON: " in verdict
