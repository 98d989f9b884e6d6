"""`autoresearch view`: the live dashboard in real headless Chromium, bound to 127.0.0.1, stopped by Ctrl-C."""

import json
import os
import select
import shutil
import signal
import subprocess
import sys

import pytest
from browser import Browser, dump_dom, find_chromium
from conftest import ROOT

from autoresearch.loop.experiment import Budget, LoopConfig, run_loop
from autoresearch.suite.suite import load_suite

CLI = [sys.executable, "-m", "autoresearch"]


def chromium():
    found = find_chromium()
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed; .ci/run installs it")
    pytest.skip("chromium is not installed (CI installs it)")


@pytest.fixture
def meeting(tmp_path):
    shutil.copytree(ROOT / "examples/meeting-notes", tmp_path / "examples/meeting-notes")
    shutil.copytree(ROOT / "evals", tmp_path / "evals")
    return tmp_path


def start_view(cwd, *args):
    """Start `autoresearch view` and return (process, url) once it prints where it listens."""
    proc = subprocess.Popen(CLI + ["view", *[str(a) for a in args]], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    assert ready, "view printed no URL within 60 s"
    line = proc.stdout.readline()
    assert line.startswith("dashboard: http://127.0.0.1:"), line + proc.stderr.read()
    return proc, line.split()[1]


def listening_addresses(port: int) -> set[str]:
    """The local addresses listening on `port`, from /proc/net/tcp and tcp6 (hex, as the kernel writes them)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for row in open(table).read().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def stop(proc):
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, err


def test_dashboard_renders_updates_live_and_stops_on_ctrl_c(meeting, tmp_path):
    browser = chromium()
    suite = load_suite(meeting / "evals/meeting-notes.yaml")
    run_dir, _ = run_loop(suite, LoopConfig(budget=Budget(experiments=8)), meeting / ".autoresearch", lambda line: None)
    entries = run_dir.entries()
    proc, url = start_view(meeting, run_dir.id)
    try:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1 only
        with Browser(browser, tmp_path / "profile") as page:
            page.navigate(url)
            assert page.evaluate("document.querySelectorAll('#score-chart .mark').length") == len(entries)
            assert page.evaluate("document.querySelectorAll('#evals .eval-row').length") == len(suite.evals)
            assert page.evaluate("document.querySelectorAll('#attempts .attempt-row').length") == len(entries) - 1
            holdout_cells = page.evaluate("Array.from(document.querySelectorAll('#evals .eval-row')).map("
                                          "r => r.children[3].textContent)")
            assert all(c.endswith("%") for c in holdout_cells)  # per-eval holdout, not dashes
            # the outputs browser shows the best version's outputs in full, train and holdout
            best = [e for e in entries if e["decision"] in ("baseline", "keep")][-1]["skill_after"]
            stored = json.loads((run_dir.path / "cells" / f"{best}.json").read_text())
            longest = max((o[2] for o in stored["outputs"]), key=len)
            assert len(longest) > 300
            assert page.evaluate(f"document.getElementById('outputs').textContent.includes({json.dumps(longest)})")
            rows = page.evaluate("document.querySelectorAll('#outputs .output-row').length")
            holdout = json.loads((run_dir.path / "cells" / f"{best}.holdout.json").read_text())
            assert rows == len(stored["outputs"]) + len(holdout["outputs"]) > len(suite.inputs) * suite.runs
            # another version, chosen in the browser, is fetched and shown
            discard = next(e for e in entries if e["decision"] == "discard")
            page.evaluate(f"(function(){{var s=document.getElementById('version'); s.value={json.dumps(discard['candidate'])};"
                          "s.dispatchEvent(new Event('change'));})()")
            assert page.wait_for(f"document.getElementById('outputs').dataset.version === {json.dumps(discard['candidate'])}")
            # an attempt's diff is fetched when it is opened
            with_diff = next(e for e in entries if e["diff"])
            page.evaluate(f"document.querySelector('details.diff[data-id=\"{with_diff['id']}\"]').open = true")
            added = next(line[1:] for line in with_diff["diff"].splitlines() if line.startswith("+") and
                         not line.startswith("+++") and len(line) > 12)
            assert page.wait_for(f"(document.querySelector('details.diff[data-id=\"{with_diff['id']}\"] pre.diff') || "
                                 f"{{}}).textContent.includes({json.dumps(added)})")
            # a journal line appended by a running loop appears without a reload
            extra = dict(entries[-1], id=len(entries), decision="refused", reason="a live test line",
                         hypothesis="appended while the page is open", diff="")
            with open(run_dir.path / "journal.jsonl", "a") as journal:
                journal.write(json.dumps(extra) + "\n")
            assert page.wait_for(f"document.querySelectorAll('#score-chart .mark').length === {len(entries) + 1}")
            assert page.evaluate("document.body.innerText.includes('appended while the page is open')")
            assert int(page.evaluate("document.body.dataset.updates")) >= 1
            shot = tmp_path / "dashboard.png"
            page.screenshot(shot)
            assert shot.stat().st_size > 20_000
    finally:
        code, err = stop(proc)
    assert code == 0 and "stopped" in err


def test_view_shows_an_eval_result_file(meeting, tmp_path):
    browser = chromium()
    result = tmp_path / "result.json"
    done = subprocess.run(CLI + ["eval", "evals/meeting-notes.yaml", "--runs", "2", "--json", str(result)],
                          cwd=meeting, capture_output=True, text=True)
    assert done.returncode in (0, 1), done.stderr
    data = json.loads(result.read_text())
    assert len(data["outcomes"]) == len(data["inputs"]) * 2
    proc, url = start_view(meeting, result)
    try:
        dom = dump_dom(browser, url, tmp_path / "profile")
    finally:
        stop(proc)
    assert dom.count('class="eval-row"') == len(data["evals"])
    assert dom.count('class="output-row"') == len(data["inputs"]) * 2
    longest = max((o["text"] for o in data["outcomes"]), key=len)
    first_line = longest.splitlines()[0]
    assert first_line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in dom


def test_view_of_a_bad_file_is_exit_2_and_listens_on_nothing(tmp_path):
    bad = tmp_path / "nope.json"
    bad.write_text('{"schema": "other"}')
    done = subprocess.run(CLI + ["view", str(bad)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and str(bad) in done.stderr and "Traceback" not in done.stderr
    missing = subprocess.run(CLI + ["view"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "cannot find" in missing.stderr


def test_outputs_browser_shows_a_harness_agents_tool_calls_and_files(tmp_path, monkeypatch):
    browser = chromium()
    bin_dir = ROOT / ".harness" / "node_modules" / ".bin"
    if not (bin_dir / "claude").exists():
        if os.environ.get("CI"):
            pytest.fail(f"{bin_dir / 'claude'} is missing: `make test` installs the harnesses")
        pytest.skip("claude is not installed (run `make harness`)")
    project = tmp_path / "project"
    shutil.copytree(ROOT / "examples/harness", project)
    suite = project / "suite.yaml"
    suite.write_text(suite.read_text().replace("runs: 2", "runs: 1"))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(CLI + ["run", "suite.yaml", "--baseline-only", "--run-id", "h"], cwd=project,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    failing = subprocess.run(CLI + ["eval", "suite.yaml", "--show-failures"], cwd=project, capture_output=True,
                             text=True, timeout=600)
    assert "--- what the agent did ---" in failing.stdout and "scripts/tally.py" in failing.stdout
    proc, url = start_view(project, "h")
    try:
        with Browser(browser, tmp_path / "profile") as page:
            page.navigate(url)
            calls = page.evaluate("Array.from(document.querySelectorAll('#outputs ol.tool-calls li')).map(li => li.textContent)")
            assert any("Bash" in c and "scripts/tally.py" in c for c in calls), calls
            files = page.evaluate("Array.from(document.querySelectorAll('#outputs details.file')).map(d => d.textContent)")
            assert any("count.txt" in f and "2 open items" in f for f in files), files
            assert page.evaluate("document.getElementById('outputs').textContent.includes('skill used')")
    finally:
        stop(proc)
