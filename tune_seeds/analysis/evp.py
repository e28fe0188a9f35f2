"""Expected validation performance: the expected best score among n trials.

Given the N observed scores sorted ascending ``v(1) <= ... <= v(N)``, the best of n
trials drawn **with replacement** is ``v(i)`` with probability
``(i/N)^n - ((i-1)/N)^n``, so (Dodge et al. 2019, "Show Your Work")::

    E[max of n] = sum_i v(i) * ((i/N)^n - ((i-1)/N)^n)

This is the formula of the paper, and it assumes sampling with replacement: it is
defined for every n, also n > N. The standard-deviation band uses the same
probabilities: ``sd = sqrt(E[max^2] - E[max]^2)``. Ties need no care: the
probabilities of a run of equal values telescope to the probability that the maximum
equals that value.

Drawing **without replacement** (n distinct trials, n <= N) gives the weights
``(C(i, n) - C(i-1, n)) / C(N, n)``; the budget planner uses that form, since a plan
starts distinct trials.

>>> evp = expected_validation_performance([0.1, 0.2, 0.3, 0.4], ns=[1, 2])
>>> evp["mean"].round(4).tolist()
[0.25, 0.3125]
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy.special import gammaln


def _sorted_finite(scores: Iterable[float]) -> np.ndarray:
    v = np.asarray(list(scores) if not isinstance(scores, np.ndarray) else scores, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ValueError("expected validation performance needs at least one finite score")
    return np.sort(v)


def max_weights(n_scores: int, n: int, replace: bool = True) -> np.ndarray:
    """Probability that the i-th smallest of ``n_scores`` values is the max of n draws.

    Args:
        n_scores: N, the number of observed scores.
        n: number of draws (at least 1; at most N without replacement).
        replace: draw with replacement (the paper's formula) or without.

    Returns:
        Array of N probabilities summing to 1, index 0 for the smallest score.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    i = np.arange(1, n_scores + 1, dtype=float)
    if replace:
        return (i / n_scores) ** n - ((i - 1) / n_scores) ** n
    if n > n_scores:
        raise ValueError(f"cannot draw {n} of {n_scores} scores without replacement")

    def ratio(k: np.ndarray) -> np.ndarray:
        # C(k, n) / C(N, n) in log space; zero where k < n.
        out = np.zeros_like(k)
        ok = k >= n
        out[ok] = np.exp(
            gammaln(k[ok] + 1) - gammaln(k[ok] - n + 1) - gammaln(n_scores + 1)
            + gammaln(n_scores - n + 1)
        )
        return out

    return ratio(i) - ratio(i - 1)


def expected_max(scores: Iterable[float], n: int, replace: bool = True) -> tuple[float, float]:
    """Expected best score of n trials drawn from ``scores``, and its standard deviation.

    NaN scores are dropped (a trial with no finite score contributes nothing).
    """
    v = _sorted_finite(scores)
    w = max_weights(v.size, n, replace)
    mean = float(w @ v)
    var = max(float(w @ (v * v)) - mean * mean, 0.0)
    return mean, float(np.sqrt(var))


def expected_validation_performance(
    scores: Iterable[float], ns: Iterable[int] | None = None, replace: bool = True
) -> pd.DataFrame:
    """The expected-best curve: E[max of n] and its sd for each n.

    Args:
        scores: one score per trial (typically each trial's best validation score).
        ns: the numbers of trials to evaluate; defaults to 1..N.
        replace: sampling with replacement (the paper's formula) or without.

    Returns:
        DataFrame with columns ``n``, ``mean``, ``sd``, ``lower`` (mean - sd) and
        ``upper`` (mean + sd, capped at the best observed score, as the band is drawn
        in "Show Your Work").
    """
    v = _sorted_finite(scores)
    ns = list(range(1, v.size + 1)) if ns is None else [int(n) for n in ns]
    rows = [expected_max(v, n, replace) for n in ns]
    mean = np.array([r[0] for r in rows])
    sd = np.array([r[1] for r in rows])
    return pd.DataFrame(
        {
            "n": ns,
            "mean": mean,
            "sd": sd,
            "lower": mean - sd,
            "upper": np.minimum(mean + sd, v[-1]),
        }
    )


def default_ns(n_trials: int) -> list[int]:
    """The n of the report table: 1, 5, 10, 15, ... up to N (N included)."""
    ns = [1, *range(5, n_trials + 1, 5)]
    if ns[-1] != n_trials:
        ns.append(n_trials)
    return sorted(set(ns))
