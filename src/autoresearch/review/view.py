"""`autoresearch view`: a local live dashboard of a run (or of an `eval --json` result) on 127.0.0.1.

One page, assets inline (no CDN). The server renders the same HTML as the static report; a few
lines of script poll `/poll` once a second and swap in a fresh body when the journal grows or the
run's state changes, and fetch any version's outputs for the outputs browser.
"""

from __future__ import annotations

import html
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from ..errors import AutoresearchError
from ..evaluate.cells import Cell
from ..runs.journal import RunDir, best_entry
from .html import _page, outputs_table, report_body
from .report import _pct
from .results import read_result

POLL_MS = 1000

_SCRIPT = """<script>
(function () {
  var token = document.body.dataset.token, updates = 0;
  var live = document.getElementById('live'), pick = document.getElementById('version');
  var outputs = document.getElementById('outputs'), conn = document.getElementById('connection');
  function setVersions(versions) {
    if (!pick) return;
    var chosen = pick.value;
    pick.innerHTML = '';
    versions.forEach(function (v) {
      var o = document.createElement('option'); o.value = v[0]; o.textContent = v[1]; pick.appendChild(o);
    });
    if (versions.some(function (v) { return v[0] === chosen; })) pick.value = chosen;
  }
  function show(version) {
    fetch('outputs?v=' + encodeURIComponent(version)).then(function (r) { return r.text(); })
      .then(function (t) { outputs.innerHTML = t; outputs.dataset.version = version; });
  }
  if (pick) pick.addEventListener('change', function () { show(pick.value); });
  live.addEventListener('toggle', function (event) {
    var d = event.target;
    if (!d.classList || !d.classList.contains('diff') || !d.open || d.dataset.loaded) return;
    fetch('diff?id=' + d.dataset.id).then(function (r) { return r.text(); })
      .then(function (t) { d.insertAdjacentHTML('beforeend', t); d.dataset.loaded = '1'; });
  }, true);
  function tick() {
    fetch('poll').then(function (r) { return r.json(); }).then(function (p) {
      if (conn.textContent !== p.header) conn.textContent = p.header;
      var state = document.getElementById('run-state');
      if (state && p.state && state.textContent !== p.state) state.textContent = p.state;
      if (p.token === token) return;
      return fetch('body').then(function (r) { return r.json(); }).then(function (b) {
        live.innerHTML = b.html; setVersions(b.versions); token = b.token;
        document.body.dataset.token = token; document.body.dataset.updates = String(++updates);
      });
    }).catch(function () { conn.textContent = 'disconnected: is autoresearch view still running?'; })
      .then(function () { setTimeout(tick, %d); });
  }
  setTimeout(tick, %d);
})();
</script>""" % (POLL_MS, POLL_MS)


def _cells_from(run: RunDir, digest: str, split: str) -> tuple[list, dict, dict]:
    """A version's cells of one split, its outputs (harness outcomes where stored) and each input's split."""
    cells, outputs = run.load_cells(digest, split) or ([], {})
    return cells, {**outputs, **run.load_traces(digest, split)}, {c.input_id: split for c in cells}


