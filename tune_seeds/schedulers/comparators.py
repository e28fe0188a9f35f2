"""Ray's own early-stopping schedulers (ASHA, HyperBand) on our budget unit.

To compare early discarding with ASHA and HyperBand fairly, all three must measure
progress in the same ``time_attr`` (the project uses ``"eval_index"``: a trial that
reported evaluation k has trained k evaluation intervals) and be compared at equal
compute. The factories below pin ``time_attr``, ``metric`` and ``mode`` to keyword
arguments with the same names and defaults as :class:`EarlyDiscardScheduler`, and
:mod:`~tune_seeds.schedulers.compute` counts what each trial actually trained.

Note: ``HyperBandScheduler`` pauses trials like early discarding does, but it does not
hand the slots of paused trials back to the searcher, so with ``max_concurrent_trials``
smaller than a bracket it waits forever; limit its concurrency with trial resources.
ASHA never pauses.

Restore: Tune (2.60) pickles a scheduler once, before the run, and never saves it
again, so a restored Ray ASHA starts with empty rungs and decides differently from an
uninterrupted run. :func:`asha_scheduler` returns :class:`RestorableASHA`, whose
:meth:`~RestorableASHA.state_callback` saves the rungs with every experiment snapshot
(as :class:`EarlyDiscardScheduler`'s callback does). HyperBand has no such callback.
"""

from __future__ import annotations

from typing import Any

from ray.tune.callback import Callback
from ray.tune.experiment import Trial
from ray.tune.schedulers import AsyncHyperBandScheduler, HyperBandScheduler


class RestorableASHA(AsyncHyperBandScheduler):
    """Ray's ASHA, unchanged, plus restore-safety through :meth:`state_callback`.

    The rungs (every value recorded at every milestone), the trial-to-bracket map and
    the counters travel with each experiment snapshot in a Tune callback, so a run
    continued with ``Tuner.restore`` compares against the same rungs as an
    uninterrupted one. A restored trial keeps its bracket, and restored finished
    trials are not re-added to the bookkeeping.
    """

    _STATE_KEYS = ("_trial_info", "_brackets", "_num_stopped", "_counter")

    def state_callback(self) -> _ASHAStateCallback:
        """The callback to pass in ``RunConfig(callbacks=[...])``; the same one each call."""
        callback = self.__dict__.get("_state_callback")
        if callback is None:
            callback = self._state_callback = _ASHAStateCallback(self)
        return callback

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        if trial.status in (Trial.TERMINATED, Trial.ERROR):
            return  # restored and finished: it never reports again
        if trial.trial_id in self._trial_info:
            return  # restored: it keeps its bracket
        super().on_trial_add(tune_controller, trial)


class _ASHAStateCallback(Callback):
    """Saves a :class:`RestorableASHA`'s rungs with the experiment state."""

    def __init__(self, scheduler: RestorableASHA) -> None:
        self._scheduler = scheduler

    def get_state(self) -> dict[str, Any]:
        # One dict, pickled as one object: _trial_info keeps pointing at _brackets.
        return {"asha": {k: getattr(self._scheduler, k) for k in RestorableASHA._STATE_KEYS}}

    def set_state(self, state: dict[str, Any]) -> None:
        self._scheduler.__dict__.update(state["asha"])


def asha_scheduler(
    max_t: int,
    grace_period: int = 1,
    reduction_factor: float = 4,
    *,
    time_attr: str = "training_iteration",
    metric: str | None = None,
    mode: str | None = None,
    brackets: int = 1,
) -> RestorableASHA:
    """Ray's ASHA (stop-only, asynchronous) on ``time_attr`` units, restore-safe with
    its ``state_callback()``.

    Args:
        max_t: Units of a full run (30 evaluation intervals for the project's trials).
        grace_period: No trial is stopped before this many units (the first rung).
        reduction_factor: Keep about 1/reduction_factor of the trials at each rung.
        time_attr, metric, mode: As for :class:`EarlyDiscardScheduler`.
        brackets: ASHA brackets (1 = plain successive halving).

    Example:
        >>> from tune_seeds.schedulers import asha_scheduler
        >>> s = asha_scheduler(30, grace_period=3, time_attr="eval_index",
        ...                    metric="score", mode="max")
        >>> type(s).__name__, isinstance(s, AsyncHyperBandScheduler)
        ('RestorableASHA', True)
    """
    _check_budget(max_t, grace_period, reduction_factor, mode)
    return RestorableASHA(
        time_attr=time_attr,
        metric=metric,
        mode=mode,
        max_t=max_t,
        grace_period=grace_period,
        reduction_factor=reduction_factor,
        brackets=brackets,
    )


def hyperband_scheduler(
    max_t: int,
    reduction_factor: float = 3,
    *,
    time_attr: str = "training_iteration",
    metric: str | None = None,
    mode: str | None = None,
) -> HyperBandScheduler:
    """Ray's synchronous HyperBand on ``time_attr`` units.

    Its trials pause between rungs, so their reports must carry checkpoints (as for
    early discarding), and see the module note on ``max_concurrent_trials``.

    Args:
        max_t: Units of a full run.
        reduction_factor: HyperBand's eta.
        time_attr, metric, mode: As for :class:`EarlyDiscardScheduler`.

    Example:
        >>> from tune_seeds.schedulers import hyperband_scheduler
        >>> s = hyperband_scheduler(30, time_attr="eval_index", metric="score", mode="max")
        >>> type(s).__name__
        'HyperBandScheduler'
    """
    _check_budget(max_t, 1, reduction_factor, mode)
    return HyperBandScheduler(
        time_attr=time_attr,
        metric=metric,
        mode=mode,
        max_t=max_t,
        reduction_factor=reduction_factor,
    )


def _check_budget(max_t: Any, grace_period: Any, reduction_factor: Any, mode: Any) -> None:
    # Ray only asserts these (and not under python -O); give clear messages instead.
    if isinstance(max_t, bool) or not isinstance(max_t, int) or max_t < 1:
        raise ValueError(f"max_t must be an int >= 1 (units of a full run), got {max_t!r}")
    if isinstance(grace_period, bool) or not isinstance(grace_period, int) or grace_period < 1:
        raise ValueError(f"grace_period must be an int >= 1, got {grace_period!r}")
    if grace_period > max_t:
        raise ValueError(f"grace_period={grace_period} must not exceed max_t={max_t}")
    if not isinstance(reduction_factor, (int, float)) or not reduction_factor > 1:
        raise ValueError(f"reduction_factor must be > 1, got {reduction_factor!r}")
    if mode not in (None, "min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
