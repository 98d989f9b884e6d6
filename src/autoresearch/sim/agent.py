"""The simulator as an agent inside a real harness: it answers the Messages API requests that Claude Code,
pi and OpenCode send (and, through the server's protocol adapters, Codex's Responses API and Gemini CLI's
Gemini API requests), with tool use, so `claude-code:sim`, `pi:sim`, `codex:sim`, `gemini:sim` and
`opencode:sim` run the REAL binaries offline.

Each request is read as the harness built it: the skills listed to the agent, the user's task, the
tool calls so far and whether a skill's body has been loaded. Then, like the plain simulator, it acts
with noisy probabilities: it loads a listed skill when the task matches its description (Claude Code's
`Skill` tool, pi's `read` of the SKILL.md), follows the loaded body's tool directives (run the command
it names, write the file it names) and answers in the format the body asks for. Seeded on the cell's
(seed, run) so a run is reproducible while runs differ. It says nothing about a real model.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from ..keywords import content_words, stem
from .model import _rng, _strip_frontmatter, actions, follow, judge, mutate

_CC_LIST = "The following skills are available for use with the Skill tool:"
_PI_SKILL = re.compile(r"<skill>\s*<name>(.*?)</name>\s*<description>(.*?)</description>\s*<location>(.*?)</location>",
                       re.S)
_PI_EXPLICIT = re.compile(r'^<skill name="([^"]+)" location="([^"]+)">\n(.*?)</skill>\n*(.*)$', re.S)
_CC_BASE = re.compile(r"^Base directory for this skill: (\S[^\n]*)\n\n(.*?)(?:\n\nARGUMENTS: (.*))?$", re.S)
_CC_COMMAND = re.compile(r"<command-name>/([^<]+)</command-name>(?:.*?<command-args>(.*?)</command-args>)?", re.S)
_CODEX_ROOT = re.compile(r"^- `(r\d+)` = `([^`]+)`$", re.M)
_CODEX_SKILL = re.compile(r"^- ([^:\s]+): (.*) \(file: ([^)]+)\)$", re.M)
_GEMINI_LOADED = re.compile(r'^<activated_skill name="[^"]*">\s*<instructions>\n?(.*?)\s*</instructions>', re.S)
_OPENCODE_LOADED = re.compile(r'^<skill_content name="[^"]*">\n# Skill: [^\n]*\n\n(.*?)\n\nBase directory for this '
                              r"skill: ([^\n]+)", re.S)
_OPENCODE_COMMAND = re.compile(r"^(.*?)\n\nBase directory for this skill: ([^\n]+)\nRelative paths in this skill[^\n]*"
                               r"(?:\n+(.*))?$", re.S)
_CODEX_EXPLICIT = re.compile(r"^<skill>\s*<name>([^<]+)</name>\s*<path>([^<]+)</path>\n?(.*?)</skill>\s*$", re.S)
_CONTEXT = ("<system-reminder>", "<session_context>", "<environment_context>", "<permissions instructions>",
            "<skills_instructions>")
# The tool that tells which harness sent a request, in the order they are tried.
_HARNESS_TOOL = (("Skill", "claude-code"), ("activate_skill", "gemini"), ("exec_command", "codex"),
                 ("skill", "opencode"), ("read", "pi"))
_NAMED_P = 0.97  # the chance the agent loads a skill the task names
_SKILL_DIRS = re.compile(r"(?<![\w/.-])((?:scripts|references|assets)/[\w./-]+)")


@dataclass(frozen=True)
class Listed:
    name: str
    description: str
    location: str = ""


@dataclass
class Conversation:
    """What the agent sees in one request."""

    harness: str  # claude-code | pi | codex | gemini | opencode | plain
    task: str = ""
    cwd: str = ""
    listed: list[Listed] = field(default_factory=list)
    loaded: tuple[str, str, str] | None = None  # (name, body, base dir)
    calls: list[dict] = field(default_factory=list)  # tool_use blocks, in order
    calls_before_load: int = 0


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    out = []
    for block in content or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            out.append(block.get("text", ""))
        elif block.get("type") == "tool_result":
            out.extend(_texts(block.get("content")))
    return out


def _system_text(body: dict) -> str:
    system = body.get("system", "")
    return "\n".join(_texts(system)) if not isinstance(system, str) else system


def read_conversation(body: dict) -> Conversation:
    """Parse a harness's request into what the agent knows."""
    tools = {t.get("name") for t in body.get("tools", []) if isinstance(t, dict)}
    harness = next((name for tool, name in _HARNESS_TOOL if tool in tools), "plain")
    system = _system_text(body)
    convo = Conversation(harness)
    everything = [system] + [t for m in body.get("messages", []) for t in _texts(m.get("content"))]
    if harness == "codex":
        convo.listed = _codex_listed(system)
        cwd = re.search(r"<cwd>([^<]+)</cwd>", "\n".join(everything))
    elif harness == "claude-code":
        for text in everything:
            if _CC_LIST in text:
                for line in text.split(_CC_LIST, 1)[1].strip("\n").splitlines():
                    m = re.match(r"^- ([^:\s]+): (.*)$", line)
                    if not m:
                        break
                    convo.listed.append(Listed(m.group(1), m.group(2)))
        # 2.1.332 sends its environment as a system-role message among the messages, 2.1.197 in `system`
        cwd = re.search(r"(?:Primary working directory|working directory): (\S+)", "\n".join(everything))
    else:
        convo.listed = [Listed(n.strip(), d.strip(), loc.strip()) for n, d, loc in _PI_SKILL.findall(system)]
        joined = "\n".join(everything)  # pi, OpenCode; Gemini CLI names its workspace in the first user message
        cwd = re.search(r"(?:Current working directory|Working directory): (\S+)", joined) \
            or re.search(r"<cwd>\s*([^<\n]+?)\s*</cwd>", joined) \
            or re.search(r"Workspace Directories:\*\*\n\s*- (\S+)", joined)
    convo.cwd = cwd.group(1) if cwd else os.getcwd()
    pending_skill = None
    for message in body.get("messages", []):
        content = message.get("content")
        if message.get("role") == "assistant":
            for block in content if isinstance(content, list) else []:
                if isinstance(block, dict) and block.get("type") == "tool_use":
                    convo.calls.append(block)
                    pending_skill = _load_target(block, convo)
            continue
        if message.get("role") != "user":
            continue
        for block in content if isinstance(content, list) else [{"type": "text", "text": content}]:
            if not isinstance(block, dict):
                continue
            text = "\n".join(_texts([block]))
            if block.get("type") == "tool_result" and pending_skill and harness != "claude-code" \
                    and convo.loaded is None:
                convo.loaded = _loaded_by_tool(harness, pending_skill, text)
                convo.calls_before_load = len(convo.calls)
                continue
            if block.get("type") != "text" or text.startswith(_CONTEXT):
                continue
            _read_user_text(text, convo, pending_skill)
    return convo


