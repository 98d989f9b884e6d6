"""A check's time bound holds: a catastrophic regex and a looping python check stop at 1 second.

Times each bounded check on its own, then a whole `autoresearch eval` whose every output makes
`(a|aa)+$` backtrack for ever and whose python check loops: it must finish, with error cells.
A regex check is bounded in CPU seconds (the `regex` module's timeout), a python check in wall
seconds (its worker is killed); on a loaded machine a regex's wall time is longer than its CPU
time, so both are reported. Writes bench/results/check_bound.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from autoresearch.suite.checks import Check, CheckError, run_check
from autoresearch.suite.isolation import Limits, PythonCheck

BOUND = 1.0
EVIL = "a" * 64 + "b"  # (a|aa)+$ tries ~fib(64) ways to match this before it fails


def timed(check: Check, output: str) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds of this process, and what the check said."""
    started, cpu = time.perf_counter(), time.process_time()
    try:
        run_check(check, output)
        outcome = "answered"
    except CheckError as exc:
        outcome = str(exc)
    return time.perf_counter() - started, time.process_time() - cpu, outcome


def main() -> None:
    results: dict = {"bound_s": BOUND}
    regex = [timed(Check("regex", r"(a|aa)+$", seconds=BOUND), EVIL) for _ in range(5)]
    results["regex_cpu_s"] = [round(c, 3) for _, c, _ in regex]
    results["regex_wall_s"] = [round(s, 3) for s, _, _ in regex]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "loop.py").write_text("def forever(output):\n    while True:\n        pass\n")
        looping = PythonCheck(folder / "loop.py", "forever", Limits(BOUND))
        python = [timed(Check("python", "loop.py:forever", function=looping, seconds=BOUND), EVIL) for _ in range(3)]
        looping.close()
        results["python_loop_wall_s"] = [round(s, 3) for s, _, _ in python]
        results["outcomes"] = sorted({o for _, _, o in regex + python})
        (folder / "skill").mkdir()
        (folder / "skill/SKILL.md").write_text("---\nname: skill\ndescription: A test. Use when testing.\n---\n# S\n\nSay a.\n")
        (folder / "model.py").write_text(f"print({EVIL!r})\n")
        inputs = "\n".join(f"  - {{id: i{n}, text: 'go {n}'}}" for n in range(4))
        (folder / "suite.yaml").write_text(textwrap.dedent(f"""\
            skill: skill/SKILL.md
            runs: 1
            check_timeout: {BOUND}
            model: "command:{sys.executable} model.py"
            inputs:
            """) + inputs + textwrap.dedent("""
            evals:
              - {id: backtracks, question: 'Does it hold?', check: {type: regex, value: '(a|aa)+$'}}
              - {id: loops, question: 'Does it hold?', check: {type: python, value: 'loop.py:forever'}}
            """))
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "autoresearch", "eval", "suite.yaml", "--no-cache", "--json",
                               "r.json"], cwd=folder, capture_output=True, text=True, timeout=120)
        results["eval_s"] = round(time.perf_counter() - started, 2)
        if not (folder / "r.json").exists():
            sys.exit(f"eval wrote no result: {done.stderr[-2000:]}")
        cells = json.loads((folder / "r.json").read_text())["cells"]
        results["eval_exit"] = done.returncode
        results["eval_cells"] = len(cells)
        results["eval_error_cells"] = sum(c["status"] == "error" for c in cells)
    worst = max(results["regex_cpu_s"] + results["python_loop_wall_s"])
    results["worst_bounded_s"] = worst
    results["load_average"] = round(__import__("os").getloadavg()[0], 1)
    results["holds"] = worst < BOUND + 0.5 and results["eval_error_cells"] == results["eval_cells"]
    print(f"regex (a|aa)+$ on {len(EVIL)} chars: CPU {results['regex_cpu_s']} s, wall {results['regex_wall_s']} s; "
          f"looping python check: wall {results['python_loop_wall_s']} s (bound {BOUND} s, "
          f"load average {results['load_average']} on {__import__('os').cpu_count()} cores)")
    print(f"eval of {results['eval_cells']} such cells: {results['eval_s']} s, exit {results['eval_exit']}, "
          f"{results['eval_error_cells']} error cells; bound holds: {results['holds']}")
    out = Path(__file__).parent / "results" / "check_bound.json"
    out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
