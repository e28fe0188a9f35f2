"""Compute accounting in ``time_attr`` units (evaluation intervals in this project): what
trials trained.

Schedulers are compared at equal compute, so every comparison counts it the same way:
:func:`trial_compute` per trial from what it reported, :func:`total_compute` over a run;
what a plan will train before it runs is its :attr:`~tune_seeds.plan.EarlyDiscardPlan.cost`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any


def trial_compute(trial_result: Any, time_attr: str = "eval_index", start: float = 0) -> float:
    """Units a trial trained: the largest ``time_attr`` it reported, minus ``start``.

    ``start`` is the ``time_attr`` of a report made before any training: 0 for the
    project's ``eval_index`` (evaluation 0 at step 0), 1 for ``training_iteration``
    when the trainable reports before training. Accepts a ``ray.tune.Result`` (uses its
    full history when present), a ``Trial`` (its last result) or a result mapping. A
    trial that never reported trained nothing. Work redone after ``Tuner.restore``
    (from a checkpoint older than the interruption) is not counted twice.

    Example:
        >>> trial_compute({"eval_index": 8, "score": 0.8})
        8
        >>> trial_compute({"training_iteration": 9}, "training_iteration", start=1)
        8
    """
    history = getattr(trial_result, "metrics_dataframe", None)
    if history is not None and time_attr in getattr(history, "columns", ()):
        values = history[time_attr].dropna()
        reached = values.max() if len(values) else None
    else:
        if hasattr(trial_result, "metrics") and isinstance(trial_result.metrics, Mapping):
            last = trial_result.metrics
        elif hasattr(trial_result, "last_result"):
            last = trial_result.last_result or {}
        elif isinstance(trial_result, Mapping):
            last = trial_result
        else:
            raise TypeError(
                "trial_compute takes a ray.tune.Result, a Trial or a result dict, "
                f"got {type(trial_result).__name__}"
            )
        reached = last.get(time_attr)
    if reached is None or (isinstance(reached, float) and math.isnan(reached)):
        return 0
    compute = reached - start
    return int(compute) if float(compute).is_integer() else float(compute)


def total_compute(
    trial_results: Iterable[Any], time_attr: str = "eval_index", start: float = 0
) -> float:
    """Sum of :func:`trial_compute` over trials, e.g. over a ``ResultGrid``."""
    return sum(trial_compute(r, time_attr, start) for r in trial_results)

