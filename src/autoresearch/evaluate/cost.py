"""Cost preview: the calls, tokens and dollars an evaluation will take, before paying for it.

Input tokens come from the model's count_tokens where it has one (the Anthropic API), otherwise
from the approximation of 4 characters per token. Output is assumed at half of max_tokens.
The skill is cached after the first call, so its tokens are priced as cache reads after that.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Sequence

from ..models import ModelSpec
from ..suite.suite import Suite
from ..targets import is_harness
from .runner import EvalResult, Models, Spend, evaluate


@dataclass(frozen=True)
class Budget:
    """Stop after any of these is spent (None: no limit). Checked between experiments."""

    experiments: int | None = None
    calls: int | None = None
    tokens: int | None = None
    dollars: float | None = None
    seconds: float | None = None


@dataclass(frozen=True)
class Estimate:
    calls: int
    input_tokens: int
    output_tokens: int
    dollars: float
    counted: bool  # True when count_tokens gave the input sizes
    unpriced: tuple[str, ...] = field(default=())  # models not in the price table, counted as $0
    harness_runs: int = 0  # runs of a harness target among the calls: each makes one model call per turn, at least one
    measured_runs: int = 0  # of those, runs counted at the calls per run measured on a first cell (the rest: one each)

    def __str__(self) -> str:
        how = "counted" if self.counted else "approx. 4 chars/token"
        free = (f"; {', '.join(self.unpriced)}: not in the price table, counted as $0 (give the model "
                "`prices: {input, output}` per million tokens to count it)") if self.unpriced else ""
        if self.harness_runs and self.measured_runs == self.harness_runs:
            least = (f"{self.calls} calls ({self.harness_runs} harness runs at the model calls per run measured on "
                     "a first cell of each target and arm; judges one call each; a harness reports its cost as it runs)")
        elif self.harness_runs:
            least = (f"at least {self.calls} calls ({self.harness_runs} harness runs, {self.measured_runs} of them at "
                     "measured calls per run, the rest one model call each, though they make one per turn; a harness "
                     "reports its cost as it runs)")
        else:
            least = f"{self.calls} calls"
        return f"{least}, ~{self.input_tokens + self.output_tokens:,} tokens ({how}), ~${self.dollars:.2f}{free}"

    def __add__(self, other: "Estimate") -> "Estimate":
        """Two evaluations together (two arms, two targets)."""
        return Estimate(self.calls + other.calls, self.input_tokens + other.input_tokens,
                        self.output_tokens + other.output_tokens, self.dollars + other.dollars,
                        self.counted and other.counted, tuple(dict.fromkeys(self.unpriced + other.unpriced)),
                        self.harness_runs + other.harness_runs, self.measured_runs + other.measured_runs)


def previewable(spec: ModelSpec) -> bool:
    """Whether a cost preview means anything: a paid or external model, not the simulator or a harness run."""
    return spec.backend in ("anthropic", "command")


def _prices(spec: ModelSpec) -> dict[str, float] | None:
    if spec.backend != "anthropic":
        return None
    from ..models.anthropic_api import price_table

    return price_table(spec)


def _unpriced(specs: list[ModelSpec]) -> tuple[str, ...]:
    """The anthropic models among `specs` that the price table does not know (a local server's, say)."""
    from ..models.anthropic_api import is_priced

    return tuple(dict.fromkeys(s.name for s in specs if s.backend == "anthropic" and not is_priced(s)))


async def estimate(suite: Suite, skill: str, models: Models, runs: int, inputs=None) -> Estimate:
    """What one evaluation of `skill` on `inputs` x `runs` should cost, judges included."""
    items = list(inputs if inputs is not None else suite.inputs)
    target = models.get(models.target_spec)
    counter = getattr(target, "count_tokens", None)
    approx = [(len(skill) + len(item.text)) // 4 for item in items]
    sizes, counted = approx, False
    if counter:
        try:
            sizes = list(await asyncio.gather(*(counter(skill, item.text) for item in items)))
            counted = True
        except Exception:  # count_tokens unavailable: fall back to the approximation, as documented
            sizes = approx
    out = models.target_spec.max_tokens // 2
    skill_tokens = len(skill) // 4
    judges = [(ev, [i for i in items if ev.applies_to(i.id)]) for ev in suite.evals if ev.judge]
    calls = len(items) * runs + sum(len(judged) for _, judged in judges) * runs
    input_tokens = sum(sizes) * runs
    output_tokens = out * len(items) * runs
    dollars = 0.0
    prices = _prices(models.target_spec)
    if prices:
        uncached = input_tokens - skill_tokens * max(0, len(items) * runs - 1)
        dollars += (uncached * prices["input"] + skill_tokens * max(0, len(items) * runs - 1) * prices["cache_read"]
                    + output_tokens * prices["output"]) / 1e6
    for ev, judged in judges:  # an eval limited to some inputs is judged on those only
        spec = ev.judge.model or models.judge_spec
        judge_in = (sum(len(i.text) for i in judged) // 4 + (out + 150) * len(judged)) * runs
        judge_out = 40 * len(judged) * runs
        input_tokens += judge_in
        output_tokens += judge_out
        judge_prices = _prices(spec)
        if judge_prices:
            dollars += (judge_in * judge_prices["input"] + judge_out * judge_prices["output"]) / 1e6
    specs = [models.target_spec] + [ev.judge.model or models.judge_spec for ev, _ in judges]
    return Estimate(calls, input_tokens, output_tokens, dollars, counted, _unpriced(specs))


async def target_estimate(suite: Suite, skill: str, models: Models, runs: int, inputs=None,
                          per_run: float | None = None) -> Estimate:
    """`estimate` for any target: a harness run is counted at `per_run` calls (measured on a first cell:
    `calls_per_run`), else as one call (it makes one per turn), and $0 (it reports its own cost as it runs);
    judges are counted as for a model target."""
    if not is_harness(models.target_spec):
        return await estimate(suite, skill, models, runs, inputs)
    items = list(inputs if inputs is not None else suite.inputs)
    judged = sum(1 for ev in suite.evals if ev.judge for i in items if ev.applies_to(i.id))
    cells = len(items) * runs
    return Estimate(round(cells * (per_run or 1)) + judged * runs, 0, 0, 0.0, False, harness_runs=cells,
                    measured_runs=cells if per_run else 0)


def calls_per_run(result: EvalResult | None) -> float | None:
    """The model calls (turns) a harness target's runs made, on average over the cells of `result` (a first
    cell, say); None when no run finished (a target error: then a run counts as one call)."""
    turns = [int(t.get("turns", 1)) for t in (result.traces.values() if result is not None else ())]
    return sum(turns) / len(turns) if turns else None


class FirstCells:
    """Holds evaluations on harness targets at their first cell (`evaluate(on_first=...)`) until every one is in,
    then awaits `ready` with them once: the preview counts each target's calls per run on a cell it keeps."""

    def __init__(self, count: int, ready: Callable[[dict[int, EvalResult]], Awaitable[None]]):
        self.count, self.ready = count, ready
        self.results: dict[int, EvalResult] = {}
        self.measured = asyncio.Event()

    def hook(self, index: int) -> Callable[[EvalResult], Awaitable[None]]:
        async def heard(result: EvalResult) -> None:
            self.results[index] = result
            if len(self.results) == self.count:
                await self.ready(self.results)
                self.measured.set()
            await self.measured.wait()
        return heard


async def first_cell(suite: Suite, skill: str, models: Models, inputs) -> EvalResult | None:
    """One cell scored for the preview alone (a harness target's first input, run 0), when no evaluation follows
    that could keep it (`run --estimate-only`); None for a model target, which needs none."""
    items = list(inputs)
    if not is_harness(models.target_spec) or not items:
        return None
    return await evaluate(suite, skill, models, runs=[0], inputs=items[:1])


async def run_arms(suite: Suite, models: Models, guards: Sequence[ModelSpec] = (), uplift: bool = False) -> str:
    """The calls of every arm and target of a run: the baseline (train, holdout, no-skill arm, each guard target's
    train and holdout) and what an experiment adds on the guard targets. A harness target's calls per run are
    measured on one first cell of each target and arm (made by the preview itself)."""
    import dataclasses

    from ..targets import SkillUnderTest

    text = suite.skill_path.read_text(encoding="utf-8")
    train, holdout = suite.split("train"), suite.split("holdout")
    measuring = Spend()

    async def per_run(arm_suite: Suite, skill, arm_models: Models) -> float | None:
        sample = await first_cell(arm_suite, skill, arm_models, train)
        if sample is not None:
            measuring.merge(sample.spend)
        return calls_per_run(sample)

    main = await per_run(suite, text, models)
    parts: dict[str, Estimate] = {"train": await target_estimate(suite, text, models, suite.runs, train, main)}
    if holdout:
        parts["holdout"] = await target_estimate(suite, text, models, suite.holdout_run_count, holdout, main)
    if uplift:
        none = SkillUnderTest("", suite.skill_path.parent, suite.distractors, installed=False)
        parts["no-skill arm"] = await target_estimate(suite, "", models, suite.runs, train,
                                                      await per_run(suite, none, models))
    per_guard = {}
    for spec in guards:
        guard_models = models.for_target(spec)
        try:
            guarded = dataclasses.replace(suite, model=spec)
            measured = await per_run(guarded, text, guard_models)
            per_guard[spec.name] = await target_estimate(guarded, text, guard_models, suite.runs, train, measured)
            parts[f"guard {spec.name}"] = per_guard[spec.name] + (await target_estimate(
                guarded, text, guard_models, suite.holdout_run_count, holdout, measured) if holdout
                else Estimate(0, 0, 0, 0, True))
        finally:
            await guard_models.aclose()
    total = sum(parts.values(), Estimate(0, 0, 0, 0.0, True))
    lines = [f"baseline, every arm and target: {total}; " + ", ".join(f"{k} {v.calls}" for k, v in parts.items())]
    if not previewable(suite.model):  # a paid model target's preview says this with its dollars
        lines.append(f"each experiment: about one evaluation of the train inputs ({parts['train'].calls} calls on "
                     f"{suite.model.name}) and one mutator call ({models.mutator_spec.name}), the holdout again on a "
                     "keep")
    if measuring.calls:
        lines.append(f"(measuring those calls per run took {measuring.calls} calls of this preview's own)")
    if per_guard:
        lines.append("each experiment whose candidate wins on the main target adds, per guard target, the candidate "
                     "on the runs it was decided on (" + ", ".join(f"{k}: {v.calls} to {2 * v.calls} calls"
                                                           for k, v in per_guard.items()) + "), and its holdout on a keep")
    return "\n".join(lines)


def harness_preview(suite: Suite, cell_seconds: float | None) -> list[str]:
    """A harness target's cells per evaluation, and the time they take from one measured probe cell."""
    import math

    train, holdout = len(suite.split("train")) * suite.runs, len(suite.split("holdout")) * suite.holdout_run_count
    concurrency = int(suite.model.option("concurrency", 4))

    def duration(cells: int) -> str:
        if cell_seconds is None:
            return "time unknown (the preflight canary measures a probe cell; it was skipped)"
        seconds = math.ceil(cells / max(1, concurrency)) * cell_seconds
        return f"about {seconds / 60:.1f} min" if seconds >= 90 else f"about {seconds:.0f} s"

    probe = f"a probe cell took {cell_seconds:.1f} s" if cell_seconds is not None else "no probe cell measured"
    return [f"one evaluation of the train inputs: {train} cells ({len(suite.split('train'))} inputs x {suite.runs} "
            f"runs), {duration(train)} at {concurrency} at once ({probe}; judges add their own calls)",
            f"baseline: {train + holdout} cells with the holdout, {duration(train + holdout)}; each experiment up to "
            f"about twice one evaluation ({duration(2 * train)}), more on a keep (holdout and fresh runs); an agent's "
            "tool call stops at its timeout: use `try --background` and `autoresearch wait`"]


async def cost_preview(suite: Suite, models: Models, budget: Budget, guards: Sequence[ModelSpec] = (),
                       uplift: bool = False, probe=None) -> str:
    """What a run should cost before anything is paid: the baseline, one experiment, the experiments budget;
    with guard targets or the no-skill arm, the calls of every arm and target too.

    `probe` is the preflight canary's report, whose measured probe cell times a harness target's cells."""
    arms = await run_arms(suite, models, guards, uplift) if guards or uplift or is_harness(suite.model) else ""
    if not previewable(suite.model):
        why = "the simulator costs nothing" if suite.model.backend == "sim" else \
            "a harness reports its cost as it runs; --max-dollars stops the run between experiments"
        lines = [f"no dollar preview for {suite.model.name}: {why}"]
        if is_harness(suite.model):
            lines += harness_preview(suite, probe.cell_seconds if probe is not None else None)
        return "\n".join(lines + ([arms] if arms else []))
    text = suite.skill_path.read_text(encoding="utf-8")
    train = await estimate(suite, text, models, suite.runs, suite.split("train"))
    holdout = await estimate(suite, text, models, suite.runs, suite.split("holdout")) if suite.split("holdout") else None
    baseline = train.dollars + (holdout.dollars if holdout else 0.0)
    lines = [f"baseline (train{' and holdout' if holdout else ''}): ~${baseline:.2f}; one evaluation of the train "
             f"inputs: {train}",
             "each experiment: about one such evaluation on average with the default sequential rule (up to six when "
             "undecided; the paired rule: up to about twice, three times when the evals of one output are correlated), "
             "plus one mutator call, and the holdout again on a keep"]
    if budget.experiments is not None:
        lines.append(f"{budget.experiments} experiments: up to about ${baseline + 2 * budget.experiments * train.dollars:.2f}")
    if budget.dollars is not None:
        lines.append(f"--max-dollars {budget.dollars:g} stops the run between experiments once spent")
    return "\n".join(lines + ([arms] if arms else []))
