"""Adaptive early discarding: choose the milestone and the keep count from recorded curves.

The paper's advice (cut at 20-30% of training, keep about half the budget) is a rule
of thumb from four tasks; it leaves open how to choose the cut ``e``, the number of
trials started ``t`` and the number kept ``p`` for a new task. Our answer: plan on the
curves recorded so far (a pilot cohort trained fully, or a previous sweep of a similar
task) with the budget planner (:func:`tune_seeds.analysis.plan_early_discard`), then
run :class:`~tune_seeds.schedulers.early_discard.EarlyDiscardScheduler` with the planned
milestone and keep count, and start the planned number of trials.

The pilot's trials are bootstrapped (drawn with replacement) as stand-ins for the
trials of the new sweep, so the plan may start more trials than the pilot holds. The
pilot's own cost is not part of the budget planned here.

Example (needs Ray)::

    scheduler, num_samples = adaptive_early_discard(pilot_curves, budget=10)
    tuner = tune.Tuner(trainable, param_space=space,
                       tune_config=tune.TuneConfig(scheduler=scheduler,
                                                   num_samples=num_samples))
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from ray.tune.schedulers import TrialScheduler

from tune_seeds.analysis.planner import plan_early_discard
from tune_seeds.plan import EarlyDiscardPlan
from tune_seeds.schedulers.kinds import plan_scheduling


def scheduler_for_plan(
    plan: EarlyDiscardPlan,
    *,
    metric: str = "score",
    cohort_size: int | None = None,
) -> TrialScheduler:
    """The scheduler that carries out a plan (:func:`tune_seeds.schedulers.kinds.plan_scheduling`):
    an :class:`EarlyDiscardScheduler` ranking by best score after training starts at
    ``plan.milestone`` and keeping ``plan.keep`` trials (the same share of each cohort
    with ``cohort_size``), or a FIFO scheduler for a plan that stops nothing.
    """
    return plan_scheduling(plan, metric=metric, cohort_size=cohort_size).scheduler


def adaptive_early_discard(
    curves: pd.DataFrame | np.ndarray,
    budget: float,
    *,
    metric: str = "score",
    cohort_size: int | None = None,
    n_evals: int | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[TrialScheduler, int]:
    """Plan on recorded curves, return the scheduler and how many trials to start.

    Args:
        curves: curves of the trials recorded so far (a curves table or a
            ``(trials, T + 1)`` score matrix).
        budget: budget of the new sweep in full runs.
        metric: score column of the curves and result key to rank (higher is better).
        cohort_size: see :func:`scheduler_for_plan`.
        n_evals: T, intervals of a full run (default: the largest recorded eval_index).
        n_resamples: Monte-Carlo resamples of the planner.
        seed: seed of the planner's resampling.

    Returns:
        ``(scheduler, num_samples)``: an :class:`EarlyDiscardScheduler` (or a
        :class:`FIFOScheduler` when training ``floor(budget)`` trials fully is estimated
        best) and the number of trials to start.
    """
    plan = plan_early_discard(
        curves, budget, metric=metric, n_evals=n_evals, n_resamples=n_resamples,
        seed=seed, replace=True,
    )
    scheduler = scheduler_for_plan(plan.plan, metric=metric, cohort_size=cohort_size)
    return scheduler, plan.started
