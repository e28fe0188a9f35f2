"""Every kind of scheduler the project runs, one object each, owning all that is known about it.

====================  =========================================================
``fifo``              every trial to the end
``early-discard``     the paper's policy: pause every trial at the milestone,
                      continue the best ``keep``, stop the rest
``adaptive``          early discarding with the plan made on pilot curves
                      (:func:`~tune_seeds.analysis.plan_early_discard`); replays only
``asha``              Ray's asynchronous successive halving (stops, never pauses)
``hyperband``         Ray's synchronous HyperBand (pauses at its rungs)
``median``            Ray's median stopping rule; replays only
====================  =========================================================

A kind (:data:`KINDS`, by name) answers every question the rest of the project asks
about a scheduler, so that no other module tells schedulers apart by name: whether a
sweep may run it, how its settings are checked against the length of a run, how a
replay at a budget configures it, what it plans to train, where it pauses trials (those
reports need a checkpoint, or a position with ``--pause-mode recompute``), how many
paused checkpoints it may hold at once, whether a concurrency limit must go through
CPUs, and how it is built, with its Tune callbacks.

:class:`SchedulerSpec` is a sweep's choice of scheduler and its settings (saved in
``sweep.json``); :class:`Setup` is a kind with the numbers of one sweep or replay (run
length, plan, options), which builds the scheduler (:class:`Scheduling`). Every budget is
in evaluation intervals (``time_attr="eval_index"``).

>>> spec = SchedulerSpec("early-discard", discard_at=0.25, keep_share=0.5)
>>> setup = spec.setup(trials=16, total_evals=30)
>>> setup.plan.keep, setup.planned_compute, sorted(setup.pause_points)
(8, 304, [8])
>>> sorted(SchedulerSpec("hyperband").setup(16, 30).pause_points)
[1, 3, 9, 10, 27]
>>> [name for name, kind in KINDS.items() if kind.in_sweeps]
['fifo', 'early-discard', 'asha', 'hyperband']
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from ray.tune.schedulers import FIFOScheduler, MedianStoppingRule

from tune_seeds.plan import EarlyDiscardPlan, share_kept
from tune_seeds.schedulers.comparators import asha_scheduler, hyperband_scheduler
from tune_seeds.schedulers.early_discard import EarlyDiscardScheduler
from tune_seeds.schedulers.stall import StallGuard

TIME_ATTR = "eval_index"
RANK_BY = ("best", "last")


@dataclass(frozen=True)
class SchedulerSpec:
    """A sweep's scheduler and its settings, in evaluation intervals (saved in ``sweep.json``).

    Checked when built (the same checks for the command line and for ``sweep.json``);
    :meth:`SchedulerKind.check` adds what depends on the length of a run.

    Args:
        name: a kind of :data:`KINDS` that sweeps run (:data:`SWEEP_KINDS`).
        discard_at: early-discard: share of a full run after which to rank, in (0, 1).
        keep_share: early-discard: share of a cohort trained to the end, in (0, 1].
        cohort_size: early-discard: trials ranked together (None: all of the sweep).
        rank_by: rank by the ``best`` score so far (the paper) or the ``last`` one
            (Ray's ASHA and HyperBand compare the last one by design).
        grace_period: asha: evaluation intervals before the first rung (>= 1).
        reduction_factor: asha/hyperband: the halving rate (> 1).
    """

    name: str = "early-discard"
    discard_at: float = 0.25
    keep_share: float = 0.5
    cohort_size: int | None = None
    rank_by: str = "best"
    grace_period: int = 3
    reduction_factor: float = 3.0

    def __post_init__(self) -> None:
        if self.name not in SWEEP_KINDS:
            raise ValueError(
                f"unknown scheduler {self.name!r}; choose one of {', '.join(SWEEP_KINDS)}")
        if not 0 < self.discard_at < 1:
            raise ValueError(f"--discard-at must be in (0, 1), got {self.discard_at}")
        if not 0 < self.keep_share <= 1:
            raise ValueError(f"--keep-share must be in (0, 1], got {self.keep_share}")
        if self.cohort_size is not None and self.cohort_size < 2:
            raise ValueError(f"--cohort-size must be at least 2, got {self.cohort_size}")
        if self.rank_by not in RANK_BY:
            raise ValueError(f"--rank-by must be one of {RANK_BY}, got {self.rank_by!r}")
        if self.grace_period < 1:
            raise ValueError(f"--grace-period must be at least 1, got {self.grace_period}")
        if not self.reduction_factor > 1:
            raise ValueError(f"--reduction-factor must be above 1, got {self.reduction_factor}")

    @property
    def kind(self) -> SchedulerKind:
        return KINDS[self.name]

    @property
    def metric(self) -> str:
        return "best_score" if self.rank_by == "best" else "score"

    def setup(self, trials: int, total_evals: int) -> Setup:
        """This scheduler for a sweep of ``trials`` runs of ``total_evals`` intervals."""
        return Setup(self.kind, total_evals, metric=self.metric,
                     plan=self.kind.sweep_plan(self, trials, total_evals), rank_by=self.rank_by,
                     grace_period=self.grace_period, reduction_factor=self.reduction_factor)


@dataclass(frozen=True)
class Scheduling:
    """A scheduler and the evaluations at which it may pause trials."""

    name: str
    scheduler: Any
    pause_points: frozenset[int]

    def callbacks(self) -> list[Any]:
        """The Tune callbacks it needs (:func:`callbacks_for`)."""
        return callbacks_for(self.scheduler)


def callbacks_for(scheduler: Any) -> list[Any]:
    """Tune callbacks a scheduler needs: its state across a restore (early discarding,
    ASHA), and a guard that fails a stalled run, naming the waiting trials, instead of
    letting it wait forever (``$TUNE_SEEDS_STALL_TIMEOUT_S``, default 300 s)."""
    make = getattr(scheduler, "state_callback", None)
    guard = StallGuard(time_attr=TIME_ATTR, describe=scheduler.debug_string)
    return [*([make()] if callable(make) else []), guard]


@dataclass(frozen=True)
class Setup:
    """A kind with the numbers of one sweep or replay: everything it takes to build it.

    Args:
        kind: the scheduler's kind.
        total_evals: evaluation intervals of a full run.
        metric: the result key compared (higher is better).
        plan: what it carries out, for the kinds that plan (FIFO: full training; early
            discarding); None for those that decide from the scores as they come.
        rank_by: early discarding's ranking (best score since training started, or last).
        grace_period: ASHA's first rung and the median rule's grace period.
        reduction_factor: ASHA's and HyperBand's halving rate.
    """

    kind: SchedulerKind
    total_evals: int
    metric: str = "score"
    plan: EarlyDiscardPlan | None = None
    rank_by: str = "best"
    grace_period: int = 3
    reduction_factor: float = 3.0

    @property
    def name(self) -> str:
        return self.kind.name

    @property
    def planned_compute(self) -> int | None:
        """Evaluation intervals it trains if no trial fails; None where it stops trials by
        their scores as they come (FIFO's figure is an upper bound)."""
        return None if self.plan is None else self.plan.cost

    @property
    def pause_points(self) -> frozenset[int]:
        """Evaluations after which it may pause a trial: they need a checkpoint."""
        return self.kind.pause_points(self)

    def peak_paused(self, trials: int) -> tuple[int, str] | None:
        """The most of ``trials`` trials it holds paused at once, and why in words; None
        when it never pauses one."""
        return self.kind.peak_paused(self, trials)

    def build(self) -> Scheduling:
        """A fresh scheduler (they are stateful: one per run) and its pause points."""
        return Scheduling(self.name, self.kind.scheduler(self), self.pause_points)


@dataclass(frozen=True)
class Budget:
    """What a replayed comparison gives every kind in one repeat at a budget.

    Args:
        budget: full runs.
        total_evals: evaluation intervals of a full run.
        rule: the paper's rule of thumb within the pool of curves.
        fifo: ``floor(budget)`` trials trained fully, within the pool.
        planned: the plan made on the repeat's pilot curves (None without a pilot).
    """

    budget: float
    total_evals: int
    rule: EarlyDiscardPlan
    fifo: EarlyDiscardPlan
    planned: EarlyDiscardPlan | None = None


@dataclass(frozen=True)
class Setting:
    """A kind configured for one replayed run: the trials it starts and its setup."""

    started: int
    setup: Setup


class SchedulerKind(ABC):
    """All that is known about one kind of scheduler (one instance each, in :data:`KINDS`).

    Attributes:
        name: its name on the command line, in tables and plots.
        label: its name in a sentence.
        acts: what it does to trials, by their scores, in a sentence.
        in_sweeps: whether ``run_sweep.py`` offers it.
        needs_pilot: whether a replay must hold pilot curves out for it to plan on.
        min_evals: the shortest run it can schedule, in evaluation intervals.
        caps_concurrency_by_cpus: whether a concurrency limit must go through the CPUs
            of the embedded Ray rather than Tune's ``max_concurrent_trials`` (a trial it
            pauses keeps its slot in Tune's limit, so a limit below the trials it waits
            for would wait forever).
    """

    name: ClassVar[str]
    label: ClassVar[str]
    acts: ClassVar[str] = "stops"
    in_sweeps: ClassVar[bool] = True
    needs_pilot: ClassVar[bool] = False
    min_evals: ClassVar[int] = 2
    caps_concurrency_by_cpus: ClassVar[bool] = False

    def __repr__(self) -> str:
        return f"<scheduler kind {self.name}>"

    def check(self, spec: SchedulerSpec, total_evals: int) -> None:
        """Refuse settings that do not fit runs of ``total_evals`` intervals."""
        if total_evals < self.min_evals:
            raise ValueError(
                f"--scheduler {self.name} needs runs of at least {self.min_evals} evaluations")

    def sweep_plan(self, spec: SchedulerSpec, trials: int,
                   total_evals: int) -> EarlyDiscardPlan | None:
        """What it carries out in a sweep of ``trials`` trials; None when it decides from
        the scores as they come."""
        return None

    @abstractmethod
    def for_budget(self, budget: Budget) -> Setting:
        """How a replayed comparison runs it at a budget."""

    def pause_points(self, setup: Setup) -> frozenset[int]:
        return frozenset()

    def peak_paused(self, setup: Setup, trials: int) -> tuple[int, str] | None:
        return None

    @abstractmethod
    def scheduler(self, setup: Setup) -> Any:
        """A new Tune scheduler."""

    @staticmethod
    def _common(setup: Setup) -> dict[str, Any]:
        return dict(time_attr=TIME_ATTR, metric=setup.metric, mode="max")


class Fifo(SchedulerKind):
    name = "fifo"
    label = "FIFO"
    min_evals = 1

    def sweep_plan(self, spec: SchedulerSpec, trials: int, total_evals: int) -> EarlyDiscardPlan:
        return EarlyDiscardPlan.full_training(trials, total_evals)

    def for_budget(self, budget: Budget) -> Setting:
        return Setting(budget.fifo.started, Setup(self, budget.total_evals, plan=budget.fifo))

    def scheduler(self, setup: Setup) -> Any:
        return FIFOScheduler()


class EarlyDiscard(SchedulerKind):
    name = "early-discard"
    label = "early discarding"

    def sweep_plan(self, spec: SchedulerSpec, trials: int, total_evals: int) -> EarlyDiscardPlan:
        return EarlyDiscardPlan.from_shares(trials, total_evals, spec.discard_at,
                                            spec.keep_share, spec.cohort_size)

    def for_budget(self, budget: Budget) -> Setting:
        return Setting(budget.rule.started, Setup(self, budget.total_evals, plan=budget.rule))

    def pause_points(self, setup: Setup) -> frozenset[int]:
        assert setup.plan is not None, f"{self.name} carries out a plan"
        return setup.plan.pause_points

    def peak_paused(self, setup: Setup, trials: int) -> tuple[int, str] | None:
        plan = setup.plan
        assert plan is not None, f"{self.name} carries out a plan"
        if not plan.discards:
            return None
        if plan.cohort_size is None:
            return plan.paused_at_once, (
                f"{self.name} without --cohort-size pauses every trial at the milestone")
        assert plan.keep_share is not None, "cohorts keep a share"
        return plan.paused_at_once, (
            f"a cohort of {plan.cohort_size} paused at the milestone, plus the "
            f"{share_kept(plan.keep_share, plan.cohort_size)} kept trials of the cohort before")

    def scheduler(self, setup: Setup) -> Any:
        plan = setup.plan
        assert plan is not None, f"{self.name} carries out a plan"
        if not plan.discards:  # keeps every trial: nothing to pause for
            return FIFOScheduler()
        keep = plan.keep if plan.keep_share is None else float(plan.keep_share)
        # rank_from=1: the evaluation at step 0 (the untrained model) is not ranked.
        return EarlyDiscardScheduler(milestone=plan.milestone, keep=keep,
                                     cohort_size=plan.cohort_size, rank_by=setup.rank_by,
                                     rank_from=1, **self._common(setup))


class Adaptive(EarlyDiscard):
    name = "adaptive"
    label = "early discarding planned on a pilot"
    # A sweep has no curves to plan on before it starts; adaptive_early_discard plans
    # one on a pilot's.
    in_sweeps = False
    needs_pilot = True

    def for_budget(self, budget: Budget) -> Setting:
        assert budget.planned is not None, f"{self.name} needs the plan made on a pilot"
        return Setting(budget.planned.started,
                       Setup(self, budget.total_evals, plan=budget.planned))


class Asha(SchedulerKind):
    name = "asha"
    label = "ASHA"

    def check(self, spec: SchedulerSpec, total_evals: int) -> None:
        super().check(spec, total_evals)
        if spec.grace_period >= total_evals:
            raise ValueError(
                f"--grace-period {spec.grace_period} must be below the {total_evals} "
                "evaluation intervals of a full run"
            )

    def for_budget(self, budget: Budget) -> Setting:
        # As many trials as the rule of thumb, its cut as the first rung.
        return Setting(budget.rule.started, Setup(self, budget.total_evals,
                                                  grace_period=budget.rule.milestone))

    def scheduler(self, setup: Setup) -> Any:
        return asha_scheduler(setup.total_evals, setup.grace_period, setup.reduction_factor,
                              **self._common(setup))


class HyperBand(SchedulerKind):
    name = "hyperband"
    label = "HyperBand"
    acts = "pauses and stops"
    caps_concurrency_by_cpus = True

    def for_budget(self, budget: Budget) -> Setting:
        return Setting(budget.rule.started, Setup(self, budget.total_evals))

    def pause_points(self, setup: Setup) -> frozenset[int]:
        return hyperband_milestones(setup.total_evals, setup.reduction_factor)

    def peak_paused(self, setup: Setup, trials: int) -> tuple[int, str] | None:
        return trials, f"{self.label} may hold every trial paused at a rung"

    def scheduler(self, setup: Setup) -> Any:
        return hyperband_scheduler(setup.total_evals, setup.reduction_factor,
                                   **self._common(setup))


class Median(SchedulerKind):
    name = "median"
    label = "the median stopping rule"
    # Tune pickles a scheduler once, before the run, and this one keeps every trial's
    # results: a resumed sweep would compare against an empty history.
    in_sweeps = False
    min_evals = 1

    def for_budget(self, budget: Budget) -> Setting:
        return Setting(budget.rule.started, Setup(self, budget.total_evals,
                                                  grace_period=budget.rule.milestone))

    def scheduler(self, setup: Setup) -> Any:
        return MedianStoppingRule(grace_period=setup.grace_period, min_samples_required=3,
                                  **self._common(setup))


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


FIFO = Fifo()
ADAPTIVE = Adaptive()
KINDS: dict[str, SchedulerKind] = {
    k.name: k for k in (FIFO, EarlyDiscard(), ADAPTIVE, Asha(), HyperBand(), Median())
}
"""Every kind, by name, in the order tables and plots list them."""
SWEEP_KINDS: tuple[str, ...] = tuple(name for name, k in KINDS.items() if k.in_sweeps)
"""The kinds ``run_sweep.py`` runs."""
BASELINE = FIFO.name
"""The kind every other is compared against, at equal compute."""


def plan_scheduling(plan: EarlyDiscardPlan, *, metric: str = "score",
                    cohort_size: int | None = None) -> Scheduling:
    """The scheduler carrying out ``plan`` (``adaptive``): ranking by best score after
    training starts, cut at ``plan.milestone``, keeping ``plan.keep`` trials (with
    ``cohort_size``, the same share of each cohort), or FIFO for a plan that stops nothing."""
    if cohort_size is not None:
        plan = plan.in_cohorts(cohort_size)
    return Setup(ADAPTIVE, plan.total_evals, metric=metric, plan=plan).build()


__all__ = [
    "ADAPTIVE",
    "BASELINE",
    "FIFO",
    "KINDS",
    "RANK_BY",
    "SWEEP_KINDS",
    "TIME_ATTR",
    "Budget",
    "SchedulerKind",
    "SchedulerSpec",
    "Scheduling",
    "Setting",
    "Setup",
    "callbacks_for",
    "hyperband_milestones",
    "plan_scheduling",
]
