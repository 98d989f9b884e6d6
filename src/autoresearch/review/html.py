"""The static HTML report of a run (inline SVG, no JS), the diff in its three formats, and the pieces the live dashboard reuses."""

from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..runs.journal import best_entry
from .diffs import diff_html, section_diff
from .keepcost import keep_cost_text
from .report import (
    _error_and_flip_lines,
    _pct,
    _uplift_line,
    decision_score,
    holdout_findings,
    p_text,
    profile_text,
    rate_ci,
    runs_note,
    suite_size_findings,
)


def render_diff(changes: list[tuple[str, str]], fmt: str = "unified", title: str = "baseline -> best") -> str:
    """Section diffs as plain unified text, Markdown for a PR comment, or a standalone HTML page."""
    if fmt == "unified":
        return "".join(f"=== {section} ===\n{text}" for section, text in changes) or "no change\n"
    if fmt == "markdown":
        if not changes:
            return f"**{title}**: no change\n"
        parts = [f"### autoresearch: {title}, {len(changes)} section(s) changed\n"]
        for section, text in changes:
            parts.append(f"#### `{section}`\n\n```diff\n{text.rstrip()}\n```\n")
        return "\n".join(parts)
    body = "".join(f"<h3><code>{html.escape(section)}</code></h3>\n{diff_html(text)}\n"
                   for section, text in changes) or "<p>No change.</p>"
    return _page(f"autoresearch diff: {title}", f"<h1>{html.escape(title)}</h1>\n{body}")


