"""Adaptive early discarding: choose the milestone and the keep count from recorded curves.

The paper's advice (cut at 20-30% of training, keep about half the budget) is a rule
of thumb from four tasks; it leaves open how to choose the cut ``e``, the number of
trials started ``t`` and the number kept ``p`` for a new task. Our answer: plan on the
curves recorded so far (a pilot cohort trained fully, or a previous sweep of a similar
task) with the budget planner (:func:`tune_seeds.analysis.plan_early_discard`), then
run :class:`schedulers.early_discard.EarlyDiscardScheduler` with the planned
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
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from schedulers.early_discard import EarlyDiscardScheduler
from tune_seeds.analysis.planner import plan_early_discard
from tune_seeds.plan import EarlyDiscardPlan


def scheduler_for_plan(
    plan: EarlyDiscardPlan,
    *,
    time_attr: str = "eval_index",
    metric: str = "score",
    mode: str = "max",
    cohort_size: int | None = None,
) -> TrialScheduler:
    """The scheduler that carries out a plan.

    An early-discarding plan becomes an :class:`EarlyDiscardScheduler` ranking by best
    score after training starts (the planner's rule) at ``plan.cut_after`` and keeping
    ``plan.kept`` trials; a full-training plan (nothing estimated to beat it) becomes a
    :class:`FIFOScheduler`.

    Args:
        plan: a plan from the planner.
        time_attr: result key counting evaluation intervals.
        metric: result key ranked (higher is better with ``mode="max"``).
        mode: ``"max"`` or ``"min"``.
        cohort_size: trials decided together; None decides all started trials at once,
            as planned. With cohorts, ``kept`` is scaled to each cohort
            (``kept / started`` as a fraction).
    """
    if not plan.discards:
        return FIFOScheduler()
    keep: int | float = plan.kept
    if cohort_size is not None:
        keep = min(1.0, plan.kept / plan.started)
    return EarlyDiscardScheduler(
        milestone=plan.cut_after,
        keep=keep,
        cohort_size=cohort_size,
        time_attr=time_attr,
        metric=metric,
        mode=mode,
        rank_by="best",
        rank_from=1,  # the step-0 evaluation is not ranked, as in the planner
    )


def adaptive_early_discard(
    curves: pd.DataFrame | np.ndarray,
    budget: float,
    *,
    metric: str = "score",
    time_attr: str = "eval_index",
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
        time_attr: result key counting evaluation intervals.
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
    scheduler = scheduler_for_plan(
        plan.plan, time_attr=time_attr, metric=metric, mode="max", cohort_size=cohort_size
    )
    return scheduler, plan.started
