"""The experiment loop: measure the baseline, then change one section at a time and keep only real gains.

Each experiment: pick a section from the failures, ask the mutator for a new body and a hypothesis,
race the candidate against the best on the same train cells, let the keep rule decide, log it.
Holdout inputs are never shown to the mutator nor used to decide; they are measured for every kept
version so overfitting shows. The journal line is written before the target file changes.

The Experiment holds a run's state and its lifecycle (resume, locks, heartbeat, the loop itself); its
baseline step and an attempt's stages are its bases in baseline.py and attempt.py, and the other pieces
with names of their own live beside it (mutation, stopping, entries, history, holdout, guard, publish).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from ..decide.profile import flakiness
from ..decide.run_layout import RunLayout
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
from ..suite.skill import parse_skill
from ..suite.suite import Suite
from ..targets import SkillUnderTest
from .attempt import AttemptStages
from .baseline import BaselineStep
from .entries import (
    utc_now,
)
from .history import (
    EVALUATED,
    event_line,
    guard_refusals,
    near_misses,
    refusal_counts,
    state_from,
    tried_since_keep,
)
from .inflight import InFlight
from .mutation import (
    Proposal,
    choose_section,
    editable_sections,
    failing_outputs,
    failure_summary,
)
from .progress import Plan, Progress, progress_line
from .publish import publish
from .stopping import STOP_FILE, reason_to_stop

# The Python API (README): Budget and LoopConfig live in config.py and are offered here with run_loop.
__all__ = ["Budget", "LoopConfig", "Experiment", "Plan", "Progress", "preflight", "progress_line", "run_loop"]









def parallel_note(parallel: int, concurrency: int, in_flight: int | None) -> str | None:
    """With --parallel K on a target whose own cap is below what K candidates ask for, they share that cap: say
    so, and what it costs where the target's throughput is the limit (bench/parallel.py)."""
    if parallel <= 1 or in_flight is None or in_flight >= parallel * concurrency:
        return None
    return (f"note: --parallel {parallel} candidates share the target's {in_flight} calls in flight (its "
            f"`concurrency:` option); where those calls are the limit, as a harness on a small machine, parallel "
            f"candidates finish later than one at a time (1.0-1.5x the wall time for claude-code:sim on 2 cores, "
            f"bench/parallel.py). They gain where calls wait on the network and the target can take more at once: "
            f"raise its `concurrency:` then")


class Experiment(BaselineStep, AttemptStages):
    """One run of the loop on a suite, writing into a RunDir. Use `run()`; see `run_loop` for the one-call form."""

    def __init__(self, suite: Suite, run: RunDir, config: LoopConfig, models: Models,
                 on_event: Callable[[str], None] = lambda line: None,
                 on_progress: Callable[[Progress], None] = lambda progress: None):
        self.suite, self.run, self.config, self.models, self.say = suite, run, config, models, on_event
        self.on_progress = on_progress
        self.train = suite.split("train")
        self.holdout = suite.split("holdout")
        self.layout = RunLayout.for_suite(suite.runs, suite.holdout_run_count,  # confirmation set after the baseline
                                          sequential=config.rule.sequential)
        self.best_result: EvalResult | None = None
        self.first_id = 0  # the first attempt of this session: a resume (with another mutator, say) starts streaks anew
        self.pending = Spend()  # calls made between experiments, charged to the next journal line
        self.read_only = False  # `next`: measure what is missing in memory, write nothing
        self.changes: dict = {}  # options changed on resume, recorded in run.json once the run is ours
        self.entries: list[dict] = []  # the journal as last read: no one else writes it while we hold the run's lock
        # everything spent since the last journal line (pending included), on disk; paid calls written before sent
        self.inflight = InFlight(run, lambda: getattr(getattr(self, "state", None), "next_id", 0))
        self.guards = None
        if config.guards:
            from .guard import Guards, guard_specs

            self.guards = Guards(suite, guard_specs(suite, config.guards), run, models, config.rule.alpha,
                                 lambda spent, ticket="": self.inflight.charge(spent, self.inflight.next_id(), ticket))
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

        def keep(input_id: str, run: int, cells: list, result: EvalResult) -> None:
            """Each scored pair goes to disk at once: a killed attempt resumes without redoing it."""
            self.partial.add(digest, input_id, run, cells, result.outputs.get((input_id, run), ""),
                             result.traces.get((input_id, run)))

        report(0, len(inputs) * len(runs))
        charged = self.inflight.live(experiment)  # each call is charged as it completes: a kill loses none
        result = await evaluate(self.suite, text, self.models, runs=runs, inputs=inputs, on_progress=report,
                                skip=skip, on_output=None if self.read_only else keep, spend=charged)
        _merge_stored(result, stored, skip, runs, inputs, self.suite)
        spend.merge(result.spend)
        return result

    async def _best_cells(self, runs: list[int], spend: Spend) -> dict:
        """The best version's train cells for `runs`, evaluating (and storing) any runs not yet known."""
        async with self._best_lock:  # candidates in parallel share the best: each of its runs is measured once
            return await self._best_cells_now(runs, spend)

    @property
    def look(self) -> int:
        """Outputs per look of the sequential test: the calls one candidate can have in flight, the suite's
        `concurrency` or the target's own smaller cap (a harness's 4 sessions, say): a chunk fills the slots."""
        return max(1, min(self.suite.concurrency, self.models.in_flight or self.suite.concurrency))

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





    @property
    def finalized(self) -> bool:
        """`autoresearch finalize` has closed this run: from then on it is read-only."""
        return (self.run.path / STOP_FILE).exists()

    def check_section(self, section: str) -> None:
        """Refuse a `try --section` the best version cannot change, from the journal alone: before any lock,
        heartbeat or pending request is written, so a typo leaves the run's files as they were."""
        entries = self.run.entries()
        if not entries:
            return  # prepare() says the run has no baseline
        doc = parse_skill(self.run.version(state_from(entries).best_sha), self.suite.skill_path)
        candidates = editable_sections(doc, self.config.sections or None, self.config.allow_description)
        if section not in candidates:
            raise AutoresearchError(f"--section: {section!r} may not change in run {self.run.id}; it may "
                                    f"change: {', '.join(candidates)} (see `autoresearch next`)")

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
                                          self.entries[0].get("profile"), self.config.rule.sequential)
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
            how = ("about one on average (0.4-1.4 for a candidate no better, 0.6-2.9 for a winner with the best's extra "
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
        note = parallel_note(self.config.parallel, self.suite.concurrency, self.models.in_flight)
        if note:
            self.say(note)
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
            from ..models.ledger import CALL_LEDGER

            if not self.read_only:  # paid calls go on the run's ledger before they are sent (`next` writes nothing)
                CALL_LEDGER.set(self.inflight)
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
        self.check_section(section)
        from ..runs.live import last_stop

        before, attempting = last_stop(self.run.path), []  # `try` has written its own request as pending
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
