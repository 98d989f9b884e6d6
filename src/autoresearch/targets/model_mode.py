"""A harness as a model: `claude-code`, `pi`, `codex`, `gemini` and `opencode` answer one prompt, on the user's login.

Used as judge or mutator (and by default for a harness target), each call starts the real CLI in an EMPTY
temporary folder with every tool off and one turn, the system prompt passed as the harness's own:
- Claude Code: `claude -p --output-format json --tools "" --max-turns 1 --system-prompt SYSTEM
  --disable-slash-commands --strict-mcp-config --no-session-persistence`, the prompt on standard input,
  max_tokens through CLAUDE_CODE_MAX_OUTPUT_TOKENS;
- pi: `pi -p --mode json --no-session --no-tools --no-skills --no-extensions --no-prompt-templates
  --no-context-files --system-prompt SYSTEM`, the prompt on standard input;
- Codex: `codex exec --json --skip-git-repo-check --ephemeral --sandbox read-only --disable shell_tool
  --disable multi_agent --disable goals --disable apps --disable plugins -c web_search="disabled"
  -c model_instructions_file=FILE` (SYSTEM in FILE replaces Codex's own instructions), the prompt on stdin;
  what stays offered is `request_user_input` and `view_image` (images only, read-only, in the empty folder);
- Gemini CLI: `gemini -p "" --output-format json --approval-mode default -e none --policy FILE`, the prompt
  on stdin, FILE a policy denying every tool (`toolName = "*"`, so none is declared to the model) and SYSTEM
  in a file named by GEMINI_SYSTEM_MD (it replaces the built-in system prompt);
- OpenCode: `opencode run --format json --title ... --agent autoresearch-model`, the prompt on stdin, that
  agent declared in OPENCODE_CONFIG_CONTENT with SYSTEM as its `prompt`, every tool off and every
  permission denied.
So the mutator cannot read the suite, its holdout inputs or anything else on disk. `:sim` runs the same
real binary against a local Messages-API server answered by the simulator (judge and mutator formats
included). Binary lookup, flags and the simulator's server come from `autoresearch.targets.harness`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import secrets
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from ..errors import ModelError
from ..models import Completion, ModelSpec, Usage
from ..models.command import parse_output
from ..sandbox import cell_prefix

DEFAULT_TIMEOUT = 300.0


def flavour_of(spec: ModelSpec):
    """The harness (its target module's flavour) a harness model name runs."""
    from .claude_code import ClaudeCode
    from .codex import Codex
    from .gemini import Gemini
    from .opencode import OpenCode
    from .pi import Pi

    flavours = {"claude-code": ClaudeCode, "pi": Pi, "gemini": Gemini, "opencode": OpenCode,
                "codex": lambda: Codex("read-only")}
    return flavours.get(spec.backend, Pi)()


@lru_cache(maxsize=8)
def harness_identity(binary: str) -> tuple[str, str]:
    """(package name, version) of a harness binary: its npm package.json, else what `--version` prints."""
    real = Path(os.path.realpath(binary))
    for folder in real.parents:
        manifest = folder / "package.json"
        if manifest.is_file():
            try:
                data = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                break
            if isinstance(data, dict) and data.get("name") and data.get("version"):
                return str(data["name"]), str(data["version"])
            break
    from .harness import version_text

    return "", (version_text(binary).split() or ["unknown"])[0]


OPENCODE_AGENT = "autoresearch-model"
GEMINI_DENY_ALL = '[[rule]]\ntoolName = "*"\ndecision = "deny"\npriority = 999\n'  # a policy: no tool at all
CODEX_OFF = ("shell_tool", "multi_agent", "goals", "apps", "plugins")  # Codex features that offer the model tools


def model_argv(flavour, binary: str, system: str, model: str, system_file: Path | None = None) -> list[str]:
    """The harness's command line for one tool-less, one-turn answer (the prompt goes on standard input;
    Codex reads the system prompt from `system_file`, Gemini CLI its policy beside it; see `model_env`)."""
    if flavour.name == "codex":
        argv = [binary, "exec", "--json", "--skip-git-repo-check", "--ephemeral", "--sandbox", "read-only"]
        argv += [arg for feature in CODEX_OFF for arg in ("--disable", feature)]
        argv += ["-c", 'web_search="disabled"', "-c", f"model_instructions_file={json.dumps(str(system_file))}"]
        return argv + (["--model", model] if model else [])
    if flavour.name == "gemini":
        argv = [binary, "-p", "", "--output-format", "json", "--approval-mode", "default", "-e", "none", "--policy",
                str(system_file.with_name("deny-all.toml"))]
        return argv + (["--model", model] if model else [])
    if flavour.name == "opencode":
        argv = [binary, "run", "--format", "json", "--title", "autoresearch model", "--agent", OPENCODE_AGENT]
        return argv + (["--model", model] if model else [])
    if flavour.name == "claude-code":
        argv = [binary, "-p", "--output-format", "json", "--tools", "", "--max-turns", "1", "--system-prompt",
                system, "--disable-slash-commands", "--strict-mcp-config", "--no-session-persistence"]
        return argv + (["--model", model] if model else [])
    argv = [binary, "-p", "--mode", "json", "--no-session", "--no-tools", "--no-skills", "--no-extensions",
            "--no-prompt-templates", "--no-context-files", "--system-prompt", system]
    provider, _, name = model.partition("/")
    if name:
        return argv + ["--provider", provider, "--model", name]
    return argv + (["--model", provider] if provider else [])


def model_env(flavour, system: str, root: Path, env: dict[str, str]) -> dict[str, str]:
    """What a harness needs in its environment to answer with `system` and no tools (files go in `root`)."""
    if flavour.name == "gemini":  # the caller has written `system` to root/system.md
        (root / "deny-all.toml").write_text(GEMINI_DENY_ALL, encoding="utf-8")
        return {"GEMINI_SYSTEM_MD": str(root / "system.md"), "GEMINI_CLI_TRUST_WORKSPACE": "true"}
    if flavour.name == "opencode":
        config = json.loads(env.get("OPENCODE_CONFIG_CONTENT") or "{}")
        config.setdefault("agent", {})[OPENCODE_AGENT] = {"mode": "primary", "prompt": system,
                                                          "tools": {"*": False}, "permission": {"*": "deny"}}
        return {**flavour.env(), "OPENCODE_CONFIG_CONTENT": json.dumps(config)}
    return {}


PI_STOPS = {"length": "max_tokens", "stop": "end_turn"}  # pi's stop reasons in the Messages API's words
OPENCODE_STOPS = {"length": "max_tokens", "stop": "end_turn"}


def parse_answer(flavour, stdout: str) -> Completion:
    """The answer's text, usage, cost and stop reason (`max_tokens` when cut short) from the harness's JSON output."""
    if flavour.name == "claude-code":
        try:
            data = json.loads(stdout)
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("is_error"):  # e.g. max turns reached: its words are in `errors`
            words = data.get("result") or "; ".join(map(str, data.get("errors") or [])) or data.get("subtype")
            raise ModelError(f"claude reported an error: {str(words)[:300]}")
        if not isinstance(data, dict) or "result" not in data:
            raise ModelError(f"claude printed no JSON result: {stdout.strip()[:200]!r}")
        completion = parse_output(stdout)
        stop = data.get("stop_reason")
        return dataclasses.replace(completion, stop_reason=stop if isinstance(stop, str) else "")
    if flavour.name == "gemini":
        return _gemini_answer(stdout)
    try:
        events = flavour.parse(stdout.splitlines(), "", False, Path("/nonexistent/.pi/skills/x/SKILL.md"))
    except ValueError:
        raise ModelError(f"{flavour.binary} printed an event that does not parse: {stdout.strip()[:200]!r}") from None
    if events.error:
        raise ModelError(events.error)
    if flavour.name == "codex":  # Codex's events carry no stop reason
        return Completion(events.text, events.usage, 0.0, stop_reason="")
    stops = OPENCODE_STOPS if flavour.name == "opencode" else PI_STOPS
    return Completion(events.text, events.usage, events.cost, stop_reason=stops.get(events.stop_reason,
                                                                                    events.stop_reason))


def _gemini_answer(stdout: str) -> Completion:
    """`gemini --output-format json`: `response` and per-model `stats.models.*.tokens` (no stop reason is printed)."""
    try:
        data = json.loads(stdout)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("response"), str):
        detail = data.get("error") if isinstance(data, dict) else None
        if isinstance(detail, dict):
            raise ModelError(f"gemini reported an error ({detail.get('type')}): {str(detail.get('message'))[:300]}")
        raise ModelError(f"gemini printed no JSON response: {stdout.strip()[:200]!r}")
    usage = Usage()
    models = data.get("stats", {}).get("models") if isinstance(data.get("stats"), dict) else None
    for stats in (models or {}).values():
        tokens = stats.get("tokens") if isinstance(stats, dict) else None
        if isinstance(tokens, dict):
            cached = int(tokens.get("cached") or 0)
            usage = usage + Usage(max(0, int(tokens.get("prompt") or 0) - cached), int(tokens.get("candidates") or 0),
                                  cached, 0)
    return Completion(data["response"], usage, 0.0, stop_reason="")


