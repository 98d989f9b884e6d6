"""The baseline step of an experiment run: experiment #0 on train and holdout, the no-skill arm, the power the suite gives."""

from __future__ import annotations

import time

from ..decide.profile import flakiness
from ..decide.run_layout import RunLayout
from ..evaluate.cells import cells_map
from ..evaluate.runner import EvalResult, Spend
from .entries import new_entry, per_eval, scores_of
from .history import State, holdout_note


class BaselineStep:
    """Experiment #0 and what it sets for the rest of the run (a base of Experiment)."""

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
            from ..decide.sequential import power_note, run_error_note

            self.say(power_note(cells_map(train.cells), len(self.train), self.suite.runs, self.config.rule,
                                self.look))
            self.say(run_error_note(self.config.rule.alpha, self.config.plateau))
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