_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#1d1d1f;padding:0 1em}
h1{font-size:1.5em}h2{margin-top:2em;border-bottom:1px solid #ddd}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #eee;padding:.35em .5em;text-align:left;vertical-align:top}
pre{white-space:pre-wrap;overflow-wrap:anywhere}
pre.diff,pre.output,pre.skill{background:#f7f7f7;padding:.6em;max-height:40em;overflow:auto}
.add{color:#116329;background:#dafbe1}
.del{color:#82071e;background:#ffebe9}.ctx{color:#555}.keep{color:#116329;font-weight:600}
.discard{color:#82071e}.refused{color:#777}.bar{background:#e5e5e5;height:.7em;width:10em;display:inline-block}
.bar span{background:#2f7bf6;height:100%;display:block}svg text{font:11px system-ui,sans-serif}
.stats span{margin-right:2em}.meta td:first-child{color:#555;width:10em}
.regression td.worse{color:#82071e;font-weight:600;background:#ffebe9}
.warn{background:#fff4e5;border-left:4px solid #d97706;padding:.5em .8em}
.pass{color:#116329}.fail{color:#82071e}.error{color:#8a4b00}ul.verdicts{margin:.2em 0;padding-left:1.2em}
.heavy{content-visibility:auto;contain-intrinsic-size:auto 3000px}"""


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>\n{body}\n</body></html>\n")


def _steps(points: list[tuple[float, float]]) -> str:
    """Polyline points drawn as steps: a level holds until the next point changes it."""
    out: list[str] = []
    for i, (px, py) in enumerate(points):
        if i:
            out.append(f"{px:.1f},{points[i - 1][1]:.1f}")
        out.append(f"{px:.1f},{py:.1f}")
    return " ".join(out)


def _chart(entries: list[dict]) -> str:
    """Inline SVG: each attempt's train score (keep, discard), best train and holdout as steps; refusals apart."""
    width, height, left, top, bottom = 900, 320, 60, 15, 50
    plot_bottom = height - bottom
    n = max(1, entries[-1]["id"])
    x = lambda i: left + (width - left - 15) * i / n
    y = lambda r: top + (plot_bottom - top) * (1 - r)
    parts = [f"<svg id='score-chart' xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
             f"viewBox='0 0 {width} {height}' role='img' aria-label='pass rate over experiments'>"]
    for tick in range(0, 101, 25):
        parts.append(f"<line x1='{left}' x2='{width - 15}' y1='{y(tick / 100):.1f}' y2='{y(tick / 100):.1f}' "
                     f"stroke='#eee'/><text x='{left - 8}' y='{y(tick / 100) + 4:.1f}' text-anchor='end'>{tick}%</text>")
    band = plot_bottom + 16  # refused proposals have no score: drawn in a band of their own, not at 0%
    parts.append(f"<text x='{left - 8}' y='{band + 4}' text-anchor='end' fill='#999'>refused</text>")
    for e in entries[:: max(1, len(entries) // 15)]:
        parts.append(f"<text x='{x(e['id']):.1f}' y='{height - 8}' text-anchor='middle'>#{e['id']}</text>")
    best, holdout, best_rate, holdout_rate = [], [], None, None
    for e in entries:
        if e["decision"] in ("baseline", "keep"):
            best_rate = e["scores"]["train"]["rate"]
            holdout_rate = (e["scores"].get("holdout") or {}).get("rate", holdout_rate)
        best.append((x(e["id"]), y(best_rate)))
        if holdout_rate is not None:
            holdout.append((x(e["id"]), y(holdout_rate)))
    parts.append(f"<polyline class='train-line' points='{_steps(best)}' fill='none' stroke='#2f7bf6' stroke-width='2'/>")
    if holdout:
        parts.append(f"<polyline class='holdout-line' points='{_steps(holdout)}' fill='none' stroke='#d97706' "
                     f"stroke-width='2' stroke-dasharray='6 4'/>")
    for e in entries:
        rate = (decision_score(e) or {}).get("rate")
        if e["decision"] in ("refused", "error") or rate is None:
            parts.append(f"<text class='mark refused' x='{x(e['id']):.1f}' y='{band + 4}' text-anchor='middle' "
                         f"fill='#999'>×<title>#{e['id']} {e['decision']}: {html.escape(e['reason'])}</title></text>")
            continue
        color = {"keep": "#16a34a", "baseline": "#2f7bf6", "discard": "#dc2626"}[e["decision"]]
        fill = color if e["decision"] != "discard" else "white"
        parts.append(f"<circle class='mark {e['decision']}' cx='{x(e['id']):.1f}' cy='{y(rate):.1f}' r='4.5' "
                     f"fill='{fill}' stroke='{color}' stroke-width='2'><title>#{e['id']} {e['decision']}: "
                     f"{rate:.1%} on {len(e['runs'])} runs</title></circle>")
    legend = [("#2f7bf6", "best, train"), ("#d97706", "best, holdout"), ("#16a34a", "keep"), ("#dc2626", "discard")]
    for i, (color, label) in enumerate(legend):
        parts.append(f"<rect x='{left + 10 + i * 120}' y='{top}' width='10' height='10' fill='{color}'/>"
                     f"<text x='{left + 24 + i * 120}' y='{top + 9}'>{label}</text>")
    parts.append(f"<text x='{left + 10 + len(legend) * 120}' y='{top + 9}' fill='#999'>× refused</text>")
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class RunFiles:
    """What a report reads besides the journal: baseline and best SKILL.md, the best version's cells."""

    baseline: str = ""
    best: str = ""
    best_cells: tuple = ()
    best_outputs: dict | None = None  # (input id, run) -> output text, or a harness Outcome's dict
    regressed: dict | None = None  # split -> eval ids worse than the baseline beyond noise; None: cells not stored


def run_files(run_dir: Any, entries: list[dict] | None = None, cells: bool = True) -> RunFiles:
    """Read a run directory's baseline, best and (with `cells`) the best version's train cells, whatever exists."""
    def text(name: str) -> str:
        path = run_dir.path / name
        return path.read_text(encoding="utf-8") if path.exists() else ""

    entries = run_dir.entries() if entries is None else entries
    digest = best_entry(entries)["skill_after"] if entries and cells else ""
    stored = run_dir.load_cells(digest) if digest else None
    cells_found, outputs = stored or ([], {})
    outcomes = {**outputs, **(run_dir.load_traces(digest) if digest else {})}
    return RunFiles(text("baseline/SKILL.md"), text("best/SKILL.md") or text("baseline/SKILL.md"), tuple(cells_found),
                    outcomes, regressed_evals(run_dir, entries) if entries else None)


def regressed_evals(run_dir: Any, entries: list[dict], alpha: float = 0.05) -> dict | None:
    """Per split, the evals on which the best is worse than the baseline beyond noise: a sign test per eval on
    the cells both versions scored, Holm-corrected across evals (as `eval --compare`). None when not stored."""
    from ..decide.stats import eval_drops
    from ..evaluate.cells import cells_map

    base, best = entries[0]["skill_after"], best_entry(entries)["skill_after"]
    found = {}
    for split in ("train", "holdout"):
        before, after = run_dir.load_cells(base, split), run_dir.load_cells(best, split)
        if before is None or after is None:
            if split == "train":
                return None
            continue
        found[split] = {d.eval_id for d in eval_drops(cells_map(after[0]), cells_map(before[0]), alpha)}
    return found


def _meta(config: dict, entries: list[dict], state: str) -> str:
    from ..evaluate.provenance import short

    info = config.get("info") or {}
    ran = config.get("provenance") or {}
    shown = {role: short(ran[role]) if role in ran else str(info.get("model" if role == "target" else role, ""))
             for role in ("target", "judge", "mutator")}
    rows = [("suite", f"{html.escape(str(info.get('suite', '')))} <small>{html.escape(str(config.get('suite', '')))}</small>"),
            ("model", html.escape(shown["target"])), ("judge", html.escape(shown["judge"])),
            ("mutator", html.escape(shown["mutator"])),
            ("inputs", f"{info['train']} train, {info['holdout']} holdout; {info['evals']} evals; {info['runs']} runs "
                       "per input" if "train" in info else ""),
            ("started", html.escape(str(config.get("created", ""))[:19].replace("T", " ")) + " UTC"
             if config.get("created") else ""),
            ("last attempt", html.escape(str(entries[-1].get("timestamp", ""))[:19].replace("T", " "))),
            ("state", f"<span id='run-state'>{html.escape(state)}</span>" if state else "")]
    return "<table class='meta'>" + "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows if v) + "</table>"


def _eval_rows(base: dict, best: dict, regressed: dict | None = None) -> str:
    """Per eval: train and holdout for baseline and best; a drop the per-eval test finds is marked a regression
    (with no stored cells to test, any drop is)."""
    rows = []
    for eval_id in base.get("per_eval", {}):
        values = [base["per_eval"].get(eval_id), best.get("per_eval", {}).get(eval_id),
                  base.get("per_eval_holdout", {}).get(eval_id), best.get("per_eval_holdout", {}).get(eval_id)]
        worse = [False, values[1] is not None and values[0] is not None and values[1] < values[0] - 1e-9,
                 False, values[3] is not None and values[2] is not None and values[3] < values[2] - 1e-9]
        if regressed is not None:
            worse = [False, worse[1] and eval_id in regressed.get("train", ()), False,
                     worse[3] and eval_id in regressed.get("holdout", ())]
        cells = "".join(f"<td{' class=worse' if w else ''}>{'–' if v is None else f'{v:.1%}'}</td>"
                        for v, w in zip(values, worse))
        bar = values[1] if values[1] is not None else values[0] or 0
        rows.append(f"<tr class='eval-row{' regression' if any(worse) else ''}'><td>{html.escape(eval_id)}</td>"
                    f"{cells}<td><span class='bar'><span style='width:{bar * 100:.0f}%'></span></span></td></tr>")
    return ("<table id='evals'><tr><th>eval</th><th>train, baseline</th><th>train, best</th><th>holdout, baseline</th>"
            f"<th>holdout, best</th><th></th></tr>{''.join(rows)}</table>")


def _output_html(value: Any) -> str:
    """An output in full: the text, and for harness targets whatever else was recorded (tool calls, files)."""
    if isinstance(value, str):
        return f"<pre class='output'>{html.escape(value)}</pre>"
    if isinstance(value, dict):  # a harness Outcome: the final text, then what the agent did
        esc = html.escape
        facts = [f"{value['turns']} turns" if value.get("turns") else "",
                 {True: "skill used", False: "skill NOT used"}.get(value.get("skill_used"), ""),
                 f"stop: {value['stop_reason']}" if value.get("stop_reason") else "",
                 f"${value['cost']:.4f}" if value.get("cost") else "",
                 f"{value['seconds']:.1f}s" if value.get("seconds") else ""]
        calls = "".join(f"<li><code>{esc(c.get('name', ''))}</code> <small>{esc(json.dumps(c.get('input', {}), ensure_ascii=False))}"
                        f"</small>{_tool_result_html(c)}</li>" for c in value.get("tool_calls") or [])
        files = "".join(f"<details class='file'><summary><code>{esc(path)}</code></summary><pre class='output'>"
                        f"{esc(str(content))}</pre></details>" for path, content in sorted((value.get("files") or {}).items()))
        return (f"<pre class='output'>{esc(str(value.get('text', '')))}</pre>"
                + (f"<p><small>{esc(' · '.join(f for f in facts if f))}</small></p>" if any(facts) else "")
                + (f"<p>tool calls:</p><ol class='tool-calls'>{calls}</ol>" if calls else "")
                + (f"<p>files:</p>{files}" if files else ""))
    return "<p><small>no output recorded</small></p>"


def _tool_result_html(call: dict) -> str:
    """What a tool call returned, under it: its exit code or error mark, and its output (as stored, capped)."""
    from ..models.outcome import ToolCall

    shown = ToolCall(str(call.get("name", "")), output=call.get("output"), is_error=call.get("is_error"),
                     exit_code=call.get("exit_code"))
    if not shown.result_text():
        return ""
    head = shown.result_text().split(":", 1)[0]
    return (f"<br><small class='tool-result{' error' if shown.is_error else ''}'>returned {html.escape(head)}</small>"
            + (f"<pre class='output'>{html.escape(shown.output)}</pre>" if shown.output else ""))


def outputs_table(cells: list, outputs: dict, splits: dict[str, str] | None = None, only_failing: bool = False,
                  limit: int | None = None) -> str:
    """Every input x run with its full output and each eval's verdict and reason (optionally failing ones only)."""
    groups: dict[tuple[str, int], list] = {}
    for c in cells:
        groups.setdefault((c.input_id, c.run), []).append(c)
    keys = [k for k, group in groups.items() if not only_failing or any(c.status != "pass" for c in group)]
    shown = keys if limit is None else keys[:limit]
    rows = []
    for input_id, run in shown:
        verdicts = "".join(f"<li class='{c.status}'>{'✓' if c.status == 'pass' else '✗'} {html.escape(c.eval_id)}"
                           + ("" if c.status == "pass" else f": <small>{html.escape(c.reason)}</small>") + "</li>"
                           for c in groups[(input_id, run)])
        split = f"<br><small>{html.escape((splits or {}).get(input_id, ''))}</small>" if splits else ""
        rows.append(f"<tr class='output-row'><td><code>{html.escape(input_id)}</code>{split}</td><td>{run}</td>"
                    f"<td><ul class='verdicts'>{verdicts}</ul>{_output_html(outputs.get((input_id, run)))}</td></tr>")
    more = f"<p><small>{len(keys) - len(shown)} more not shown.</small></p>" if len(shown) < len(keys) else ""
    if not rows:
        return "<p>None.</p>"
    return (f"<table class='outputs'><tr><th>input</th><th>run</th><th>evals and output</th></tr>{''.join(rows)}"
            f"</table>{more}")


def report_body(run_id: str, entries: list[dict], config: dict, files: RunFiles = RunFiles(), state: str = "",
                live: bool = False) -> str:
    """The report's content, shared by the static report and the live dashboard (`live`: which has its own
    outputs browser, so it leaves out the failing outputs, and fetches each attempt's diff when opened)."""
    esc = html.escape
    base, best = entries[0], best_entry(entries)
    counts = Counter(e["decision"] for e in entries[1:])
    stats = (f"<p class='stats'><span>train {_pct(base['scores']['train'])} → <b>{_pct(best['scores']['train'])}</b></span>"
             f"<span>holdout {rate_ci(base['scores'].get('holdout'))} → <b>{rate_ci(best['scores'].get('holdout'))}</b></span>"
             f"<span>{len(entries) - 1} experiments: {counts['keep']} kept, {counts['discard']} discarded, "
             f"{counts['refused']} refused</span><span>{sum(e['calls'] for e in entries)} calls, "
             f"${sum(e['cost'] for e in entries):.4f}</span>"
             + (f"<span class='keep-cost'>{esc(keep_cost_text(entries) or '')}</span>" if len(entries) > 1 else "")
             + "</p>")
    base_holdout, best_holdout = base["scores"].get("holdout"), best["scores"].get("holdout")
    warn = ""
    if base_holdout and best_holdout and best_holdout["rate"] < base_holdout["rate"]:
        warn = (f"<p class='warn holdout-drop'>Holdout fell from {_pct(base_holdout)} to {_pct(best_holdout)} while "
                "train rose: the changes may fit the train inputs only.</p>")
    regressions = [k for k in base.get("per_eval", {}) if best.get("per_eval", {}).get(k, 1) < base["per_eval"][k] - 1e-9
                   or best.get("per_eval_holdout", {}).get(k, 1) < base.get("per_eval_holdout", {}).get(k, 0) - 1e-9]
    if files.regressed is not None:  # a drop within noise is not a regression
        regressions = [k for k in regressions if any(k in ids for ids in files.regressed.values())]
    if regressions:
        warn += (f"<p class='warn'>Regressed evals: {esc(', '.join(regressions))} (worse than the baseline beyond "
                 "noise, per-eval sign test; marked below).</p>")
    findings = "".join(f"<li>{esc(line)}</li>" for line in holdout_findings(entries) + suite_size_findings(entries))
    findings = f"<ul id='holdout'>{findings}</ul>" if findings else ""
    profile = base.get("profile")
    profile_html = f"<h2>Inputs of the baseline: flaky, no signal</h2>\n<pre id='inputs'>{esc(profile_text(profile))}</pre>" \
        if profile else ""
    attempt_rows = []
    for e in entries[1:]:
        scores = "" if e["decision"] in ("refused", "error") else \
            (f"{_pct(e['best_scores']['train'])} → {_pct(decision_score(e))} (p {p_text(e['p_value'])})"
             f"<br><small>{esc(runs_note(e))}</small>")
        diff = "" if not e["diff"] else f"<details class='diff' data-id='{e['id']}'><summary>diff</summary></details>" \
            if live else f"<details><summary>diff</summary>{diff_html(e['diff'])}</details>"
        notes = "".join(f"<br><small class='flips'>{esc(line[2:])}</small>" for line in _error_and_flip_lines(e))
        attempt_rows.append(
            f"<tr class='attempt-row'><td>#{e['id']}</td><td><code>{esc(e['section'] or '')}</code></td>"
            f"<td>{esc(e['kind'] or '')}</td><td class='{e['decision']}'>{e['decision']}</td><td>{scores}</td>"
            f"<td>{esc(e['hypothesis'])}<br><small>{esc(e['reason'])}</small>{notes}{diff}</td></tr>")
    changes = section_diff(files.baseline, files.best) if files.baseline and files.best else []
    overall = "".join(f"<h3><code>{esc(section)}</code></h3>{diff_html(text)}"
                      for section, text in changes) or "<p>No change from the baseline.</p>"
    final = f"<details><summary>the final SKILL.md</summary><pre class='skill'>{esc(files.best)}</pre></details>" \
        if files.best else ""
    failing = outputs_table(list(files.best_cells), files.best_outputs or {}, only_failing=True, limit=100) \
        if files.best_cells else "<p>The best version's outputs were not stored.</p>"
    failing_section = (f"<h2>Failing outputs of the best version (train)</h2>\n<div id='failing-outputs' "
                       f"class='heavy'>{failing}</div>") if not live else ""
    uplift = f"<p id='uplift'>{esc(_uplift_line(entries))}</p>" if _uplift_line(entries) else ""
    return (f"<h1>autoresearch run {esc(run_id)}</h1>\n{_meta(config, entries, state)}\n{stats}\n{uplift}{warn}\n{findings}\n"
            f"<h2>Pass rate over experiments</h2>\n{_chart(entries)}\n<p><small>Lines: the best version's train "
            "and holdout pass rates, as steps. Dots: each candidate's train score on the runs it was evaluated on; "
            "racing stops hopeless candidates after a few runs, so a discarded dot can sit above the line on little "
            "evidence. ×: a refused proposal (no score).</small></p>\n"
            f"<h2>Per eval: baseline and best (#{best['id']})</h2>\n{_eval_rows(base, best, files.regressed)}\n"
            f"<h2>Baseline → best</h2>\n{overall}\n{final}\n"
            "<h2>Every attempt</h2>\n<div class='heavy'><table id='attempts'><tr><th>#</th><th>section</th><th>kind</th>"
            "<th>decision</th><th>train (same runs)</th><th>hypothesis, reason and diff</th></tr>"
            f"{''.join(attempt_rows)}</table></div>\n{failing_section}\n{profile_html}")


def html_report(run_id: str, entries: list[dict], config: dict, files: RunFiles = RunFiles(), state: str = "") -> str:
    """A single static HTML file, readable without JS: setup, chart, per-eval rows, diffs, attempts, failures."""
    if not entries:
        return _page(f"autoresearch run {run_id}", f"<h1>Run {html.escape(run_id)}</h1><p>No experiments yet.</p>")
    return _page(f"autoresearch run {run_id}", report_body(run_id, entries, config, files, state))
