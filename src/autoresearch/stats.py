"""Statistics for binary checks: Wilson intervals and the exact paired sign test (McNemar).

Pass rates count passes over passes + fails; errors are reported apart and never enter a rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """A pass rate with its Wilson 95% interval; `errors` are outside the rate."""

    passed: int
    failed: int
    errors: int = 0

    @property
    def n(self) -> int:
        return self.passed + self.failed

    @property
    def value(self) -> float:
        return self.passed / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.passed, self.n)

    def __str__(self) -> str:
        lo, hi = self.interval
        return f"{self.value:6.1%} [{lo:.0%}–{hi:.0%}] ({self.passed}/{self.n})"

    def to_dict(self) -> dict[str, float | int]:
        lo, hi = self.interval
        return {"passed": self.passed, "failed": self.failed, "errors": self.errors,
                "rate": round(self.value, 6), "low": round(lo, 6), "high": round(hi, 6)}


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when there is no data."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def binomial_tail(k: int, n: int, p: float = 0.5) -> float:
    """P(X >= k) for X ~ Binomial(n, p), exact."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return min(1.0, sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1)))


def sign_test(wins: int, losses: int) -> float:
    """One-sided exact sign test (exact McNemar) on discordant pairs: P(wins >= observed | no effect)."""
    return binomial_tail(wins, wins + losses)
