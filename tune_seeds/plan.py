"""An early-discarding plan: start t trials, train each to the milestone e, train p to the end.

:class:`EarlyDiscardPlan` is the one description of the paper's procedure: the planner
estimates it, the sweep, the adaptive mode and the replayed comparison carry it out, the
dry run and the benchmarks size with it. It holds the one cost formula
(:func:`plan_cost`), the evaluations at which trials pause (those reports need a
checkpoint), and the scheduler's rule for how many trials of a cohort continue
(:func:`share_kept`).

One name for each quantity, in the code, on the command line, in tables and JSON:

- ``started`` (t): trials started;
- ``milestone`` (e): evaluation intervals every trial trains before the ranking;
  ``discard_at`` is the same cut as a share of a run (``--discard-at``);
- ``keep`` (p): trials trained to the end; ``keep_share`` is the share of each cohort's
  trials that continue (``--keep-share``), which makes ``keep`` by :func:`share_kept`;
- ``total_evals`` (T): evaluation intervals of a full run (30 for 3 epochs of 10
  evaluations).

>>> plan = EarlyDiscardPlan.rule_of_thumb(budget=10, total_evals=30)
>>> plan
EarlyDiscardPlan(started=23, milestone=8, keep=5, total_evals=30, keep_share=None, cohort_size=None)
>>> plan.cost, plan.full_runs, sorted(plan.pause_points)
(294, 9.8, [8])
>>> EarlyDiscardPlan.from_shares(10, 30, discard_at=0.25, keep_share=0.5, cohort_size=4).keep
5
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


def plan_cost(started: Any, milestone: Any, keep: Any, total_evals: int) -> Any:
    """Evaluation intervals a plan spends: ``started*milestone + keep*(total_evals - milestone)``.

    Works elementwise on numpy arrays too (the planner costs every plan at once).

    >>> plan_cost(16, 5, 4, 30)
    180
    """
    return started * milestone + keep * (total_evals - milestone)


def milestone_at(discard_at: float, total_evals: int) -> int:
    """The milestone of a cut at ``discard_at`` of a run: at least one interval of
    training, and at least one left after it.

    >>> milestone_at(0.25, 30), milestone_at(0.01, 30), milestone_at(0.99, 30)
    (8, 1, 29)
    """
    return min(max(1, round(discard_at * total_evals)), total_evals - 1)


def share_kept(keep_share: float, candidates: int) -> int:
    """Trials of a cohort that continue: ``keep_share`` of the ``candidates`` that reached
    the milestone, rounded up, at least one (none of none).

    >>> share_kept(0.25, 16), share_kept(0.25, 15), share_kept(0.3, 10), share_kept(0.5, 0)
    (4, 4, 3, 0)
    """
    if candidates == 0:
        return 0
    # The tolerance keeps 0.3 * 10 = 3.0000000000000004 from becoming 4.
    return max(1, min(candidates, math.ceil(keep_share * candidates - 1e-9)))


def _kept_in_cohorts(started: int, keep_share: float, cohort_size: int | None) -> int:
    """Trials ``keep_share`` keeps of ``started``, cohort by cohort (the last cohort may be
    smaller), when every trial reaches the milestone."""
    size = cohort_size or started
    return sum(share_kept(keep_share, min(size, started - first))
               for first in range(0, started, size))


@dataclass(frozen=True)
class EarlyDiscardPlan:
    """Start ``started`` trials, train each ``milestone`` evaluations, continue the best
    ``keep`` to the end (``total_evals``), stop the rest.

    ``keep == started`` (or ``milestone == total_evals``) is plain full training: no
    trial is stopped and nothing pauses.

    Args:
        started: t, trials started (at least 1).
        milestone: e, evaluations every trial trains before the ranking (1..T).
        keep: p, trials trained to the end (1..t); with ``keep_share``, those the share
            keeps when every trial reaches the milestone.
        total_evals: T, evaluation intervals of a full run.
        keep_share: the rule of a sweep that keeps a share of each cohort's trials
            that reached the milestone (fewer when some end before it); None: exactly
            ``keep`` trials.
        cohort_size: trials ranked together, with ``keep_share`` (None: all of them).
    """

    started: int
    milestone: int
    keep: int
    total_evals: int
    keep_share: float | None = None
    cohort_size: int | None = None

    def __post_init__(self) -> None:
        for name in ("started", "milestone", "keep", "total_evals"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if self.keep > self.started:
            raise ValueError(f"keep={self.keep} exceeds started={self.started}")
        if self.milestone > self.total_evals:
            raise ValueError(
                f"milestone={self.milestone} exceeds the {self.total_evals} evaluations of a run"
            )
        # Only keeping_share sets the share; it derives keep from it.
        assert self.keep_share is not None or self.cohort_size is None, "cohorts need a share"
        assert self.keep_share is None or self.keep == _kept_in_cohorts(
            self.started, self.keep_share, self.cohort_size), "keep is not the share's"

    @classmethod
    def full_training(cls, trials: int, total_evals: int) -> EarlyDiscardPlan:
        """Train ``trials`` trials fully (what FIFO does)."""
        return cls(trials, total_evals, trials, total_evals)

    @classmethod
    def from_shares(
        cls, started: int, total_evals: int, discard_at: float, keep_share: float,
        cohort_size: int | None = None,
    ) -> EarlyDiscardPlan:
        """A sweep's plan from its settings: cut at ``discard_at`` of a run
        (:func:`milestone_at`), continue ``keep_share`` of each cohort of ``cohort_size``
        (:func:`share_kept`)."""
        return cls.keeping_share(started, milestone_at(discard_at, total_evals), keep_share,
                                 total_evals, cohort_size)

    def in_cohorts(self, cohort_size: int) -> EarlyDiscardPlan:
        """This plan decided in cohorts of ``cohort_size``, each keeping the plan's share
        of its trials (``keep / started`` for a plan of a count)."""
        share = self.keep_share if self.keep_share is not None else self.keep / self.started
        return self.keeping_share(self.started, self.milestone, share, self.total_evals,
                                  cohort_size)

    @classmethod
    def keeping_share(cls, started: int, milestone: int, keep_share: float, total_evals: int,
                      cohort_size: int | None = None) -> EarlyDiscardPlan:
        """Cut at ``milestone``, continue ``keep_share`` of each cohort of ``cohort_size``
        (:func:`share_kept`)."""
        return cls(started, milestone, _kept_in_cohorts(started, keep_share, cohort_size),
                   total_evals, keep_share, cohort_size)

    @classmethod
    def rule_of_thumb(
        cls, budget: float, total_evals: int, discard_at: float = 0.25, keep_per_run: float = 0.5
    ) -> EarlyDiscardPlan:
        """The paper's advice for ``budget`` full runs: cut at ``discard_at`` of training,
        train ``keep_per_run`` trials per full run of the budget to the end, start as many
        trials as the rest buys.

        Raises ``ValueError`` when the budget leaves no trial to discard.
        """
        if budget < 1:
            raise ValueError(f"budget must be at least 1 full run, got {budget}")
        if not 0 < discard_at < 1:
            raise ValueError(f"discard_at must be in (0, 1), got {discard_at}")
        milestone = milestone_at(discard_at, total_evals)
        keep = max(1, round(keep_per_run * budget))
        started = (round(budget * total_evals) - keep * (total_evals - milestone)) // milestone
        if started <= keep:
            raise ValueError(f"budget {budget} leaves no trial to discard with keep={keep}")
        return cls(int(started), milestone, keep, total_evals)

    @property
    def discards(self) -> bool:
        """Whether any trial is stopped early."""
        return self.keep < self.started and self.milestone < self.total_evals

    @property
    def cost(self) -> int:
        """Evaluation intervals spent when no trial ends early on its own."""
        return int(plan_cost(self.started, self.milestone, self.keep, self.total_evals))

    @property
    def full_runs(self) -> float:
        """:attr:`cost` in full runs."""
        return self.cost / self.total_evals

    @property
    def fifo_cost(self) -> int:
        """Intervals of training every started trial fully."""
        return self.started * self.total_evals

    @property
    def pause_points(self) -> frozenset[int]:
        """Evaluations after which trials pause: their reports must carry a checkpoint."""
        return frozenset({self.milestone}) if self.discards else frozenset()

    @property
    def paused_at_once(self) -> int:
        """The most trials paused at the milestone at once: a whole cohort, and the kept
        trials of the cohort before, which may still wait to resume; 0 without pauses."""
        if not self.discards:
            return 0
        if self.cohort_size is None or self.cohort_size >= self.started:
            return self.started
        assert self.keep_share is not None
        return min(self.started, self.cohort_size + share_kept(self.keep_share, self.cohort_size))

    # The names before the vocabulary was made one, still read by analysis/match.py and
    # reporting/report.py: remove once they use milestone and keep.
    @property
    def cut_after(self) -> int:
        return self.milestone

    @property
    def kept(self) -> int:
        return self.keep

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"started": self.started, "milestone": self.milestone,
                               "keep": self.keep, "total_evals": self.total_evals}
        if self.keep_share is not None:
            out.update(keep_share=self.keep_share, cohort_size=self.cohort_size)
        return out