def _codex_listed(system: str) -> list[Listed]:
    """Codex lists skills as `- name: description (file: r1/name/SKILL.md)` under a table of roots."""
    roots = dict(_CODEX_ROOT.findall(system))
    listed = []
    for name, description, short in _CODEX_SKILL.findall(system):
        root, _, rest = short.partition("/")
        listed.append(Listed(name, description, os.path.join(roots[root], rest) if root in roots else short))
    return listed


def _load_target(block: dict, convo: Conversation) -> Listed | None:
    """The listed skill a tool call loads (Claude Code's Skill tool, Gemini CLI's activate_skill, OpenCode's
    skill tool, pi's read of a SKILL.md, Codex's `cat` of it), if any."""
    args = block.get("input") or {}
    name = block.get("name")
    if name in ("Skill", "activate_skill", "skill"):
        wanted = args.get("skill" if name == "Skill" else "name")
        return next((s for s in convo.listed if s.name == wanted), Listed(str(wanted), ""))
    if name == "read":
        return next((s for s in convo.listed if s.location and s.location == args.get("path")), None)
    if name == "exec_command":
        return next((s for s in convo.listed if s.location and args.get("cmd") == f"cat {s.location}"), None)
    return None


def _loaded_by_tool(harness: str, skill: Listed, result: str) -> tuple[str, str, str]:
    """(name, body, base dir) of a skill from the result of the tool call that loaded it."""
    base = os.path.dirname(skill.location)
    if harness == "gemini":
        match = _GEMINI_LOADED.match(result.strip())
        return skill.name, (match.group(1) if match else result), base
    if harness == "opencode":
        match = _OPENCODE_LOADED.match(result.strip())
        return (skill.name, match.group(1), match.group(2).strip()) if match else (skill.name, result, base)
    if harness == "codex":
        result = result.split("\nOutput:\n", 1)[-1]
    return skill.name, _strip_frontmatter(_unnumber(result)), base


