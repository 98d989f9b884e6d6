"""The journal read back: pure functions over its entries (the loop's state, streaks, what was tried, event lines)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from ..evaluate.runner import EvalResult, Spend
from ..review.report import refusal_kind
from ..runs.journal import RunDir
from .mutation import Attempted, failing_outputs

EVALUATED = ("keep", "discard")


@dataclass
class State:
    """Everything the loop needs, rebuilt from the journal on resume."""

    best_sha: str
    next_id: int
    spend: Spend = field(default_factory=Spend)
    seconds: float = 0.0
    no_gain_streak: int = 0
    history: list[str] = field(default_factory=list)
    tried: dict[str, list[Attempted]] = field(default_factory=dict)
    keeps: int = 0
    best_holdout: dict | None = None  # the best version's holdout scores
    candidates: dict[str, int] = field(default_factory=dict)  # candidate hash -> first attempt id


def streak(entries: list[dict], test: Callable[[dict], bool]) -> int:
    """How many of the last entries in a row pass `test`."""
    count = 0
    for e in reversed(entries):
        if not test(e):
            break
        count += 1
    return count


def refusal_counts(entries: list[dict], limit: int = 3) -> list[str]:
    """The commonest refusal reasons, counted: what the mutator hears instead of each refused attempt. Reasons
    that differ only in the words they quote count together, shown with the newest quote."""
    refused = [e["reason"] for e in entries if e["decision"] == "refused"]
    counts = Counter(refusal_kind(r) for r in refused)
    newest = {refusal_kind(r): r for r in refused}
    return [f"{n} x {newest[kind]}" for kind, n in counts.most_common(limit)]


def guard_refusals(entries: list[dict], limit: int = 3) -> list[str]:
    """Attempts a guard target refused, newest first: which harness and which evals, for the mutator."""
    from ..review.report import guard_note

    return [f"#{e['id']} on {e['section']} ({e['hypothesis']}): " + "; ".join(
                guard_note(v) for v in e["guards"].values() if v.get("verdict") == "regressed")
            for e in reversed(entries) if e["decision"] == "discard" and any(
                v.get("verdict") == "regressed" for v in (e.get("guards") or {}).values())][:limit]


def near_misses(entries: list[dict]) -> list[dict]:
    """Discards that came close (flagged when decided), newest first, with what they tried."""
    return [{"id": e["id"], "section": e["section"], "kind": e["kind"], "hypothesis": e["hypothesis"],
             "p_value": e["p_value"], "wins": e["wins"], "losses": e["losses"]}
            for e in reversed(entries) if e.get("near_miss")]


def tried_since_keep(entries: list[dict], eval_id: str) -> list[str]:
    """Sections tried without a keep since the last keep while `eval_id` was the top failing eval: discards
    and proposals the guards refused (a format refusal says nothing about the section)."""
    sections: list[str] = []
    for e in reversed(entries):
        if e["decision"] in ("keep", "baseline"):
            break
        tried = e["decision"] == "discard" or (e["decision"] == "refused" and e.get("refusal") == "guard")
        if tried and e.get("target_eval") == eval_id:
            sections.append(e["section"])
    return sections


def state_from(entries: list[dict]) -> State:
    """Fold the journal into the loop's state: best version, spend, streaks and what was tried."""
    state = State(best_sha=entries[0]["skill_after"], next_id=entries[-1]["id"] + 1)
    for e in entries:
        state.spend.calls += e["calls"]
        state.spend.cost += e["cost"]
        state.spend.usage = state.spend.usage.__class__(**e["tokens"]) + state.spend.usage
        state.seconds += e["seconds"]
        if e["decision"] in ("baseline", "keep"):
            state.best_sha = e["skill_after"]
            state.best_holdout = e["scores"].get("holdout")
            state.no_gain_streak = 0
            state.keeps += e["decision"] == "keep"
        else:
            state.no_gain_streak += 1
        if e.get("candidate") and e["decision"] != "refused":
            state.candidates.setdefault(e["candidate"], e["id"])
        if e["section"] and e["decision"] != "error":
            state.history.append(e["section"])
            state.tried.setdefault(e["section"], []).append(
                Attempted(e["kind"], e.get("focus", ""), e["decision"] + (" (near miss)" if e.get("near_miss") else ""),
                          e["hypothesis"], e["reason"]))
    return state


