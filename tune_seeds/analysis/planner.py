"""Budget planner for early discarding: start t trials, cut after e evaluations, keep p.

The paper's procedure (Dodge et al. 2020, section 6, and its analysis script): start
``t`` trials, train each for ``e`` evaluation intervals, rank them by their **best
score over those e evaluations**, train only the best ``p`` to the end (``T``
intervals) and stop the rest. The best score found is the max over every trial,
stopped ones included, because a stopped trial's best checkpoint still counts. The
budget unit is the evaluation interval; a plan
(:class:`~tune_seeds.plan.EarlyDiscardPlan`) costs ``t*e + p*(T-e)`` intervals.

What is estimated, by default exactly as the paper's script does it:

- **Sampling with replacement.** Each draw picks the ``t`` trials uniformly *with
  replacement* from the recorded ones (the script's ``np.random.randint``), so that
  the recorded trials stand for the population of trials a new sweep would start,
  and ``t`` may exceed the number recorded. ``replace=False`` instead draws ``t``
  *distinct* recorded trials ("subsets of this sweep"); it can never start more
  trials than were recorded, and drawing all N of N always returns the whole sweep.
- **Only plans that spend the budget exactly** (``cost == B*T``), as the paper
  searched; ``exact_budget=False`` also admits plans that spend less. ``t`` is at
  most 200 with replacement (the paper's cap; ``max_started`` changes it).
- **The step-0 evaluation is left out.** The paper's curves are the ``T``
  evaluations after training starts; the evaluation of the untrained model (our
  ``eval_index`` 0) is neither ranked nor counted as a result. So "best at the cut
  e" is the max over evaluations ``1..e``, a kept trial contributes its best over
  ``1..T``, a stopped one its best over ``1..e``.
- Ties in the ranking go to the trial that arrived first (a stable sort in arrival
  order; arrivals are random, so ties are broken at random). A curve that ends
  early (a diverged or errored trial) keeps its last best so far, and its missing
  intervals are still charged.

The baseline, "train ``floor(B)`` trials fully" (the expected best of ``B`` full runs
without early stopping), is exact (:mod:`.evp`, with or without replacement as above).

**Computation.** One set of ``n_resamples`` random arrival sequences is drawn with a
seeded :class:`numpy.random.Generator` and shared by every plan (common random
numbers, so differences between plans carry far less noise than the plans
themselves). For each cut ``e`` the arrivals are streamed once, keeping per resample
the ``P`` best trials so far by best-at-``e`` in a small sorted buffer; after ``t``
arrivals the best score of plan ``(t, e, p)`` is
``max(max_{first t} best_at_e, max over the top p of best_at_T)`` (a kept trial's best
over the full run is at least its best at ``e``), for every ``p <= P`` at once. So the
cost is ``O(sum_e t_max(e) * n_resamples * P)`` vector work instead of one resampling
loop per plan: every budget 1..30 on 625 trials x 30 intervals takes a few seconds on
two shared cores (``benchmarks/bench_planner.py``).

Plans considered: cut ``1 <= e <= T-1``, keep ``1 <= p < t``. The best plan of a
budget is the argmax over all of them of the Monte-Carlo estimate; with hundreds of
plans that maximum is biased upwards by a few standard errors (``se`` column), which
the reported gain should be read against. The test suite checks the estimates
against an independent implementation of the paper's procedure.

>>> from tune_seeds.replay.synthetic import synthetic_curves
>>> result = plan_budgets(synthetic_curves(10, 10, seed=1), budgets=[4], n_resamples=500)
>>> best = result.best.iloc[0]
>>> int(best.started) * int(best.milestone) + int(best.keep) * (30 - int(best.milestone))
120
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from tune_seeds.analysis.evp import max_weights
from tune_seeds.plan import EarlyDiscardPlan, plan_cost
from tune_seeds.tables import validate_curves


def curve_matrix(
    curves: pd.DataFrame, metric: str = "score", n_evals: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Scores of a curves table as a ``(trials, n_evals + 1)`` matrix, NaN where missing.

    Args:
        curves: a curves table (one row per trial per evaluation).
        metric: the column to read (higher is better).
        n_evals: T, the intervals of a full run; defaults to the largest ``eval_index``.

    Returns:
        ``(trial_ids, scores)``, rows sorted by trial id, column k = evaluation k.
    """
    curves = validate_curves(curves)
    if metric not in curves.columns:
        raise ValueError(f"curves table has no column {metric!r}")
    T = int(curves["eval_index"].max()) if n_evals is None else int(n_evals)
    if T < 2:
        raise ValueError(f"need at least two evaluation intervals per run, got {T}")
    kept = curves[(curves["eval_index"] >= 0) & (curves["eval_index"] <= T)]
    wide = kept.pivot(index="trial_id", columns="eval_index", values=metric)
    wide = wide.reindex(columns=range(T + 1)).sort_index()
    return wide.index.to_numpy(dtype=str), wide.to_numpy(dtype=float)


