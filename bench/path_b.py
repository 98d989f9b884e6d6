"""Path B inside an agent's tool call: wall time of each command the create skill shows, on claude-code:sim.

The commands are taken from skills/autoresearch-create/SKILL.md (the shared part, then path B) and run as the
agent would, with bash, in a copy of examples/harness whose suite is named as the placeholders give; `wait` is
run again while it exits 4 (still running). Figures: seconds per command (each call of it), the largest, and the
canary's probe cell. Writes bench/results/path_b.json. Needs `make harness`. One run, a few minutes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".harness" / "node_modules" / ".bin"
sys.path.insert(0, str(ROOT / "tests"))

from test_newuser import fill, skill_commands  # noqa: E402


def main() -> None:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    parts = dict(skill_commands((ROOT / "skills/autoresearch-create/SKILL.md").read_text()))
    commands = parts[""] + next(c for h, c in parts.items() if h.startswith("B."))
    rows, probe = [], None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        shutil.copytree(ROOT / "examples/harness", root / "evals")
        (root / "evals/suite.yaml").rename(root / "evals/meeting-notes.yaml")
        for command in commands:
            values = {}
            if "<id>" in command:
                plan = json.loads(subprocess.run([sys.executable, "-m", "autoresearch", "next", "meeting-notes",
                                                  "--json"], cwd=root, env=env, capture_output=True, text=True).stdout)
                (root / "new-section.md").write_text(plan["body"] + "\n- Always run the script first.\n")
                values["<id>"] = plan["section"]
            line = fill(command, values)
            for _ in range(10):
                started = time.monotonic()
                done = subprocess.run(["bash", "-c", line], cwd=root, env=env, capture_output=True, text=True)
                rows.append({"command": command, "seconds": round(time.monotonic() - started, 2),
                             "exit": done.returncode})
                found = re.search(r"probe cell ([\d.]+)s", done.stderr)
                probe = float(found.group(1)) if found else probe
                if not (command.startswith("autoresearch wait") and done.returncode == 4):
                    break
    result = {"target": "claude-code:sim", "commands": rows, "max_seconds": max(r["seconds"] for r in rows),
              "probe_cell_seconds": probe, "tool_call_limit_seconds": 120}
    out = ROOT / "bench/results/path_b.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    for r in rows:
        print(f"{r['seconds']:7.1f}s  exit {r['exit']}  {r['command'][:90]}")
    print(f"largest {result['max_seconds']}s (limit 120 s); probe cell {probe}s; wrote {out}")


if __name__ == "__main__":
    main()
