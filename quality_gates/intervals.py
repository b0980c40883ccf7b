"""Binomial confidence intervals for an error proportion ``k / n``.

Both return ``(low, high)`` within [0, 1]; with ``n == 0`` nothing is known and the interval is (0, 1).
"""

from __future__ import annotations

import math

__all__ = ["clopper_pearson_interval", "wilson_interval"]


def _check(k: int, n: int, confidence: float) -> None:
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def wilson_interval(k: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes in ``n`` trials.

    Args:
        k: successes (here: errors), ``0 <= k <= n``.
        n: trials.
        confidence (0.95): two-sided coverage in (0, 1).
    """
    _check(k, n, confidence)
    if n == 0:
        return 0.0, 1.0
    # scipy.special, imported here: what scipy.stats' norm.ppf and beta.ppf compute (the same doubles), without
    # the second of importing scipy.stats that every CI gate run would pay.
    from scipy.special import ndtri

    z = float(ndtri(0.5 + confidence / 2))
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def clopper_pearson_interval(k: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval from Beta quantiles: ``Beta(a/2; k, n-k+1)``, ``Beta(1-a/2; k+1, n-k)``.

    Args:
        k: successes (here: errors), ``0 <= k <= n``.
        n: trials.
        confidence (0.95): two-sided coverage in (0, 1); the bounds are 0 when ``k == 0`` and 1 when ``k == n``.
    """
    _check(k, n, confidence)
    if n == 0:
        return 0.0, 1.0
    alpha = 1 - confidence
    from scipy.special import betaincinv

    low = 0.0 if k == 0 else float(betaincinv(k, n - k + 1, alpha / 2))
    high = 1.0 if k == n else float(betaincinv(k + 1, n - k, 1 - alpha / 2))
    return low, high
