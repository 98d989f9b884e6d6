"""The experiment loop: measure the baseline, then change one section at a time and keep only real gains.

Each experiment: pick a section from the failures, ask the mutator for a new body and a hypothesis,
race the candidate against the best on the same train cells, let the keep rule decide, log it.
Holdout inputs are never shown to the mutator nor used to decide; they are measured for every kept
version so overfitting shows. The journal line is written before the target file changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..decide.keep import decide
from ..decide.run_layout import RunLayout
from ..decide.stats import flakiness
from ..errors import AutoresearchError
from ..evaluate.cells import cells_map
from ..evaluate.cost import Budget
from ..evaluate.runner import EvalResult, Models, Spend, evaluate
from ..fsio import sha256
from ..runs.config import LoopConfig
from ..runs.journal import RunDir
from ..runs.locks import holding, run_lock, target_lock
from ..runs.partial import PartialCells
from ..runs.rundirs import clean_stale_temp_files, new_run
from ..suite.skill import SkillDocument, parse_skill
from ..suite.suite import Suite
from ..targets import SkillUnderTest
from .entries import (
    focus_of,
    is_near_miss,
    new_entry,
    paired_by_eval,
    per_eval,
    rate_dict,
    scores_of,
    section_diff,
    utc_now,
)
from .history import (
    EVALUATED,
    State,
    event_line,
    guard_refusals,
    holdout_note,
    near_misses,
    refusal_counts,
    state_from,
    tried_since_keep,
)
from .holdout import holdout_refusal, holdout_tests
from .inflight import InFlight
from .mutation import (
    Attempted,
    MutationRefused,
    Proposal,
    apply_proposal,
    choose_section,
    editable_sections,
    failing_outputs,
    failure_summary,
    mutation_prompt,
    parse_proposal,
    section_text,
)
from .publish import publish
from .stopping import STOP_FILE, reason_to_stop

# The Python API (README): Budget and LoopConfig live in config.py and are offered here with run_loop.
__all__ = ["Budget", "LoopConfig", "Experiment", "Plan", "Progress", "preflight", "progress_line", "run_loop"]

MUTATOR_SYSTEM = "You are a careful researcher improving an agent skill by controlled experiments."


@dataclass(frozen=True)
class Progress:
    """Where the loop is, for a live display and the heartbeat: a stage of an experiment and its items done."""

    experiment: int
    stage: str  # baseline, mutator, screening, confirmation, holdout
    done: int = 0
    total: int = 0
    detail: str = ""  # e.g. "run 3 of 8, candidate"
    runs: int = 0  # the stage's planned runs (screening, confirmation); racing may stop it earlier


def progress_line(p: Progress) -> str:
    """One short line for a Progress: `#4 screening run 2 of 8, candidate 5/10`."""
    head = f"#{p.experiment} {p.stage}" + (f" {p.detail}" if p.detail else "")
    return f"{head} {p.done}/{p.total}" if p.total else head


@dataclass(frozen=True)
class Plan:
    """The next experiment's starting point, as `autoresearch next` shows it to an agent."""

    doc: SkillDocument
    section: str
    candidates: list[str]
    failures: list[dict]
    outputs: list[dict]
    tried: list[Attempted]  # evaluated attempts on this section only: refusals would teach the mutator nothing
    refusals: list[str] = field(default_factory=list)  # "N x reason" for refusals on this section
    near_misses: list[dict] = field(default_factory=list)  # discards that came close, to build on
    profile: dict = field(default_factory=dict)  # the best's train inputs: flaky, never/always passing; eval correlation
    guard_refusals: list[str] = field(default_factory=list)  # attempts a guard target refused: harness and evals


