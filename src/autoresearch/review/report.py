"""Human and machine views of results: the per-eval table and the stable JSON schema."""

from __future__ import annotations

from collections import Counter

from ..decide.intervals import Rate
from ..evaluate.runner import EvalResult
from ..runs.journal import best_entry
from ..suite.suite import Suite
from .keepcost import keep_cost_text


def _row(name: str, kind: str, rate: Rate, width: int) -> str:
    if not rate.n:  # 0/0 is not a pass rate of 0%: nothing was scored
        errors = f"  {rate.errors} error{'s' if rate.errors != 1 else ''}" if rate.errors else ""
        return f"  {name:<{width}}  {kind:<16} {'no data':>7}  {'':<15}  {0:>5}/{0:<5}{errors}"
    lo, hi = rate.interval
    errors = f"  {rate.errors} error{'s' if rate.errors != 1 else ''}" if rate.errors else ""
    return f"  {name:<{width}}  {kind:<16} {rate.value:6.1%}  [{lo:4.0%} – {hi:4.0%}]  {rate.passed:>5}/{rate.n:<5}{errors}"


def _split_cluster(split: str) -> str:
    """How a split's interval is clustered: the holdout's is about new inputs (by input), train's about
    these inputs (by output)."""
    return "input" if split == "holdout" else "output"


def eval_table(suite: Suite, result: EvalResult) -> str:
    """The per-eval table, then the rate per split and overall, each with its 95% interval: by output (these
    inputs), the holdout's by input (new inputs)."""
    width = max([len(e.id) for e in suite.evals] + [len("overall")])
    lines = [f"  {'eval':<{width}}  {'check':<16} {'pass':>6}  {'95% interval':<15}  {'passed/n'}"]
    per_eval = result.by("eval_id")
    for ev in suite.evals:
        lines.append(_row(ev.id, ev.kind, per_eval.get(ev.id, Rate(0, 0)), width))
    lines.append("")
    for split in ("train", "holdout"):
        if any(s == split for s in result.splits.values()):
            lines.append(_row(split, "", result.rate(split=split, by=_split_cluster(split)), width))
    lines.append(_row("overall", "", result.rate(), width))
    lines.append("  intervals count an output's evals as one cluster (they pass and fail together)"
                 + ("; the holdout's is about new inputs (clustered by input)" if "holdout" in result.splits.values()
                    else ""))
    return "\n".join(lines)


def flakiness_of(result: EvalResult, runs: int) -> dict:
    """Per-input flakiness and the evals' correlation of one evaluation (see `stats.flakiness`)."""
    from ..decide.profile import flakiness
    from ..evaluate.cells import cells_map

    return flakiness(cells_map(result.cells), runs)


def profile_text(profile: dict, train_only: bool = False, limit: int = 8) -> str:
    """Flaky inputs, inputs with no signal, and the evals' correlation, for people (eval, next)."""
    k, runs = profile.get("k", profile["runs"]), profile["runs"]
    rows = profile["inputs"]
    where = "train inputs" if train_only else "inputs"
    lines = [f"{where}: pass^{k} is the chance that {k} runs all pass every eval; flip: the chance two runs disagree on an eval"]
    flaky = [r for r in rows if r["flip_rate"] > 0]
    for r in flaky[:limit]:
        lines.append(f"  {str(r['input']):<24} {r['all_pass']:>3}/{r['outputs']:<3} outputs pass all  "
                     f"pass^{k} {r['pass_k']:.2f}  flip {r['flip_rate']:.2f}")
    if len(flaky) > limit:
        lines.append(f"  ... and {len(flaky) - limit} more flaky inputs")
    for state in ("always passes", "never passes"):
        ids = [str(r["input"]) for r in rows if r["state"] == state]
        if ids:
            lines.append(f"  {state} (no signal for the keep rule): {', '.join(ids)}")
    rho = profile["correlation"]
    if rho is not None:
        line = f"evals of one output: correlation {rho:.2f}"
        if profile["suggest_runs"]:
            per = profile["evals_per_output"] / (1 + (profile["evals_per_output"] - 1) * rho)
            line += (f" (high: each output counts as about {per:.1f} independent checks, not "
                     f"{profile['evals_per_output']}; for the keep rule's power, use about {profile['suggest_runs']} "
                     f"runs instead of {runs})")
        lines.append(line)
    return "\n".join(lines)


