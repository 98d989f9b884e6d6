import asyncio

from conftest import BASIC_SUITE

from autoresearch.errors import ModelError
from autoresearch.evaluate.runner import ERROR, FAIL, PASS, Models, evaluate_sync
from autoresearch.models import Completion, ModelSpec
from autoresearch.suite.suite import load_suite

JUDGE_EVAL = """
  - id: judged
    question: Does it name an owner?
    judge: {pass: Names an owner, fail: Names no owner}
"""


class ScriptedModel:
    """A model that fails on inputs containing 'Cy:' and answers judges with garbage, counting calls in flight."""

    def __init__(self, spec):
        self.spec = spec
        self.in_flight = self.most_in_flight = 0

    async def complete(self, system, prompt, *, sample=0):
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.001)
        self.in_flight -= 1
        if "<judge_task>" in prompt:
            return Completion("I think it passes, probably.")
        if "Cy:" in prompt:
            raise ModelError("503 overloaded after 3 retries")
        return Completion(f"Summary for run {sample}: {prompt}")

    async def aclose(self):
        pass


def test_cells_form_the_full_matrix_with_rates_per_split_eval_and_input(make_suite):
    suite = load_suite(make_suite(BASIC_SUITE))
    result = evaluate_sync(suite)
    assert len(result.cells) == 2 * 2 * 2  # inputs x evals x runs
    assert {(c.input_id, c.eval_id, c.run) for c in result.cells} == {
        (i, e, r) for i in ("one", "two") for e in ("mentions-summary", "bounded") for r in (0, 1)}
    assert result.by("eval_id")["bounded"].value == 1.0
    assert set(result.by("input_id")) == {"one", "two"}
    assert result.rate(split="train").n == 4 and result.rate(split="holdout").n == 4
    lo, hi = result.rate().interval
    assert 0 <= lo <= result.rate().value <= hi <= 1


def test_model_failures_and_unparseable_judges_are_errors_never_fails(make_suite):
    suite = load_suite(make_suite(BASIC_SUITE + JUDGE_EVAL))
    models = Models(ModelSpec("scripted"), opener=ScriptedModel)
    result = evaluate_sync(suite, models=models)
    by_input = {i: [c for c in result.cells if c.input_id == i] for i in ("one", "two")}
    assert {c.status for c in by_input["two"]} == {ERROR}
    assert all("503 overloaded" in c.reason for c in by_input["two"])
    judged = [c for c in by_input["one"] if c.eval_id == "judged"]
    assert {c.status for c in judged} == {ERROR} and "VERDICT" in judged[0].reason
    rate = result.rate()
    assert rate.errors == 8 and rate.n == 4 and rate.failed == 0  # errors stay out of the rate
    assert {c.status for c in by_input["one"] if c.eval_id != "judged"} == {PASS}


def test_python_check_crashing_at_run_time_is_an_error(make_suite):
    text = BASIC_SUITE.replace("{type: icontains, value: summary}", '{type: python, value: "chk.py:picky"}')
    path = make_suite(text, files={"chk.py": "def picky(output):\n    return output.index('never-there') > 0\n"})
    result = evaluate_sync(load_suite(path))
    cells = [c for c in result.cells if c.eval_id == "mentions-summary"]
    assert {c.status for c in cells} == {ERROR} and "ValueError" in cells[0].reason
    assert {c.status for c in result.cells if c.eval_id == "bounded"} <= {PASS, FAIL}


def test_concurrency_is_bounded(make_suite):
    many = BASIC_SUITE.replace("runs: 2", "runs: 20")
    suite = load_suite(make_suite(many))
    holder = {}

    def opener(spec):
        holder["model"] = ScriptedModel(spec)
        return holder["model"]

    evaluate_sync(suite, models=Models(ModelSpec("scripted"), opener=opener), concurrency=3)
    assert holder["model"].most_in_flight == 3