class Experiment:
    """One run of the loop on a suite, writing into a RunDir. Use `run()`; see `run_loop` for the one-call form."""

    def __init__(self, suite: Suite, run: RunDir, config: LoopConfig, models: Models,
                 on_event: Callable[[str], None] = lambda line: None,
                 on_progress: Callable[[Progress], None] = lambda progress: None):
        self.suite, self.run, self.config, self.models, self.say = suite, run, config, models, on_event
        self.on_progress = on_progress
        self.train = suite.split("train")
        self.holdout = suite.split("holdout")
        self.layout = RunLayout.for_suite(suite.runs, suite.holdout_run_count,  # confirmation set after the baseline
                                          sequential=config.rule.name == "sequential")
        self.best_result: EvalResult | None = None
        self.first_id = 0  # the first attempt of this session: a resume (with another mutator, say) starts streaks anew
        self.pending = Spend()  # calls made between experiments, charged to the next journal line
        self.read_only = False  # `next`: measure what is missing in memory, write nothing
        self.changes: dict = {}  # options changed on resume, recorded in run.json once the run is ours
        self.entries: list[dict] = []  # the journal as last read: no one else writes it while we hold the run's lock
        self.inflight = InFlight(run)  # everything spent since the last journal line (pending included), on disk
        self.guards = None
        if config.guards:
            from .guard import Guards, guard_specs

            self.guards = Guards(suite, guard_specs(suite, config.guards), run, models, config.rule.alpha,
                                 lambda spent: self.inflight.charge(spent, getattr(getattr(self, "state", None),
                                                                                   "next_id", 0)))
        self.round_block: int | None = None  # in a round of candidates in parallel: the block all are tested on
        self.partial = PartialCells(run)  # cells scored since the last journal line: a killed attempt resumes

    # -- evaluation helpers -------------------------------------------------------------------
    async def _evaluate(self, text: str | SkillUnderTest, runs: list[int], inputs, spend: Spend, stage: str = "",
                        detail: str = "") -> EvalResult:
        experiment = getattr(getattr(self, "state", None), "next_id", 0)
        planned = len(self.layout.confirmation if stage == "confirmation" else self.layout.block(0)
                      if stage == "testing" else self.layout.screen)

        def report(done: int, total: int) -> None:
            self.on_progress(Progress(experiment, stage, done, total, detail, planned))

        digest = _partial_key(text)
        stored = {} if self.read_only else self.partial.load(digest)
        skip = {(i.id, r) for r in runs for i in inputs if (i.id, r) in stored}
        charged = Spend()

        def keep(input_id: str, run: int, cells: list, result: EvalResult) -> None:
            """Each scored pair goes to disk with its spend at once: a kill loses neither."""
            self.partial.add(digest, input_id, run, cells, result.outputs.get((input_id, run), ""),
                             result.traces.get((input_id, run)))
            delta = _spent_since(result.spend, charged)
            self.inflight.charge(delta, experiment)
            charged.merge(delta)

        report(0, len(inputs) * len(runs))
        result = await evaluate(self.suite, text, self.models, runs=runs, inputs=inputs, on_progress=report,
                                skip=skip, on_output=None if self.read_only else keep)
        _merge_stored(result, stored, skip, runs, inputs, self.suite)
        spend.merge(result.spend)
        self.inflight.charge(_spent_since(result.spend, charged), experiment)
        return result

    async def _best_cells(self, runs: list[int], spend: Spend) -> dict:
        """The best version's train cells for `runs`, evaluating (and storing) any runs not yet known."""
        async with self._best_lock:  # candidates in parallel share the best: each of its runs is measured once
            return await self._best_cells_now(runs, spend)

    @functools.cached_property
    def _best_lock(self) -> asyncio.Lock:
        return asyncio.Lock()

    async def _best_cells_now(self, runs: list[int], spend: Spend) -> dict:
        assert self.best_result is not None
        known = {c.run for c in self.best_result.cells}
        missing = [r for r in runs if r not in known]
        if missing:
            stage, detail = self.layout.describe(missing, "best")
            extra = await self._evaluate(self.run.version(self.state.best_sha), missing, self.train, spend, stage, detail)
            self.best_result = self.best_result.merged(extra)
            self._save(self.state.best_sha, self.best_result)
        return cells_map(self.best_result.select(runs=runs))

    def _load_best(self) -> None:
        stored = self.run.load_cells(self.state.best_sha)
        if stored:
            cells, outputs = stored
            self.best_result = EvalResult(cells, {i.id: i.split for i in self.train}, outputs,
                                          traces=self.run.load_traces(self.state.best_sha))

    def _save(self, digest: str, result: EvalResult, split: str = "train") -> None:
        if not self.read_only:  # `next` measures what is missing in memory only
            self.run.save_cells(digest, result.cells, result.outputs, result.traces, split)

    # -- journal ------------------------------------------------------------------------------
    def _record(self, entry: dict, spend: Spend, started: float) -> None:
        spend.merge(self.pending)
        self.pending = Spend()
        from ..evaluate.provenance import compact, provenance

        entry.update(calls=spend.calls, cached=spend.cache_hits, tokens=asdict(spend.usage), cost=round(spend.cost, 6),
                     seconds=round(time.perf_counter() - started, 3), ran=compact(provenance(self.suite)))
        published = self.state.best_sha
        self.run.append(entry)
        self.inflight.clear()
        self.partial.clear()
        self.entries = self.run.entries()
        self.state = state_from(self.entries)
        publish(self.run, self.suite.skill_path, self.suite.name, self.state.best_sha, self.entries, self.config.git,
                published)

    # -- the loop -----------------------------------------------------------------------------
    async def baseline(self) -> None:
        started, spend = time.perf_counter(), Spend()
        text = self.suite.skill_path.read_text(encoding="utf-8")
        digest = self.run.save_version(text)
        self.run.write_text("baseline/SKILL.md", text)
        self.say("measuring the baseline (experiment 0)")
        train = await self._evaluate(text, self.layout.screen, self.train, spend, "baseline", "train")
        holdout = await self._evaluate(text, self.layout.holdout, self.holdout, spend, "baseline", "holdout") \
            if self.holdout else None
        self._save(digest, train)
        if holdout:
            self._save(digest, holdout, split="holdout")
        uplift = await self._no_skill(train, spend) if self.config.uplift else None
        guards = await self.guards.baseline(text, digest, self.layout.screen, self.train, self.layout.holdout,
                                            self.holdout, spend) if self.guards else None
        self.state = State(best_sha=digest, next_id=0)
        entry = new_entry(self.state, decision="baseline", reason="experiment 0: the skill as given",
                          scores=scores_of(train, holdout), per_eval=per_eval(train), runs=self.layout.screen,
                          per_eval_holdout=per_eval(holdout) if holdout else {},
                          skill_before=digest, skill_after=digest,
                          inputs={"train": len(self.train), "holdout": len(self.holdout)},
                          profile=flakiness(cells_map(train.cells), self.suite.runs), guards=guards, uplift=uplift)
        self._record(entry, spend, started)
        self.say(f"#0 baseline: train {entry['scores']['train']['rate']:.1%}" + holdout_note(entry)
                 + "".join(f"; on guard {n}: train {g['train']['rate']:.1%}"
                           + (f", holdout {g['holdout']['rate']:.1%}" if g["holdout"] else "")
                           for n, g in (guards or {}).items()))
        profile = entry["profile"]
        self.layout = RunLayout.for_suite(self.suite.runs, self.suite.holdout_run_count, profile, self.layout.sequential)
        if self.layout.sequential:
            from ..decide.sequential import power_note

            self.say(power_note(cells_map(train.cells), len(self.train), self.suite.runs, self.config.rule))
        elif profile["suggest_runs"]:
            self.say(f"note: the evals of one output pass and fail together (correlation {profile['correlation']:.2f}), "
                     f"so each output counts as fewer checks: a candidate that passes the screen is confirmed on "
                     f"{self.layout.confirmation_runs} fresh runs instead of {self.suite.runs}; "
                     f"`runs: {profile['suggest_runs']}` in the suite would give the screen that power too")

    async def _no_skill(self, train: EvalResult, spend: Spend) -> dict:
        """`run --uplift`: the no-skill arm on the baseline's train inputs and runs (stored), and the baseline's uplift."""
        from ..review.uplift import NO_SKILL, measure, other_arm

        none = await self._evaluate(other_arm(self.suite, NO_SKILL), self.layout.screen, self.train, spend,
                                    "baseline", "no skill")
        self._save(NO_SKILL, none)
        return measure(train.cells, none.cells, [e.id for e in self.suite.evals], NO_SKILL,
                       self.config.rule.alpha).to_dict()

    async def _uplift_of(self, scored: EvalResult, spend: Spend) -> dict | None:
        """A kept version's uplift over no skill, paired on the runs of its score (which did not choose it, and
        under the sequential rule lie in a block the baseline's no-skill runs never reach); the no-skill arm is
        measured on those runs first when it lacks them, and stored (the arm grows with the runs asked of it)."""
        if not self.config.uplift:
            return None
        from ..review.uplift import NO_SKILL, measure, other_arm

        runs = sorted({c.run for c in scored.cells})
        stored = self.run.load_cells(NO_SKILL)
        none = EvalResult(stored[0], {i.id: i.split for i in self.train}, stored[1]) if stored else None
        missing = [r for r in runs if none is None or r not in {c.run for c in none.cells}]
        if missing:
            extra = await self._evaluate(other_arm(self.suite, NO_SKILL), missing, self.train, spend, "fresh runs",
                                         "no skill, on the kept score's runs")
            none = none.merged(extra) if none else extra
            self._save(NO_SKILL, none)
        return measure(scored.cells, none.select(runs=runs), [e.id for e in self.suite.evals],
                       NO_SKILL, self.config.rule.alpha).to_dict()

    def _unselected(self) -> list[int]:
        """The best's runs that played no part in choosing it (its honest score's), under either rule's layout."""
        if self.layout.sequential:
            from ..decide.sequential import block_index

            return self.layout.block(block_index(self.state.keeps, self.state.next_id))[:2 * self.layout.runs]
        return self.layout.unselected(self.state.keeps)

    def stop_reason(self) -> str | None:
        """Why the loop stops before its next experiment, or None to go on."""
        runs = self._unselected()
        measured = self.best_result is not None and {c.run for c in self.best_result.cells} >= set(runs)
        return reason_to_stop(self.config, self.state, [e for e in self.entries if e["id"] >= self.first_id],
                              self.best_result.rate(runs=runs) if measured else None, len(runs), self.inflight.spend,
                              self.finalized, self.models.mutator_spec, self.run.id)

    async def confirm_target(self) -> None:
        """When the best's honest score looks on target, measure all its unselected runs before stopping for it."""
        runs = self._unselected()
        known = {c.run for c in self.best_result.cells} if self.best_result else set()
        best = self.best_result.rate(runs=[r for r in runs if r in known]) if self.best_result else None
        if best and best.n and best.value >= self.config.target:
            await self._best_cells(runs, self.pending)

    def plan(self, section: str | None = None) -> Plan:
        """What to work on next: the best version, its failing evals (train only), the section to change
        (`section` when an agent chose it with `try`, else the loop's choice)."""
        assert self.best_result is not None
        doc = parse_skill(self.run.version(self.state.best_sha), self.suite.skill_path)
        failures = failure_summary(self.suite, self.best_result)
        candidates = editable_sections(doc, self.config.sections or None, self.config.allow_description)
        if section is None:
            avoid = tried_since_keep(self.entries, failures[0]["id"]) if failures else []
            section = choose_section(doc, self.suite, Counter({f["id"]: f["failed"] for f in failures}), candidates,
                                     self.state.history, self.state.next_id, avoid)
        on_section = [e for e in self.entries if e["section"] == section]
        tried = [a for a in self.state.tried.get(section, []) if a.decision.split(" ")[0] in EVALUATED]
        outputs = failing_outputs(self.best_result, inputs={i.id: i.text for i in self.train})
        return Plan(doc, section, candidates, failures, outputs, tried[-8:], refusal_counts(on_section),
                    near_misses(self.entries),
                    flakiness(cells_map(self.best_result.select(split="train")), self.suite.runs),
                    guard_refusals(self.entries))

    async def step(self) -> dict:
        """One experiment: choose, ask the mutator, then attempt its proposal."""
        started, spend = time.perf_counter(), Spend()
        plan = self.plan()
        prompt = mutation_prompt(plan.doc, plan.section, plan.failures, plan.outputs, plan.tried, self.config.template,
                                 plan.refusals, plan.near_misses, plan.guard_refusals)
        self.on_progress(Progress(self.state.next_id, "mutator", detail=f"proposing a change to {plan.section}"))
        try:
            completion = await self.models.mutator.complete(MUTATOR_SYSTEM, prompt, sample=self.state.next_id)
        except AutoresearchError as exc:  # a model error or timeout: logged, and the loop goes on
            entry = new_entry(self.state, **self._base(plan), decision="error", reason=f"mutator model error: {exc}")
            self._record(entry, spend, started)
            return entry
        spend.record(completion)
        mutator = Spend()
        mutator.record(completion)
        self.inflight.charge(mutator, self.state.next_id)
        try:
            proposal = parse_proposal(completion.text)
        except MutationRefused as exc:
            reason = str(exc)
            if completion.stop_reason == "max_tokens":
                reason = f"truncated at max_tokens ({self.models.mutator_spec.max_tokens}): {reason}"
            entry = new_entry(self.state, **self._base(plan), decision="refused", reason=reason, refusal=exc.refusal,
                              answer=completion.text, stop_reason=completion.stop_reason)
            self._record(entry, spend, started)
            return entry
        return await self.attempt(plan, proposal, spend, started, answer=completion.text)

    async def step_round(self, size: int) -> list[dict]:
        """A round of candidates in parallel: `size` proposals on different sections, asked for and evaluated at
        once against the same best, each with its own test; at most one is kept (rounds.py)."""
        from ..decide.rounds import Round, round_sections
        from ..decide.sequential import block_index

        started = time.perf_counter()
        first = self.plan()
        failures = Counter({f["id"]: f["failed"] for f in first.failures})
        doc = first.doc

        def choose(left, counts, history):
            return choose_section(doc, self.suite, counts, left, history, self.state.next_id)

        sections = round_sections(first.section, first.candidates, failures, list(self.state.history), size, choose)
        plans = [first] + [self.plan(section) for section in sections[1:]]
        prompts = [mutation_prompt(p.doc, p.section, p.failures, p.outputs, p.tried, self.config.template, p.refusals,
                                   p.near_misses) for p in plans]
        self.on_progress(Progress(self.state.next_id, "mutator", detail=f"proposing {len(plans)} changes at once"))
        answers = await asyncio.gather(*(self.models.mutator.complete(MUTATOR_SYSTEM, prompt, sample=self.state.next_id + j)
                                         for j, prompt in enumerate(prompts)), return_exceptions=True)
        entries, attempts = [], []
        for plan, answer in zip(plans, answers):
            spend = Spend()
            if isinstance(answer, AutoresearchError):
                entry = new_entry(self.state, **self._base(plan), decision="error", reason=f"mutator model error: {answer}")
                self._record(entry, spend, started)
                entries.append(entry)
                continue
            if isinstance(answer, BaseException):
                raise answer
            spend.record(answer)
            try:
                attempts.append((plan, parse_proposal(answer.text), spend, answer.text))
            except MutationRefused as exc:
                entry = new_entry(self.state, **self._base(plan), decision="refused", reason=str(exc),
                                  refusal=exc.refusal, answer=answer.text, stop_reason=answer.stop_reason)
                self._record(entry, spend, started)
                entries.append(entry)
        barrier = Round(len(attempts))
        self.round_block = block_index(self.state.keeps, self.state.next_id)

        async def one(slot: int, plan: Plan, proposal: Proposal, spend: Spend, text: str) -> dict:
            try:
                return await self.attempt(plan, proposal, spend, started, text,
                                          gate=lambda outcome: barrier.gate(slot, outcome))
            finally:
                barrier.done(slot)

        try:
            decided = await asyncio.gather(*(one(j, *a) for j, a in enumerate(attempts)))
        finally:
            self.round_block = None
        return entries + sorted(decided, key=lambda e: e["id"])

    def _base(self, plan: Plan, proposal: Proposal | None = None) -> dict:
        base = dict(parent=self.state.best_sha, section=plan.section,
                    target_eval=plan.failures[0]["id"] if plan.failures else "",
                    motivation=[f"{f['id']}: failed {f['failed']}/{f['total']}; {f['reasons'][0]}"
                                for f in plan.failures[:3]])
        if proposal:
            base.update(hypothesis=proposal.hypothesis, kind=proposal.kind,
                        focus=focus_of(proposal.hypothesis, plan.failures))
        return base

    async def attempt(self, plan: Plan, proposal: Proposal, spend: Spend | None = None,
                      started: float | None = None, answer: str = "", gate=None) -> dict:
        """Guard, race and decide one proposal for `plan.section`, log it, and update the target on a keep.

        The headless loop and `autoresearch try` (the agent as mutator) both come through here. `gate`: in a
        round of candidates in parallel (rounds.py), awaited with the outcome; a reason it returns vetoes a keep.
        """
        started = time.perf_counter() if started is None else started
        spend = spend or Spend()
        doc, section, base = plan.doc, plan.section, self._base(plan, proposal)
        try:
            if section not in plan.candidates:
                raise MutationRefused(f"section {section!r} may not change in this run; may: {', '.join(plan.candidates)}")
            candidate = apply_proposal(doc, section, proposal, self.suite)
        except MutationRefused as exc:
            entry = new_entry(self.state, **base, decision="refused", reason=str(exc), refusal=exc.refusal,
                              answer=answer)
            self._record(entry, spend, started)
            return entry
        candidate_text = candidate.render()
        digest = sha256(candidate_text)
        earlier = self.state.candidates.get(digest)
        if earlier is not None:
            entry = new_entry(self.state, **base, decision="refused", candidate=digest, refusal="guard",
                              answer=answer, reason=f"identical to the candidate of attempt #{earlier}, already decided")
            self._record(entry, spend, started)
            return entry
        self.run.save_version(candidate_text)
        results: list[EvalResult] = []

        async def candidate_stage(runs: list[int]) -> dict:
            results.append(await self._evaluate(candidate_text, runs, self.train, spend,
                                                *self.layout.describe(runs, "candidate")))
            return cells_map(results[-1].cells)

        async def best_stage(runs: list[int]) -> dict:
            return await self._best_cells(runs, spend)

        if self.layout.sequential:
            from ..decide.sequential import block_index

            block = self.layout.block(self.round_block if self.round_block is not None
                                      else block_index(self.state.keeps, self.state.next_id))
            outcome = await decide(self.config.rule, [[r] for r in block], candidate_stage, best_stage,
                                   min_runs=self.layout.runs)
        else:
            outcome = await decide(self.config.rule, [[r] for r in self.layout.screen], candidate_stage, best_stage,
                                   confirm_runs=self.layout.confirmation)
        if not results:  # refused before any of the candidate ran (a suite too small to keep on)
            entry = new_entry(self.state, **base, decision="refused", reason=outcome.reason, candidate=digest,
                              refusal="suite size", answer=answer)
            self._record(entry, spend, started)
            return entry
        veto = await gate(outcome) if gate else None
        train = results[0]
        for more in results[1:]:
            train = train.merged(more)
        best_same = self.best_result.select(runs=outcome.candidate_runs)
        diff = section_diff(section_text(doc, section), section_text(candidate, section), section)
        decision, reason = outcome.decision, outcome.reason
        if veto and decision == "keep":
            decision, reason = "discard", f"{veto}; its own test: {reason}"
        scores = scores_of(train, None)
        scores["train_decision"] = scores["train"]
        paired_evals = paired_by_eval(train.cells, best_same)
        holdout_test, per_eval_holdout, guards, guard_holdout, uplift = None, {}, None, None, None
        if decision == "keep" and self.guards:
            from .guard import guard_refusal

            guards = await self.guards.check(candidate_text, digest, self.run.version(self.state.best_sha),
                                             self.state.best_sha, list(outcome.candidate_runs), self.train, spend)
            refusal = guard_refusal(guards, self.config.rule.alpha)
            if refusal:
                decision, reason = "discard", f"cross-harness guard: {refusal}; the gain on " \
                                              f"{self.suite.model.name} was: {reason}"
        if decision == "keep" and self.holdout:
            holdout = await self._evaluate(candidate_text, self.layout.holdout, self.holdout, spend, "holdout")
            scores["holdout"] = holdout.rate(by="input").to_dict()
            holdout_test = holdout_tests(self.run, self.entries[0]["skill_after"], self.state.best_sha,
                                         cells_map(holdout.cells), self.config.rule.alpha)
            refusal = holdout_refusal(holdout_test, self.config.rule.holdout_gate)
            if refusal:
                decision, reason = "discard", f"holdout gate: {refusal}; the train gain was: {reason}"
            else:
                self._save(digest, holdout, split="holdout")
                per_eval_holdout = per_eval(holdout)
        if decision == "keep" and self.guards and self.holdout:
            guard_holdout = await self.guards.holdout(candidate_text, digest, self.layout.holdout, self.holdout, spend)
        if decision == "keep":  # the runs that chose it flatter it: its score shown comes from fresh runs
            kept_score = self.layout.kept_score
            if self.layout.sequential:  # the first runs of the block the next attempt tests on
                from ..decide.sequential import block_index

                kept_score = self.layout.block(block_index(self.state.keeps + 1, self.state.next_id + 1))[
                    :self.layout.runs]
            fresh = await self._evaluate(candidate_text, kept_score, self.train, spend, "fresh runs",
                                         "the kept candidate's score, on runs not used to choose it")
            train = train.merged(fresh)
            scores["train"] = fresh.rate().to_dict()
            uplift = await self._uplift_of(fresh, spend)
        self._save(digest, train)  # a discard's outputs too: why it lost
        errors = outcome.errors
        fields = dict(base, decision=decision, reason=reason, p_value=round(outcome.p_value, 6),
                      wins=outcome.paired.wins, losses=outcome.paired.losses, runs=list(outcome.candidate_runs),
                      raced=outcome.raced, skill_after=digest if decision == "keep" else self.state.best_sha,
                      candidate=digest, diff=diff, per_eval=per_eval(train), paired_evals=paired_evals,
                      near_miss=is_near_miss(decision, outcome.p_value, outcome.paired.wins,
                                           outcome.paired.losses, self.config.rule.alpha),
                      flips=list(outcome.flips),
                      errors={"candidate": errors.candidate, "best": errors.best, "cells": errors.cells},
                      holdout_test=holdout_test, per_eval_holdout=per_eval_holdout, guards=guards,
                      guard_holdout=guard_holdout, uplift=uplift if decision == "keep" else None)
        entry = new_entry(self.state, **fields, scores=scores,
                          best_scores={"train": rate_dict(best_same), "holdout": self.state.best_holdout})
        self._record(entry, spend, started)
        if decision == "keep":
            self.best_result = train
        return entry

    @property
    def finalized(self) -> bool:
        """`autoresearch finalize` has closed this run: from then on it is read-only."""
        return (self.run.path / STOP_FILE).exists()

    def _refuse_if_finalized(self) -> None:
        if self.finalized:
            raise AutoresearchError(f"run {self.run.id} is finalized and read-only: nothing was changed; "
                                    f"start a new run to go on (autoresearch run SUITE)")

    async def prepare(self) -> None:
        """Load an existing run (after a crash too): state from the journal, target and best restored.

        With `read_only` (for `next`), nothing is repaired, published or stored: only the state is read.
        """
        if not self.read_only:
            self.run.repair()
        self.entries = self.run.entries()
        if not self.entries:
            raise AutoresearchError(f"run {self.run.id} has no baseline yet: start it with "
                                    f"`autoresearch run SUITE --baseline-only` (or plain `run`)")
        self.state = state_from(self.entries)
        if not self.read_only:
            self.pending.merge(self.inflight.reclaim(self.state.next_id))
            self._recover()
        await self._ensure_best()

    async def _ensure_best(self) -> None:
        self.layout = RunLayout.for_suite(self.suite.runs, self.suite.holdout_run_count,
                                          self.entries[0].get("profile"), self.config.rule.name == "sequential")
        self._load_best()
        if self.best_result is None:  # the cells file was lost: measure the best again
            text = self.run.version(self.state.best_sha)
            self.best_result = await self._evaluate(text, self.layout.screen, self.train, self.pending,
                                                    "re-measuring the best")
            self._save(self.state.best_sha, self.best_result)

    async def run_async(self, baseline_only: bool = False) -> str:
        """Run (or resume) until a stop condition; returns why it stopped."""
        preflight(self.suite, self.config)
        self.run.repair()
        clean_stale_temp_files(self.run, self.suite.skill_path)
        self.entries = entries = self.run.entries()
        from ..evaluate.cost import estimate, previewable

        if previewable(self.suite.model):
            text = self.run.version(entries[-1]["skill_after"]) if entries else self.suite.skill_path.read_text("utf-8")
            cost = await estimate(self.suite, text, self.models, self.suite.runs, self.train)
            how = ("about one on average (0.6-1.4 for a candidate no better, 1.2-3 for a winner with the best's extra "
                   "runs, up to 6 when undecided; bench/decisions.py)" if self.layout.sequential else
                   "up to about twice that (screen and confirmation), less when raced, up to three times when the evals "
                   "of one output are correlated (a longer confirmation)")
            self.say(f"estimate per evaluation of the train inputs: {cost}; an experiment takes {how}; the baseline "
                     "adds the holdout inputs")
        if not entries:
            self.pending.merge(self.inflight.reclaim(0))
            await self.baseline()
        else:
            self.state = state_from(entries)
            self.pending.merge(self.inflight.reclaim(self.state.next_id))
            self._record_changes()
            self._recover()
            self.say(f"resuming run {self.run.id} at experiment {self.state.next_id} "
                     f"({self.state.keeps} keeps so far)")
        self.first_id = self.state.next_id
        await self._ensure_best()
        if baseline_only:
            return "baseline measured"
        while True:
            await self.confirm_target()
            reason = self.stop_reason()
            if reason:
                self.say(f"stopped: {reason}")
                return reason
            for entry in await self.step_round(self.config.parallel) if self.config.parallel > 1 else [await self.step()]:
                self.say(event_line(entry))

    def _record_changes(self) -> None:
        """Save the options changed on resume into run.json (config in force, and a dated list of changes)."""
        import json

        if not self.changes:
            return
        saved = self.run.config()
        saved["config"] = self.config.to_dict()
        saved.setdefault("changes", []).append({"at_experiment": self.state.next_id, "timestamp": utc_now(),
                                                "changed": self.changes})
        self.run.write_text("run.json", json.dumps(saved, indent=1) + "\n")
        for key, (old, new) in self.changes.items():
            show = (lambda v: ",".join(v) or "all") if key == "sections" else (lambda v: "none" if v is None else f"{v:g}")
            self.say(f"changed from experiment {self.state.next_id}: {key.replace('budget.', 'budget: ')} "
                     f"{show(old)} -> {show(new)}")
        self.changes = {}

    def _recover(self) -> None:
        """After a crash: the target must hold the best version; derived files are rebuilt."""
        best_text = self.run.version(self.state.best_sha)
        current = self.suite.skill_path.read_text(encoding="utf-8") if self.suite.skill_path.exists() else None
        if current != best_text and current is not None and not self.run.has_version(sha256(current)):
            raise AutoresearchError(f"{self.suite.skill_path} was edited outside the run (it matches no version "
                                    f"of run {self.run.id}); restore it or start a new run")
        publish(self.run, self.suite.skill_path, self.suite.name, self.state.best_sha, self.entries, self.config.git)

    def run_sync(self, baseline_only: bool = False) -> str:
        """Run holding the run's and the target's locks, under a heartbeat so `status` can tell a live run from a
        stopped or crashed one."""
        if self.run.entries():
            self._refuse_if_finalized()
        with holding(self._locks(), self.run.id), self._on_branch(), self._heartbeat() as beat:
            reason = self._sync(self.run_async(baseline_only))
            beat.stopped(reason)
        return reason

    def _on_branch(self):
        """With --git: work on the run's branch, and go back to the user's branch afterwards."""
        from .publish import on_run_branch

        return on_run_branch(self.suite.skill_path, self.run.config().get("git") if self.config.git else None,
                             self.say)

    @contextlib.contextmanager
    def _heartbeat(self):
        """Keep the run's heartbeat beating, its stage following the progress events, while the body runs."""
        from ..runs.live import Heartbeat

        listener = self.on_progress

        def both(progress: Progress) -> None:
            beat.stage(progress_line(progress))
            listener(progress)

        with Heartbeat(self.run.path) as beat:
            self.on_progress = both
            try:
                yield beat
            finally:
                self.on_progress = listener

    def _locks(self) -> list:
        """A writer holds the run and the target file: no other run or `try` may change either meanwhile."""
        return [run_lock(self.run.path), target_lock(self.suite.skill_path)]

    def _sync(self, work):
        async def go():
            try:
                return await work
            finally:
                await self.models.aclose()
                if self.guards:
                    await self.guards.aclose()

        return asyncio.run(go())

    def next_sync(self) -> tuple[Plan, str | None]:
        """For `autoresearch next`: the plan, and why to stop instead (None to go on)."""
        async def go():
            await self.prepare()
            await self.confirm_target()
            return self.plan(), self.stop_reason()

        self.read_only = True
        return self._sync(go())

    def try_sync(self, section: str, proposal: Proposal) -> dict:
        """For `autoresearch try`: evaluate the agent's proposal for `section` with the loop's own rule."""
        async def go():
            preflight(self.suite, self.config)
            clean_stale_temp_files(self.run, self.suite.skill_path)
            await self.prepare()
            await self.confirm_target()
            stop = self.stop_reason()
            if stop:
                raise AutoresearchError(f"run {self.run.id} should stop ({stop}); nothing was evaluated or logged. "
                                        f"Finish with `autoresearch finalize {self.run.id}`, or raise the budget "
                                        f"first: `autoresearch run --resume {self.run.id} --baseline-only "
                                        f"--max-experiments N`")
            plan = self.plan(section)
            if section not in plan.candidates:
                raise AutoresearchError(f"--section: {section!r} may not change in run {self.run.id}; it may "
                                        f"change: {', '.join(plan.candidates)} (see `autoresearch next`)")
            attempting.append(True)
            return await self.attempt(plan, proposal)

        self._refuse_if_finalized()
        from ..runs.live import run_state

        before, attempting = run_state(self.run.path), []
        with holding(self._locks(), self.run.id), self._on_branch(), self._heartbeat() as beat:
            try:
                entry = self._sync(go())
            except AutoresearchError:
                if not attempting:  # refused before anything was tried: the run is as it was (budget, plateau...)
                    beat.stopped(before.detail or before.why or "stopped", before.why or "stopped")
                raise
            beat.stopped(f"attempt #{entry['id']} decided ({entry['decision']}); the agent proposes the next with "
                         "`autoresearch try`", "waiting for try")
        return entry


