"""Pass rates and their 95% intervals: Wilson for independent cells, clustered by output or input otherwise."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """A pass rate with its 95% interval; `errors` are outside the rate.

    Built from cells (`cells.rate_of`) the interval is clustered (`by`): by output (an output's evals pass
    and fail together; the rate of these inputs) or by input (the rate on new inputs, as a holdout is
    read): a Wilson interval on the effective number of cells, with Student's t for few clusters.
    From counts alone it is the plain Wilson interval, every cell independent.
    """

    passed: int
    failed: int
    errors: int = 0
    n_eff: float | None = None  # effective number of independent cells, from the clusters' spread
    df: int | None = None  # degrees of freedom of the clustered variance (None: normal)
    by: str = ""  # the cluster: output | input ("": none, cells independent)

    @property
    def n(self) -> int:
        return self.passed + self.failed

    @property
    def value(self) -> float:
        return self.passed / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        if self.n_eff is None:
            return wilson(self.passed, self.n)
        if self.df == 0:  # one cluster: nothing is known about the next one
            return 0.0, 1.0
        return wilson_rate(self.value, self.n_eff, t_quantile(self.df) if self.df else 1.959964)

    def __str__(self) -> str:
        lo, hi = self.interval
        return f"{self.value:6.1%} [{lo:.0%}–{hi:.0%}] ({self.passed}/{self.n})"

    def to_dict(self) -> dict[str, float | int | str]:
        lo, hi = self.interval
        out: dict[str, float | int | str] = {"passed": self.passed, "failed": self.failed, "errors": self.errors,
                                             "rate": round(self.value, 6), "low": round(lo, 6), "high": round(hi, 6)}
        if self.by:
            out["interval_by"] = self.by
        return out


def wilson_rate(p: float, n: float, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a rate `p` seen on an effective `n` (not necessarily whole) cells."""
    if n <= 0:
        return 0.0, 1.0
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(max(0.0, p * (1 - p)) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@functools.lru_cache(maxsize=256)
def t_quantile(df: int, level: float = 0.975) -> float:
    """Student's t quantile (df >= 1), by bisection on its CDF integrated with Simpson's rule."""
    if df > 200:
        return 1.959964
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def cdf(t: float) -> float:  # for t >= 0
        steps = 400
        h = t / steps
        f = [math.exp(log_c - (df + 1) / 2 * math.log1p((i * h) ** 2 / df)) for i in range(steps + 1)]
        return 0.5 + h / 3 * (f[0] + f[-1] + 4 * sum(f[1:-1:2]) + 2 * sum(f[2:-1:2]))

    low, high = 0.0, 1.0
    while cdf(high) < level:
        low, high = high, high * 2
    for _ in range(50):
        mid = (low + high) / 2
        low, high = (mid, high) if cdf(mid) < level else (low, mid)
    return (low + high) / 2


def clustered_size(counts: dict, by: str) -> tuple[float | None, int | None]:
    """(effective cells, degrees of freedom) of a rate from {(input, run): [passes, scored]}.

    by output: the rate of these inputs; outputs are the clusters and the variance is taken within each
    input (stratified), so the inputs' own differences, fixed in the suite, do not widen it. by input:
    the rate on new inputs; inputs are the clusters, their differences are the point.
    A linearised (ratio) variance; the effective size makes the binomial variance equal it.
    """
    groups: dict = {}
    for (input_id, run), (y, n) in counts.items():
        key = input_id if by == "input" else (input_id, run)
        row = groups.setdefault(key, [input_id, 0, 0])
        row[1] += y
        row[2] += n
    total = sum(row[2] for row in groups.values())
    if not total:
        return None, None
    p = sum(row[1] for row in groups.values()) / total
    if p in (0.0, 1.0):
        return None, None  # no spread to measure: the plain Wilson interval
    residuals: dict = {}
    for input_id, y, n in groups.values():
        residuals.setdefault(input_id if by != "input" else None, []).append(y - p * n)
    strata = [r for r in residuals.values()]
    variance, df = 0.0, 0
    for res in strata:
        m = len(res)
        if m > 1:
            mean = sum(res) / m if by != "input" else 0.0
            variance += m / (m - 1) * sum((e - mean) ** 2 for e in res)
            df += m - 1
    if by != "input" and df == 0:  # one output per input: no within-input spread, cluster without strata
        res = [e for r in strata for e in r]
        m = len(res)
        variance, df = (m / (m - 1) * sum(e * e for e in res), m - 1) if m > 1 else (0.0, 0)
    if df == 0:
        return (None, None) if by != "input" else (1.0, 0)
    variance /= total * total
    if variance <= 0:
        return None, None
    return p * (1 - p) / variance, df


def interval_of(cells: dict, by: str = "output") -> tuple[float, float]:
    """The clustered 95% interval of the pass rate of {(input, eval, run): passed | None}."""
    counts: dict = {}
    passed = failed = 0
    for key, value in cells.items():
        if value is None:
            continue
        row = counts.setdefault((key[0], key[-1]), [0, 0])
        row[0] += bool(value)
        row[1] += 1
        passed += bool(value)
        failed += not value
    n_eff, df = clustered_size(counts, by)
    return Rate(passed, failed, 0, n_eff, df, by).interval


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when there is no data."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)
