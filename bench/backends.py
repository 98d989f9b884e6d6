"""Backend benchmark (issue 4): overhead against the ideal, promptfoo side by side, and faults.

A local Messages API server (autoresearch.sim.server, its own process) answers every call after
a fixed latency. The suite: 100 inputs x 4 runs = 400 calls at concurrency 16, one check.
- Overhead: wall time / (calls / concurrency x latency). Goal <= 1.10.
- promptfoo: the same 400 calls through promptfoo's HTTP provider, -j 16, in the same run: --pairs runs of ours
  and promptfoo in turn (a fresh server each), the ratio ours / promptfoo pair by pair, min / median / max.
- Start-up: the whole CLI minus its evaluation phase; and the SDK import alone, whole package against the
  client alone (what `eval` loads), each in a fresh interpreter.
- Faults: 20% of requests answered 429 (retry-after 0.05 s), 529 or 500. The pass rate must equal
  the fault-free run's; the retries are reported.
Usage: python bench/backends.py [--latency 0.05] [--pairs 3] [--no-promptfoo]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER_MODULE = "autoresearch.sim.server"
PROMPTFOO_DIR = ROOT / "bench" / ".promptfoo"
HARNESS_BIN = ROOT / ".harness" / "node_modules" / ".bin"  # its pinned Node 22, which promptfoo >= 0.122 needs
INPUTS, RUNS, CONCURRENCY = 100, 4, 16


class Server:
    def __init__(self, latency: float, fault_rate: float = 0.0):
        self.proc = subprocess.Popen([sys.executable, "-m", SERVER_MODULE, "--latency", str(latency), "--fault-rate",
                                      str(fault_rate)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()

    def stop(self) -> dict:
        self.proc.stdin.close()
        stats = dict(kv.split("=") for kv in self.proc.stdout.readline().split())
        self.proc.wait()
        return {k: int(v) for k, v in stats.items()}


def write_suite(folder: Path) -> Path:
    (folder / "bench-skill").mkdir(parents=True, exist_ok=True)
    (folder / "bench-skill/SKILL.md").write_text("---\nname: bench-skill\ndescription: Echo. Use for benchmarks.\n"
                                                 "---\n# Echo\n\nRepeat the input.\n")
    lines = ["skill: bench-skill/SKILL.md", f"runs: {RUNS}", f"concurrency: {CONCURRENCY}",
             "model: {name: anthropic:claude-fake-1, concurrency: %d, retry_base: 0.05}" % CONCURRENCY, "inputs:"]
    for i in range(INPUTS):
        lines.append(f"  - {{id: in-{i}, text: 'item {i} is {'odd' if i % 2 else 'even'}'}}")
    lines += ["evals:", "  - {id: odd, question: 'Is it odd?', check: {type: contains, value: odd}}"]
    path = folder / "suite.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def ours(suite: Path, url: str) -> tuple[float, float, float]:
    """Wall time of `autoresearch eval` (process start and cost preview included), of its evaluation
    phase alone, and the pass rate."""
    env = {**os.environ, "ANTHROPIC_API_KEY": "test", "ANTHROPIC_BASE_URL": url}
    out = suite.parent / "out.json"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "autoresearch", "eval", str(suite), "--no-cache", "--json", str(out)],
                   env=env, check=False, capture_output=True)
    seconds = time.perf_counter() - started
    data = json.loads(out.read_text())
    return seconds, data["seconds"], data["overall"]["rate"]


def sdk_import_seconds(code: str, repeats: int = 3) -> float:
    """Median wall time of `code` in a fresh interpreter (issue 26, item 10: start-up is part of every eval)."""
    probe = f"import time\nstarted = time.perf_counter()\n{code}\nprint(time.perf_counter() - started)"
    times = sorted(float(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                        check=True).stdout) for _ in range(repeats))
    return times[len(times) // 2]


def node_env() -> dict[str, str]:
    """The environment with the harness install's Node first on PATH when there is one (the system's may be too
    old for promptfoo: npm then picks an older promptfoo, and a newer one refuses to start)."""
    if not (HARNESS_BIN / "node").exists():
        return dict(os.environ)
    return {**os.environ, "PATH": f"{HARNESS_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def install_promptfoo() -> Path | None:
    binary = PROMPTFOO_DIR / "node_modules/.bin/promptfoo"
    if not binary.exists() and shutil.which("npm"):
        PROMPTFOO_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(PROMPTFOO_DIR), "promptfoo"],
                       capture_output=True, env=node_env())
    return binary if binary.exists() else None


def theirs(binary: Path, folder: Path, url: str) -> tuple[float, float]:
    config = {"prompts": ["{{input}}"],
              "providers": [{"id": "http", "config": {
                  "url": f"{url}/v1/messages", "method": "POST",
                  "headers": {"content-type": "application/json", "x-api-key": "test",
                              "anthropic-version": "2023-06-01"},
                  "body": {"model": "claude-fake-1", "max_tokens": 256,
                           "system": "Repeat the input.", "messages": [{"role": "user", "content": "{{prompt}}"}]},
                  "transformResponse": "json.content[0].text"}}],
              "tests": [{"vars": {"input": f"item {i} is {'odd' if i % 2 else 'even'}"},
                         "assert": [{"type": "contains", "value": "odd"}]} for i in range(INPUTS)]}
    path = folder / "promptfooconfig.json"
    path.write_text(json.dumps(config))
    out = folder / "promptfoo-out.json"
    env = {**node_env(), "PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1",
           "PROMPTFOO_CONFIG_DIR": str(folder / ".pf"), "PROMPTFOO_DISABLE_SHARING": "1"}
    started = time.perf_counter()
    subprocess.run([str(binary), "eval", "-c", str(path), "-j", str(CONCURRENCY), "--repeat", str(RUNS),
                    "--no-cache", "--no-progress-bar", "-o", str(out)], cwd=folder, env=env, capture_output=True)
    seconds = time.perf_counter() - started
    stats = json.loads(out.read_text())["results"]["stats"]
    return seconds, stats["successes"] / max(1, stats["successes"] + stats["failures"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--pairs", type=int, default=3, help="runs of ours and promptfoo in turn")
    parser.add_argument("--no-promptfoo", action="store_true")
    args = parser.parse_args()
    calls = INPUTS * RUNS
    ideal = calls / CONCURRENCY * args.latency
    report: dict[str, object] = {"calls": calls, "concurrency": CONCURRENCY, "latency_s": args.latency,
                                 "ideal_s": ideal}
    binary = None if args.no_promptfoo else install_promptfoo()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        suite = write_suite(folder)
        runs, pf_runs = [], []
        for _ in range(max(1, args.pairs) if binary else 1):  # ours and promptfoo in turn: a drift hits both
            server = Server(args.latency)
            seconds, evaluation, rate = ours(suite, server.url)
            stats = server.stop()
            runs.append((seconds, evaluation))
            if binary:
                server = Server(args.latency)
                pf_runs.append(theirs(binary, folder, server.url))
                server.stop()
        seconds = statistics.median(s for s, _ in runs)
        evaluation = statistics.median(e for _, e in runs)
        report["ours"] = {"cli_seconds": round(seconds, 3), "evaluation_seconds": round(evaluation, 3),
                          "startup_seconds": round(statistics.median(s - e for s, e in runs), 3),
                          "ratio_to_ideal": round(evaluation / ideal, 3), "pass_rate": rate,
                          "max_in_flight": stats["max_in_flight"], "runs": [round(s, 3) for s, _ in runs]}
        print(f"ours:      evaluation {evaluation:.2f} s for {calls} calls (ideal {ideal:.2f} s): "
              f"{evaluation / ideal:.2f}x ideal (goal <= 1.10); whole CLI {seconds:.2f} s with start-up and cost "
              f"preview (median of {len(runs)}); pass rate {rate:.1%}, {stats['max_in_flight']} in flight at most")
        report["sdk_import"] = {"whole_sdk_s": round(sdk_import_seconds("import anthropic"), 3),
                                "client_only_s": round(sdk_import_seconds(
                                    "from autoresearch.models.sdk import client_sdk\nclient_sdk()"), 3)}
        print(f"SDK import: whole package {report['sdk_import']['whole_sdk_s']:.2f} s, the client alone (what "
              f"eval loads) {report['sdk_import']['client_only_s']:.2f} s")
        if binary:
            pf_seconds = statistics.median(s for s, _ in pf_runs)
            pf_rate = pf_runs[-1][1]
            ratios = sorted(s / p for (s, _), (p, _) in zip(runs, pf_runs))
            version = json.loads((PROMPTFOO_DIR / "node_modules/promptfoo/package.json").read_text())["version"]
            report["promptfoo"] = {"version": version, "seconds": round(pf_seconds, 3), "ratio_to_ideal": round(pf_seconds / ideal, 3),
                                   "pass_rate": pf_rate, "runs": [round(p, 3) for p, _ in pf_runs],
                                   "ours_over_promptfoo": round(statistics.median(ratios), 3),
                                   "ours_over_promptfoo_min_max": [round(ratios[0], 3), round(ratios[-1], 3)]}
            print(f"promptfoo {version}: {pf_seconds:.2f} s, {pf_seconds / ideal:.2f}x ideal, pass rate {pf_rate:.1%}; "
                  f"ours / promptfoo, {len(ratios)} pairs: min {ratios[0]:.2f}, median {statistics.median(ratios):.2f},"
                  f" max {ratios[-1]:.2f} (goal <= 0.5)")
        else:
            print("promptfoo: not measured (npm missing or --no-promptfoo)")
        server = Server(args.latency, fault_rate=0.2)
        fault_seconds, _, fault_rate = ours(suite, server.url)
        stats = server.stop()
        retries = stats["requests"] - calls
        report["faults"] = {"seconds": round(fault_seconds, 3), "pass_rate": fault_rate, "faults": stats["faults"],
                            "retries": retries, "same_pass_rate": fault_rate == rate}
        print(f"faults:    20% of requests failed ({stats['faults']} faults), {retries} retries, pass rate "
              f"{fault_rate:.1%} ({'equal to' if fault_rate == rate else 'DIFFERENT from'} fault-free), "
              f"{fault_seconds:.2f} s")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "backends.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
