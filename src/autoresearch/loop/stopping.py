"""When the loop stops: finalize's STOP file, the target reached, a budget spent, a failing mutator, a plateau."""

from __future__ import annotations

from ..decide.intervals import Rate
from ..evaluate.runner import Spend
from ..models import ModelSpec
from ..runs.config import LoopConfig
from .history import State, streak

STOP_FILE = "STOP"  # written by `autoresearch finalize`; a running loop stops before its next experiment
FORMAT_REFUSALS_LIMIT = 3  # mutator answers in a row with no usable proposal before the loop stops
MUTATOR_ERRORS_LIMIT = 3  # failed mutator calls (model errors, timeouts) in a row before the loop stops


def reason_to_stop(config: LoopConfig, state: State, entries: list[dict], honest: Rate | None, honest_runs: int,
                   uncharged: Spend, stop_requested: bool, mutator: ModelSpec, run_id: str) -> str | None:
    """Why the loop stops before its next experiment, or None to go on.

    `entries` are this session's journal lines; `honest` is the best's pass rate on its `honest_runs` runs not
    used to select it, once all are measured (else None); `uncharged` is spent but on no journal line yet.
    """
    if stop_requested:
        return "stopped on request: the run is finalized (autoresearch finalize)"
    b, s = config.budget, state
    if honest and honest.n and honest.value >= config.target:
        return f"target reached: train pass rate {honest.value:.1%} >= {config.target:.0%}, confirmed on " \
               f"{honest_runs} runs not used to select it"
    experiments = s.next_id - 1
    spent = Spend()  # the journal's lines and what is not on one yet
    spent.merge(s.spend)
    spent.merge(uncharged)
    checks = [(b.experiments, experiments, "experiment"), (b.calls, spent.calls, "model call"),
              (b.tokens, spent.usage.total, "token"), (b.dollars, spent.cost, "dollar"),
              (b.seconds, s.seconds, "second")]
    for limit, spent, what in checks:
        if limit is not None and spent >= limit:
            from ..review.report import counted

            return f"budget spent: {counted(spent, what)} of {limit:g}"
    errors = streak(entries, lambda e: e["decision"] == "error")
    if errors >= MUTATOR_ERRORS_LIMIT:
        return (f"the mutator model {mutator.name} failed {errors} times in a row "
                f"(last: {entries[-1]['reason']})")
    unusable = streak(entries, lambda e: e.get("refusal") == "format")
    if unusable >= FORMAT_REFUSALS_LIMIT:
        return format_diagnosis(mutator, unusable, entries[-1]["reason"], run_id)
    if s.no_gain_streak >= config.plateau:
        return f"plateau: {s.no_gain_streak} attempts in a row without a keep"
    return None


def format_diagnosis(spec: ModelSpec, count: int, last: str, run_id: str) -> str:
    """Why the loop stopped when the mutator keeps answering without a usable proposal, and what to do."""
    if last.startswith("truncated at max_tokens"):
        fix = (f"its answers are cut off at max_tokens {spec.max_tokens}: raise it (`mutator: {{name: {spec.name}, "
               f"max_tokens: {spec.max_tokens * 2}}}` in the suite)")
    else:
        fix = "set another with `mutator:` in the suite or --mutator-model"
    return (f"the mutator model {spec.name} cannot follow the proposal format: {count} answers in a row had no "
            f"usable proposal (last: {last}); {fix}, then `autoresearch run --resume {run_id}`")
