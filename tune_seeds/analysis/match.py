"""Early discarding against FIFO at a budget: the compute to match it, the gain per cut.

The paper's question (Dodge et al. 2020, section 6): FIFO with a budget of ``B`` full
runs finds, in expectation, the best of ``B`` trials. What is the smallest budget at
which the best early-discarding plan finds as much? Its answer for MRPC was "about
half".

**The budget is found by a scan, not a bisection.** The best plan that spends a budget
*exactly* is not monotone in the budget (a budget of 7.80 full runs can afford a better
plan than 7.83), so a bisection over budgets can land anywhere. Here every plan that
spends at most ``B`` full runs is estimated once, on one set of arrival orders
(:func:`~tune_seeds.analysis.planner.plan_table`); the answer is the cheapest plan that
reaches FIFO's expected best. "The best plan spending *at most* b" is monotone in b by
construction, so the cheapest such plan is the smallest budget whose best plan reaches
the target.

**Selection, then a fresh estimate.** Picking the cheapest of hundreds of noisy
estimates that crosses a line favours plans whose estimate happens to be high. So the
scan only screens: every plan whose screening estimate is within
:data:`SCREEN_SE` standard errors of the target is estimated again on independent
arrival orders (another seed), cheapest first, and the answer is the first whose fresh
estimate clears the target by two standard errors: it reaches FIFO's expected best
beyond Monte-Carlo doubt. Its standard error (``se``) is stated, and so is where the
answer could start given that error: the cheapest plan whose fresh estimate is within
two standard errors of the target (``plan_budget_low``).

**Where a cut pays** (:func:`cut_table`): for every cut ``e = 1..T-1``, how well the
ranking there predicts the final one (Spearman), and the best plan cutting there that
spends at most the budget, against FIFO's expected best (again estimated afresh).

>>> from tune_seeds.replay.synthetic import synthetic_curves
>>> m = compute_to_match(synthetic_curves(10, 10, seed=1), budget=4, n_resamples=400)
>>> m.plan_budget <= 4 and m.plan_expected_best >= m.fifo_expected_best
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tune_seeds.analysis.evp import max_weights
from tune_seeds.analysis.planner import (
    _as_matrix,
    _running_best,
    cut_rank_correlation,
    evaluate_plan,
    plan_table,
)
from tune_seeds.plan import EarlyDiscardPlan

SCREEN_SE = 3.0
"""Plans whose screening estimate is this many standard errors below the target or closer
are estimated again; the others cannot plausibly reach it."""

RANGE_SE = 2.0
"""Half-width, in standard errors, of the range stated around the answer."""

MAX_FRESH = 400
"""Most plans estimated again; past it the answer is FIFO's own budget."""


