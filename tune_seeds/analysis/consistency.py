"""Are good seeds good everywhere? Rank agreement of seeds between two sweeps.

The paper found WI seeds that were good on every task. Given the trials tables of two
sweeps (two tasks, or two models), :func:`seed_consistency` ranks the seeds of one
factor by their mean score in each sweep and reports Spearman's rank correlation over
the seeds both sweeps share.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from scipy import stats

from tune_seeds.analysis.variance import seed_means


@dataclass(frozen=True)
class Consistency:
    """Spearman correlation of per-seed mean scores across two sweeps.

    Attributes:
        factor: ``wi_seed``, ``do_seed``, or ``pair`` (a WI seed with a DO seed).
        rho: Spearman's rank correlation (NaN with fewer than three shared seeds).
        p_value: its two-sided p-value.
        n_seeds: number of seeds (or pairs) present in both sweeps.
        table: per shared seed (or pair), ``mean_a``, ``mean_b``, ``rank_a``, ``rank_b`` (1 = best).
    """

    factor: str
    rho: float
    p_value: float
    n_seeds: int
    table: pd.DataFrame = field(repr=False)


def seed_consistency(
    trials_a: pd.DataFrame,
    trials_b: pd.DataFrame,
    factor: str = "wi_seed",
    score: str = "best_score",
) -> Consistency:
    """Rank correlation of the per-seed mean scores of ``factor`` in two sweeps.

    >>> a = pd.DataFrame({"wi_seed": [1, 2, 3], "do_seed": 1, "best_score": [0.1, 0.2, 0.3]})
    >>> b = pd.DataFrame({"wi_seed": [1, 2, 3], "do_seed": 1, "best_score": [0.5, 0.6, 0.9]})
    >>> round(seed_consistency(a, b).rho, 6)
    1.0
    """
    ma = seed_means(trials_a, factor, score)["mean"]
    mb = seed_means(trials_b, factor, score)["mean"]
    return _rank_agreement(factor, ma, mb)


def pair_consistency(
    trials_a: pd.DataFrame, trials_b: pd.DataFrame, score: str = "best_score",
) -> Consistency:
    """Rank correlation of the (WI, DO) pairs' scores in two sweeps of the same seeds.

    The same seeds run on two training sets (or two models) draw the same classifier
    head and the same shuffles; this asks whether a pair that did well in one sweep
    does well in the other. A pair run more than once counts with its mean.

    >>> a = pd.DataFrame({"wi_seed": [1, 1, 2, 2], "do_seed": [1, 2, 1, 2],
    ...                   "best_score": [0.1, 0.2, 0.3, 0.4]})
    >>> b = a.assign(best_score=[0.5, 0.4, 0.7, 0.9])
    >>> c = pair_consistency(a, b)
    >>> c.n_seeds, round(c.rho, 2)
    (4, 0.8)
    """
    pairs = ["wi_seed", "do_seed"]
    ma = trials_a.dropna(subset=[score]).groupby(pairs)[score].mean()
    mb = trials_b.dropna(subset=[score]).groupby(pairs)[score].mean()
    return _rank_agreement("pair", ma, mb)


def _rank_agreement(factor: str, ma: pd.Series, mb: pd.Series) -> Consistency:
    table = pd.concat([ma.rename("mean_a"), mb.rename("mean_b")], axis=1,
                      join="inner").sort_index()
    table["rank_a"] = table["mean_a"].rank(ascending=False)
    table["rank_b"] = table["mean_b"].rank(ascending=False)
    if len(table) < 3:
        rho, p = float("nan"), float("nan")
    else:
        res = stats.spearmanr(table["mean_a"], table["mean_b"])
        rho, p = float(res.statistic), float(res.pvalue)
    return Consistency(factor, rho, p, len(table), table)
