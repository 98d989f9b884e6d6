"""Dashboard benchmark: first paint of a 1,000-attempt run, and what a dashboard open on a live run costs it.

Goals (issue 12): `autoresearch view` serves a 1,000-attempt run's first paint in <= 1 s; its live
updates add <= 2% to a run's wall time. First paint is measured in headless Chromium over the
DevTools protocol (navigation start to first contentful paint), on a synthetic journal of 1,000
attempts with diffs; once with the page already rendered by the server (the journal unchanged) and
once right after a journal line was appended (the server renders the whole page inside the request).
The overhead compares `autoresearch run --resume` wall times alone and with a dashboard already open in
Chromium, polling once a second, in alternating pairs (the median of the ratios); as wall times on a
shared machine are noisy, it also reports the CPU time the dashboard's server and browser used while
the run ran, as a share of one core.
Usage: python bench/view.py [--attempts 1000] [--pairs 3] [--experiments 8] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
CLI = [sys.executable, "-m", "autoresearch"]

from browser import Browser, find_chromium  # noqa: E402  (the tests' DevTools client)


def workspace(folder: Path, latency: float = 0.0) -> Path:
    shutil.copytree(ROOT / "examples/meeting-notes", folder / "examples/meeting-notes")
    shutil.copytree(ROOT / "evals", folder / "evals")
    suite = folder / "evals/meeting-notes.yaml"
    if latency:
        suite.write_text(suite.read_text().replace("model: sim ", f"model: {{name: sim, latency: {latency}}} "))
    return suite


def synthesize(folder: Path, attempts: int) -> Path:
    """A real baseline, then `attempts` synthetic attempts shaped like real ones (diffs, reasons, scores)."""
    suite = workspace(folder)
    subprocess.run(CLI + ["run", str(suite), "--baseline-only", "--run-id", "big"], cwd=folder, check=True,
                   capture_output=True)
    run = folder / ".autoresearch/big"
    journal = run / "journal.jsonl"
    base = json.loads(journal.read_text().splitlines()[0])
    rng = random.Random(12)
    lines, rate = [], base["scores"]["train"]["rate"]
    for i in range(1, attempts + 1):
        decision = rng.choices(["discard", "keep", "refused"], [0.7, 0.1, 0.2])[0]
        after = min(1.0, rate + rng.uniform(-0.1, 0.15))
        score = dict(base["scores"]["train"], rate=round(after, 4))
        diff = "".join(f"-old line {k} of section {i % 7}\n+new line {k}: always write the owner and the date\n"
                       for k in range(6))
        entry = dict(base, id=i, section=f"meeting-notes/section-{i % 7}", kind="clarify", decision=decision,
                     hypothesis=f"attempt {i}: state the rule as a MUST so the model follows it",
                     reason="not significant: 60.0% vs 58.0%, 10 wins / 8 losses, p = 0.407 >= 0.15",
                     diff="--- a/x\n+++ b/x\n" + diff if decision != "refused" else "", runs=list(range(8)),
                     p_value=round(rng.random(), 4), wins=10, losses=8, candidate=f"{i:064x}",
                     scores={"train": score if decision != "refused" else None,
                             "holdout": base["scores"]["holdout"] if decision == "keep" else None},
                     best_scores={"train": dict(score, rate=rate), "holdout": base["scores"]["holdout"]})
        if decision == "keep":
            rate = after
        lines.append(json.dumps(entry))
    with open(journal, "a") as handle:
        handle.write("\n".join(lines) + "\n")
    return run


def start_view(cwd: Path, *args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(CLI + ["view", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], 120)
    if not ready:
        raise RuntimeError("view did not start")
    return proc, proc.stdout.readline().split()[1]


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)


PAINT = ("(performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime")


def first_paint(browser: str, folder: Path, run: Path, repeats: int) -> dict:
    proc, url = start_view(folder, "big")
    try:
        started = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as reply:
            size = len(reply.read())
        served = time.perf_counter() - started
        cached, fresh = [], []
        with Browser(browser, folder / "profile") as page:
            for i in range(repeats):
                page.navigate(url)
                cached.append(page.wait_for(PAINT, 30) / 1000)
                with open(run / "journal.jsonl", "a") as handle:  # invalidate: the server renders in the request
                    last = json.loads((run / "journal.jsonl").read_text().splitlines()[-1])
                    handle.write(json.dumps(dict(last, id=last["id"] + 1)) + "\n")
                page.navigate(url)
                fresh.append(page.wait_for(PAINT, 30) / 1000)
            marks = page.evaluate("document.querySelectorAll('#score-chart .mark').length")
    finally:
        stop(proc)
    return {"page_bytes": size, "server_first_response_s": round(served, 3), "marks": marks,
            "first_paint_cached_s": round(statistics.median(cached), 3),
            "first_paint_rendered_in_request_s": round(statistics.median(fresh), 3),
            "first_paint_worst_s": round(max(cached + fresh), 3)}


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user + system) used so far by a process and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier += children
    return sum(times.get(pid, 0.0) for pid in tree)


def timed_run(browser: str | None, folder: Path, experiments: int) -> tuple[float, float]:
    """Wall time of `run --resume` for `experiments` more; with `browser`, a dashboard is open on it throughout.

    The dashboard and the browser start before the clock does: what is measured is what the live
    updates (polling, re-rendering, the heartbeat they read) cost the run, not launching Chromium.
    """
    suite = folder / "evals/meeting-notes.yaml"
    subprocess.run(CLI + ["run", str(suite), "--baseline-only", "--plateau", "1000", "--run-id", "r"], cwd=folder,
                   check=True, capture_output=True)
    resume = CLI + ["run", "--resume", "r", "--max-experiments", str(experiments)]
    if browser is None:
        started = time.perf_counter()
        subprocess.run(resume, cwd=folder, check=True, capture_output=True)
        return time.perf_counter() - started, 0.0
    view, url = start_view(folder, "r")
    try:
        with Browser(browser, folder / "profile") as page:
            page.navigate(url)
            time.sleep(2)  # let the browser settle before the clock starts
            cpu = tree_cpu_seconds(view.pid) + tree_cpu_seconds(page.proc.pid)
            started = time.perf_counter()
            subprocess.run(resume, cwd=folder, check=True, capture_output=True)
            seconds = time.perf_counter() - started
            cpu = tree_cpu_seconds(view.pid) + tree_cpu_seconds(page.proc.pid) - cpu
            page.wait_for("+document.body.dataset.updates > 0", 10)
            updates = int(page.evaluate("document.body.dataset.updates") or 0)
    finally:
        stop(view)
    if updates < 1:
        raise RuntimeError("the dashboard never updated during the run")
    return seconds, cpu


def idle_browser_cpu(browser: str, folder: Path, seconds: float) -> float:
    """CPU seconds a headless Chromium on about:blank uses in `seconds`: the browser's own cost, not the page's."""
    with Browser(browser, folder / "profile-idle") as page:
        page.navigate("about:blank")
        time.sleep(2)
        before = tree_cpu_seconds(page.proc.pid)
        time.sleep(seconds)
        return tree_cpu_seconds(page.proc.pid) - before


def overhead(browser: str, pairs: int, experiments: int, latency: float) -> dict:
    alone, watched, cpu = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(pairs):
            for watch in (False, True) if i % 2 == 0 else (True, False):
                folder = Path(tmp) / f"{i}-{watch}"
                workspace(folder, latency=latency)
                seconds, used = timed_run(browser if watch else None, folder, experiments)
                (watched if watch else alone).append(seconds)
                if watch:
                    cpu.append(used / seconds)
                print(f"  pair {i + 1}: {'with dashboard' if watch else 'alone':<14} {seconds:6.2f} s"
                      + (f", dashboard (server + browser) used {used:.2f} CPU s" if watch else ""))
        idle = idle_browser_cpu(browser, Path(tmp), 10.0) / 10.0
    ratios = [w / a for w, a in zip(watched, alone)]
    return {"model_latency_s": latency, "experiments": experiments,
            "browser_idle_cpu_share_of_one_core_pct": round(idle * 100, 2),
            "updates_cpu_share_of_one_core_pct": round((statistics.median(cpu) - idle) * 100, 2),"alone_s": [round(s, 2) for s in alone], "with_dashboard_s": [round(s, 2) for s in watched],
            "median_ratio": round(statistics.median(ratios), 4),
            "overhead_pct": round((statistics.median(ratios) - 1) * 100, 2),
            "dashboard_cpu_share_of_one_core_pct": round(statistics.median(cpu) * 100, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--attempts", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--experiments", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per simulated model call")
    args = parser.parse_args()
    browser = find_chromium()
    if not browser:
        sys.exit("chromium is needed (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        run = synthesize(Path(tmp), args.attempts)
        paint = first_paint(browser, Path(tmp), run, args.repeats)
    print(f"first paint of a {args.attempts}-attempt run: {paint['first_paint_cached_s']:.3f} s (page already "
          f"rendered), {paint['first_paint_rendered_in_request_s']:.3f} s (rendered in the request); worst "
          f"{paint['first_paint_worst_s']:.3f} s (goal <= 1 s); page {paint['page_bytes'] / 1e6:.1f} MB")
    cost = overhead(browser, args.pairs, args.experiments, args.latency)
    print(f"run wall time with a live dashboard open / alone: {cost['median_ratio']:.4f} "
          f"({cost['overhead_pct']:+.2f}%, goal <= +2%); the dashboard's server and browser used "
          f"{cost['dashboard_cpu_share_of_one_core_pct']:.2f}% of one core while the run ran, of which "
          f"{cost['browser_idle_cpu_share_of_one_core_pct']:.2f}% is any idle headless Chromium and "
          f"{cost['updates_cpu_share_of_one_core_pct']:.2f}% the polling and updates")
    out = ROOT / "bench/results"
    out.mkdir(exist_ok=True)
    (out / "view.json").write_text(json.dumps({"attempts": args.attempts, **paint, "run_overhead": cost}, indent=1) + "\n")


if __name__ == "__main__":
    main()
