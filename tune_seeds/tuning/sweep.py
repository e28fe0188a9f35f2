"""Run a seed sweep on Ray Tune: the Tuner of a :class:`~tune_seeds.tuning.spec.SweepSpec`.

:func:`run_sweep` runs or resumes one:

1. :func:`~tune_seeds.tuning.connect.connect` starts an embedded Ray (dashboard on
   127.0.0.1 with Ray's token authentication) or joins a cluster.
2. :func:`build_tuner` wires the pieces: the seed pairs of :mod:`tune_seeds.tuning.search`,
   a scheduler (the sweep's :attr:`~tune_seeds.tuning.spec.SweepSpec.setup`, from
   :mod:`tune_seeds.schedulers.kinds`, every budget in evaluation intervals with
   ``time_attr="eval_index"``), the function trainable of
   :mod:`tune_seeds.tuning.trainable` with its CPUs/GPUs (fractional GPUs let several
   trials share one), retries from checkpoints (``FailureConfig``), the results-tables
   callback, checkpoint retention, and what the console shows
   (:mod:`tune_seeds.tuning.progress`).
3. The spec is saved next to Tune's experiment state (``sweep.json``,
   :mod:`tune_seeds.tuning.storage`), so that ``resume=True`` rebuilds the same
   trainable and continues with ``Tuner.restore(..., resume_errored=True)``: finished
   trials never run again, interrupted and errored ones continue from their latest
   checkpoint.

Overhead per trial is kept low without Tune's per-trial CSV/JSON/TensorBoard
loggers, which the results tables replace, and with ``reuse_actors=True`` (one
worker process runs many trials and keeps the tokenized data; see
``benchmarks/bench_tune_overhead.py``) when the dashboard is off. With the
dashboard on, every trial gets a fresh actor, so that the Actors page names each
actor by its own seed pair (Ray captures an actor's repr once, at its creation);
that costs a new worker's imports per trial (about 5 to 13 s on 2 cores) against
one to several minutes of training.
"""

from __future__ import annotations

import errno
import logging
import math
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ray
from ray import cloudpickle, tune
from ray.tune import Callback

from tune_seeds.schedulers.kinds import callbacks_for

# Through its module: tests replace its seed_trial.
from tune_seeds.tuning import trainable as trial_function
from tune_seeds.tuning.atomic_sync import atomic_snapshots
from tune_seeds.tuning.connect import connect
from tune_seeds.tuning.preflight import wait_for_resources
from tune_seeds.tuning.progress import (
    ProgressLine,
    environment,
    status_table,
    tune_environment,
    tune_file_loggers,
    worker_runtime_env,
)
from tune_seeds.tuning.results import ResultsTables
from tune_seeds.tuning.search import build_searcher
from tune_seeds.tuning.spec import SweepSpec, expand_path
from tune_seeds.tuning.storage import DropFinishedCheckpoints, DropPartialCheckpoints, save_spec


class DiskFull(RuntimeError):
    """A trial ran out of disk space (ENOSPC): the sweep was stopped, as every other trial
    would fail the same way. The message is one line."""


def is_disk_full(error: BaseException | None) -> bool:
    """Whether ``error`` (or the trial error Ray wrapped it in) is ENOSPC."""
    cause = getattr(error, "cause", None) or error
    return isinstance(cause, OSError) and cause.errno == errno.ENOSPC