@dataclass(frozen=True)
class Match:
    """The compute planned early discarding needs to match FIFO at ``budget``.

    Attributes:
        budget: FIFO's budget, in full runs.
        fifo_expected_best: the expected best of ``budget`` full runs (exact).
        plan: the cheapest plan whose fresh estimate clears the target by :data:`RANGE_SE`
            standard errors (FIFO's own full training if none is cheaper).
        plan_budget: its cost in full runs.
        plan_expected_best: its expected best, estimated afresh.
        se: the Monte-Carlo standard error of ``plan_expected_best``.
        plan_budget_low: the cost (full runs) of the cheapest plan whose fresh estimate is
            within :data:`RANGE_SE` standard errors of the target: the answer lies
            between this and ``plan_budget``.
        best_plan_at_budget: the best plan spending at most ``budget``.
        best_expected_best_at_budget: its expected best, estimated afresh.
        best_se_at_budget: the standard error of that.
        fifo_runs_to_match_plan: the full runs FIFO needs to come within
            :data:`RANGE_SE` standard errors of that (the paper's "what 19 full runs
            reach" for MRPC).
        n_resamples: arrival orders per estimate.
    """

    budget: float
    fifo_expected_best: float
    plan: EarlyDiscardPlan
    plan_budget: float
    plan_expected_best: float
    se: float
    plan_budget_low: float
    best_plan_at_budget: EarlyDiscardPlan
    best_expected_best_at_budget: float
    best_se_at_budget: float
    fifo_runs_to_match_plan: int | None
    n_resamples: int

    @property
    def share(self) -> float:
        """``plan_budget`` as a share of FIFO's budget."""
        return self.plan_budget / self.budget

    def summary(self) -> str:
        """The answer in two sentences."""
        p = self.plan
        how = (
            f"start {p.started}, cut after {p.cut_after} of {p.total_evals} evaluations, "
            f"keep {p.kept}" if p.discards else f"train {p.started} fully (no early stopping)"
        )
        return (
            f"To match FIFO's expected best at {self.budget:g} full runs "
            f"({self.fifo_expected_best:.4f}), planned early discarding needs "
            f"{self.plan_budget:.2f} full runs ({self.share:.0%}; at least "
            f"{self.plan_budget_low:.2f} within Monte-Carlo error): {how}, expected best "
            f"{self.plan_expected_best:.4f} ± {self.se:.4f}.\n"
            f"The best plan at {self.budget:g} full runs expects "
            f"{self.best_expected_best_at_budget:.4f}, what FIFO reaches with "
            f"{self.fifo_runs_to_match_plan} full runs."
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, the plans as ``started``, ``kept``, ``cut_after``."""

        def plan(p: EarlyDiscardPlan) -> dict[str, int]:
            return {"started": p.started, "kept": p.kept, "cut_after": p.cut_after}

        return {
            "budget": self.budget, "fifo_expected_best": self.fifo_expected_best,
            "plan_budget": self.plan_budget, "share": self.share, "plan": plan(self.plan),
            "plan_expected_best": self.plan_expected_best, "se": self.se,
            "plan_budget_low": self.plan_budget_low,
            "best_plan_at_budget": plan(self.best_plan_at_budget),
            "best_expected_best_at_budget": self.best_expected_best_at_budget,
            "best_se_at_budget": self.best_se_at_budget,
            "fifo_runs_to_match_plan": self.fifo_runs_to_match_plan,
            "n_resamples": self.n_resamples,
        }


def whole_runs(budget: float) -> int:
    """A budget in full runs that must be whole: FIFO trains whole runs."""
    if budget < 1 or budget != int(budget):
        raise ValueError(f"budget must be a whole number of full runs, got {budget}")
    return int(budget)


def fifo_expected_best(full: np.ndarray, runs: int) -> float:
    """Expected best of ``runs`` full runs drawn with replacement (exact)."""
    return float(max_weights(len(full), runs, replace=True) @ np.sort(full))


def compute_to_match(
    curves: pd.DataFrame | np.ndarray,
    budget: float = 10,
    *,
    metric: str = "score",
    n_resamples: int = 20_000,
    seed: int = 0,
) -> Match:
    """The cheapest early-discarding plan that matches FIFO's expected best at ``budget``.

    Plans and estimates are the paper's (:mod:`~tune_seeds.analysis.planner`: trials drawn
    with replacement, ranked by their best score up to the cut, at most 200 started).

    Args:
        curves: a curves table or a ``(trials, T + 1)`` score matrix.
        budget: FIFO's budget in full runs (a whole number of runs).
        metric: score column of a curves table.
        n_resamples: arrival orders per estimate; the answer's standard error shrinks as
            ``1 / sqrt(n_resamples)``.
        seed: seeds the screening (``seed``) and the fresh estimates (``seed + 1``).
    """
    runs = whole_runs(budget)
    running = _running_best(_as_matrix(curves, metric, None))
    T = running.shape[1] - 1
    full = running[:, -1]
    target = fifo_expected_best(full, runs)
    table = plan_table(running, runs * T, n_resamples=n_resamples, seed=seed)

    def fresh(p: EarlyDiscardPlan) -> tuple[float, float]:
        # A best-so-far matrix is its own best-so-far: evaluate_plan reads it unchanged.
        return evaluate_plan(running, p.started, p.cut_after, p.kept,
                             n_resamples=n_resamples, seed=seed + 1)

    fifo = EarlyDiscardPlan.full_training(runs, T)
    screened = table.valid & (table.means + SCREEN_SE * table.se >= target)
    # Cheapest first; among plans of one cost, the most promising first.
    candidates = sorted(
        (EarlyDiscardPlan(t, e, p, T) for t, e, p in table.plans(screened)),
        key=lambda q: (q.cost, -table.means[q.cut_after - 1, q.started - 1, q.kept - 1]),
    )
    answer = low = None
    for plan in candidates[:MAX_FRESH]:
        value, se = fresh(plan)
        if low is None and value + RANGE_SE * se >= target:
            low = plan.cost
        if value - RANGE_SE * se >= target:
            answer = (plan, value, se)
            break
    plan, value, se = answer if answer is not None else (fifo, target, 0.0)
    low = min(low if low is not None else fifo.cost, plan.cost)

    best_i = np.unravel_index(
        int(np.argmax(np.where(table.valid, table.means, -np.inf))), table.means.shape
    )
    best = EarlyDiscardPlan(int(best_i[1]) + 1, int(best_i[0]) + 1, int(best_i[2]) + 1, T)
    best_value, best_se = fresh(best) if table.valid.any() else (target, 0.0)
    if best_value < target:  # no early-discarding plan beats full training at this budget
        best, best_value, best_se = fifo, target, 0.0
    # FIFO "reaches" the plan once the plan is no longer clearly better: the same
    # RANGE_SE margin, now in FIFO's favour, as the plan needed to reach FIFO.
    runs_needed = next(
        (n for n in range(1, 10_000)
         if fifo_expected_best(full, n) >= best_value - RANGE_SE * best_se), None
    )
    return Match(
        budget=float(budget), fifo_expected_best=target, plan=plan,
        plan_budget=plan.cost / T, plan_expected_best=value, se=se,
        plan_budget_low=low / T,
        best_plan_at_budget=best, best_expected_best_at_budget=best_value,
        best_se_at_budget=best_se,
        fifo_runs_to_match_plan=runs_needed, n_resamples=n_resamples,
    )



def cut_table(
    curves: pd.DataFrame | np.ndarray,
    budget: float = 10,
    *,
    metric: str = "score",
    n_resamples: int = 20_000,
    seed: int = 0,
) -> pd.DataFrame:
    """For every cut, the early ranking's worth and the best plan that cuts there.

    Args:
        curves, metric, n_resamples, seed: as in :func:`compute_to_match`.
        budget: the most a plan may spend, in full runs (a whole number).

    Returns:
        One row per cut ``e = 1..T-1``: ``cut_after``, ``share`` (e / T), ``spearman``
        (of the best score up to e with the whole run's, over the recorded trials),
        the best plan cutting at e (``started``, ``kept``; NaN where none is
        affordable), its fresh ``expected_best`` and ``se``, and ``gain`` over FIFO's
        expected best at ``budget``.
    """
    runs = whole_runs(budget)
    scores = _as_matrix(curves, metric, None)
    running = _running_best(scores)
    T = running.shape[1] - 1
    target = fifo_expected_best(running[:, -1], runs)
    table = plan_table(running, runs * T, n_resamples=n_resamples, seed=seed)
    rho = cut_rank_correlation(scores).set_index("milestone")["spearman"]
    rows = []
    for e in range(1, T):
        row: dict[str, Any] = {"cut_after": e, "share": e / T, "spearman": float(rho[e])}
        means = np.where(table.valid[e - 1], table.means[e - 1], -np.inf)
        if np.isfinite(means).any():
            t, p = np.unravel_index(int(np.argmax(means)), means.shape)
            value, se = evaluate_plan(running, int(t) + 1, e, int(p) + 1,
                                      n_resamples=n_resamples, seed=seed + 1)
            row.update(started=int(t) + 1, kept=int(p) + 1, expected_best=value, se=se,
                       gain=value - target)
        rows.append(row)
    columns = ["cut_after", "share", "spearman", "started", "kept", "expected_best", "se",
               "gain"]
    return pd.DataFrame(rows).reindex(columns=columns)
