"""What a running sweep prints: a progress line, Tune's status table, and how loud Ray is.

- :class:`ProgressLine`, a Tune callback, prints one line at least every 30 seconds
  and soon after trials finish or pause (so after every scheduler decision)::

    [progress 0:12:30] 14/100 done, 2 running, 0 paused | best 0.8421 (WI 3, DO 7) |
    compute 15.2 of 100.0 full runs planned (FIFO 100.0) | ETA 1:20:00

  (on one line). Compute is counted in full runs (evaluation intervals trained /
  intervals of a full run); the plan is the scheduler's
  (``SweepSpec.setup.planned_compute``), and the ETA is the planned
  intervals left over the intervals per second trained so far in this run, so it
  sharpens as trials finish. The driver prints it, so it is also what a Ray job's log
  shows. The arithmetic (:func:`measure`, :func:`format_progress`) is pure and needs
  no Ray.
- :func:`status_table`: Tune's own ``CLIReporter``, showing each trial's seeds,
  ``score`` and ``best_score``, finished trials best first.
- :func:`tune_environment` and :func:`worker_runtime_env`: what ``--verbose`` turns on
  and off through Ray's own switches (see their docstrings).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from ray.tune import Callback

from tune_seeds.schedulers import trial_compute
from tune_seeds.tuning.results import INTERRUPTED

EVERY_S = 30.0
"""Longest gap between two progress lines."""
MIN_GAP_S = 5.0
"""Shortest gap between two lines printed because trials finished or paused (a
cohort decision stops many trials within a few controller steps)."""
DONE = ("TERMINATED", "ERROR")
QUIET_WORKER_LOGGERS = ("ray.train._internal.storage", "ray.tune.trainable.trainable")
"""Ray loggers in the trial workers whose INFO lines repeat for every checkpoint
("Checkpoint successfully created at ...") and every restore ("Restored on ... from
checkpoint")."""


# -- arithmetic (no Ray) ----------------------------------------------------------


@dataclass(frozen=True)
class TrialView:
    """What the progress line needs of one trial."""

    status: str
    evals: float
    """Evaluation intervals trained (its last ``eval_index``)."""
    best_score: float | None = None
    wi_seed: int | None = None
    do_seed: int | None = None


@dataclass(frozen=True)
class Progress:
    """One progress line's numbers; ``used``, ``planned`` and ``fifo`` in intervals."""

    total: int
    done: int
    errored: int
    running: int
    paused: int
    best: TrialView | None
    used: float
    planned: float | None
    fifo: float
    total_evals: int
    elapsed_s: float
    eta_s: float | None


def eta_seconds(
    used: float, target: float, trained_here: float, elapsed_s: float
) -> float | None:
    """Seconds left to train ``target - used`` intervals at this run's observed rate.

    None until this run has trained something (no rate to go by yet).

    >>> eta_seconds(used=50, target=150, trained_here=20, elapsed_s=60)
    300.0
    >>> eta_seconds(used=10, target=150, trained_here=0, elapsed_s=60) is None
    True
    """
    if trained_here <= 0 or elapsed_s <= 0:
        return None
    return max(target - used, 0.0) * elapsed_s / trained_here


def measure(
    trials: Sequence[TrialView],
    total: int,
    total_evals: int,
    planned: float | None,
    elapsed_s: float,
    used_at_start: float = 0.0,
) -> Progress:
    """The numbers of a progress line.

    Args:
        trials: the trials created so far (the searcher may create more later).
        total: trials the sweep runs in all.
        total_evals: evaluation intervals of a full run.
        planned: intervals the scheduler plans to train (``SweepSpec.setup.planned_compute``;
            None: no plan, the ETA is then towards FIFO's compute, an upper bound).
        elapsed_s: seconds since this run started (or resumed).
        used_at_start: intervals already trained when it started (a resumed sweep's),
            left out of the rate.
    """
    # Scores are maximized in this project (every task's headline metric).
    scored = [t for t in trials if t.best_score is not None and math.isfinite(t.best_score)]
    best = max(scored, key=lambda t: t.best_score, default=None)
    used = float(sum(t.evals for t in trials))
    fifo = float(total * total_evals)
    return Progress(
        total=total,
        done=sum(t.status in DONE for t in trials),
        errored=sum(t.status == "ERROR" for t in trials),
        running=sum(t.status == "RUNNING" for t in trials),
        paused=sum(t.status == "PAUSED" for t in trials),
        best=best,
        used=used,
        planned=planned,
        fifo=fifo,
        total_evals=total_evals,
        elapsed_s=elapsed_s,
        eta_s=eta_seconds(used, fifo if planned is None else planned, used - used_at_start,
                          elapsed_s),
    )


def format_duration(seconds: float) -> str:
    """``h:mm:ss``.

    >>> format_duration(4800.4), format_duration(59.6)
    ('1:20:00', '0:01:00')
    """
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def format_progress(p: Progress) -> str:
    """The progress line (see the module docstring)."""
    runs = p.total_evals or 1
    done = f"{p.done}/{p.total} done" + (f" ({p.errored} errored)" if p.errored else "")
    if p.best is None:
        best = "best -"
    else:
        best = f"best {p.best.best_score:.4f} (WI {p.best.wi_seed}, DO {p.best.do_seed})"
    if p.planned is None:
        compute = f"compute {p.used / runs:.1f} full runs (FIFO {p.fifo / runs:.1f})"
    else:
        compute = (f"compute {p.used / runs:.1f} of {p.planned / runs:.1f} full runs planned "
                   f"(FIFO {p.fifo / runs:.1f})")
    if p.eta_s is None:
        eta = "ETA unknown"
    else:
        eta = f"ETA {'at most ' if p.planned is None else ''}{format_duration(p.eta_s)}"
    return (f"[progress {format_duration(p.elapsed_s)}] {done}, {p.running} running, "
            f"{p.paused} paused | {best} | {compute} | {eta}")


# -- Tune -------------------------------------------------------------------------


def trial_view(trial: Any, ended: bool = True) -> TrialView:
    """A Tune ``Trial`` as the progress line sees it.

    ``ended``: whether the trial really ended. Tune also marks the trials it stops on
    an interruption of the sweep TERMINATED; those are ``INTERRUPTED`` here.
    """
    result = trial.last_result or {}
    best = result.get("best_score")
    config = trial.config or {}
    status = str(trial.status)
    return TrialView(
        status=INTERRUPTED if status in DONE and not ended else status,
        evals=float(trial_compute(result)),
        best_score=float(best) if best is not None else None,
        wi_seed=config.get("wi_seed"),
        do_seed=config.get("do_seed"),
    )


class ProgressLine(Callback):
    """Tune callback printing :func:`format_progress` lines while the sweep runs.

    Args:
        total: trials the sweep runs in all.
        total_evals: evaluation intervals of a full run.
        planned: intervals the scheduler plans to train (None: no plan).
        every_s: longest gap between two lines.
        min_gap_s: shortest gap between two lines caused by trials finishing or pausing.
        out: where lines go (``print``, flushed, by default).
    """

    def __init__(
        self, total: int, total_evals: int, planned: float | None, every_s: float = EVERY_S,
        min_gap_s: float = MIN_GAP_S, out: Callable[[str], Any] | None = None,
    ):
        self.total = total
        self.total_evals = total_evals
        self.planned = planned
        self.every_s = every_s
        self.min_gap_s = min_gap_s
        self.out = out
        self._reset()

    def _reset(self) -> None:
        self._start: float | None = None
        self._used_at_start = 0.0
        self._last_print = -math.inf
        self._last_counts: tuple[int, int] | None = None
        self._last_state: tuple[Any, ...] | None = None
        # Ids of the trials that really ended (see trial_view).
        self._ended: set[str] = set()

    def setup(self, **info: Any) -> None:
        # Also called when a sweep is resumed: the clock and the rate start again.
        self._reset()

    def _begin(self, trials: list, now: float) -> None:
        if self._start is not None:
            return
        self._start = now
        # A resumed sweep's finished trials, and the compute it had already trained.
        self._ended = {str(t.trial_id) for t in trials if str(t.status) in DONE}
        self._used_at_start = float(sum(trial_compute(t.last_result or {}) for t in trials))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._ended.add(str(trial.trial_id))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._ended.add(str(trial.trial_id))

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        now = time.monotonic()
        self._begin(trials, now)
        # Finished and paused trials change at scheduler decisions: report them soon.
        counts = (len(self._ended), sum(str(t.status) == "PAUSED" for t in trials))
        since = now - self._last_print
        if since >= self.every_s or (counts != self._last_counts and since >= self.min_gap_s):
            self._print(trials, now)
            self._last_counts = counts

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._print(trials, time.monotonic(), unless_unchanged=True)

    def _print(self, trials: list, now: float, unless_unchanged: bool = False) -> None:
        self._begin(trials, now)
        views = [trial_view(t, str(t.trial_id) in self._ended) for t in trials]
        progress = measure(views, self.total, self.total_evals, self.planned,
                           now - self._start, self._used_at_start)
        # The last step has often just printed the final state: do not repeat it.
        state = (progress.done, progress.running, progress.paused, progress.used, progress.best)
        if unless_unchanged and state == self._last_state:
            return
        self._last_state = state
        line = format_progress(progress)
        if self.out is None:
            print(line, flush=True)
        else:
            self.out(line)
        self._last_print = now


def status_table() -> Any:
    """Tune's status table: seeds, ``score`` and ``best_score``, finished trials best first.

    Printed every 30 seconds (with the progress line) and at the end. Ray 2.60's
    default output engine ignores a ``progress_reporter``; :func:`tune_environment`
    selects the engine that uses it.
    """
    from ray.tune import CLIReporter

    return CLIReporter(
        metric_columns=["score", "best_score"],
        parameter_columns=["wi_seed", "do_seed"],
        metric="best_score",
        mode="max",
        sort_by_metric=True,
        max_report_frequency=int(EVERY_S),
        print_intermediate_tables=True,
    )


def tune_environment(verbose: int) -> dict[str, str]:
    """Environment switches of Tune's driver side for ``--verbose``.

    ``RAY_AIR_NEW_OUTPUT=0`` selects Tune's reporter-based output, the one that prints
    :func:`status_table` (the newer engine has fixed columns and prints a config box
    per trial). Below verbosity 2 the "Experiment state snapshotting has been
    triggered multiple times" warning is off (threshold 0, as Tune's message says):
    it fires by design here, since every checkpoint replaces the trial's only one
    (``num_to_keep=1``) and that forces a snapshot.
    """
    env = {"RAY_AIR_NEW_OUTPUT": "0"}
    if verbose < 2:
        env["TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S"] = "0"
    return env


def quiet_worker_loggers() -> None:
    """Ray worker setup hook: :data:`QUIET_WORKER_LOGGERS` show warnings and errors only."""
    for name in QUIET_WORKER_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def worker_runtime_env(verbose: int) -> dict[str, Any] | None:
    """``ray.init``'s ``runtime_env`` for ``--verbose``: below 2, every worker process
    runs :func:`quiet_worker_loggers` when it starts (Ray's ``worker_process_setup_hook``)."""
    if verbose >= 2:
        return None
    return {"worker_process_setup_hook": f"{__name__}.{quiet_worker_loggers.__name__}"}


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables (Tune reads its switches from them) for a block."""
    before = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def tune_file_loggers(enabled: bool) -> AbstractContextManager[None]:
    """Turn Tune's automatic per-trial CSV/JSON/TensorBoard loggers on or off."""
    return environment({"TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "0" if enabled else "1"})