class RunSource:
    """A run directory, re-read when its journal or state changes."""

    header = "live"  # the page follows the run as it goes

    def __init__(self, run: RunDir):
        self.run = run
        self._cache: tuple[str, dict] | None = None
        self._lock = threading.Lock()
        self._entries: list[dict] = []
        self._offset = 0  # bytes of the journal already read: it only ever grows
        self._lines = 0  # lines read, to name a corrupt one

    def entries(self) -> list[dict]:
        """The journal, reading only the complete lines appended since the last call."""
        path = self.run.path / "journal.jsonl"
        if not path.exists():
            return self._entries
        if path.stat().st_size < self._offset:  # replaced, not appended to: read it again
            self._entries, self._offset, self._lines = [], 0, 0
        with open(path, "rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        from ..errors import input_error
        from ..runs.journal import journal_entry_shape

        complete = data[: data.rfind(b"\n") + 1]
        added = []
        for number, line in enumerate(complete.splitlines(), self._lines + 1):
            try:
                added.append(json.loads(line))
            except (ValueError, RecursionError):
                added.append(None)
            if not journal_entry_shape(added[-1]):
                raise input_error(str(path), "corrupt journal line: not an attempt as the loop writes it", number)
        self._entries = self._entries + added
        self._offset += len(complete)
        self._lines += len(added)
        return self._entries

    def _token(self, state) -> str:
        """Changes when the page must be re-rendered: a journal line appended, the run started or stopped.

        The stage of a running run changes every second; the page shows it from the poll's `state` instead.
        """
        journal = self.run.path / "journal.jsonl"
        size = journal.stat().st_size if journal.exists() else 0
        return f"{size}:{state.state}:{state.why}"

    def poll(self) -> dict:
        """The page's token and the run's state line, from one look at the run's liveness."""
        from ..runs.live import run_state

        state = run_state(self.run.path)
        return {"token": self._token(state), "state": str(state), "header": self.header}

    def snapshot(self) -> dict:
        """The body HTML, version list and token, rendered once per change of the token."""
        from ..runs.live import run_state
        from .html import run_files

        liveness = run_state(self.run.path)
        token = self._token(liveness)
        with self._lock:
            if self._cache and self._cache[0] == token:
                return self._cache[1]
            entries = self.entries()
            state = str(liveness)
            if entries:
                html_body = report_body(self.run.id, entries, self.run.config(),
                                        run_files(self.run, entries, cells=False), state, live=True)
            else:
                html_body = (f"<h1>autoresearch run {html.escape(self.run.id)}</h1><p>No experiment recorded yet "
                             f"(<span id='run-state'>{html.escape(state)}</span>).</p>")
            data = {"token": token, "html": html_body, "versions": self.versions(entries),
                    "best": best_entry(entries)["skill_after"] if entries else ""}
            self._cache = (token, data)
            return data

    def versions(self, entries: list[dict]) -> list[list[str]]:
        """Every version whose outputs are stored: the baseline, each keep, each decided candidate."""
        seen, out = set(), []
        for e in reversed(entries):
            digest = e["skill_after"] if e["decision"] in ("baseline", "keep") else e.get("candidate")
            if not digest or digest in seen or not (self.run.path / "cells" / f"{digest}.json").exists():
                continue
            seen.add(digest)
            score = f"train {_pct(e['scores'].get('train'))}" if e["scores"].get("train") else ""
            out.append([digest, f"#{e['id']} {e['decision']}: {score} ({digest[:8]})"])
        return out

    def diff(self, attempt: str) -> str:
        """One attempt's section diff, fetched when its <details> is opened."""
        from .diffs import diff_html

        entries = self.entries()
        index = int(attempt) if attempt.isdigit() else -1
        if not 0 <= index < len(entries) or not entries[index].get("diff"):
            return "<p>No diff.</p>"
        return diff_html(entries[index]["diff"])

    def outputs(self, digest: str) -> str:
        if not all(ch in "0123456789abcdef" for ch in digest) or not digest:
            return "<p>No such version.</p>"
        train = _cells_from(self.run, digest, "train")
        holdout = _cells_from(self.run, digest, "holdout")
        if not train[0] and not holdout[0]:
            return "<p>No outputs stored for this version.</p>"
        return outputs_table(train[0] + holdout[0], {**train[1], **holdout[1]}, {**train[2], **holdout[2]})


class ResultSource:
    """An `autoresearch eval --json` result file, shown the same way (re-read when the file changes)."""

    header = "eval result (a finished evaluation; reloaded if the file is rewritten)"

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._cache: tuple[str, dict] | None = None

    def token(self) -> str:
        stat = self.path.stat()
        return f"{stat.st_size}:{stat.st_mtime_ns}"

    def poll(self) -> dict:
        """The page's token; a result file has no run state."""
        return {"token": self.token(), "state": "", "header": self.header}

    def _load(self) -> tuple[dict, list[Cell], dict, dict]:
        data = read_result(self.path)
        cells = [Cell(c["input"], c["eval"], c["run"], c["status"], c.get("reason", "")) for c in data["cells"]]
        outputs = {(o["input"], o["run"]): o if "tool_calls" in o else o.get("text", "") for o in data.get("outcomes", [])}
        splits = {k: v.get("split", "") for k, v in data.get("inputs", {}).items()}
        return data, cells, outputs, splits

    def snapshot(self) -> dict:
        token = self.token()
        with self._lock:
            if self._cache and self._cache[0] == token:
                return self._cache[1]
            data, cells, outputs, splits = self._load()
            self._cache = (token, {"token": token, "html": result_body(data, cells, splits), "versions": [["result", "this result"]],
                                   "best": "result"})
            return self._cache[1]

    def outputs(self, digest: str) -> str:
        _, cells, outputs, splits = self._load()
        return outputs_table(cells, outputs, splits)


def result_body(data: dict, cells: list[Cell], splits: dict[str, str]) -> str:
    """An eval result as the dashboard shows it: setup, rates per split, per eval and split."""
    from ..evaluate.cells import rate_of

    esc = html.escape
    rows = []
    for eval_id, rate in data.get("evals", {}).items():
        per_split = []
        for split in ("train", "holdout"):
            chosen = [c for c in cells if c.eval_id == eval_id and splits.get(c.input_id) == split]
            per_split.append(_pct(rate_of(chosen).to_dict()) if chosen else "–")
        rows.append(f"<tr class='eval-row'><td>{esc(eval_id)}</td><td>{_pct(rate)}</td><td>{per_split[0]}</td>"
                    f"<td>{per_split[1]}</td></tr>")
    overall = data.get("overall", {})
    splits_text = ", ".join(f"{k} {_pct(v)}" for k, v in data.get("splits", {}).items())
    return (f"<h1>autoresearch eval: {esc(str(data.get('suite', '')))}</h1>"
            f"<table class='meta'><tr><td>skill</td><td>{esc(str(data.get('skill_path', '')))}</td></tr>"
            f"<tr><td>model</td><td>{esc(str(data.get('model', '')))}</td></tr>"
            f"{_ran_rows(data.get('provenance') or {})}"
            f"<tr><td>runs</td><td>{len(data.get('runs', []))}</td></tr>"
            f"<tr><td>spend</td><td>{data.get('spend', {}).get('calls', 0)} calls, "
            f"${data.get('spend', {}).get('cost_usd', 0):.4f}, {data.get('seconds', 0):.1f}s</td></tr></table>"
            f"<p class='stats'><span>overall <b>{_pct(overall or None)}</b></span><span>{esc(splits_text)}</span></p>"
            "<h2>Per eval</h2><table id='evals'><tr><th>eval</th><th>all</th><th>train</th><th>holdout</th></tr>"
            f"{''.join(rows)}</table>{_uplift_html(data.get('uplift'))}")


def _uplift_html(uplift: dict | None) -> str:
    """An `eval --against` result's uplift: per eval and overall, both rates, the difference and the verdict."""
    if not uplift:
        return ""
    esc = html.escape
    rows = "".join(f"<tr class='uplift-row'><td>{esc(k)}</td><td>{d['with_skill']:.1%}</td><td>{d['without']:.1%}</td>"
                   f"<td>{100 * d['difference']:+.1f} [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}]</td>"
                   f"<td>{esc(d['verdict'])}</td></tr>"
                   for k, d in [*uplift["evals"].items(), ("overall", uplift["overall"])])
    versus = "no skill" if uplift["against"] == "none" else uplift["against"]
    return (f"<h2>Uplift over {esc(versus)}</h2><table id='uplift'><tr><th>eval</th><th>skill</th><th>other</th>"
            f"<th>difference, points [95%]</th><th>verdict</th></tr>{rows}</table>")


def _ran_rows(record: dict) -> str:
    """Rows naming what ran per role (target, judge, mutator), from the result's provenance."""
    from ..evaluate.provenance import ROLES, short

    return "".join(f"<tr><td>{role} ran</td><td>{html.escape(short(record[role]))}</td></tr>"
                   for role in ROLES if role in record)


def page(source: Any) -> str:
    """The whole dashboard: the live body, the outputs browser (best version first) and the polling script."""
    snap = source.snapshot()
    options = "".join(f"<option value='{html.escape(v)}'{' selected' if v == snap['best'] else ''}>{html.escape(label)}"
                      "</option>" for v, label in snap["versions"])  # the picker starts on the version shown
    first = source.outputs(snap["best"]) if snap["best"] else "<p>No outputs yet.</p>"
    body = (f"<p><small>autoresearch view · <span id='connection'>{html.escape(source.header)}</span></small></p>"
            f"<div id='live'>{snap['html']}</div>\n<h2>Outputs</h2>\n<p>Version: <select id='version'>{options}</select>"
            f"</p>\n<div id='outputs' class='heavy' data-version='{html.escape(snap['best'])}'>{first}</div>\n{_SCRIPT}")
    title = "autoresearch view"
    return _page(title, body).replace("<body>", f"<body data-token='{html.escape(snap['token'])}' data-updates='0'>", 1)


def local_host(host: str, port: int) -> bool:
    """Whether a request's Host header names this machine's loopback on our port: a page from another site
    that re-points its own name at 127.0.0.1 (DNS rebinding) sends its own name, and is refused."""
    return host.lower() in {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}


class _Handler(BaseHTTPRequestHandler):
    source: Any = None

    def do_GET(self) -> None:  # noqa: N802 (the http.server name)
        url = urlparse(self.path)
        try:
            if not local_host(self.headers.get("Host", ""), self.server.server_address[1]):
                self.send_error(403, "Host not allowed: open the dashboard at 127.0.0.1 or localhost")
            elif url.path == "/":
                self._send(page(self.source), "text/html")
            elif url.path == "/poll":
                self._send(json.dumps(self.source.poll()), "application/json")
            elif url.path == "/body":
                snap = self.source.snapshot()
                self._send(json.dumps({k: snap[k] for k in ("token", "html", "versions")}), "application/json")
            elif url.path == "/diff" and hasattr(self.source, "diff"):
                self._send(self.source.diff(parse_qs(url.query).get("id", [""])[0]), "text/html")
            elif url.path == "/outputs":
                self._send(self.source.outputs(parse_qs(url.query).get("v", [""])[0]), "text/html")
            else:
                self.send_error(404)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except AutoresearchError as exc:  # a run file went bad while the page is open: say which
            self.send_error(500, str(exc).replace("\n", " "))

    def _send(self, text: str, kind: str) -> None:
        data = text.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the terminal shows the URL only
        pass


@dataclass
class Dashboard:
    """A running dashboard server; `url` to open, `serve()` until Ctrl-C, `close()` to stop."""

    server: ThreadingHTTPServer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def serve(self) -> None:
        self.server.serve_forever(poll_interval=0.2)


def open_dashboard(target: str, runs_dir: Path = Path(".autoresearch"), port: int = 0) -> Dashboard:
    """Bind 127.0.0.1:`port` (0: a free one) for a run reference or an `eval --json` result file."""
    path = Path(target) if target else None
    source: Any = ResultSource(path) if path and path.is_file() and path.suffix == ".json" else \
        RunSource(RunDir.find(target, runs_dir))
    source.snapshot()  # bad input fails here, before the port is taken
    handler = type("Handler", (_Handler,), {"source": source})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return Dashboard(server)