def failing_thresholds(suite: Suite, result: EvalResult, threshold: float | None,
                       eval_thresholds: dict[str, float] | None = None) -> list[str]:
    """Which thresholds (overall, then per eval: the command line's over the suite's) are missed, in words."""
    misses = []
    overall = result.rate()
    if threshold is not None and overall.value < threshold:
        misses.append(f"overall pass rate {overall.value:.1%} is below the threshold {threshold:.1%}")
    per_eval = result.by("eval_id")
    for ev in suite.evals:
        limit = (eval_thresholds or {}).get(ev.id, ev.threshold)
        if limit is not None and ev.id in per_eval and per_eval[ev.id].value < limit:
            misses.append(f"eval '{ev.id}' pass rate {per_eval[ev.id].value:.1%} is below its threshold {limit:.1%}")
    return misses


def failures_text(result: EvalResult, evals: set[str] = frozenset(), inputs: set[str] = frozenset(),
                  limit: int | None = None) -> str:
    """Each failing (input, run): its failed evals with their reasons, then the output in full; optionally only
    the failures of some evals or inputs, and at most `limit` of them."""
    groups: dict[tuple[str, int], list] = {}
    for c in result.cells:
        if c.status != "pass" and (not evals or c.eval_id in evals) and (not inputs or c.input_id in inputs):
            groups.setdefault((c.input_id, c.run), []).append(c)
    if not groups:
        return "no failing cells" + (" among those chosen" if evals or inputs else "")
    more = len(groups) - limit if limit is not None and len(groups) > limit else 0
    groups = dict(list(groups.items())[:limit]) if more else groups
    parts = []
    for (input_id, run), cells in groups.items():
        lines = [f"=== {input_id} run {run}: {len(cells)} failing ==="]
        lines += [f"  {c.status.upper()} {c.eval_id}: {c.reason}" for c in cells]
        output = result.outputs.get((input_id, run))
        lines += ["--- output ---", output.rstrip("\n") if output is not None else "(no output: the model call failed)"]
        trace = result.traces.get((input_id, run))
        if trace:
            from ..models.outcome import Outcome

            lines += ["--- what the agent did ---", Outcome.from_dict(trace).trace_text(limit=100_000)]
        parts.append("\n".join(lines))
    if more:
        parts.append(f"... and {more} more failing input x run (--limit)")
    return "\n\n".join(parts)


def runs_note(e: dict) -> str:
    """On which runs a decided attempt's two scores were taken: `runs 0-2 of 16, raced out`."""
    runs = sorted(e["runs"])
    if not runs:
        return "no runs"
    span = f"run {runs[0]}" if len(runs) == 1 else \
        f"runs {runs[0]}-{runs[-1]}" if runs == list(range(runs[0], runs[-1] + 1)) else f"{len(runs)} runs"
    return f"{span} (same cells for both{', raced out' if e.get('raced') else ''})"


def p_text(value: float) -> str:
    """A p-value for people: `< 0.0001` or `= 0.0123`."""
    return "< 0.0001" if value < 0.0001 else f"= {value:.4f}"


def _pct(rate: dict | None) -> str:
    if rate and "passed" in rate and not rate["passed"] + rate.get("failed", 0):
        return "no data"
    return f"{rate['rate']:.1%}" if rate else "–"


def rate_ci(rate: dict | None) -> str:
    """A rate with its 95% interval and count, as every holdout rate is printed: `43.8% [31–57%] (14/32)`."""
    if not rate:
        return "–"
    n = rate["passed"] + rate["failed"]
    if not n:
        return "no data"
    where = " on new inputs" if rate.get("interval_by") == "input" else ""
    return f"{rate['rate']:.1%} [{rate['low']:.0%}–{rate['high']:.0%}{where}] ({rate['passed']}/{n})"