def best_so_far(scores: np.ndarray) -> np.ndarray:
    """Running max along evaluations, ignoring NaN (NaN only before the first score)."""
    return np.fmax.accumulate(np.asarray(scores, dtype=float), axis=1)


@dataclass(frozen=True)
class Plan:
    """One early-discarding plan and its estimated value.

    Attributes:
        budget: budget in full runs.
        started: t, trials started.
        milestone: e, evaluation intervals every trial trains before the cut
            (``n_evals`` for the plan that trains every trial fully).
        keep: p, trials trained to the end.
        cost: intervals spent, ``t*e + p*(T-e)``.
        expected_best: expected best score found.
        se: Monte-Carlo standard error of ``expected_best`` (0 for exact values).
        baseline: expected best of training ``floor(budget)`` trials fully (exact).
        gain_over_full: ``expected_best - baseline``.
        total_evals: T, intervals of a full run.
    """

    budget: float
    started: int
    milestone: int
    keep: int
    cost: int
    expected_best: float
    se: float
    baseline: float
    gain_over_full: float
    total_evals: int

    @property
    def plan(self) -> EarlyDiscardPlan:
        """The plan itself, without its estimate."""
        return EarlyDiscardPlan(self.started, self.milestone, self.keep, self.total_evals)

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class PlannerResult:
    """All plans and the best one per budget.

    Attributes:
        plans: one row per budget per (milestone, keep), the plan that starts as many
            trials as the budget allows (the paper's "spend the budget" plans), with
            ``budget, started, milestone, keep, cost, expected_best, se``.
        best: one row per budget, the best of **all** feasible plans (any t), with the
            columns of :class:`Plan`; the full-training plan when nothing beats it.
        n_evals: T.
        n_trials: number of recorded trials planned on.
    """

    plans: pd.DataFrame
    best: pd.DataFrame
    n_evals: int
    n_trials: int


def _as_matrix(
    curves: pd.DataFrame | np.ndarray, metric: str, n_evals: int | None
) -> np.ndarray:
    if isinstance(curves, pd.DataFrame):
        return curve_matrix(curves, metric, n_evals)[1]
    scores = np.asarray(curves, dtype=float)
    if scores.ndim != 2 or scores.shape[1] < 3:
        raise ValueError("a score matrix must be 2-D with at least 3 evaluations")
    if n_evals is not None and n_evals != scores.shape[1] - 1:
        raise ValueError(f"n_evals={n_evals} but the matrix has {scores.shape[1]} columns")
    return scores


PAPER_MAX_STARTED = 200
"""The most trials the paper's analysis starts in a plan."""


def _running_best(scores: np.ndarray) -> np.ndarray:
    """Best so far per trial over evaluations ``1..k`` (column k; column 0 unused).

    The step-0 evaluation (the untrained model) is left out, as in the paper's curves.
    Trials that never scored after training started are dropped.
    """
    running = np.full(scores.shape, np.nan)
    running[:, 1:] = best_so_far(scores[:, 1:])
    running = running[~np.isnan(running[:, -1])]
    if running.shape[0] < 2:
        raise ValueError("need at least two trials with a score to plan")
    # A trial with no score yet at a cut ranks below every scored one.
    return np.where(np.isnan(running), np.nanmin(running) - 1.0, running)