def _read_user_text(text: str, convo: Conversation, pending: Listed | None) -> None:
    explicit_codex = _CODEX_EXPLICIT.match(text.strip()) if convo.harness == "codex" else None
    if explicit_codex:
        name, location, inner = explicit_codex.groups()
        convo.loaded = (name.strip(), _strip_frontmatter(inner), os.path.dirname(location.strip()))
        return
    explicit_opencode = _OPENCODE_COMMAND.match(text) if convo.harness == "opencode" else None
    if explicit_opencode:
        inner, base, args = explicit_opencode.groups()
        name = next((s.name for s in convo.listed if os.path.dirname(s.location) == base.strip()), "")
        convo.loaded = (name, _strip_frontmatter(inner), base.strip())
        convo.task = convo.task or (args or "").strip()
        return
    explicit_pi = _PI_EXPLICIT.match(text)
    if explicit_pi:
        name, location, inner, args = explicit_pi.groups()
        inner = re.sub(r"^References are relative to [^\n]*\n\n", "", inner)
        convo.loaded = (name, inner, os.path.dirname(location))
        convo.task = convo.task or args.strip()
        return
    command = _CC_COMMAND.search(text)
    if command:
        convo.task = convo.task or (command.group(2) or "").strip()
        convo.loaded = convo.loaded or (command.group(1).strip(), "", "")
        return
    base = _CC_BASE.match(text)
    if base:
        name = convo.loaded[0] if convo.loaded else (pending.name if pending else "")
        convo.loaded = (name, base.group(2), base.group(1).strip())
        convo.calls_before_load = len(convo.calls)
        if base.group(3) and not convo.task:
            convo.task = base.group(3).strip()
        return
    if not convo.task:
        convo.task = re.sub(r"^\$[\w.-]+\s+", "", text.strip()) if convo.harness == "codex" else text.strip()


def _unnumber(text: str) -> str:
    """A read tool's result may number its lines; the file is what follows the numbers."""
    lines = text.splitlines()
    if lines and all(re.match(r"^\s*\d+[\t→|]", line) for line in lines if line.strip()):
        return "\n".join(re.sub(r"^\s*\d+[\t→|]", "", line) for line in lines)
    return text


def load_probability(task: str, description: str) -> float:
    """How likely the agent loads a skill for `task`: how much of the task its description explains."""
    wanted = {stem(w) for w in content_words(task)}
    offered = {stem(w) for w in content_words(description)}
    if not wanted or not offered:
        return 0.02
    overlap = len(wanted & offered)
    explained = overlap / len(wanted)
    return max(0.02, min(0.95, 1.3 * explained ** 2 * min(1.0, overlap / 3)))


def _names(task: str, name: str) -> bool:
    """The task asks for this skill by name ("Use the NAME skill", Gemini CLI's explicit mode)."""
    return re.search(rf"\buse the `?{re.escape(name)}`? skill\b", task, re.I) is not None


def _tool_use(convo: Conversation, name: str, arguments: dict) -> dict:
    call_id = f"toolu_sim_{len(convo.calls) + 1:04d}"
    return {"content": [{"type": "tool_use", "id": call_id, "name": name, "input": arguments}],
            "stop_reason": "tool_use"}


def _resolve(command: str, base: str) -> str:
    """Paths into the skill's own folders (scripts/, references/, assets/) resolved against its base directory."""
    return _SKILL_DIRS.sub(lambda m: os.path.join(base, m.group(1)), command) if base else command