def render_changelog(entries: list[dict], name: str) -> str:
    """The human log of a run: every attempt, kept or not, with its hypothesis, scores, reason and diff."""
    keeps = sum(e["decision"] == "keep" for e in entries)
    lines = [f"# Changelog of the autoresearch run on {name}", "",
             f"{counted(len(entries) - 1, 'experiment')} after the baseline, {keeps} kept. Every attempt is listed, kept or not.", ""]
    for e in entries:
        if e["decision"] == "baseline":
            lines += ["## #0 baseline", "", f"- train: {_pct(e['scores']['train'])}, holdout: "
                      f"{rate_ci(e['scores'].get('holdout'))}", ""]
            continue
        near = " (near miss)" if e.get("near_miss") else ""
        lines += [f"## #{e['id']} {e['decision']}{near}: `{e['section']}`", ""]
        if e["hypothesis"]:
            lines.append(f"- hypothesis ({e['kind']}): {e['hypothesis']}")
        if e["decision"] in ("keep", "discard"):
            lines.append(f"- train: {_pct(e['best_scores']['train'])} -> {_pct(decision_score(e))} "
                         f"({e['wins']} wins, {e['losses']} losses on paired checks, p {p_text(e['p_value'])},"
                         f" runs {len(e['runs'])}{', raced out' if e['raced'] else ''})")
            if e["decision"] == "keep":
                lines.append(f"- train on fresh runs (not used to decide): {_pct(e['scores']['train'])}")
                lines.append(f"- holdout: {rate_ci(e['best_scores'].get('holdout'))} -> "
                             f"{rate_ci(e['scores'].get('holdout'))}"
                             + (f"; against the baseline: {holdout_words(e['holdout_test'])}"
                                if (e.get("holdout_test") or {}).get("verdict") else ""))
            lines += _error_and_flip_lines(e)
        lines.append(f"- decision: **{e['decision']}**: {e['reason']}")
        if near:
            lines.append("- near miss: it gained, with p just above the level; a variant may be worth trying")
        if e["motivation"]:
            lines.append("- motivated by failures: " + "; ".join(e["motivation"]))
        lines.append(f"- spent: {e['calls']} model calls, ${e['cost']:.4f}, {e['seconds']:.1f}s")
        if e["diff"]:
            lines += ["", "```diff", e["diff"].rstrip("\n"), "```"]
        lines.append("")
    return "\n".join(lines)


def _cached_note(entries: list[dict]) -> str:
    cached = sum(e.get("cached", 0) for e in entries)
    return f" (and {cached} answers from the cache, free)" if cached else ""


def decision_score(e: dict) -> dict | None:
    """The candidate's train score on the runs its decision used (older journals: `train`)."""
    return e["scores"].get("train_decision", e["scores"].get("train"))


def _error_and_flip_lines(e: dict) -> list[str]:
    lines = []
    errors = e.get("errors") or {}
    if errors.get("candidate") or errors.get("best"):
        lines.append(f"- error cells: candidate {errors['candidate']}, best {errors['best']} (of {errors['cells']})")
    if e.get("flips"):
        lines.append("- passing -> failing: " + ", ".join(
            f"{f['input']}/{f['eval']} {f['before']}/{f['runs']} -> {f['after']}/{f['runs']}" for f in e["flips"]))

    lines += [f"- {guard_note(v)}" for v in (e.get("guards") or {}).values() if "verdict" in v]
    lines += [f"- holdout on guard {name}: {_pct(rate)}" for name, rate in (e.get("guard_holdout") or {}).items()]
    return lines


def holdout_words(test: dict | None) -> str:
    """A holdout comparison in plain words: better / no different / WORSE (overfitting), with its numbers."""
    if not test or not test.get("verdict"):
        return "not measured"
    word = {"better": "better", "no different": "no different", "worse": "WORSE (overfitting)"}[test["verdict"]]
    p = test["p_better"] if test["verdict"] == "better" else test["p_worse"]
    return f"{word}: {test['before']:.1%} -> {test['after']:.1%} ({test['wins']} better, {test['losses']} worse " \
           f"paired checks, p {p_text(p)})"


def holdout_findings(entries: list[dict]) -> list[str]:
    """What a reader must know about generalisation: the holdout verdict, train up while holdout down."""
    base, best = entries[0], best_entry(entries)
    lines = []
    if best is not base and base["scores"].get("holdout"):
        lines.append(f"holdout verdict, best against baseline: {holdout_words(best.get('holdout_test'))}")
        train_up = best["scores"]["train"]["rate"] > base["scores"]["train"]["rate"]
        holdout_down = (best["scores"].get("holdout") or {}).get("rate", 1) < base["scores"]["holdout"]["rate"]
        if train_up and holdout_down:
            lines.append("WARNING: train went up while holdout went down: the gain may fit the train inputs only")
    elif best is base and len(entries) > 1:
        lines.append("holdout verdict: no keep, the best is the baseline")
    elif not base["scores"].get("holdout"):
        lines.append("no holdout inputs: nothing tells a general gain from fitting the train inputs")
    return lines


SMALL_SUITE = 20  # train inputs under which a keep says "better on these inputs", hardly "better in general"


def suite_size_findings(entries: list[dict]) -> list[str]:
    """What a small suite can show, said once where a reader weighs the result (the report), not on every line."""
    train_inputs = (entries[0].get("inputs") or {}).get("train")
    if train_inputs is None or train_inputs >= SMALL_SUITE:
        return []
    return [f"{train_inputs} train inputs: each keep is a gain on these inputs; with fewer than {SMALL_SUITE}, "
            "whether it is a general gain rests on the holdout verdict above"]