def _arrivals(
    rng: np.random.Generator, n_trials: int, length: int, n_resamples: int, replace: bool
) -> np.ndarray:
    """``(n_resamples, length)`` arrival sequences of trial indices."""
    if replace:
        # Drawn arrival by arrival, so that the first k arrivals are the same whatever
        # ``length`` is: one plan's estimate never depends on the others searched.
        return rng.integers(0, n_trials, size=(length, n_resamples)).T
    return np.argsort(rng.random((n_resamples, n_trials)), axis=1)[:, :length]


def _stream_cut(
    b: np.ndarray,
    f: np.ndarray,
    order: np.ndarray,
    t_max: int,
    n_keep: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and mean square of the best score for t = 1..t_max and p = 1..n_keep, one cut.

    ``order`` holds one arrival sequence of trial indices per row (resample). Row-wise
    state: ``top_b``/``top_f`` are the ``n_keep`` best arrivals so far by best-at-cut
    (descending, earlier arrival first on ties) and their full-run bests; ``run_b`` is
    the max best-at-cut over all arrivals; ``best[:, p-1]`` is the plan's best score.
    Once the buffer is full a new arrival changes a row only when it beats the row's
    last kept entry (probability about ``n_keep / t``), so only those rows are
    recomputed and the column sums are updated in place.
    """
    R = order.shape[0]
    top_b = np.full((R, n_keep), -np.inf)
    top_f = np.full((R, n_keep), -np.inf)
    run_b = np.full(R, -np.inf)
    best = np.zeros((R, n_keep))
    total = np.zeros(n_keep)
    total_sq = np.zeros(n_keep)
    cols = np.arange(n_keep)[None, :]
    mean = np.empty((t_max, n_keep))
    mean_sq = np.empty((t_max, n_keep))
    for j in range(t_max):
        idx = order[:, j]
        # Ties go to the earlier arrival, so only a strictly better trial enters.
        rows = np.flatnonzero(b[idx] > top_b[:, -1])
        if rows.size:
            bn = b[idx[rows]][:, None]
            fn = f[idx[rows]][:, None]
            tb, tf = top_b[rows], top_f[rows]
            pos = (tb >= bn).sum(axis=1, keepdims=True)
            before, at = cols < pos, cols == pos
            tb = np.where(before, tb, np.where(at, bn, np.roll(tb, 1, axis=1)))
            tf = np.where(before, tf, np.where(at, fn, np.roll(tf, 1, axis=1)))
            top_b[rows], top_f[rows] = tb, tf
            run_b[rows] = np.maximum(run_b[rows], bn[:, 0])
            new = np.maximum(np.maximum.accumulate(tf, axis=1), run_b[rows, None])
            if j == 0:
                best[:] = new
                total, total_sq = new.sum(axis=0), np.square(new).sum(axis=0)
            else:
                old = best[rows]
                total += new.sum(axis=0) - old.sum(axis=0)
                total_sq += np.square(new).sum(axis=0) - np.square(old).sum(axis=0)
                best[rows] = new
        mean[j] = total / R
        mean_sq[j] = total_sq / R
    return mean, mean_sq


def _budget_intervals(budgets: Iterable[float], T: int) -> list[tuple[float, int]]:
    out = []
    for B in budgets:
        if not np.isfinite(B) or B < 1:
            raise ValueError(f"budgets are in full runs and must be at least 1, got {B}")
        out.append((float(B), round(float(B) * T)))
    return out


@dataclass(frozen=True)
class PlanTable:
    """Every plan ``(t, e, p)`` that spends at most some number of intervals, estimated.

    Index ``[e - 1, t - 1, p - 1]``; ``valid`` marks the plans estimated (``p < t``,
    affordable); the others hold NaN. All plans share one set of arrival orders.
    """

    means: np.ndarray
    se: np.ndarray
    cost: np.ndarray
    valid: np.ndarray
    n_evals: int

    def plans(self, mask: np.ndarray) -> list[tuple[int, int, int]]:
        """``(started, milestone, keep)`` of the plans where ``mask`` is true."""
        e, t, p = np.nonzero(mask)
        return [(int(ti) + 1, int(ei) + 1, int(pi) + 1) for ei, ti, pi in zip(e, t, p, strict=True)]


def plan_table(
    running: np.ndarray,
    max_interval: int,
    *,
    n_resamples: int = 2000,
    seed: int = 0,
    replace: bool = True,
    max_started: int | None = None,
) -> PlanTable:
    """Estimate every plan costing at most ``max_interval`` intervals.

    Args:
        running: best-so-far matrix of :func:`_running_best` (trials x ``T + 1``).
        max_interval: the most intervals a plan may spend.
        n_resamples, seed, replace, max_started: as in :func:`plan_budgets`.
    """
    if n_resamples < 2:
        raise ValueError("n_resamples must be at least 2")
    T = running.shape[1] - 1
    N = running.shape[0]
    full = running[:, -1]
    cap = max_started if max_started is not None else (PAPER_MAX_STARTED if replace else N)
    if not replace:
        cap = min(cap, N)
    n_keep = max(1, (max_interval - 1) // T)
    rng = np.random.default_rng(seed)
    t_cap = min(cap, max_interval)  # t*e <= budget with e >= 1
    order = _arrivals(rng, N, t_cap, n_resamples, replace)

    # [e-1, t-1, p-1]: (mean, mean square) of the best score of plan (t, e, p).
    means = np.full((T - 1, t_cap, n_keep), np.nan)
    squares = np.full_like(means, np.nan)
    for e in range(1, T):
        t_max = min(t_cap, (max_interval - (T - e)) // e)
        if t_max < 2:
            continue
        m, s = _stream_cut(running[:, e], full, order, t_max, n_keep)
        means[e - 1, :t_max] = m
        squares[e - 1, :t_max] = s
    e_ax = np.arange(1, T)[:, None, None]
    t_ax = np.arange(1, t_cap + 1)[None, :, None]
    p_ax = np.arange(1, n_keep + 1)[None, None, :]
    cost = plan_cost(t_ax, e_ax, p_ax, T)
    valid = (p_ax < t_ax) & ~np.isnan(means) & (cost <= max_interval)
    se = np.sqrt(np.maximum(squares - means**2, 0.0) / n_resamples)
    return PlanTable(means, se, np.broadcast_to(cost, means.shape), valid, T)


def plan_budgets(
    curves: pd.DataFrame | np.ndarray,
    budgets: Iterable[float] = range(1, 31),
    *,
    metric: str = "score",
    n_evals: int | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
    replace: bool = True,
    exact_budget: bool = True,
    max_started: int | None = None,
) -> PlannerResult:
    """Estimate every early-discarding plan for each budget; pick the best.

    Args:
        curves: a curves table, or a ``(trials, T + 1)`` score matrix (column k =
            evaluation k; NaN where a curve ended).
        budgets: budgets in full runs (at least 1 each).
        metric: score column of the curves table (higher is better).
        n_evals: T, intervals of a full run; defaults to the largest ``eval_index``.
        n_resamples: random arrival orders shared by all plans; the standard error of
            an estimate is about ``sd(best) / sqrt(n_resamples)``.
        seed: seed of the numpy Generator drawing the arrival orders.
        replace: draw trials with replacement, as the paper's analysis does (the
            recorded trials as a sample of new ones; ``t`` may exceed their number);
            False draws distinct recorded trials.
        exact_budget: only plans that spend the budget exactly, as the paper searched;
            False also admits plans that spend less.
        max_started: cap on t; defaults to :data:`PAPER_MAX_STARTED` with replacement,
            to the number of recorded trials without.

    Returns:
        A :class:`PlannerResult`.
    """
    scores = _as_matrix(curves, metric, n_evals)
    T = scores.shape[1] - 1
    running = _running_best(scores)
    N = running.shape[0]
    full = running[:, -1]
    plan_budget = _budget_intervals(budgets, T)
    table = plan_table(
        running, max(bi for _, bi in plan_budget), n_resamples=n_resamples, seed=seed,
        replace=replace, max_started=max_started,
    )
    means, se, cost, valid = table.means, table.se, table.cost, table.valid
    n_keep = means.shape[2]

    plan_rows, best_rows = [], []
    for B, bi in plan_budget:
        n_full = min(bi // T, N) if not replace else bi // T
        w = max_weights(N, n_full, replace=replace)
        baseline = float(w @ np.sort(full))
        feasible = valid & ((cost == bi) if exact_budget else (cost <= bi))
        # For each (e, p), the largest affordable t (the only one with an exact budget).
        for e in range(1, T):
            for p in range(1, n_keep + 1):
                ts = np.flatnonzero(feasible[e - 1, :, p - 1])
                if ts.size:
                    t = int(ts[-1]) + 1
                    plan_rows.append(
                        (B, t, e, p, int(cost[e - 1, t - 1, p - 1]),
                         means[e - 1, t - 1, p - 1], se[e - 1, t - 1, p - 1])
                    )
        best = Plan(B, n_full, T, n_full, n_full * T, baseline, 0.0, baseline, 0.0, T)
        if feasible.any():
            flat = np.where(feasible, means, -np.inf)
            e_i, t_i, p_i = np.unravel_index(int(np.argmax(flat)), flat.shape)
            value = float(flat[e_i, t_i, p_i])
            if value > baseline:
                best = Plan(
                    B, int(t_i) + 1, int(e_i) + 1, int(p_i) + 1, int(cost[e_i, t_i, p_i]),
                    value, float(se[e_i, t_i, p_i]), baseline, value - baseline, T,
                )
        best_rows.append(best.to_dict())
    plans = pd.DataFrame(
        plan_rows,
        columns=["budget", "started", "milestone", "keep", "cost", "expected_best", "se"],
    )
    return PlannerResult(plans, pd.DataFrame(best_rows), T, N)


def evaluate_plan(
    curves: pd.DataFrame | np.ndarray,
    started: int,
    milestone: int,
    keep: int,
    *,
    metric: str = "score",
    n_resamples: int = 2000,
    seed: int = 0,
    replace: bool = True,
) -> tuple[float, float]:
    """Expected best score of one plan on recorded curves, and its standard error.

    The same estimate :func:`plan_budgets` makes for every plan, for a single
    ``(started, milestone, keep)``; ``keep == started`` or ``milestone == T`` is full
    training. Use it to score a plan chosen elsewhere (e.g. on a pilot) on held-out
    curves.
    """
    scores = _as_matrix(curves, metric, None)
    T = scores.shape[1] - 1
    if not (1 <= keep <= started and 1 <= milestone <= T):
        raise ValueError(f"invalid plan: started={started}, milestone={milestone}, keep={keep}")
    running = _running_best(scores)
    N = running.shape[0]
    if not replace and started > N:
        raise ValueError(f"cannot start {started} of {N} recorded trials without replacement")
    order = _arrivals(np.random.default_rng(seed), N, started, n_resamples, replace)
    cut = T if keep == started else milestone
    mean, mean_sq = _stream_cut(running[:, cut], running[:, -1], order, started, keep)
    m, s = mean[started - 1, keep - 1], mean_sq[started - 1, keep - 1]
    return float(m), float(np.sqrt(max(s - m * m, 0.0) / n_resamples))


def plan_early_discard(
    curves: pd.DataFrame | np.ndarray,
    budget: float,
    *,
    metric: str = "score",
    n_evals: int | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
    replace: bool = True,
    exact_budget: bool = True,
    max_started: int | None = None,
) -> Plan:
    """The best plan for one budget, planned on the curves recorded so far.

    This is the adaptive answer to "which milestone and keep count for a new task?":
    run a pilot cohort (or take a previous sweep), then plan on its curves. The pilot
    is resampled with replacement (the paper's sampling), treating its trials as a
    sample of the trials a new sweep would start, so a plan may start more trials
    than the pilot has.

    Args:
        curves: curves of the trials recorded so far (table or score matrix).
        budget: budget of the new sweep, in full runs.
        metric, n_evals, n_resamples, seed, replace, exact_budget, max_started: as in
            :func:`plan_budgets`.

    Returns:
        The best :class:`Plan` (the full-training plan when no early-discarding plan
        is estimated to beat it).
    """
    result = plan_budgets(
        curves, [budget], metric=metric, n_evals=n_evals, n_resamples=n_resamples,
        seed=seed, replace=replace, exact_budget=exact_budget, max_started=max_started,
    )
    row = result.best.iloc[0]
    return Plan(**{k: (int(row[k]) if k in _INT_FIELDS else float(row[k])) for k in row.index})


_INT_FIELDS = frozenset({"started", "milestone", "keep", "cost", "total_evals"})


def fixed_plan(
    budget: float, n_evals: int, discard_at: float = 0.25, keep_per_run: float = 0.5
) -> tuple[int, int, int]:
    """The paper's rule of thumb as ``(started, milestone, keep)``.

    See :meth:`~tune_seeds.plan.EarlyDiscardPlan.rule_of_thumb`.

    >>> fixed_plan(10, 30)
    (23, 8, 5)
    """
    plan = EarlyDiscardPlan.rule_of_thumb(budget, n_evals, discard_at, keep_per_run)
    return plan.started, plan.milestone, plan.keep


def cut_rank_correlation(
    curves: pd.DataFrame | np.ndarray,
    cuts: Iterable[int] | None = None,
    *,
    metric: str = "score",
) -> pd.DataFrame:
    """How well the ranking at a cut predicts the final ranking.

    Early discarding ranks trials by their best score so far at the cut and keeps the
    top; it can only beat training fewer trials fully when that ranking says something
    about the best score at the end. For each cut ``e`` this is the Spearman rank
    correlation, over the recorded trials, between the best score over evaluations
    ``1..e`` and the best over the whole run (the step-0 evaluation left out, as in
    the planner).

    Args:
        curves: a curves table or a ``(trials, T + 1)`` score matrix.
        cuts: evaluation intervals to test; defaults to ``1..T-1``.
        metric: score column of a curves table.

    Returns:
        One row per cut: ``milestone``, ``share`` (milestone / T), ``spearman``
        (NaN where every trial ties at the cut).

    >>> import numpy as np
    >>> m = np.array([[0.9, 0.6, 0.9], [0.5, 0.7, 0.8], [0.5, 0.8, 0.95]])
    >>> cut_rank_correlation(m)["spearman"].round(2).tolist()
    [0.5]
    """
    from scipy.stats import spearmanr

    running = _running_best(_as_matrix(curves, metric, None))
    T = running.shape[1] - 1
    cuts = list(range(1, T)) if cuts is None else [int(e) for e in cuts]
    bad = [e for e in cuts if not 1 <= e <= T]
    if bad:
        raise ValueError(f"cuts must lie in 1..{T}, got {bad}")
    final = running[:, -1]
    rows = []
    for e in cuts:
        at = running[:, e]
        ok = ~(np.isnan(at) | np.isnan(final))
        constant = np.ptp(at[ok]) == 0 or np.ptp(final[ok]) == 0 if ok.sum() > 1 else True
        rho = np.nan if constant else float(spearmanr(at[ok], final[ok]).statistic)
        rows.append((e, e / T, rho))
    return pd.DataFrame(rows, columns=["milestone", "share", "spearman"])


__all__: Sequence[str] = (
    "Plan",
    "PlannerResult",
    "best_so_far",
    "curve_matrix",
    "cut_rank_correlation",
    "evaluate_plan",
    "fixed_plan",
    "plan_budgets",
    "plan_cost",
    "plan_early_discard",
)
