"""How much each seed matters: weight initialization (WI) against data order (DO).

Four views of a WI x DO sweep, each a pure function of the trials table
(one row per trial with ``wi_seed``, ``do_seed`` and a score column):

- :func:`factor_sd`: the paper's per-factor standard deviation. "DO varying, WI
  fixed" is the sd over DO seeds of the trials sharing one WI seed, averaged over
  the WI seeds; "WI varying, DO fixed" is the reverse. If one factor did not matter,
  fixing the other would leave its sd near the overall one and vice versa.
- :func:`two_way_anova`: the share of the variance explained by each seed in an
  additive two-way ANOVA (with one trial per cell the interaction is the residual).
- :func:`best_vs_worst_anova`: for each factor, a one-way ANOVA of the trials of the
  best seed against those of the worst seed (by mean score), as in the paper.
- :func:`heatmap_table` and :func:`seed_means`: the WI x DO grid and per-seed means.

Standard deviations use ``ddof=1`` (sample sd); groups with one trial have no sd and
are left out of the averages.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

FACTORS: tuple[str, str] = ("wi_seed", "do_seed")


def _check(trials: pd.DataFrame, score: str) -> pd.DataFrame:
    missing = [c for c in (*FACTORS, score) if c not in trials.columns]
    if missing:
        raise ValueError(f"trials table lacks the column(s) {', '.join(missing)}")
    df = trials[[*FACTORS, score]].dropna(subset=[score])
    if len(df) < 2:
        raise ValueError("need at least two trials with a finite score")
    return df


def _other(factor: str) -> str:
    if factor not in FACTORS:
        raise ValueError(f"factor must be one of {FACTORS}, got {factor!r}")
    return FACTORS[1 - FACTORS.index(factor)]


@dataclass(frozen=True)
class FactorSD:
    """Overall sd of the scores and the two per-factor averages of :func:`factor_sd`."""

    overall: float
    do_varying_wi_fixed: float
    wi_varying_do_fixed: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def factor_sd(trials: pd.DataFrame, score: str = "best_score") -> FactorSD:
    """Overall sd and the paper's average sd with one seed held fixed.

    >>> df = pd.DataFrame({"wi_seed": [1, 1, 2, 2], "do_seed": [1, 2, 1, 2],
    ...                    "best_score": [0.0, 0.0, 1.0, 1.0]})
    >>> factor_sd(df).do_varying_wi_fixed, factor_sd(df).wi_varying_do_fixed
    (0.0, 0.7071067811865476)
    """
    df = _check(trials, score)

    def mean_sd(fixed: str) -> float:
        sds = df.groupby(fixed)[score].std(ddof=1).dropna()
        return float(sds.mean()) if len(sds) else float("nan")

    return FactorSD(
        overall=float(df[score].std(ddof=1)),
        do_varying_wi_fixed=mean_sd("wi_seed"),
        wi_varying_do_fixed=mean_sd("do_seed"),
    )


def two_way_anova(trials: pd.DataFrame, score: str = "best_score") -> pd.DataFrame:
    """Two-way ANOVA of the score on the WI and DO seeds (type II sums of squares).

    With one trial per (WI, DO) cell the model is additive and the residual holds the
    interaction; with repeated cells an interaction term is fitted too.

    Returns:
        DataFrame indexed by source (``wi_seed``, ``do_seed``, [``wi_seed:do_seed``],
        ``residual``) with ``sum_sq``, ``df``, ``F``, ``p_value`` and ``share``
        (sum of squares over the total sum of squares about the mean).
    """
    # statsmodels is imported here: it is slow to import and only this function needs it.
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm
    from statsmodels.tools.sm_exceptions import ModelWarning

    df = _check(trials, score).rename(columns={score: "y"})
    if df["wi_seed"].nunique() < 2 or df["do_seed"].nunique() < 2:
        raise ValueError("two-way ANOVA needs at least two WI seeds and two DO seeds")
    replicated = bool(df.groupby(list(FACTORS)).size().max() > 1)
    formula = "y ~ C(wi_seed) + C(do_seed)" + (" + C(wi_seed):C(do_seed)" if replicated else "")
    # A sparse draw of pairs leaves a rank-deficient design with no residual degrees of
    # freedom: F and p come out NaN, which callers show as n/a; the warnings are noise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", ModelWarning)
        table = anova_lm(smf.ols(formula, data=df).fit(), typ=2)
    table = table.rename(
        index={
            "C(wi_seed)": "wi_seed",
            "C(do_seed)": "do_seed",
            "C(wi_seed):C(do_seed)": "wi_seed:do_seed",
            "Residual": "residual",
        },
        columns={"PR(>F)": "p_value"},
    )
    total = float(((df["y"] - df["y"].mean()) ** 2).sum())
    table["share"] = table["sum_sq"] / total if total > 0 else np.nan
    return table[["sum_sq", "df", "F", "p_value", "share"]]


def seed_means(trials: pd.DataFrame, factor: str, score: str = "best_score") -> pd.DataFrame:
    """Per-seed mean, sd and count of the score for one factor, best seed first."""
    _other(factor)
    df = _check(trials, score)
    out = df.groupby(factor)[score].agg(["mean", "std", "count"]).rename(columns={"std": "sd"})
    return out.sort_values(["mean"], ascending=False, kind="stable")


@dataclass(frozen=True)
class BestWorst:
    """One-way ANOVA of the best seed's trials against the worst seed's."""

    factor: str
    best_seed: int
    worst_seed: int
    best_mean: float
    worst_mean: float
    f_stat: float
    p_value: float

    def to_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def best_vs_worst_anova(
    trials: pd.DataFrame, factor: str, score: str = "best_score"
) -> BestWorst:
    """Compare the best and the worst seed of ``factor`` (by mean score) with a one-way ANOVA.

    The samples are the scores of all trials with the best seed and all trials with
    the worst seed (each across every seed of the other factor). Ties in the means go
    to the smaller seed. Note the selection effect: picking the extremes first makes
    the test anti-conservative; it is the paper's check, reported as such.
    """
    means = seed_means(trials, factor, score)
    if len(means) < 2:
        raise ValueError(f"need at least two values of {factor}")
    df = _check(trials, score)
    order = means.reset_index().sort_values(["mean", factor], ascending=[False, True])
    best, worst = int(order[factor].iloc[0]), int(order[factor].iloc[-1])
    a = df.loc[df[factor] == best, score].to_numpy(float)
    b = df.loc[df[factor] == worst, score].to_numpy(float)
    if len(a) < 2 or len(b) < 2:
        f_stat, p = float("nan"), float("nan")
    else:
        with warnings.catch_warnings():  # constant samples: NaN F and p, shown as n/a
            warnings.simplefilter("ignore", RuntimeWarning)
            res = stats.f_oneway(a, b)
        f_stat, p = float(res.statistic), float(res.pvalue)
    return BestWorst(factor, best, worst, float(a.mean()), float(b.mean()), f_stat, p)


def heatmap_table(trials: pd.DataFrame, score: str = "best_score") -> pd.DataFrame:
    """WI seeds as rows, DO seeds as columns, mean score per cell (NaN where missing)."""
    df = _check(trials, score)
    return df.pivot_table(index="wi_seed", columns="do_seed", values=score, aggfunc="mean")
