"""One way to build any of the project's schedulers by name, with what it needs around it.

Both the sweep (:mod:`tune_seeds.tuning.sweep`) and the replayed comparison
(:mod:`tune_seeds.replay.compare`) build their schedulers here, so a scheduler has one name
everywhere (command line, tables, plots) and one construction:

====================  =========================================================
``fifo``              every trial to the end
``early-discard``     the paper's policy: pause every trial at ``milestone``,
                      continue the best ``keep``, stop the rest
``adaptive``          early discarding with a planned
                      :class:`~tune_seeds.plan.EarlyDiscardPlan` (full training
                      when the plan stops nothing)
``asha``              Ray's asynchronous successive halving (stops, never pauses)
``hyperband``         Ray's synchronous HyperBand (pauses at its rungs)
``median``            Ray's median stopping rule
====================  =========================================================

Every budget is in evaluation intervals (``time_attr="eval_index"``). Besides the
scheduler, :func:`build` returns the evaluations at which it may pause a trial (their
reports must carry a checkpoint, or a position with ``--pause-mode recompute``), and
:func:`callbacks_for` the Tune callbacks it needs: its state across a restore and a
guard that fails a stalled run instead of letting it wait forever.

>>> build("early-discard", 30, milestone=8, keep=0.5).pause_points
frozenset({8})
>>> sorted(build("hyperband", 30, reduction_factor=3).pause_points)
[1, 3, 9, 10, 27]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tune_seeds.plan import EarlyDiscardPlan

NAMES: tuple[str, ...] = ("fifo", "early-discard", "adaptive", "asha", "hyperband", "median")
TIME_ATTR = "eval_index"


@dataclass(frozen=True)
class Scheduling:
    """A scheduler and the evaluations at which it may pause trials."""

    name: str
    scheduler: Any
    pause_points: frozenset[int]


def hyperband_milestones(max_t: int, eta: float) -> frozenset[int]:
    """Every ``eval_index`` at which Ray's HyperBand may pause a trial.

    Mirrors :class:`ray.tune.schedulers.HyperBandScheduler`: bracket ``s`` starts
    at ``r0 = int(max_t * eta**-s)`` and multiplies by ``eta`` up to ``max_t``.
    """
    s_max_1 = round(math.log(max_t) / math.log(eta)) + 1
    points: set[int] = set()
    for s in range(s_max_1):
        r = int(max_t * eta ** (-s))
        while 0 < r < max_t:
            points.add(r)
            r = int(min(r * eta, max_t))
    return frozenset(points)


def build(
    name: str,
    total_evals: int,
    *,
    metric: str = "score",
    milestone: int | None = None,
    keep: int | float | None = None,
    cohort_size: int | None = None,
    rank_by: str = "best",
    plan: EarlyDiscardPlan | None = None,
    grace_period: int = 3,
    reduction_factor: float = 3.0,
) -> Scheduling:
    """The scheduler called ``name`` for runs of ``total_evals`` evaluation intervals.

    Args:
        name: one of :data:`NAMES`.
        total_evals: evaluation intervals of a full run.
        metric: result key the scheduler compares (higher is better).
        milestone, keep, cohort_size, rank_by: ``early-discard``'s cut (in
            evaluations), how many or what share continue, trials decided together,
            and the ranking (best score since training started, or the last one).
        plan: ``adaptive``'s planned plan (its cut and kept count; ``cohort_size``
            turns ``kept`` into a share per cohort).
        grace_period: ``asha``'s first rung and ``median``'s grace period.
        reduction_factor: ``asha``'s and ``hyperband``'s halving rate.
    """
    from ray.tune.schedulers import FIFOScheduler, MedianStoppingRule

    from tune_seeds.schedulers import EarlyDiscardScheduler, asha_scheduler, hyperband_scheduler

    common: dict[str, Any] = dict(time_attr=TIME_ATTR, metric=metric, mode="max")
    if name == "adaptive":
        if plan is None:
            raise ValueError("the adaptive scheduler needs a plan")
        if not plan.discards:
            return Scheduling(name, FIFOScheduler(), frozenset())
        milestone, rank_by = plan.cut_after, "best"
        keep = plan.kept if cohort_size is None else min(1.0, plan.kept / plan.started)
    if name in ("early-discard", "adaptive"):
        if milestone is None or keep is None:
            raise ValueError(f"{name} needs a milestone and a keep count or share")
        # rank_from=1: the evaluation at step 0 (the untrained model) is not ranked.
        scheduler = EarlyDiscardScheduler(
            milestone=milestone, keep=keep, cohort_size=cohort_size, rank_by=rank_by,
            rank_from=1, **common,
        )
        return Scheduling(name, scheduler, frozenset({int(milestone)}))
    if name == "fifo":
        return Scheduling(name, FIFOScheduler(), frozenset())
    if name == "asha":
        return Scheduling(name, asha_scheduler(total_evals, grace_period, reduction_factor,
                                               **common), frozenset())
    if name == "hyperband":
        return Scheduling(name, hyperband_scheduler(total_evals, reduction_factor, **common),
                          hyperband_milestones(total_evals, reduction_factor))
    if name == "median":
        return Scheduling(name, MedianStoppingRule(grace_period=grace_period,
                                                   min_samples_required=3, **common),
                          frozenset())
    raise ValueError(f"unknown scheduler {name!r}; choose one of {', '.join(NAMES)}")


def callbacks_for(scheduler: Any) -> list[Any]:
    """Tune callbacks a scheduler needs: its state across a restore (early discarding,
    ASHA), and a guard that fails a stalled run, naming the waiting trials, instead of
    letting it wait forever (``$TUNE_SEEDS_STALL_TIMEOUT_S``, default 300 s)."""
    from tune_seeds.schedulers.stall import StallGuard

    make = getattr(scheduler, "state_callback", None)
    guard = StallGuard(time_attr=TIME_ATTR, describe=scheduler.debug_string)
    return [*([make()] if callable(make) else []), guard]
