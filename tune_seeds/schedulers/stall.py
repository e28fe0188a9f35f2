"""Stall detection for any Tune run: nothing runs, something waits, nothing happens.

Tune (2.60) loops forever when every unfinished trial waits (PAUSED, or PENDING and
never started) and nothing will ever start one: a scheduler that lost track of a
paused trial, a concurrency limit held by paused trials, resources that never come.
:class:`StallGuard` is a Tune :class:`~ray.tune.Callback` that turns such a run into an
error naming the trials involved, whatever the scheduler:

- **progress** is any trial event Tune reports to callbacks (a result, a start, a
  restore, a save, an end, a retry);
- the run is **stalled** when no trial has been RUNNING, at least one is PAUSED or
  PENDING, and there has been no progress for ``timeout_s`` seconds.

It then raises :class:`SweepStalled` from ``on_step_end``. Tune stops the remaining
trial actors, calls every callback's ``on_experiment_end`` (the results tables are
written) and ``Tuner.fit`` raises the error; the last experiment snapshot stays on disk,
so the run can be continued once the cause is fixed.

The check costs O(1) per controller step until ``timeout_s`` has passed without an
event; only then are the trials scanned.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

from ray.tune.callback import Callback
from ray.tune.experiment import Trial

STALL_TIMEOUT_ENV = "TUNE_SEEDS_STALL_TIMEOUT_S"
"""The timeout of a :class:`StallGuard` made without one, read when the run starts (so
a resumed run may change it)."""
DEFAULT_STALL_TIMEOUT_S = 300.0


class SweepStalled(RuntimeError):
    """The run stopped making progress: no trial runs and some wait forever.

    ``trials`` holds one dict per waiting trial (``trial_id``, ``status``, ``config``,
    ``last``: the progress attribute's last reported value, or None).
    """

    def __init__(self, message: str, trials: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.trials = trials


class StallGuard(Callback):
    """Fails a Tune run that waits forever (see the module docstring).

    Args:
        timeout_s: Seconds without progress, while no trial runs and some wait, before
            the run fails. None: ``$TUNE_SEEDS_STALL_TIMEOUT_S`` when the run starts, or
            300. Keep it well above the time a trial's actor takes to start: a trial is
            PENDING until then.
        time_attr: The result key shown for each waiting trial (its progress so far).
        describe: Optional callable returning extra text for the error, e.g. a
            scheduler's ``debug_string``.

    Example::

        tune.RunConfig(callbacks=[StallGuard(timeout_s=600, time_attr="eval_index")])
    """

    def __init__(
        self,
        timeout_s: float | None = None,
        time_attr: str = "training_iteration",
        describe: Callable[[], str] | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self.time_attr = time_attr
        self.describe = describe
        self._timeout: float = DEFAULT_STALL_TIMEOUT_S
        self._last_progress: float | None = None

    # ----- progress -----------------------------------------------------------------

    def _progress(self, *args: Any, **kwargs: Any) -> None:
        self._last_progress = time.monotonic()

    on_trial_start = on_trial_restore = on_trial_save = on_trial_result = _progress
    on_trial_complete = on_trial_error = on_trial_recover = on_checkpoint = _progress

    def setup(self, **info: Any) -> None:
        env = os.environ.get(STALL_TIMEOUT_ENV)
        if self.timeout_s is not None:
            self._timeout = float(self.timeout_s)
        elif env:
            self._timeout = float(env)
        self._last_progress = time.monotonic()

    # ----- the check ------------------------------------------------------------------

    def on_step_end(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        now = time.monotonic()
        if self._last_progress is None:
            self._last_progress = now
        if now - self._last_progress < self._timeout:
            return
        waiting = [t for t in trials if t.status in (Trial.PENDING, Trial.PAUSED)]
        if not waiting or any(t.status == Trial.RUNNING for t in trials):
            # Busy (a long interval without a report) or idle with nothing to run
            # (e.g. a searcher thinking): not a stall.
            self._last_progress = now
            return
        raise self.stalled(waiting, now - self._last_progress)

    def stalled(self, waiting: list[Trial], idle_s: float) -> SweepStalled:
        """The error for ``waiting`` trials after ``idle_s`` seconds without progress."""
        rows = []
        for t in waiting:
            last = (t.last_result or {}).get(self.time_attr)
            rows.append(
                {"trial_id": t.trial_id, "status": t.status, "config": t.config, "last": last}
            )
        lines = [
            f"  {r['trial_id']} {r['status']}, {self.time_attr}="
            f"{'never reported' if r['last'] is None else r['last']}, config "
            f"{json.dumps(r['config'], sort_keys=True, default=repr)}"
            for r in rows
        ]
        message = (
            f"The run has stalled: no trial is running, {len(rows)} trial(s) wait "
            f"(PAUSED or PENDING) and nothing has happened for {idle_s:.0f} s "
            f"(timeout {self._timeout:.0f} s, ${STALL_TIMEOUT_ENV}). Nothing would ever "
            "start them. Trials involved:\n" + "\n".join(lines)
        )
        if self.describe is not None:
            try:
                message += f"\nScheduler: {self.describe()}"
            except Exception as err:  # the report must not hide the stall
                message += f"\nScheduler: (no description: {err!r})"
        return SweepStalled(message, rows)
