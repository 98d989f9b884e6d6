"""What a kept improvement costs: spend per keep so far and expected to the next keep, from a run's journal."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Spent:
    """Model calls, tokens (all kinds) and dollars."""

    calls: float
    tokens: float
    dollars: float

    def __str__(self) -> str:
        return f"{self.calls:,.0f} calls, {self.tokens:,.0f} tokens, ${self.dollars:.4f}"

    def scaled(self, factor: float) -> "Spent":
        return Spent(self.calls * factor, self.tokens * factor, self.dollars * factor)


def spent_on(entries: list[dict]) -> Spent:
    """The spend recorded on these journal lines."""
    return Spent(sum(e["calls"] for e in entries), sum(sum(e["tokens"].values()) for e in entries),
                 sum(e["cost"] for e in entries))


def keep_cost(entries: list[dict]) -> dict | None:
    """Spend per keep so far (everything, the baseline too, over the keeps) and expected to the next keep.

    The next keep's expected spend is the attempts' own: their mean spend times the attempts a keep has
    taken so far (attempts / keeps). With no keep yet, only a floor is known: at the upper 95% bound of
    the keep rate after n attempts with none (3/n, the rule of three), a keep takes n/3 attempts or more.
    """
    attempts = entries[1:]
    if not attempts:
        return None
    keeps = sum(e["decision"] == "keep" for e in attempts)
    per_attempt = spent_on(attempts).scaled(1 / len(attempts))
    since = 0
    for e in reversed(attempts):
        if e["decision"] == "keep":
            break
        since += 1
    if keeps:
        return {"keeps": keeps, "attempts": len(attempts), "since_last_keep": since,
                "per_keep": spent_on(entries).scaled(1 / keeps), "next_keep": per_attempt.scaled(len(attempts) / keeps),
                "at_least": False}
    return {"keeps": 0, "attempts": len(attempts), "since_last_keep": since, "per_keep": None,
            "next_keep": per_attempt.scaled(max(1.0, len(attempts) / 3)), "at_least": True}


def keep_cost_text(entries: list[dict]) -> str | None:
    """One line for `status`, summary.md and the report: spend per keep and expected to the next."""
    cost = keep_cost(entries)
    if cost is None:
        return None
    if cost["at_least"]:
        return (f"per keep: no keep in {cost['attempts']} attempts; the next is expected to cost at least "
                f"{cost['next_keep']} (rule of three on the keep rate)")
    return (f"per keep: {cost['per_keep']} so far ({cost['keeps']} in {cost['attempts']} attempts, baseline included); "
            f"expected to the next keep: {cost['next_keep']} ({cost['since_last_keep']} attempts since the last)")