def _partial_key(skill: str | SkillUnderTest) -> str:
    """Whose in-progress cells an evaluation resumes: a version's text digest, or the no-skill arm's own key."""
    if isinstance(skill, str):
        return sha256(skill)
    return sha256(skill.text) if skill.installed else "no-skill"


def _spent_since(total: Spend, charged: Spend) -> Spend:
    """What `total` holds beyond `charged` (both only grow)."""
    usage = type(total.usage)(*(a - b for a, b in zip(total.usage.astuple(), charged.usage.astuple())))
    return Spend(total.calls - charged.calls, usage, total.cost - charged.cost, total.cache_hits - charged.cache_hits)


def _merge_stored(result: EvalResult, stored: dict, pairs: set, runs: list[int], inputs, suite: Suite) -> None:
    """Put the pairs an interrupted attempt had already scored back into `result`, in the evaluation's order."""
    if not pairs:
        return
    for key in pairs:
        cells, output, trace = stored[key]
        result.cells.extend(cells)
        result.outputs[key] = output
        if trace is not None:
            result.traces[key] = trace
    order = {(item.id, run): n for n, (run, item) in enumerate((r, i) for r in runs for i in inputs)}
    eval_order = {ev.id: n for n, ev in enumerate(suite.evals)}
    result.cells.sort(key=lambda c: (order[(c.input_id, c.run)], eval_order[c.eval_id]))


