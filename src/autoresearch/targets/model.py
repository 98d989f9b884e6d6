"""A model as the target: one prompt, one reply. The skill is framed as a harness shows an invoked skill."""

from __future__ import annotations

import time

from ..models.outcome import Outcome
from . import SkillUnderTest, fixture_note


def invoked_skill_prompt(skill: SkillUnderTest) -> str:
    """What Claude Code shows the agent: the skill listed by name and description, then its body (no frontmatter).

    No folder path: a bare model cannot open files, and the prompt (so its draws and cache key) must not
    depend on where the project sits."""
    return (f"The following skills are available for use with the Skill tool:\n\n- {skill.name}: {skill.description}\n\n"
            f"The user invoked the skill \"{skill.name}\".\n\n"
            f"<skill name=\"{skill.name}\">\n{skill.body.rstrip()}\n</skill>\n")


class ModelTarget:
    """`sim`, `anthropic:<model>` or `command:<cli>` as the target. A `command:` CLI gets the raw SKILL.md
    (its `{system_file}`), since it is the one that decides how to show it."""

    def __init__(self, model):
        self.model, self.spec = model, model.spec
        self.in_flight: int | None = getattr(model, "in_flight", None)  # the model's own cap, if it has one

    def check(self, skill: SkillUnderTest) -> None:
        return None

    async def run(self, skill: SkillUnderTest, item, run: int) -> Outcome:
        started = time.perf_counter()
        system = "" if not skill.installed else skill.text if self.spec.backend == "command" else \
            invoked_skill_prompt(skill)
        prompt = item.text + fixture_note(item.fixture_texts())
        completion = await self.model.complete(system, prompt, sample=run)
        return Outcome(completion.text, skill_used=True, usage=completion.usage, cost=completion.cost,
                       seconds=time.perf_counter() - started, cached=completion.cached,
                       stop_reason=completion.stop_reason, ticket=completion.ticket)

    def release(self, outcome: Outcome) -> Outcome:
        return outcome

    async def aclose(self) -> None:
        await self.model.aclose()
