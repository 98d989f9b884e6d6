"""The real Claude Code and pi as targets: each cell runs the CLI headless in a fresh workspace.

Per cell: a temporary folder with the WHOLE skill folder installed where the harness finds it (with
the candidate SKILL.md), the input's fixture files copied in, then the CLI with a timeout, a bound on
turns and the suite's allowed tools. Its JSON event stream gives the tool calls, the final text, turns,
tokens and cost; the files it created or changed are read back. A crash, a hang or a stream that does
not parse is an error (ModelError), never a fail. `claude-code:sim` and `pi:sim` run the real binaries
against a local Messages-API server answered by the simulator.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError, input_error
from ..models import Usage
from ..models.outcome import Outcome, ToolCall, capped
from ..sandbox import cell_prefix, confine, for_cells, remove_stale_cells
from . import SkillUnderTest

MAX_SKILL_BYTES = 20_000_000  # "20 MB", as the README and the message say


NOT_COPIED = (".git", ".autoresearch", "__pycache__")  # never copied into a workspace, so never counted


MAX_FILE_CHARS = 64 * 1024


MAX_FILES = 100


SKILL_ROOTS = (".claude", ".pi", ".agents", ".gemini", ".opencode")  # where the harnesses' skills are installed


SIM_MODEL = "claude-sim-1"


# Variables a `:sim` cell does not inherit: they could point a harness at a real service or a real login.
SIM_CLEARED = ("ANTHROPIC_", "CLAUDE", "PI_", "OPENAI_", "CODEX_", "GEMINI_", "GOOGLE_", "OPENCODE_", "XDG_")


@dataclass(frozen=True)
class Events:
    """What a harness's event stream said, reduced to what an Outcome needs."""

    text: str
    calls: tuple[ToolCall, ...]
    skill_used: bool
    turns: int
    usage: Usage
    cost: float
    stop_reason: str
    error: str | None = None


CLAUDE_EXIT = re.compile(r"\A(?:Error: )?Exit code (\d+)\n?")  # how Claude Code's Bash reports a failed command


PI_EXIT = re.compile(r"\n*Command exited with code (\d+)\s*\Z")  # how pi's bash does


def _content_text(content) -> str:
    """A tool result's content as text: a string, or the text of its text blocks."""
    if isinstance(content, str):
        return content
    return "\n".join(str(b.get("text", "")) for b in content or [] if isinstance(b, dict) and b.get("type") == "text")


def _with_result(call: ToolCall, output: str, is_error: bool, exit_pattern: re.Pattern) -> ToolCall:
    """`call` with what it returned: the output (capped), the error flag and, for a shell command, its exit code."""
    exit_code = None
    if call.command() is not None:
        found = exit_pattern.search(output)
        exit_code = int(found.group(1)) if found else (None if is_error else 0)
        output = exit_pattern.sub("", output, count=1) if found else output
    return dataclasses.replace(call, output=capped(output), is_error=is_error, exit_code=exit_code)


def node_env(binary: str) -> dict[str, str]:
    """What a harness process needs in its environment: the binary's own folder first on PATH (`make harness`
    installs the node that pi 1.x needs beside it; resolved, as a project's .harness may be a link into a folder
    the sandbox hides), and no node compile cache left behind in the user's temp folder."""
    return {"PATH": os.pathsep.join([os.path.realpath(os.path.dirname(binary)), os.environ.get("PATH", "")]),
            "NODE_DISABLE_COMPILE_CACHE": "1"}


@functools.lru_cache(maxsize=None)
def version_text(binary: str) -> str:
    """What `BINARY --version` prints, first line of stdout or else stderr ('' when it does not answer)."""
    env = {**os.environ, **node_env(binary)}
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60, env=env,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return ""
    return ((done.stdout.strip() or done.stderr.strip()).splitlines() or [""])[0]