def _action_call(convo: Conversation, kind: str, literal: str, answer: str) -> tuple[str, dict]:
    base = convo.loaded[2] if convo.loaded else ""
    harness = convo.harness
    if kind == "run":
        command = _resolve(literal, base)
        if harness in ("claude-code", "opencode"):
            return ("Bash" if harness == "claude-code" else "bash"), {"command": command,
                                                                      "description": "Run the command the skill names"}
        if harness == "gemini":
            return "run_shell_command", {"command": command}
        if harness == "codex":
            return "exec_command", {"cmd": command}
        return "bash", {"command": command}
    path = os.path.join(convo.cwd, literal)
    if harness == "claude-code":
        return "Write", {"file_path": path, "content": answer + "\n"}
    if harness == "opencode":
        return "write", {"filePath": path, "content": answer + "\n"}
    if harness == "gemini":
        return "write_file", {"file_path": path, "content": answer + "\n"}
    if harness == "codex":  # no file tool is offered to an unknown model: a heredoc through the shell
        return "exec_command", {"cmd": f"cat > {literal} <<'AUTORESEARCH_EOF'\n{answer}\nAUTORESEARCH_EOF"}
    return "write", {"path": literal, "content": answer + "\n"}


def _same_call(done: dict, name: str, arguments: dict) -> bool:
    if done.get("name") != name:
        return False
    given = done.get("input") or {}
    key = next(k for k in ("command", "cmd", "file_path", "filePath", "path") if k in arguments)
    return given.get(key) == arguments.get(key)


def _load_call(convo: Conversation, skill: Listed) -> tuple[str, dict]:
    """The tool call with which this harness's agent loads a listed skill."""
    if convo.harness == "claude-code":
        return "Skill", {"skill": skill.name}
    if convo.harness == "gemini":
        return "activate_skill", {"name": skill.name}
    if convo.harness == "opencode":
        return "skill", {"name": skill.name}
    if convo.harness == "codex":
        return "exec_command", {"cmd": f"cat {skill.location}"}
    return "read", {"path": skill.location}


def agent_reply(body: dict, seed: int = 0, sample: int = 0) -> dict | str:
    """The simulated agent's next message for a harness's request: a tool call, or its final answer."""
    convo = read_conversation(body)
    if convo.harness == "plain":
        return plain_reply(convo.task, seed, sample)
    if convo.loaded is None or not convo.loaded[1]:
        if not convo.calls and convo.listed:
            chances = [(_NAMED_P if _names(convo.task, s.name) else load_probability(convo.task, s.description), s)
                       for s in convo.listed]
            p, best = max(chances, key=lambda pair: pair[0])
            if _rng(seed, sample, "choose", convo.task).random() < p:
                return _tool_use(convo, *_load_call(convo, best))
        return follow("", convo.task or "(empty)", _rng(seed, sample, "answer", convo.task))
    name, skill_body, _ = convo.loaded
    answer = follow(skill_body, convo.task or "(empty)", _rng(seed, sample, "answer", convo.task, skill_body))
    done = convo.calls[convo.calls_before_load:]
    for index, action in enumerate(actions(skill_body)):
        if _rng(seed, sample, "act", convo.task, skill_body, index).random() >= action.p:
            continue
        tool, arguments = _action_call(convo, action.kind, action.literal, answer)
        if not any(_same_call(d, tool, arguments) for d in done):
            return _tool_use(convo, tool, arguments)
    return answer


def plain_reply(task: str, seed: int, sample: int) -> str:
    """A tool-less request (a harness answering as judge or mutator): answer in that role's format, as `sim` does."""
    if "<judge_task>" in task:
        return judge(task, _rng(seed, sample, "judge", task))
    if "<mutation_task>" in task:
        return mutate(task, _rng(seed, sample, "mutate", task))
    return follow("", task or "(empty)", _rng(seed, sample, "plain", task))


class SimAgent:
    """The reply function of a MessagesServer: each cell's base URL carries a token naming its (seed, run)."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        self._cells: dict[str, int] = {}
        self._lock = threading.Lock()

    def register(self, token: str, sample: int) -> None:
        with self._lock:
            self._cells[token] = sample

    def forget(self, token: str) -> None:
        with self._lock:
            self._cells.pop(token, None)

    def __call__(self, body: dict) -> dict | str:
        sample = self._cells.get(body.get("_cell", ""), 0)
        return agent_reply(body, self.seed, sample)
