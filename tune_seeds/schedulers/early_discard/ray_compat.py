"""Ray Tune 2.60 workarounds of the early-discard scheduler, in one place.

Everything here relies on Tune behaviour or private attributes that are not part of
its public scheduler API (checked in Ray 2.60's source); the rest of the package only
calls these functions. If Tune changes, this is the module to revisit.

- :class:`SearcherSlots`: ``max_concurrent_trials=N`` is enforced by the search
  algorithm (``BasicVariantGenerator(max_concurrent=N)`` or a ``ConcurrencyLimiter``),
  which counts a trial as live from its creation until it *terminates*: a paused trial
  keeps its slot, and with fewer slots than a cohort the cohort never fills and Tune
  spins forever. The scheduler hands a pausing trial's slot back and takes one again
  before the trial resumes or is stopped, through their private live-trial sets.
- :func:`hold`: Tune starts every PENDING trial whatever ``choose_trial_to_run`` says,
  and a restored experiment brings PAUSED trials back PENDING. ``on_trial_add`` runs
  before the controller files a new trial by its status, so setting PAUSED there holds
  it.
- :func:`is_paused`: a trial being paused is PAUSED while its save is in flight; it can
  only be resumed or stopped once the save has landed.
- :func:`reported_checkpoint`, :func:`is_function_trainable`: a paused function
  trainable restarts from the checkpoint of its last report; Tune flags a report that
  carried one with ``SHOULD_CHECKPOINT``.
- :class:`CohortStallCheck`: when every live trial waits at the milestone and a
  searcher that limits concurrency itself (invisible to :class:`SearcherSlots`) never
  starts another, the cohort can never fill: fail with an explanation instead of
  hanging. (:class:`tune_seeds.schedulers.stall.StallGuard` catches any other stall.)
"""

from __future__ import annotations

import time
from typing import Any

from ray.tune.experiment import Trial
from ray.tune.result import SHOULD_CHECKPOINT
from ray.tune.search.basic_variant import BasicVariantGenerator
from ray.tune.search.concurrency_limiter import ConcurrencyLimiter
from ray.tune.trainable import FunctionTrainable


class SearcherSlots:
    """The concurrency slots of ``max_concurrent_trials``, as the searcher counts them.

    Both ``BasicVariantGenerator`` and ``ConcurrencyLimiter`` refuse new trials while
    N trial ids are in their live set, and drop an id only when the trial terminates.
    This adapter takes a paused trial out of that set and puts it back before the trial
    runs again or is stopped (a ``ConcurrencyLimiter`` only forwards
    ``on_trial_complete`` for ids in its set). Without a limit every call is a no-op
    and every trial counts as holding a slot.
    """

    def __init__(self, search_alg: Any) -> None:
        self._owner: Any = None
        self._attr = ""
        self.limit: int | None = None
        searcher = search_alg
        while searcher is not None:
            if isinstance(searcher, BasicVariantGenerator) and searcher.max_concurrent > 0:
                self._owner, self._attr = searcher, "_live_trials"
                self.limit = searcher.max_concurrent
                break
            if isinstance(searcher, ConcurrencyLimiter) and searcher._limit_concurrency:
                self._owner, self._attr = searcher, "live_trials"
                self.limit = searcher.max_concurrent
                break
            searcher = getattr(searcher, "searcher", None)

    def _live(self) -> set[str]:
        return getattr(self._owner, self._attr)

    def _count(self, delta: int) -> None:
        if isinstance(self._owner, ConcurrencyLimiter):
            self._owner.num_unfinished_live_trials += delta

    def holds(self, trial_id: str) -> bool:
        return self._owner is None or trial_id in self._live()

    def release(self, trial_id: str) -> bool:
        """Stop counting a paused trial. Returns whether a slot was freed."""
        if self._owner is None or trial_id not in self._live():
            return False
        self._live().remove(trial_id)
        self._count(-1)
        return True

    def claim(self, trial_id: str, force: bool = False) -> bool:
        """Count the trial again; without ``force`` only if a slot is free."""
        if self.holds(trial_id):
            return True
        if not force and len(self._live()) >= self.limit:
            return False
        self._live().add(trial_id)
        self._count(+1)
        return True


def hold(trial: Trial) -> None:
    """From ``on_trial_add``: keep a PENDING trial from being started (the controller
    files the trial by its status after the hook returns)."""
    trial.set_status(Trial.PAUSED)


def is_paused(trial: Trial) -> bool:
    """PAUSED with no save in flight: it may be resumed or stopped now."""
    return trial.status == Trial.PAUSED and not trial.is_saving


def is_waiting(trial: Trial) -> bool:
    """PAUSED or PENDING with no save in flight: it can be stopped without training."""
    return trial.status in (Trial.PAUSED, Trial.PENDING) and not trial.is_saving


def has_ended(trial: Trial | None) -> bool:
    return trial is None or trial.status in (Trial.TERMINATED, Trial.ERROR)


def reported_checkpoint(result: dict[str, Any]) -> bool:
    """Whether a function trainable's report carried a checkpoint."""
    return bool(result.get(SHOULD_CHECKPOINT))


def is_function_trainable(trial: Trial, cache: dict[str, bool]) -> bool:
    """Whether the trial runs a function trainable (``cache``: trainable name -> answer;
    looking the class up fetches it from Ray's key-value store, too slow for every
    milestone report)."""
    name = trial.trainable_name
    if name not in cache:
        cls = trial.get_trainable_cls()
        cache[name] = isinstance(cls, type) and issubclass(cls, FunctionTrainable)
    return cache[name]


class CohortStallCheck:
    """Fails loudly when trials wait at the milestone for a cohort that can never fill."""

    def __init__(self) -> None:
        self.since: float | None = None

    def check(self, tune_controller: Any, n_waiting: int, timeout_s: float) -> None:
        # Cheap tests first: the scan of all trials only runs while some trial waits
        # at the milestone and the searcher is not finished.
        if (
            not n_waiting
            or tune_controller.search_alg.is_finished()
            or any(t.status in (Trial.RUNNING, Trial.PENDING) for t in tune_controller.get_trials())
        ):
            self.since = None
            return
        if self.since is None:
            self.since = time.monotonic()
        elif time.monotonic() - self.since > timeout_s:
            raise RuntimeError(
                "EarlyDiscardScheduler: every live trial is paused at the milestone, "
                "but the search algorithm neither finished nor started another trial for "
                f"{timeout_s:.0f} s, so the cohort can never fill. This "
                "happens when the searcher limits concurrency in a way the scheduler "
                "cannot see (a Searcher with its own max_concurrent). Limit concurrency "
                "with max_concurrent_trials or trial resources instead, or use a "
                "cohort_size no larger than that limit."
            )