class HarnessModel:
    """A harness CLI answering as a model; options: binary, timeout (s, default 300), concurrency (4)."""

    def __init__(self, spec: ModelSpec):
        from .harness import find_binary

        self.spec, self.flavour = spec, flavour_of(spec)
        self.model = spec.name.split(":", 1)[1] if ":" in spec.name else ""
        self.simulated = self.model == "sim"
        self.binary = find_binary(self.flavour, spec.option("binary"))
        self.package, self.version = harness_identity(self.binary)
        self.timeout = float(spec.option("timeout", DEFAULT_TIMEOUT))
        self.in_flight = int(spec.option("concurrency", 4))  # calls in flight at most, whoever asks
        self._limit = asyncio.Semaphore(self.in_flight)
        self._server = self._agent = None

    def key_material(self) -> dict:
        """A cached answer is one from this harness at this version (the model and prompt are in the key)."""
        return {"harness": self.flavour.name, "version": self.version}

    def _environment(self, root: Path, sample: int, token: str) -> dict[str, str]:
        from .harness import node_env

        extra = {**node_env(self.binary),
                 **({"CLAUDE_CODE_MAX_OUTPUT_TOKENS": str(self.spec.max_tokens)} if self.flavour.name == "claude-code"
                    else {})}
        if not self.simulated:
            return {**os.environ, **extra}
        if self._server is None:
            from ..sim.agent import SimAgent
            from ..sim.server import MessagesServer

            self._agent = SimAgent(self.spec.seed)
            self._server = MessagesServer(reply=self._agent).__enter__()
        self._agent.register(token, sample)
        home = root / "home"
        home.mkdir()
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("ANTHROPIC_", "CLAUDE", "PI_", "CODEX_", "GEMINI_", "GOOGLE_", "OPENCODE_"))}
        return {**base, "HOME": str(home), **extra, **self.flavour.sim_env(f"{self._server.url}/cell/{token}", home)}

    async def complete(self, system: str, prompt: str, *, sample: int = 0) -> Completion:
        async with self._limit:
            root = Path(tempfile.mkdtemp(prefix=cell_prefix() + "model"))  # removed at the next start if killed
            token = secrets.token_hex(8)
            try:
                work = root / "work"
                work.mkdir()  # empty: nothing of the suite, its inputs or its holdout is within reach
                env = self._environment(root, sample, token)
                (root / "system.md").write_text(system, encoding="utf-8")  # Codex and Gemini CLI read it from here
                env.update(model_env(self.flavour, system, root, env))
                model = self.flavour.sim_model() if self.simulated else self.model
                argv = model_argv(self.flavour, self.binary, system, model, root / "system.md")
                stdout, stderr, code = await self._execute(argv, prompt, work, env)
            finally:
                if self._agent:
                    self._agent.forget(token)
                shutil.rmtree(root, ignore_errors=True)
        if code != 0 and not stdout.strip():
            raise ModelError(f"{self.flavour.binary} exited with {code}: {stderr.strip()[-300:]}")
        completion = parse_answer(self.flavour, stdout)
        return Completion(completion.text, completion.usage, 0.0 if self.simulated else completion.cost,
                          stop_reason=completion.stop_reason)

    async def _execute(self, argv: list[str], prompt: str, cwd: Path, env: dict) -> tuple[str, str, int]:
        from .harness import _kill

        try:
            proc = await asyncio.create_subprocess_exec(*argv, cwd=cwd, env=env, stdin=asyncio.subprocess.PIPE,
                                                        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                        start_new_session=True)
        except OSError as exc:
            raise ModelError(f"cannot run {argv[0]!r}: {exc.strerror}") from None
        try:
            stdout, stderr = await asyncio.wait_for(proc.communicate(prompt.encode("utf-8")), self.timeout)
        except asyncio.TimeoutError:
            _kill(proc)
            await proc.wait()
            raise ModelError(f"{self.flavour.binary} (as {self.spec.name}) timed out after {self.timeout:g}s "
                             "(the model option `timeout`)") from None
        return stdout.decode("utf-8", errors="replace"), stderr.decode("utf-8", errors="replace"), proc.returncode or 0

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.__exit__(None, None, None)
            self._server = self._agent = None
