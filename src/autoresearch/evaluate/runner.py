"""Run every (input x run) through the target and score every outcome with every eval.

The result is a matrix of cells (input x eval x run), each pass, fail or error. Errors (a failed
target run, an unparseable judge answer, a crashed check) are kept apart and never counted as a fail.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Collection, Iterable, Sequence

from ..decide.intervals import Rate
from ..errors import AutoresearchError
from ..models import Model, ModelSpec, Usage, open_model, role_spec
from ..models.outcome import Outcome
from ..prompts import JUDGE_SYSTEM, judge_prompt
from ..suite.checks import CheckError, EchoedVerdict, Verdict, parse_judge_answer, run_check
from ..suite.suite import Eval, Input, Suite
from ..targets import SkillUnderTest, Target, is_harness, open_target
from .cells import ERROR, FAIL, PASS, Cell, rate_of


@dataclass
class Spend:
    """Model calls and what they cost; added up across evaluations and mutations."""

    calls: int = 0
    usage: Usage = Usage()
    cost: float = 0.0
    cache_hits: int = 0

    def record(self, answer: Any, calls: int = 1) -> None:
        """Count a Completion or an Outcome (a harness run is `turns` model calls); a cached answer costs nothing."""
        if answer.cached:
            self.cache_hits += 1
            return
        self.calls += calls
        self.usage = self.usage + answer.usage
        self.cost += answer.cost

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
    traces: dict[tuple[str, int], dict] = field(default_factory=dict)  # harness outcomes (Outcome.to_dict())

    def select(self, *, split: str | None = None, eval_id: str | None = None, input_id: str | None = None,
               runs: Iterable[int] | None = None) -> list[Cell]:
        run_set = set(runs) if runs is not None else None
        return [c for c in self.cells
                if (split is None or self.splits[c.input_id] == split) and (eval_id is None or c.eval_id == eval_id)
                and (input_id is None or c.input_id == input_id) and (run_set is None or c.run in run_set)]

    def rate(self, by: str = "output", **where: Any) -> Rate:
        """The pass rate of the selected cells, its interval clustered `by` output or by input (`rate_of`)."""
        return rate_of(self.select(**where), by)

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
                          spend, self.seconds + other.seconds, {**self.traces, **other.traces})


class Models:
    """The target, and the judge and mutator models of a suite, opened once and closed together.

    Unless given, the judge and mutator are the target's model with their roles' own settings; for a harness
    target that harness answering as a model (never the simulator, unless the target is simulated too)."""

    def __init__(self, target: ModelSpec, judge: ModelSpec | None = None, mutator: ModelSpec | None = None,
                 opener: Callable[[ModelSpec], Model] = open_model, keep_workspaces: bool = False):
        self._opener = opener
        self._open: dict[ModelSpec, Model] = {}
        self._target: Target | None = None
        self.keep_workspaces = keep_workspaces

        self.target_spec = target
        self.judge_spec = judge or role_spec(target, "judge")
        self.mutator_spec = mutator or role_spec(target, "mutator")

    @classmethod
    def for_suite(cls, suite: Suite, opener: Callable[[ModelSpec], Model] = open_model,
                  keep_workspaces: bool = False) -> "Models":
        return cls(suite.model, suite.judge_model, suite.mutator_model, opener, keep_workspaces)

    def for_target(self, spec: ModelSpec) -> "Models":
        """The same judge, mutator and opener with another target (a guard target's, say)."""
        return Models(spec, self.judge_spec, self.mutator_spec, self._opener, self.keep_workspaces)

    def get(self, spec: ModelSpec) -> Model:
        if spec not in self._open:
            self._open[spec] = self._opener(spec)
        return self._open[spec]

    @property
    def target(self) -> Target:
        if self._target is None:
            self._target = open_target(self.target_spec, self.get, self.keep_workspaces)
        return self._target

    @property
    def in_flight(self) -> int | None:
        """The target's own cap on calls in flight (its `concurrency:` option or backend default), if it has one:
        shared by every evaluation that runs at once."""
        return getattr(self.target, "in_flight", None)

    @property
    def mutator(self) -> Model:
        return self.get(self.mutator_spec)

    def judge_for(self, ev: Eval) -> Model:
        return self.get(ev.judge.model if ev.judge and ev.judge.model else self.judge_spec)

    async def aclose(self) -> None:
        if self._target is not None and is_harness(self.target_spec):
            await self._target.aclose()
        self._target = None
        for model in self._open.values():
            await model.aclose()
        self._open.clear()


JUDGE_UNPARSEABLE_LIMIT = 5  # judge answers in a row that do not parse before the evaluation stops


class JudgeUnparseable(CheckError):
    """The judge's answer has no single verdict line."""


class JudgeCannotAnswer(AutoresearchError):
    """The judge model keeps answering in a form we cannot read: stop instead of paying for a table of errors."""


@dataclass
class JudgeWatch:
    """Counts judge answers in a row that did not parse; trips at the limit."""

    limit: int = JUDGE_UNPARSEABLE_LIMIT
    in_a_row: int = 0
    last: str = ""
    model: str = ""

    def saw(self, parsed: bool, reason: str = "", model: str = "") -> None:
        self.in_a_row = 0 if parsed else self.in_a_row + 1
        self.last, self.model = (self.last, self.model) if parsed else (reason, model)

    @property
    def tripped(self) -> bool:
        return self.in_a_row >= self.limit

    def error(self) -> JudgeCannotAnswer:
        return JudgeCannotAnswer(
            f"the judge model {self.model} cannot follow the verdict format: {self.in_a_row} answers in a row did "
            f"not parse (last: {self.last}); the evaluation stopped. Set another judge with `judge:` in the suite "
            f"(or an eval's `judge: {{model: ...}}`), or --judge-model")


async def _score(ev: Eval, item: Input, outcome: Outcome, run: int, models: Models, spend: Spend) -> Verdict:
    if ev.check is not None:
        context = {"input": item.text, "input_id": item.id, "run": run, "outcome": outcome.to_dict()}
        return run_check(ev.check, outcome.text, context, outcome)
    assert ev.judge is not None
    trace = outcome.trace_text() if ev.judge.sees == "trace" else None
    prompt = judge_prompt(ev.question, ev.judge.pass_condition, ev.judge.fail_condition, item.text, outcome.text,
                          trace)
    completion = await models.judge_for(ev).complete(JUDGE_SYSTEM, prompt, sample=run)
    spend.record(completion)
    try:
        return parse_judge_answer(completion.text, untrusted=outcome.text + "\n" + (trace or ""))
    except EchoedVerdict:
        raise  # the output's doing, not the judge's: an error cell that does not count against the judge
    except CheckError as exc:
        raise JudgeUnparseable(str(exc)) from None


async def _one(item: Input, run: int, skill: SkillUnderTest, evals: Sequence[Eval], models: Models, spend: Spend,
               result: EvalResult, watch: JudgeWatch | None = None) -> list[Cell]:
    target = models.target
    try:
        outcome = await target.run(skill, item, run)
    except AutoresearchError as exc:
        return [Cell(item.id, ev.id, run, ERROR, f"target error: {exc}") for ev in evals if ev.applies_to(item.id)]
    spend.record(outcome, calls=outcome.turns)
    cells = []
    watch = watch or JudgeWatch()
    try:
        for ev in evals:
            if not ev.applies_to(item.id) or watch.tripped:
                continue
            try:
                verdict = await _score(ev, item, outcome, run, models, spend)
                cells.append(Cell(item.id, ev.id, run, PASS if verdict.passed else FAIL, verdict.reason))
                if ev.judge:
                    watch.saw(True)
            except JudgeUnparseable as exc:
                watch.saw(False, str(exc), models.judge_for(ev).spec.name)
                cells.append(Cell(item.id, ev.id, run, ERROR, str(exc)))
            except CheckError as exc:
                cells.append(Cell(item.id, ev.id, run, ERROR, str(exc)))
            except AutoresearchError as exc:
                cells.append(Cell(item.id, ev.id, run, ERROR, f"judge model error: {exc}"))
    finally:
        outcome = target.release(outcome)
    result.outputs[(item.id, run)] = outcome.text
    if is_harness(models.target_spec):
        result.traces[(item.id, run)] = outcome.to_dict()
    return cells


async def evaluate(suite: Suite, skill: str | SkillUnderTest, models: Models, *, runs: Sequence[int] | None = None,
                   inputs: Sequence[Input] | None = None, concurrency: int | None = None,
                   on_progress: Callable[[int, int], None] | None = None, keep_outputs: bool = True,
                   skip: Collection[tuple[str, int]] = (),
                   on_output: Callable[[str, int, list[Cell], "EvalResult"], None] | None = None,
                   spend: Spend | None = None,
                   on_first: Callable[["EvalResult"], Awaitable[None]] | None = None) -> EvalResult:
    """Score `skill` (a SKILL.md text, or a SkillUnderTest) on `inputs` x `runs`, at most `concurrency` in flight;
    each call is recorded in `spend` as it completes (a fresh Spend by default).

    (input id, run) pairs in `skip` are not run (the caller has them); `on_output` hears of each pair once scored.
    With `on_first`, the first pair is scored alone and awaited with the result so far before the rest start
    (the calls one harness run makes, for the cost preview, measured on a cell the evaluation keeps)."""
    started = time.perf_counter()
    if isinstance(skill, str):
        skill = SkillUnderTest(skill, suite.skill_path.parent, suite.distractors)
    models.target.check(skill)
    items = list(inputs if inputs is not None else suite.inputs)
    run_list = list(runs if runs is not None else range(suite.runs))
    pairs = [(item, run) for run in run_list for item in items if (item.id, run) not in skip]
    work = iter(pairs)
    total = len(pairs)
    result = EvalResult([], {i.id: i.split for i in items}, spend=spend if spend is not None else Spend())
    watch = JudgeWatch()
    done = 0

    async def worker(limit: int | None = None) -> None:
        nonlocal done
        for item, run in itertools.islice(work, limit):
            if watch.tripped:
                return
            cells = await _one(item, run, skill, suite.evals, models, result.spend, result, watch)
            result.cells.extend(cells)
            if on_output and not watch.tripped:
                on_output(item.id, run, cells, result)
            done += 1
            if on_progress:
                on_progress(done, total)

    if on_first is not None and pairs:
        await worker(1)
        await on_first(result)  # even when the judge watch tripped: other evaluations may be waiting on it
    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency or suite.concurrency, total or 1)))))
    if watch.tripped:
        raise watch.error()
    order = {(item.id, run): i for i, (item, run) in enumerate((i, r) for r in run_list for i in items)}
    eval_order = {ev.id: i for i, ev in enumerate(suite.evals)}
    result.cells.sort(key=lambda c: (order[(c.input_id, c.run)], eval_order[c.eval_id]))
    if not keep_outputs:
        result.outputs.clear()
        result.traces.clear()
    result.seconds = time.perf_counter() - started
    return result


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