def preflight(suite: Suite, config: LoopConfig) -> None:
    """What would fail only after the paid baseline, checked before it: a read-only or unreadable
    target, a skill with no section the loop may change, a broken --template."""
    import os
    import stat

    from ..suite.userfiles import read_user_text
    from .mutation import check_template

    target = suite.skill_path
    doc = parse_skill(read_user_text(target), target)
    if target.exists() and (not os.access(target, os.W_OK) or not target.stat().st_mode & stat.S_IWUSR
                            or not os.access(target.parent, os.W_OK)):
        raise AutoresearchError(f"{target} is read-only: the loop writes each kept version there; make it "
                                "writable (chmod u+w) or optimise a copy")
    if not editable_sections(doc, config.sections or None, config.allow_description):
        raise AutoresearchError(f"{target} has no section the loop can change (its body is empty): write at least "
                                "a first version of the instructions under a heading")
    if config.template:
        sample = {"id": 1, "section": "a-section", "kind": "clarify", "hypothesis": "a hypothesis", "p_value": 0.1,
                  "wins": 3, "losses": 1, "near_miss": True, "decision": "refused", "reason": "a reason"}
        check_template(config.template, doc, suite, refusal_counts([sample]), near_misses([sample]))


def run_loop(suite: Suite, config: LoopConfig = LoopConfig(), root: Path = Path(".autoresearch"),
             on_event: Callable[[str], None] = print, models: Models | None = None) -> tuple[RunDir, str]:
    """Start a new run and loop until a stop condition; returns the run and why it stopped."""
    run = new_run(suite, config, root)
    reason = Experiment(suite, run, config, models or Models.for_suite(suite), on_event).run_sync()
    return run, reason