def major_version(binary: str) -> int:
    """The major version a harness CLI reports, 0 when it says none."""
    match = re.search(r"(\d+)\.\d+", version_text(binary))
    return int(match.group(1)) if match else 0


def _same_file(path: str, skill_file: Path) -> bool:
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = skill_file.parents[3] / candidate  # relative to the workspace (work/.pi/skills/NAME/SKILL.md)
    return os.path.normpath(candidate) == os.path.normpath(skill_file)


def _json_lines(lines: list[str]):
    for line in lines:
        if line.strip():
            data = json.loads(line)  # a line that does not parse is the caller's error cell
            if isinstance(data, dict):
                yield data


def _blocks(message) -> list[dict]:
    content = message.get("content") if isinstance(message, dict) else None
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _mapping(value) -> dict:
    return value if isinstance(value, dict) else {}


def workspace_relative(calls: tuple[ToolCall, ...], work: Path) -> tuple[ToolCall, ...]:
    """Tool calls with the cell's throwaway workspace path written relative to it (`work/a.md` -> `a.md`).

    The temp folder's name differs every run: left in, it is noise to the mutator and a judge that sees
    the trace, and it makes their prompts (and so the cache and the simulator's draws) differ between runs.
    """
    roots = sorted({str(work), os.path.realpath(work)}, key=len, reverse=True)

    def clean(value):
        if isinstance(value, str):
            for root in roots:
                value = value.replace(root + os.sep, "").replace(root, ".")
            return value
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return tuple(dataclasses.replace(call, input=clean(call.input), output=clean(call.output)) for call in calls)