def holdout_note(entry: dict) -> str:
    from ..review.report import holdout_words, rate_ci

    holdout = entry["scores"].get("holdout")
    worse = (entry.get("holdout_test") or {}).get("verdict") == "worse"
    return (f", holdout {rate_ci(holdout)}" if holdout else "") + \
        (f"; holdout against the baseline: {holdout_words(entry['holdout_test'])}" if worse else "")


def last_evaluated(entries: list[dict]) -> dict | None:
    """The newest attempt that was evaluated (kept or discarded), if any."""
    return next((e for e in reversed(entries) if e["decision"] in EVALUATED), None)


def candidate_feedback(run: RunDir, entry: dict, limit: int = 3) -> dict:
    """What an evaluated attempt won and lost on, per eval, and a few of its failing outputs (train only)."""
    pairs = entry.get("paired_evals") or {}
    evals = [{"id": k, "wins": w, "losses": l} for k, (w, l) in sorted(pairs.items(), key=lambda kv: kv[1][0] - kv[1][1])]
    stored = run.load_cells(entry["candidate"]) if entry.get("candidate") else None
    outputs: list[dict] = []
    if stored:
        cells, texts = stored
        outputs = failing_outputs(EvalResult(cells, {c.input_id: "train" for c in cells}, texts,
                                             traces=run.load_traces(entry["candidate"])), limit)
    return {"id": entry["id"], "decision": entry["decision"], "section": entry["section"],
            "hypothesis": entry["hypothesis"], "near_miss": bool(entry.get("near_miss")),
            "won": [e for e in evals if e["wins"] > e["losses"]], "lost": [e for e in evals if e["losses"] > e["wins"]],
            "failing_outputs": outputs}


def event_line(e: dict) -> str:
    """One line per attempt, as the loop prints it."""
    from ..review.report import p_text, runs_note

    head = f"#{e['id']} {e['section']} [{e['kind'] or '-'}] {e['decision']}{' (near miss)' if e.get('near_miss') else ''}"
    if e["decision"] in ("refused", "error"):
        return f"{head}: {e['reason']}"
    before = e["best_scores"]["train"]["rate"]
    after = e["scores"].get("train_decision", e["scores"]["train"])["rate"]
    fresh = f", {e['scores']['train']['rate']:.1%} on fresh runs" if e["decision"] == "keep" and \
        "train_decision" in e["scores"] else ""
    return f"{head}: train {before:.1%} -> {after:.1%} on {runs_note(e)} (p {p_text(e['p_value'])}){fresh}" \
           f"{holdout_note(e)}{attempt_notes(e)}; {e['hypothesis']}"


def attempt_notes(e: dict) -> str:
    """Errors on either side and (input, eval) pairs that went from passing to failing, for an attempt's line."""
    notes = ""
    errors = e.get("errors") or {}
    if errors.get("candidate") or errors.get("best"):
        notes += f"; errors {errors['candidate']} vs {errors['best']} (best) of {errors['cells']} cells"
    flips = e.get("flips") or []
    if flips:
        shown = ", ".join(f"{f['input']}/{f['eval']} {f['before']}/{f['runs']}->{f['after']}/{f['runs']}"
                          for f in flips[:3])
        notes += f"; broke {shown}" + (f" and {len(flips) - 3} more" if len(flips) > 3 else "")
    from ..review.report import guard_note

    for verdict in (e.get("guards") or {}).values():
        notes += f"; {guard_note(verdict)}" if "verdict" in verdict else ""
    return notes
