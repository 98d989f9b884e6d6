"""An attempt's stages: ask the mutator, guard the proposal, race the candidate against the best, let the keep rule decide, keep or discard, log."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from ..decide.keep import decide
from ..errors import AutoresearchError
from ..evaluate.cells import cells_map
from ..evaluate.runner import EvalResult, Spend
from ..fsio import sha256
from .entries import focus_of, is_near_miss, new_entry, paired_by_eval, per_eval, rate_dict, scores_of, section_diff
from .holdout import holdout_refusal, holdout_tests
from .mutation import (
    MUTATOR_SYSTEM,
    MutationRefused,
    Proposal,
    apply_proposal,
    choose_section,
    mutation_prompt,
    parse_proposal,
    section_text,
)
from .progress import Plan, Progress


class AttemptStages:
    """One experiment, or a round of them in parallel (a base of Experiment)."""

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
        self.inflight.charge(mutator, self.state.next_id, completion.ticket)
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

        async def candidate_stage(runs: list[int], ids: list[str] | None = None) -> dict:
            wanted = None if ids is None else set(ids)
            inputs = self.train if wanted is None else [i for i in self.train if i.id in wanted]
            results.append(await self._evaluate(candidate_text, runs, inputs, spend,
                                                *self.layout.describe(runs, "candidate")))
            return cells_map(results[-1].cells)

        async def best_stage(runs: list[int]) -> dict:
            return await self._best_cells(runs, spend)

        if self.layout.sequential:
            from ..decide.sequential import block_index

            block = self.layout.block(self.round_block if self.round_block is not None
                                      else block_index(self.state.keeps, self.state.next_id))
            outcome = await decide(self.config.rule, [[r] for r in block], candidate_stage, best_stage,
                                   min_runs=self.layout.runs, look=self.look,
                                   order=[i.id for i in self.train])
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
        ran = {(c.input_id, c.run) for c in train.cells}  # the last run may be partial: looks within a run
        best_same = [c for c in self.best_result.select(runs=outcome.candidate_runs) if (c.input_id, c.run) in ran]
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
