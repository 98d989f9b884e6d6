"""Run every (input x run) through the target model and score every output with every eval.

The result is a matrix of cells (input x eval x run), each pass, fail or error. Errors (a failed model
call, an unparseable judge answer, a crashed check) are kept apart and never counted as a fail.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from .checks import CheckError, Verdict, parse_judge_answer, run_check
from .errors import AutoresearchError
from .models import Completion, Model, ModelSpec, Usage, open_model
from .prompts import JUDGE_SYSTEM, render
from .stats import Rate
from .suite import Eval, Input, Suite

PASS, FAIL, ERROR = "pass", "fail", "error"


@dataclass(frozen=True, slots=True)
class Cell:
    input_id: str
    eval_id: str
    run: int
    status: str  # pass | fail | error
    reason: str


@dataclass
class Spend:
    """Model calls and what they cost; added up across evaluations and mutations."""

    calls: int = 0
    usage: Usage = Usage()
    cost: float = 0.0
    cache_hits: int = 0

    def record(self, completion: Completion) -> None:
        """Count a completion; one served from the response cache costs nothing."""
        if completion.cached:
            self.cache_hits += 1
            return
        self.calls += 1
        self.usage = self.usage + completion.usage
        self.cost += completion.cost

    def merge(self, other: "Spend") -> None:
        self.calls += other.calls
        self.usage = self.usage + other.usage
        self.cost += other.cost
        self.cache_hits += other.cache_hits


@dataclass
class EvalResult:
    """The scored matrix of one skill version; rates are Wilson-interval `Rate`s."""

    cells: list[Cell]
    splits: dict[str, str]  # input id -> split
    outputs: dict[tuple[str, int], str] = field(default_factory=dict)
    spend: Spend = field(default_factory=Spend)
    seconds: float = 0.0

    def select(self, *, split: str | None = None, eval_id: str | None = None, input_id: str | None = None,
               runs: Iterable[int] | None = None) -> list[Cell]:
        run_set = set(runs) if runs is not None else None
        return [c for c in self.cells
                if (split is None or self.splits[c.input_id] == split) and (eval_id is None or c.eval_id == eval_id)
                and (input_id is None or c.input_id == input_id) and (run_set is None or c.run in run_set)]

    def rate(self, **where: Any) -> Rate:
        return rate_of(self.select(**where))

    @property
    def errors(self) -> list[Cell]:
        return [c for c in self.cells if c.status == ERROR]

    def by(self, attribute: str, split: str | None = None) -> dict[str, Rate]:
        groups: dict[str, list[Cell]] = {}
        for c in self.cells:
            if split is None or self.splits[c.input_id] == split:
                groups.setdefault(getattr(c, attribute), []).append(c)
        return {k: rate_of(v) for k, v in groups.items()}

    def merged(self, other: "EvalResult") -> "EvalResult":
        """This result plus more cells (for example extra runs), with spend added."""
        spend = Spend()
        spend.merge(self.spend)
        spend.merge(other.spend)
        return EvalResult(self.cells + other.cells, {**self.splits, **other.splits}, {**self.outputs, **other.outputs},
                          spend, self.seconds + other.seconds)


def rate_of(cells: Iterable[Cell]) -> Rate:
    passed = failed = errors = 0
    for c in cells:
        if c.status == PASS:
            passed += 1
        elif c.status == FAIL:
            failed += 1
        else:
            errors += 1
    return Rate(passed, failed, errors)


class Models:
    """The target, judge and mutator models of a suite, opened once and closed together."""

    def __init__(self, target: ModelSpec, judge: ModelSpec | None = None, mutator: ModelSpec | None = None,
                 opener: Callable[[ModelSpec], Model] = open_model):
        self._opener = opener
        self._open: dict[ModelSpec, Model] = {}
        self.target_spec, self.judge_spec, self.mutator_spec = target, judge or target, mutator or target

    @classmethod
    def for_suite(cls, suite: Suite, opener: Callable[[ModelSpec], Model] = open_model) -> "Models":
        return cls(suite.model, suite.judge_model, suite.mutator_model, opener)

    def get(self, spec: ModelSpec) -> Model:
        if spec not in self._open:
            self._open[spec] = self._opener(spec)
        return self._open[spec]

    @property
    def target(self) -> Model:
        return self.get(self.target_spec)

    @property
    def mutator(self) -> Model:
        return self.get(self.mutator_spec)

    def judge_for(self, ev: Eval) -> Model:
        return self.get(ev.judge.model if ev.judge and ev.judge.model else self.judge_spec)

    async def aclose(self) -> None:
        for model in self._open.values():
            await model.aclose()
        self._open.clear()


async def _score(ev: Eval, item: Input, output: str, run: int, models: Models, spend: Spend) -> Verdict:
    if ev.check is not None:
        return run_check(ev.check, output, {"input": item.text, "input_id": item.id, "run": run})
    assert ev.judge is not None
    prompt = render("judge.md.j2", question=ev.question, pass_condition=ev.judge.pass_condition,
                    fail_condition=ev.judge.fail_condition, input=item.text, output=output)
    completion = await models.judge_for(ev).complete(JUDGE_SYSTEM, prompt, sample=run)
    spend.record(completion)
    return parse_judge_answer(completion.text)


async def _one(item: Input, run: int, system: str, evals: Sequence[Eval], models: Models, spend: Spend,
               outputs: dict[tuple[str, int], str]) -> list[Cell]:
    try:
        completion = await models.target.complete(system, item.text, sample=run)
    except AutoresearchError as exc:
        return [Cell(item.id, ev.id, run, ERROR, f"model error: {exc}") for ev in evals if ev.applies_to(item.id)]
    spend.record(completion)
    outputs[(item.id, run)] = completion.text
    cells = []
    for ev in evals:
        if not ev.applies_to(item.id):
            continue
        try:
            verdict = await _score(ev, item, completion.text, run, models, spend)
            cells.append(Cell(item.id, ev.id, run, PASS if verdict.passed else FAIL, verdict.reason))
        except CheckError as exc:
            cells.append(Cell(item.id, ev.id, run, ERROR, str(exc)))
        except AutoresearchError as exc:
            cells.append(Cell(item.id, ev.id, run, ERROR, f"judge model error: {exc}"))
    return cells


async def evaluate(suite: Suite, system: str, models: Models, *, runs: Sequence[int] | None = None,
                   inputs: Sequence[Input] | None = None, concurrency: int | None = None,
                   on_progress: Callable[[int, int], None] | None = None, keep_outputs: bool = True) -> EvalResult:
    """Score `system` (the skill text) on `inputs` x `runs`, at most `concurrency` items in flight."""
    started = time.perf_counter()
    items = list(inputs if inputs is not None else suite.inputs)
    run_list = list(runs if runs is not None else range(suite.runs))
    work = iter([(item, run) for run in run_list for item in items])
    total = len(items) * len(run_list)
    cells: list[Cell] = []
    outputs: dict[tuple[str, int], str] = {}
    spend = Spend()
    done = 0

    async def worker() -> None:
        nonlocal done
        for item, run in work:
            cells.extend(await _one(item, run, system, suite.evals, models, spend, outputs))
            done += 1
            if on_progress:
                on_progress(done, total)

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency or suite.concurrency, total or 1)))))
    order = {(item.id, run): i for i, (item, run) in enumerate((i, r) for r in run_list for i in items)}
    eval_order = {ev.id: i for i, ev in enumerate(suite.evals)}
    cells.sort(key=lambda c: (order[(c.input_id, c.run)], eval_order[c.eval_id]))
    return EvalResult(cells, {i.id: i.split for i in items}, outputs if keep_outputs else {}, spend,
                      time.perf_counter() - started)


def evaluate_sync(suite: Suite, system: str | None = None, models: Models | None = None, **kwargs: Any) -> EvalResult:
    """Blocking convenience wrapper: evaluate the suite's own skill file by default."""
    own = models is None
    models = models or Models.for_suite(suite)
    text = system if system is not None else suite.skill_path.read_text(encoding="utf-8")

    async def go() -> EvalResult:
        try:
            return await evaluate(suite, text, models, **kwargs)
        finally:
            if own:
                await models.aclose()

    return asyncio.run(go())
