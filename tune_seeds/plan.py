"""An early-discarding plan: start t trials, cut after e evaluations, train p to the end.

:class:`EarlyDiscardPlan` is the one description of the paper's procedure that the
planner estimates, the adaptive mode and the replayed comparison carry out, and the
benchmarks size: its cost (:func:`plan_cost`, the only place the formula is written),
the evaluations at which it pauses trials (those reports need a checkpoint), and the
paper's rule of thumb as a constructor.

Units: a full run is ``total_evals`` evaluation intervals (30 for 3 epochs of 10
evaluations); ``cut_after`` counts evaluations after training starts.

>>> plan = EarlyDiscardPlan.rule_of_thumb(budget=10, total_evals=30)
>>> plan
EarlyDiscardPlan(started=23, cut_after=8, kept=5, total_evals=30)
>>> plan.cost, plan.full_runs, sorted(plan.pause_points)
(294, 9.8, [8])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def plan_cost(started: Any, cut_after: Any, kept: Any, total_evals: int) -> Any:
    """Evaluation intervals a plan spends: ``started*cut_after + kept*(total_evals - cut_after)``.

    Works elementwise on numpy arrays too (the planner costs every plan at once).

    >>> plan_cost(16, 5, 4, 30)
    180
    """
    return started * cut_after + kept * (total_evals - cut_after)


@dataclass(frozen=True)
class EarlyDiscardPlan:
    """Start ``started`` trials, train each ``cut_after`` evaluations, continue the best
    ``kept`` to the end (``total_evals``), stop the rest.

    ``kept == started`` (or ``cut_after == total_evals``) is plain full training: no
    trial is stopped and nothing pauses.

    Args:
        started: t, trials started (at least 1).
        cut_after: e, evaluations every trial trains before the ranking (1..T).
        kept: p, trials trained to the end (1..t).
        total_evals: T, evaluation intervals of a full run.
    """

    started: int
    cut_after: int
    kept: int
    total_evals: int

    def __post_init__(self) -> None:
        for name in ("started", "cut_after", "kept", "total_evals"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if self.kept > self.started:
            raise ValueError(f"kept={self.kept} exceeds started={self.started}")
        if self.cut_after > self.total_evals:
            raise ValueError(
                f"cut_after={self.cut_after} exceeds the {self.total_evals} evaluations of a run"
            )

    @classmethod
    def full_training(cls, trials: int, total_evals: int) -> EarlyDiscardPlan:
        """Train ``trials`` trials fully (what FIFO does)."""
        return cls(trials, total_evals, trials, total_evals)

    @classmethod
    def rule_of_thumb(
        cls, budget: float, total_evals: int, fraction: float = 0.25, keep_share: float = 0.5
    ) -> EarlyDiscardPlan:
        """The paper's advice for ``budget`` full runs: cut at ``fraction`` of training,
        train ``keep_share`` of the budget fully, start as many trials as the rest buys.

        Raises ``ValueError`` when the budget leaves no trial to discard.
        """
        if budget < 1:
            raise ValueError(f"budget must be at least 1 full run, got {budget}")
        if not 0 < fraction < 1:
            raise ValueError(f"fraction must be in (0, 1), got {fraction}")
        cut_after = max(1, round(fraction * total_evals))
        kept = max(1, round(keep_share * budget))
        started = (round(budget * total_evals) - kept * (total_evals - cut_after)) // cut_after
        if started <= kept:
            raise ValueError(f"budget {budget} leaves no trial to discard with kept={kept}")
        return cls(int(started), cut_after, kept, total_evals)

    @property
    def discards(self) -> bool:
        """Whether any trial is stopped early."""
        return self.kept < self.started and self.cut_after < self.total_evals

    @property
    def cost(self) -> int:
        """Evaluation intervals spent when no trial ends early on its own."""
        if not self.discards:
            return self.started * self.total_evals
        return int(plan_cost(self.started, self.cut_after, self.kept, self.total_evals))

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
        return frozenset({self.cut_after}) if self.discards else frozenset()

    def to_dict(self) -> dict[str, int]:
        return {"started": self.started, "cut_after": self.cut_after, "kept": self.kept,
                "total_evals": self.total_evals}
