"""The `command:<cli>` backend: any command line as the model (the harnesses have targets of their own).

How the skill and the input reach the command (documented in the README):
- the command line is split like a shell would; `{prompt}`, `{system_file}` and `{skill_name}` in it
  are replaced; without `{prompt}` the input is written to the command's standard input;
- the skill text is also in the file named by $AUTORESEARCH_SYSTEM_FILE;
- with the option `skills_folder: true` the command runs in a fresh folder holding the skill as
  `.claude/skills/<name>/SKILL.md` and `.pi/skills/<name>/SKILL.md`, where both harnesses find it.
Output that is a JSON object with `result` (as `claude -p --output-format json` prints) is parsed for
the text, usage and cost; anything else is the text. Each call has a timeout (option `timeout`).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import tempfile
from pathlib import Path

from ..errors import AutoresearchError, ModelError
from . import Completion, ModelSpec, Usage


def _skill_name(system: str) -> str:
    match = re.search(r"^name:\s*['\"]?([a-z0-9-]+)", system, re.M)
    return match.group(1) if match else "target-skill"


def parse_output(stdout: str) -> Completion:
    """Plain text, or the JSON envelope of `claude -p --output-format json`."""
    text = stdout.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return Completion(stdout)
        if isinstance(data, dict) and "result" in data:
            if data.get("is_error"):
                raise ModelError(f"command reported an error: {str(data.get('result'))[:200]}")
            return _envelope(data)
    return Completion(stdout)


def _envelope(data: dict) -> Completion:
    """The text, usage and cost of a JSON envelope; a field of the wrong type is a ModelError, not a crash."""
    result, raw, cost = data["result"], data.get("usage") or {}, data.get("total_cost_usd") or 0.0
    if not isinstance(result, str):
        raise ModelError(f"odd command output: result is {type(result).__name__}, expected text")
    if not isinstance(raw, dict):
        raise ModelError(f"odd command output: usage is {type(raw).__name__}, expected an object")
    keys = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
    counts = [raw.get(k) or 0 for k in keys]
    bad = [k for k, v in zip(keys, counts) if isinstance(v, bool) or not isinstance(v, int)]
    if bad:
        raise ModelError(f"odd command output: usage.{bad[0]} is {raw.get(bad[0])!r}, expected a whole number")
    if isinstance(cost, bool) or not isinstance(cost, (int, float)):
        raise ModelError(f"odd command output: total_cost_usd is {cost!r}, expected a number")
    return Completion(result, Usage(*counts), float(cost))


class CommandModel:
    """Runs a CLI per call; options: command, timeout (s, default 300), concurrency (4), skills_folder."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        line = spec.option("command") or (spec.name.split(":", 1)[1] if ":" in spec.name else "")
        if not line.strip():
            raise AutoresearchError(f"model {spec.name!r}: give the command, as `command:<cli>` or `command: ...`")
        self.argv = shlex.split(line)
        self.skills_folder = bool(spec.option("skills_folder", False))
        harness = {"claude": "claude-code", "pi": "pi"}.get(Path(self.argv[0]).name)
        if harness and not self.skills_folder and not any("{system_file}" in a for a in self.argv):
            raise AutoresearchError(
                f"model {spec.name!r} passes no skill to {self.argv[0]}: the CLI would run without the skill "
                f"being measured. Use the target `{harness}` (or `{harness}:sim` offline), which installs the "
                "whole skill folder where the harness finds it; or pass `{system_file}` or set `skills_folder: true`")
        self.timeout = float(spec.option("timeout", 300))
        self.in_flight = int(spec.option("concurrency", 4))  # calls in flight at most, whoever asks
        self._limit = asyncio.Semaphore(self.in_flight)

    def key_material(self) -> dict:
        """A harness run by the command answers from the endpoint its environment names."""
        return {"endpoint": os.environ.get("ANTHROPIC_BASE_URL", "")}

    async def complete(self, system: str, prompt: str, *, sample: int = 0) -> Completion:
        async with self._limit:
            with tempfile.TemporaryDirectory(prefix="autoresearch-cmd-") as tmp:
                return await self._run(Path(tmp), system, prompt, sample)

    async def _run(self, tmp: Path, system: str, prompt: str, sample: int) -> Completion:
        system_file = tmp / "SYSTEM.md"
        system_file.write_text(system, encoding="utf-8")
        name = _skill_name(system)
        cwd = None
        if self.skills_folder:
            cwd = tmp / "work"
            for folder in (".claude/skills", ".pi/skills"):
                (cwd / folder / name).mkdir(parents=True)
                (cwd / folder / name / "SKILL.md").write_text(system, encoding="utf-8")
        values = {"prompt": prompt, "system_file": str(system_file), "skill_name": name}
        uses_prompt = any("{prompt}" in a for a in self.argv)
        argv = [a.replace("{prompt}", prompt).replace("{system_file}", values["system_file"])
                .replace("{skill_name}", name) for a in self.argv]
        env = {**os.environ, "AUTORESEARCH_SYSTEM_FILE": str(system_file), "AUTORESEARCH_SAMPLE": str(sample)}
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL if uses_prompt else asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            raise ModelError(f"cannot run {argv[0]!r}: {exc.strerror}") from None
        try:
            stdout, stderr = await asyncio.wait_for(
                proc.communicate(None if uses_prompt else prompt.encode()), self.timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise ModelError(f"{argv[0]} timed out after {self.timeout:g}s") from None
        if proc.returncode != 0:
            tail = stderr.decode(errors="replace").strip()[-300:]
            raise ModelError(f"{argv[0]} exited with {proc.returncode}: {tail}")
        return parse_output(stdout.decode(errors="replace"))

    async def aclose(self) -> None:
        return None