def counted(n: float, noun: str, plural: str | None = None) -> str:
    """`1 section`, `2 sections`: a number with its noun in the right form."""
    return f"{n:g} {noun if n == 1 else plural or noun + 's'}"


def _uplift_line(entries: list[dict]) -> str | None:
    from .uplift import run_uplift_line

    return run_uplift_line(entries)


def status_text(run_id: str, entries: list[dict], config: dict, state: str = "") -> str:
    """Whether it runs, best score, experiments, keeps and discards, spend, train beside holdout."""
    if not entries:
        return f"run {run_id}: no experiments yet" + (f"\n  state: {state}" if state else "")
    decisions = Counter(e["decision"] for e in entries[1:])
    base = entries[0]
    best = best_entry(entries)
    calls = sum(e["calls"] for e in entries)
    tokens = sum(sum(e["tokens"].values()) for e in entries)
    cost = sum(e["cost"] for e in entries)
    seconds = sum(e["seconds"] for e in entries)
    budget = config.get("config", {}).get("budget", {})
    limits = ", ".join(f"{k} {v}" for k, v in budget.items() if v is not None) or "none"
    return "\n".join([
        f"run {run_id}",
        *([f"  state: {state}"] if state else []),
        f"  experiments: {len(entries) - 1} ({decisions['keep']} kept, {decisions['discard']} discarded, "
        f"{decisions['refused']} refused" + (f", {decisions['error']} failed" if decisions["error"] else "") + ")",
        f"  train:   baseline {_pct(base['scores']['train'])} -> best {_pct(best['scores']['train'])} (#{best['id']}"
        f"{', on runs not used to select it' if best is not base else ''})",
        f"  holdout: baseline {rate_ci(base['scores'].get('holdout'))} -> best {rate_ci(best['scores'].get('holdout'))}",
        f"  spent: {calls} model calls made{_cached_note(entries)}, {tokens} tokens, ${cost:.4f}, {seconds:.1f}s (budget: {limits})",
        *([f"  {keep_cost_text(entries)}"] if keep_cost_text(entries) else []),
        f"  last: #{entries[-1]['id']} {entries[-1]['decision']}: {entries[-1]['reason']}",
        *(f"  {line}" for line in holdout_findings(entries)),
        *(f"  {line}" for line in ran_lines(config)),
        *([f"  uplift: {_uplift_line(entries)}"] if _uplift_line(entries) else []),
        *(f"  {line}" for line in refusal_findings(entries)),
    ])


def ran_lines(config: dict) -> list[str]:
    """What ran per role, from run.json's provenance (none for a run recorded before it existed)."""
    from ..evaluate.provenance import lines

    return lines(config["provenance"]) if config.get("provenance") else []


def guard_note(verdict: dict) -> str:
    """One guard's figures in a line: verdict, rates, wins and losses, and the evals that fell."""
    fell = ", ".join(f"{d['eval']} {d['before']}/{d['n']}->{d['after']}/{d['n']}" for d in verdict["evals"])
    return (f"guard {verdict['target']} {verdict['verdict']}: {verdict['before']:.1%} -> {verdict['after']:.1%} "
            f"({verdict['wins']} wins, {verdict['losses']} losses, p worse {verdict['p_worse']:.3f})"
            + (f", fell: {fell}" if fell else ""))


def refusal_kind(reason: str) -> str:
    """A refusal reason without the words it quotes: what the guard objected to."""
    return reason.split(': "', 1)[0]


REFUSALS_DOMINATE = 0.5  # share of proposals refused, at least MIN_REFUSED of them, that status calls out


MIN_REFUSED = 3


def refusal_findings(entries: list[dict]) -> list[str]:
    """Say so when refusals dominate a run: it may end on a plateau having measured almost nothing."""
    attempts = [e for e in entries[1:] if e["decision"] in ("keep", "discard", "refused")]
    refused = [e for e in attempts if e["decision"] == "refused"]
    if len(refused) < MIN_REFUSED or len(refused) < REFUSALS_DOMINATE * len(attempts):
        return []
    common, n = Counter(refusal_kind(e["reason"]) for e in refused).most_common(1)[0]
    return [f"REFUSALS DOMINATE: {len(refused)} of {len(attempts)} proposals were refused before any evaluation "
            f"({n} x {common}); a stop on plateau then means untested, not no better. Each reason (with the "
            "words a guard matched) is in the journal and in `autoresearch next`"]