def _int(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _float(value) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _usage(raw, keys) -> Usage:
    raw = raw if isinstance(raw, dict) else {}
    return Usage(*(_int(raw.get(k)) for k in keys))


def find_binary(flavour, given: str | None) -> str:
    """The harness CLI: the `binary` option, else PATH, else the `make harness` install under .harness/."""
    candidates = [given] if given else [shutil.which(flavour.binary),
                                        str(Path(".harness/node_modules/.bin") / flavour.binary)]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return os.path.abspath(candidate)  # the CLI runs inside each cell's workspace
    where = f"{given!r} is not an executable file" if given else f"`{flavour.binary}` is not on PATH"
    raise input_error("target", f"{flavour.name}: {where}. Install it with `npm install -g {flavour.package}` "
                      f"(or `make harness` in the autoresearch repository), or give its path as the model option "
                      f"`binary:`")


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Size and mtime of every file under `root`, except the installed skills."""
    found = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if rel.split("/")[0] in SKILL_ROOTS or not path.is_file() or path.is_symlink():
            continue
        stat = path.stat()
        found[rel] = (stat.st_size, stat.st_mtime_ns)
    return found


def changed_files(root: Path, before: dict[str, tuple[int, int]]) -> dict[str, str]:
    """Files the run created or changed, as text (capped), at most MAX_FILES of them."""
    files = {}
    for rel, stamp in sorted(snapshot(root).items()):
        if before.get(rel) == stamp:
            continue
        if len(files) >= MAX_FILES:
            break
        text = (root / rel).read_bytes()[:MAX_FILE_CHARS + 1].decode("utf-8", errors="replace")
        files[rel] = text if len(text) <= MAX_FILE_CHARS else text[:MAX_FILE_CHARS] + "\n…[truncated]"
    return files


def check_skill_folder(folder: Path, limit: int = MAX_SKILL_BYTES) -> None:
    """The skill folder is copied into every workspace: no links out of it, and not too large (what is not
    copied, such as `.git`, is not counted)."""
    total = 0
    for parent, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in NOT_COPIED]
        for name in dirs + files:
            path = Path(parent) / name
            if path.is_symlink():
                raise input_error(str(path), "the skill folder holds a symbolic link; harness targets copy the "
                                  "folder into each workspace and refuse links (replace it with the file)")
        total += sum((Path(parent) / name).stat().st_size for name in files)
    if total > limit:
        raise input_error(str(folder), f"the skill folder holds {total / 1e6:.1f} MB (not counting "
                          f"{', '.join(NOT_COPIED)}), over the {limit / 1e6:.0f} MB a harness target copies into "
                          "each workspace: is SKILL.md in its own folder?")


def skill_folder_problems(folders, severity: str = "error") -> list:
    """What `check_skill_folder` would refuse in each folder, as problems `validate` prints (a warning when no
    harness target is named yet)."""
    from ..errors import InputError, Problem

    problems = []
    for folder in folders:
        try:
            check_skill_folder(Path(folder))
        except InputError as exc:
            note = "" if severity == "error" else " (a harness target, claude-code or pi, will refuse it)"
            problems += [Problem(p.path, p.message + note, p.line, p.key, severity) for p in exc.problems]
    return problems


def stage_skill_folder(folder: Path, into: Path, keep_skill_md: bool = True) -> Path:
    """Copy a skill folder once per run (without what is never copied), its files made read-only: every
    cell's workspace hard-links them, so a write through one link would reach the other cells."""
    ignored = NOT_COPIED if keep_skill_md else (*NOT_COPIED, "SKILL.md")
    shutil.copytree(folder, into, symlinks=True, ignore=lambda d, names: [n for n in names if n in ignored
                                                                              and (n != "SKILL.md" or d == str(folder))])
    for parent, _, files in os.walk(into):
        for name in files:
            os.chmod(Path(parent) / name, 0o444 if not os.access(Path(parent) / name, os.X_OK) else 0o555)
    return into


def link_tree(staged: Path, target: Path) -> None:
    """Recreate `staged` at `target`: directories made, files hard-linked (copied where links are refused)."""
    def link(source: str, destination: str) -> None:
        try:
            os.link(source, destination)
        except OSError:
            shutil.copy2(source, destination)

    shutil.copytree(staged, target, symlinks=True, copy_function=link)


class HarnessTarget:
    """A harness CLI as a target (`claude-code`, `pi`, `codex`, `gemini`, `opencode`: the flavour says how to run and
    read it); options: mode (explicit | implicit), allowed_tools, max_turns, timeout (seconds), binary, concurrency,
    extra_args (more command-line arguments), sandbox."""

    def __init__(self, spec, flavour, keep_workspaces: bool = False):
        self.spec, self.flavour = spec, flavour
        self.model = spec.name.split(":", 1)[1] if ":" in spec.name else ""
        self.simulated = self.model == "sim"
        self.mode = str(spec.option("mode", "explicit"))
        tools = spec.option("allowed_tools")
        self.tools = tuple(tools.split() if isinstance(tools, str) else tools or flavour.default_tools)
        self.max_turns = int(spec.option("max_turns", 20))
        self.timeout = float(spec.option("timeout", 300))
        self.keep = keep_workspaces or bool(spec.option("keep_workspaces", False))
        self.binary = find_binary(flavour, spec.option("binary"))
        self.sandbox = for_cells(str(spec.option("sandbox", "auto")), self.simulated)
        remove_stale_cells()
        self.in_flight = int(spec.option("concurrency", 4))  # sessions at most, whoever asks
        self._limit = asyncio.Semaphore(self.in_flight)
        self._server = self._agent = None
        extra = spec.option("extra_args") or ()
        self.extra_args = tuple(extra.split() if isinstance(extra, str) else map(str, extra))
        self.transcripts: list[list[str]] | None = None  # the preflight canary sets a list: each run's raw events
        self._stages: dict[tuple[Path, bool], Path] = {}
        self._stage_root: Path | None = None

    def check(self, skill: SkillUnderTest) -> None:
        unknown = [t for t in self.tools if t not in self.flavour.tools]
        if unknown:
            raise input_error("target", f"{self.flavour.name}: unknown tool(s) {', '.join(map(repr, unknown))} in "
                              f"allowed_tools; {self.flavour.name} has {', '.join(self.flavour.tools)}")
        if self.mode not in ("explicit", "implicit"):
            raise input_error("target", f"{self.flavour.name}: mode must be explicit or implicit, got {self.mode!r}")
        for folder in ((skill.folder,) if skill.installed else ()) + skill.companions:
            check_skill_folder(folder)

    def _ensure_server(self):
        if self._server is None:
            from ..sim.agent import SimAgent
            from ..sim.server import MessagesServer

            self._agent = SimAgent(self.spec.seed)
            self._server = MessagesServer(reply=self._agent).__enter__()
        return self._server

    def _install(self, skill: SkillUnderTest, work: Path) -> Path:
        """The skill folder (with the candidate SKILL.md) and any distractor skills, where the harness looks:
        hard links to a copy made once per run, so a folder of thousands of files costs links, not copies."""
        for other in skill.companions:
            link_tree(self._staged(other, keep_skill_md=True), self.flavour.skill_dir(work, other.name))
        target = self.flavour.skill_dir(work, skill.name)
        if not skill.installed:  # the no-skill arm: the distractors only, the target skill nowhere
            return target / "SKILL.md"
        link_tree(self._staged(skill.folder, keep_skill_md=False), target)
        (target / "SKILL.md").write_text(skill.text, encoding="utf-8")  # its own file: never a shared link
        return target / "SKILL.md"

    def _staged(self, folder: Path, keep_skill_md: bool) -> Path:
        """The run's read-only copy of `folder`, made on first use."""
        key = (Path(folder).resolve(), keep_skill_md)
        if key not in self._stages:
            if self._stage_root is None:
                # named as a cell of this process is, so the next start removes it if a kill -9 left it
                self._stage_root = Path(tempfile.mkdtemp(prefix=cell_prefix(self.keep) + "skills"))
            self._stages[key] = stage_skill_folder(Path(folder), self._stage_root / str(len(self._stages)),
                                                   keep_skill_md)
        return self._stages[key]

    def _environment(self, root: Path, token: str) -> dict[str, str]:
        extra = {**node_env(self.binary), **(self.flavour.env() if hasattr(self.flavour, "env") else {})}
        if not self.simulated:
            return {**os.environ, **extra}
        home = root / "home"
        home.mkdir()
        server = self._ensure_server()
        base = {k: v for k, v in os.environ.items() if not k.startswith(SIM_CLEARED)}
        return {**base, **extra, "HOME": str(home),
                **self.flavour.sim_env(f"{server.url}/cell/{token}", home)}

    async def run(self, skill: SkillUnderTest, item, run: int) -> Outcome:
        async with self._limit:
            root = Path(tempfile.mkdtemp(prefix=cell_prefix(self.keep)))
            try:
                return await self._run_in(root, skill, item, run)
            except BaseException:
                if not self.keep:
                    shutil.rmtree(root, ignore_errors=True)
                raise

    async def _run_in(self, root: Path, skill: SkillUnderTest, item, run: int) -> Outcome:
        work = root / "work"
        work.mkdir()
        skill_file = self._install(skill, work)
        for rel, source in item.fixture_paths():
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, work / rel)
        before = snapshot(work)
        token = secrets.token_hex(8)
        env = {**self._environment(root, token), "PWD": str(work)}  # OpenCode takes its folder from PWD
        if self._agent:
            self._agent.register(token, run)
        explicit = self.mode == "explicit" and skill.installed
        prompt = self.flavour.explicit(skill.name, item.text) if explicit else item.text
        model = self.flavour.sim_model() if self.simulated else self.model
        argv = self.flavour.argv(self.binary, prompt, model, self.tools, self.max_turns) + list(self.extra_args)
        started = time.perf_counter()
        try:
            stdin = str(prompt).encode() if getattr(self.flavour, "stdin_prompt", False) else None
            lines, stderr, code = await self._execute(argv, work, env, stdin)
        finally:
            if self._agent:
                self._agent.forget(token)
        seconds = time.perf_counter() - started
        if self.transcripts is not None:
            self.transcripts.append(lines)
        try:
            events = self.flavour.parse(lines, skill.name, explicit, skill_file)
        except ValueError:
            bad = next((line for line in lines if line.strip() and not _parses(line)), "")
            raise ModelError(f"{self.flavour.binary} printed an event that does not parse: {bad[:200]!r}; "
                             f"stderr: {stderr[-300:]}") from None
        if events.error or (code != 0 and not events.text):
            raise ModelError(f"{self.flavour.binary} exited with {code}: {events.error or ''} {stderr[-300:]}".strip())
        if getattr(self.flavour, "turn_event", None) and events.turns > self.max_turns:
            events = Events(events.text, events.calls, events.skill_used, events.turns, events.usage, events.cost,
                            "max_turns")
        return Outcome(events.text, workspace_relative(events.calls, work), events.skill_used,
                       changed_files(work, before), max(1, events.turns), events.usage, 0.0 if self.simulated else events.cost, seconds, events.stop_reason,
                       workspace=str(work))

    async def _execute(self, argv: list[str], cwd: Path, env: dict,
                       stdin: bytes | None = None) -> tuple[list[str], str, int]:
        argv, env = confine(self.sandbox, self.flavour.name, cwd.parent, argv, env, self.simulated)
        try:
            proc = await asyncio.create_subprocess_exec(*argv, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL
                                                        if stdin is None else asyncio.subprocess.PIPE,
                                                        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                        start_new_session=True)
        except OSError as exc:
            raise ModelError(f"cannot run {argv[0]!r}: {exc.strerror}") from None
        lines: list[str] = []
        turns = 0
        marker = getattr(self.flavour, "turn_event", None)

        async def read_events() -> None:
            nonlocal turns
            assert proc.stdout is not None
            async for raw in proc.stdout:
                line = raw.decode("utf-8", errors="replace")
                lines.append(line)
                if marker and marker in line.replace(" ", ""):
                    turns += 1
                    if turns > self.max_turns:  # no --max-turns flag (pi, Codex, Gemini CLI, OpenCode): stop it here
                        _kill(proc)
                        return

        if stdin is not None:  # the prompt, for a harness that reads it there (OpenCode)
            assert proc.stdin is not None
            proc.stdin.write(stdin)
            proc.stdin.close()
        try:
            stderr_task = asyncio.ensure_future(proc.stderr.read())  # type: ignore[union-attr]
            await asyncio.wait_for(read_events(), self.timeout)
            await asyncio.wait_for(proc.wait(), 10)
            stderr = (await stderr_task).decode("utf-8", errors="replace")
        except asyncio.TimeoutError:
            _kill(proc)
            await proc.wait()
            raise ModelError(f"{self.flavour.binary} timed out after {self.timeout:g}s (the model option `timeout`); "
                             f"last event: {(lines[-1] if lines else '(none)').strip()[:200]}") from None
        if turns > self.max_turns:
            lines.append(self.flavour.end_event)
        return lines, stderr, proc.returncode or 0

    def release(self, outcome: Outcome) -> Outcome:
        if outcome.workspace and not self.keep:
            shutil.rmtree(Path(outcome.workspace).parent, ignore_errors=True)
            return dataclasses.replace(outcome, workspace=None)
        return outcome

    async def aclose(self) -> None:
        if self._stage_root is not None:
            shutil.rmtree(self._stage_root, ignore_errors=True)
            self._stage_root, self._stages = None, {}
        if self._server is not None:
            self._server.__exit__(None, None, None)
            self._server = self._agent = None


def _parses(line: str) -> bool:
    try:
        json.loads(line)
        return True
    except ValueError:
        return False


def _kill(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