class _QuietDiskFull(logging.Filter):
    """Drops Tune's traceback of a trial that failed for want of disk: the sweep reports
    it in one line (:class:`StopWhenDiskFull`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and is_disk_full(record.exc_info[1]))


class StopWhenDiskFull(Callback):
    """Tune callback stopping the sweep at the first trial that failed with ENOSPC.

    Retrying it, or starting the next trial, would only fill the log with the same
    traceback. The error is raised from ``on_step_end``, as
    :class:`~tune_seeds.schedulers.stall.StallGuard` does: Tune stops the trials, the
    callbacks write their tables, and ``Tuner.fit`` raises :class:`DiskFull`; the trial
    continues from its last checkpoint on resume.
    """

    def __init__(self, storage: str) -> None:
        self.storage = storage
        self._full: str | None = None

    def setup(self, **info: Any) -> None:
        logging.getLogger("ray.tune.execution.tune_controller").addFilter(_QuietDiskFull())

    def _check(self, trial: Any) -> None:
        try:
            with open(trial.pickled_error_file, "rb") as f:
                error = cloudpickle.load(f)
        except Exception:  # no pickled error (a lost actor, say): not ours to judge
            return
        if is_disk_full(error) and self._full is None:
            config = trial.config or {}
            self._full = (
                f"No space left on device: trial WI {config.get('wi_seed')} / DO "
                f"{config.get('do_seed')} ({trial.trial_id}) could not write under "
                f"{self.storage} ({first_error_line(error)}); the sweep was stopped. Free "
                "some space, then --resume"
            )

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._check(trial)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._check(trial)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        if self._full is not None:
            raise DiskFull(self._full)


def build_scheduler(spec: SweepSpec) -> Any:
    """The sweep's Tune scheduler, with ``time_attr="eval_index"`` and budgets in
    evaluations (a new one each call: schedulers hold state)."""
    return spec.setup.build().scheduler


def build_trainable(
    spec: SweepSpec, train_func: Callable[..., None] | None = None, **params: Any
) -> Any:
    """The function trainable with its parameters and resources.

    ``train_func`` replaces :func:`~tune_seeds.tuning.trainable.seed_trial` (tests wrap
    it, e.g. to fail a trial once); ``params`` go to it beside the sweep's own.
    """
    pauses = sorted(spec.setup.pause_points)
    recompute = spec.pause_mode == "recompute"
    trainable = tune.with_parameters(
        train_func or trial_function.seed_trial,
        train_config=spec.train.to_dict(),
        checkpoint_at=[] if recompute else pauses,
        recompute_at=pauses if recompute else [],
        checkpoint_every=spec.checkpoint_every,
        predictions=spec.predictions,
        **params,
    )
    resources = {"cpu": spec.cpus_per_trial}
    if spec.gpus_per_trial:
        resources["gpu"] = spec.gpus_per_trial
    # Resources go on the function, where Tune's wrapper picks them up, so that the
    # class naming each actor by its seed pair is the outermost layer.
    return trial_function.labelled_trainable(tune.with_resources(trainable, resources))


def build_tuner(
    spec: SweepSpec,
    trainable: Any = None,
    extra_callbacks: list[Any] | None = None,
    verbose: int = 1,
    reuse_actors: bool = True,
) -> Any:
    """The :class:`ray.tune.Tuner` of a sweep (``trainable``: :func:`build_trainable`).

    ``reuse_actors`` runs the next trial in a finished trial's worker process; it
    saves the imports of a new worker, but the actor keeps the repr (the seed pair the
    dashboard shows) of its first trial.
    """
    total = spec.train.total_evals
    searcher, num_samples = build_searcher(
        spec.search, spec.wi_seeds, spec.do_seeds, spec.num_samples, spec.seed
    )
    scheduler = build_scheduler(spec)
    callbacks = [
        ResultsTables(spec.tables_dir, spec.train.task, total, spec.tables_every_s),
        *callbacks_for(scheduler),
        *([] if spec.keep_checkpoints else [DropFinishedCheckpoints()]),
        DropPartialCheckpoints(),
        StopWhenDiskFull(spec.storage_path),
        *(extra_callbacks or []),
    ]
    if verbose >= 1:
        callbacks.append(ProgressLine(spec.trial_count, total, spec.setup.planned_compute))
    max_concurrent = None if spec.limit_by_cpus else spec.max_concurrent
    return tune.Tuner(
        trainable if trainable is not None else build_trainable(spec),
        tune_config=tune.TuneConfig(
            search_alg=searcher, scheduler=scheduler, num_samples=num_samples,
            max_concurrent_trials=max_concurrent, reuse_actors=reuse_actors,
        ),
        run_config=tune.RunConfig(
            name=spec.name,
            storage_path=expand_path(spec.storage_path),
            callbacks=callbacks,
            failure_config=tune.FailureConfig(max_failures=spec.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            verbose=verbose,
            progress_reporter=status_table(),
        ),
    )


def restore_tuner(spec: SweepSpec, trainable: Any = None) -> Any:
    """Continue the sweep saved at ``spec.experiment_path``; errored trials run again.

    The caller has checked its experiment state
    (:func:`~tune_seeds.tuning.atomic_sync.check_snapshot`, as ``run_sweep.py`` does before
    Ray starts): Tune would start a damaged one again from scratch."""
    return tune.Tuner.restore(
        spec.experiment_path,
        trainable=trainable if trainable is not None else build_trainable(spec),
        resume_errored=True,
    )


def embedded_cpus(spec: SweepSpec) -> int | None:
    """CPUs of the embedded Ray: all of them, or where concurrency is limited by CPUs,
    just enough for ``max_concurrent`` trials."""
    if spec.max_concurrent is None or not spec.limit_by_cpus:
        return None
    return max(1, math.ceil(spec.max_concurrent * spec.cpus_per_trial))


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM (a job scheduler's stop, ``kill``) does what Ctrl+C does.

    Ray's driver exits on SIGTERM at once, with neither Tune's last snapshot nor the
    results tables; handled as SIGINT, Tune ends the run as for an interruption (state
    and tables saved, trials continue on resume), and a second signal stops it hard.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def interrupt(signum: int, frame: Any) -> None:
        handler = signal.getsignal(signal.SIGINT)
        if not callable(handler):  # SIG_IGN or SIG_DFL: stop as Ctrl+C would by default
            raise KeyboardInterrupt
        handler(signal.SIGINT, frame)

    before = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def first_error_line(error: BaseException | str | None) -> str:
    """A trial's error in one line: the original exception's type and first message line
    (Ray wraps it in a ``RayTaskError`` whose text is a traceback).

    >>> first_error_line(OSError(28, "No space left on device"))
    'OSError: [Errno 28] No space left on device'
    """
    cause = getattr(error, "cause", None) or error
    if isinstance(cause, BaseException):
        lines = str(cause).strip().splitlines()
        return f"{type(cause).__name__}: {lines[0]}" if lines else type(cause).__name__
    # A text trace (the error was not picklable): its last line names the exception.
    lines = [line for line in str(cause or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "unknown error"


def errored_trials(grid: Any) -> dict[str, str]:
    """The trials of Tune's ``ResultGrid`` that ended in ERROR, by trial id: their seed
    pair and :func:`first_error_line`."""
    errors = {}
    for result in grid:
        if result.error is None:
            continue
        config = result.config or {}
        trial_id = str((result.metrics or {}).get("trial_id") or Path(result.path).name)
        errors[trial_id] = (f"WI {config.get('wi_seed')} / DO {config.get('do_seed')} "
                            f"(trial {trial_id}): {first_error_line(result.error)}")
    return errors


def run_sweep(
    spec: SweepSpec,
    resume: bool = False,
    address: str | None = None,
    dashboard: bool = True,
    verbose: int = 1,
    out: Callable[[str], Any] = print,
    dashboard_port: int | None = None,
    autoscale_wait_s: float = 0.0,
    fingerprint: dict[str, Any] | None = None,
) -> Any:
    """Run (or resume) a sweep to the end; returns Tune's ``ResultGrid``.

    A new sweep's ``sweep.json`` records ``fingerprint``
    (:func:`tune_seeds.tuning.fingerprint.fingerprint`), which its resumes check.

    The results tables are in ``spec.tables_dir`` when it returns (also after an
    interruption, with the trials done so far). Raises
    :class:`~tune_seeds.tuning.preflight.PreflightError`, with nothing written, when no node
    can hold a trial (after waiting up to ``autoscale_wait_s`` on a cluster).
    """
    owns_ray = not ray.is_initialized()
    if owns_ray:
        cpus = embedded_cpus(spec) if address is None else None
        info = connect(address, dashboard, num_cpus=cpus, dashboard_port=dashboard_port,
                       runtime_env=worker_runtime_env(verbose))
        out(info.describe())
    try:
        # From here on a SIGTERM ends the run as Ctrl+C does (Ray's handler would exit).
        with sigterm_as_interrupt():
            # Tune would wait forever for a trial that no node can hold.
            wait_for_resources(spec.cpus_per_trial, spec.gpus_per_trial,
                               autoscale_wait_s if address else 0.0, out)
            if not resume:
                save_spec(spec, fingerprint)
            out(f"Experiment: {spec.experiment_path}\nResults tables: {spec.tables_dir}")
            if not spec.tune_loggers:
                # Tune's restore and its result grid look for the per-trial files we chose not
                # to write ("Failed to fetch metrics").
                logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
            # A resume keeps the original sweep's choice (Tune restores its TuneConfig).
            tuner = restore_tuner(spec) if resume else build_tuner(
                spec, verbose=verbose, reuse_actors=not dashboard)
            # A killed driver leaves a whole snapshot.
            with tune_file_loggers(spec.tune_loggers), environment(tune_environment(verbose)), \
                    atomic_snapshots():
                return tuner.fit()
    finally:
        if owns_ray:
            ray.shutdown()
