"""Run a seed sweep on Ray Tune: searcher, scheduler, resources, storage and resume.

A sweep is described by a :class:`SweepSpec` (plain, JSON-serializable) and run
by :func:`run_sweep`:

1. :func:`connect` starts an embedded Ray (dashboard on 127.0.0.1 with Ray's
   token authentication) or joins a cluster (``address="auto"``,
   ``"host:port"`` or ``"ray://host:port"``).
2. :func:`build_tuner` wires the pieces: the seed pairs of
   :mod:`tune_seeds.search`, a scheduler (:mod:`tune_seeds.scheduling`, every budget in
   evaluation intervals with ``time_attr="eval_index"``), the function trainable
   of :mod:`tune_seeds.trainable` with its CPUs/GPUs (fractional GPUs let several
   trials share one), retries from checkpoints (``FailureConfig``), the
   results-tables callback, checkpoint retention, and what the console shows
   (:mod:`tune_seeds.progress`: a progress line, Tune's status table, Ray's
   messages by ``verbose``).
3. The spec is saved next to Tune's experiment state (``sweep.json``), so that
   ``resume=True`` rebuilds the same trainable and continues with
   ``Tuner.restore(..., resume_errored=True)``: finished trials never run
   again, interrupted and errored ones continue from their latest checkpoint.

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

import dataclasses
import json
import logging
import math
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray.tune import Callback

from tune_seeds.config import TrainConfig
from tune_seeds.preflight import wait_for_resources
from tune_seeds.scheduling import Scheduling, build, callbacks_for
from tune_seeds.search import SEARCHES, build_searcher

SCHEDULERS = ("fifo", "asha", "hyperband", "early-discard")
PAUSE_MODES = ("checkpoint", "recompute")
RANK_BY = ("best", "last")
SPEC_FILE = "sweep.json"
FAULT_ENV = "TUNE_SEEDS_TEST_FAULT"
"""Test-only fault injection, JSON ``{"wi_seed", "do_seed", "eval_index", "marker"}``."""


@dataclass(frozen=True)
class SchedulerSpec:
    """Which scheduler decides when trials stop or pause, in evaluation intervals.

    Args:
        name: ``fifo`` (run every trial to the end), ``asha`` (Ray's asynchronous
            successive halving: stops, never pauses), ``hyperband`` (Ray's
            synchronous HyperBand: pauses at rungs) or ``early-discard`` (the
            paper's policy: train every trial for ``discard_at`` of a full run,
            continue the best ``keep`` share, stop the rest).
        discard_at: early-discard: fraction of a full run after which to decide, in (0, 1).
        keep: early-discard: fraction of a cohort trained to the end, in (0, 1].
        cohort_size: early-discard: trials ranked together (None: all of the sweep).
        rank_by: rank by the ``best`` score so far (the paper) or the ``last`` one
            (Ray's ASHA and HyperBand compare the last one by design).
        grace_period: asha: evaluation intervals before the first rung (>= 1).
        reduction_factor: asha/hyperband: the halving rate (> 1).
    """

    name: str = "early-discard"
    discard_at: float = 0.25
    keep: float = 0.5
    cohort_size: int | None = None
    rank_by: str = "best"
    grace_period: int = 3
    reduction_factor: float = 3.0

    def __post_init__(self) -> None:
        if self.name not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {self.name!r}; choose one of {SCHEDULERS}")
        if not 0 < self.discard_at < 1:
            raise ValueError(f"--discard-at must be in (0, 1), got {self.discard_at}")
        if not 0 < self.keep <= 1:
            raise ValueError(f"--keep must be in (0, 1], got {self.keep}")
        if self.cohort_size is not None and self.cohort_size < 2:
            raise ValueError(f"--cohort-size must be at least 2, got {self.cohort_size}")
        if self.rank_by not in RANK_BY:
            raise ValueError(f"--rank-by must be one of {RANK_BY}, got {self.rank_by!r}")
        if self.grace_period < 1:
            raise ValueError(f"--grace-period must be at least 1, got {self.grace_period}")
        if not self.reduction_factor > 1:
            raise ValueError(f"--reduction-factor must be above 1, got {self.reduction_factor}")

    @property
    def metric(self) -> str:
        return "best_score" if self.rank_by == "best" else "score"

    def milestone(self, total_evals: int) -> int:
        """Early-discard's decision point in evaluation intervals, within (0, total)."""
        return min(max(1, round(self.discard_at * total_evals)), total_evals - 1)

    def planned_evals(self, num_trials: int, total_evals: int) -> int | None:
        """Evaluation intervals this scheduler plans to train if no trial fails.

        FIFO trains every trial fully and early discarding follows its cohort rule
        (:func:`schedulers.planned_compute`); ASHA and HyperBand stop trials by their
        scores as they come, so they have no plan (None; FIFO's is an upper bound).

        >>> SchedulerSpec("fifo").planned_evals(100, 30)
        3000
        >>> SchedulerSpec("early-discard", discard_at=0.25, keep=0.25).planned_evals(16, 30)
        216
        >>> SchedulerSpec("asha").planned_evals(16, 30) is None
        True
        """
        if self.name == "fifo":
            return num_trials * total_evals
        if self.name != "early-discard":
            return None
        from schedulers import planned_compute

        return planned_compute(
            num_trials, self.milestone(total_evals), self.keep, total_evals, self.cohort_size
        )

    def check(self, total_evals: int) -> None:
        """Errors that depend on the length of a run."""
        if total_evals < 2 and self.name in ("early-discard", "hyperband", "asha"):
            raise ValueError(f"--scheduler {self.name} needs runs of at least 2 evaluations")
        if self.name == "asha" and self.grace_period >= total_evals:
            raise ValueError(
                f"--grace-period {self.grace_period} must be below the {total_evals} "
                "evaluation intervals of a full run"
            )


@dataclass(frozen=True)
class SweepSpec:
    """Everything that defines a sweep; saved as ``sweep.json`` for ``--resume``.

    Args:
        train: the trial's hyper-parameters (every trial shares them).
        search: ``grid``, ``random`` or ``optuna`` (see :mod:`tune_seeds.search`).
        wi_seeds, do_seeds: the seed ranges.
        num_samples: trials to run (None: the full grid).
        seed: seed of the random draw and of Optuna's sampler.
        scheduler: see :class:`SchedulerSpec`.
        cpus_per_trial, gpus_per_trial: resources of one trial (GPUs may be fractional).
        max_concurrent: most trials running at once (None: as resources allow).
        max_failures: retries of a failed trial from its latest checkpoint (-1: forever).
        checkpoint_every: also checkpoint every this many evaluations (0: only
            at the scheduler's pause points).
        keep_checkpoints: keep checkpoints of finished trials (default: delete them).
        pause_mode: what a trial paused by the scheduler keeps: ``checkpoint`` (its
            weights and optimizer state, ~270 MB for the default model) or
            ``recompute`` (its position and curve, a few KB; on resume it is retrained
            from its seeds to that point, exactly, because trials are deterministic:
            no disk, at most ``kept x milestone`` more training).
        storage_path: local directory or a pyarrow filesystem URI (``s3://...``).
        name: the experiment's folder under ``storage_path``.
        results_dir: where the tables go (None: the experiment folder if local).
        tune_loggers: keep Tune's per-trial CSV/JSON/TensorBoard files (slower).
        tables_every_s: least seconds between two rewrites of the tables while it runs.
    """

    train: TrainConfig
    search: str = "random"
    wi_seeds: tuple[int, ...] = tuple(range(1, 26))
    do_seeds: tuple[int, ...] = tuple(range(1, 26))
    num_samples: int | None = 16
    seed: int = 0
    scheduler: SchedulerSpec = field(default_factory=SchedulerSpec)
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent: int | None = None
    max_failures: int = 1
    checkpoint_every: int = 10
    keep_checkpoints: bool = False
    pause_mode: str = "checkpoint"
    storage_path: str = "~/ray_results"
    name: str = "seed-sweep"
    results_dir: str | None = None
    tune_loggers: bool = False
    tables_every_s: float = 30.0

    def __post_init__(self) -> None:
        if self.search not in SEARCHES:
            raise ValueError(f"unknown search {self.search!r}; choose one of {SEARCHES}")
        if self.num_samples is not None and self.num_samples < 1:
            raise ValueError(f"--num-samples must be at least 1, got {self.num_samples}")
        if not self.wi_seeds or not self.do_seeds:
            raise ValueError("both seed ranges must hold at least one seed")
        pairs = len(self.wi_seeds) * len(self.do_seeds)
        if self.num_samples is not None and self.num_samples > pairs:
            raise ValueError(
                f"num_samples={self.num_samples} is more than the {pairs} distinct (WI, DO) "
                "pairs of the seed ranges; widen --wi-seeds/--do-seeds"
            )
        if not self.cpus_per_trial > 0:
            raise ValueError(f"--cpus-per-trial must be positive, got {self.cpus_per_trial}")
        if self.gpus_per_trial < 0:
            raise ValueError(f"--gpus-per-trial must be 0 or more, got {self.gpus_per_trial}")
        if self.gpus_per_trial > 1 and self.gpus_per_trial != int(self.gpus_per_trial):
            raise ValueError("--gpus-per-trial above 1 must be a whole number")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise ValueError(f"--max-concurrent must be at least 1, got {self.max_concurrent}")
        if self.max_failures < -1:
            raise ValueError(f"--max-failures must be -1 (forever) or more: {self.max_failures}")
        if self.pause_mode not in PAUSE_MODES:
            raise ValueError(f"--pause-mode must be one of {PAUSE_MODES}, got {self.pause_mode!r}")
        if self.checkpoint_every < 0:
            raise ValueError(f"--checkpoint-every must be 0 or more, got {self.checkpoint_every}")
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ValueError(f"--name must be a plain folder name, got {self.name!r}")
        self.scheduler.check(self.train.total_evals)

    @property
    def experiment_path(self) -> str:
        """``storage_path/name``, with ``~`` expanded for local paths."""
        return f"{_expand(self.storage_path).rstrip('/')}/{self.name}"

    @property
    def is_local(self) -> bool:
        return "://" not in self.storage_path or self.storage_path.startswith("file://")

    @property
    def tables_dir(self) -> Path:
        if self.results_dir is not None:
            return Path(self.results_dir).expanduser().resolve()
        if self.is_local:
            return Path(self.experiment_path.removeprefix("file://")).resolve()
        return Path(self.name).resolve()

    @property
    def trial_count(self) -> int:
        """Trials the sweep runs in all."""
        if self.num_samples is not None:
            return self.num_samples
        return len(self.wi_seeds) * len(self.do_seeds)

    @property
    def limit_by_cpus(self) -> bool:
        """Whether ``max_concurrent`` must be enforced through CPUs, not Tune's limit.

        A trial paused by HyperBand keeps its slot in Tune's concurrency limit, so a
        limit below a bracket's size would wait forever. The early-discard scheduler
        hands paused trials' slots back and works with either.
        """
        return self.scheduler.name == "hyperband"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepSpec:
        data = dict(data)
        data["train"] = TrainConfig(**data["train"])
        data["scheduler"] = SchedulerSpec(**data["scheduler"])
        data["wi_seeds"] = tuple(data["wi_seeds"])
        data["do_seeds"] = tuple(data["do_seeds"])
        return cls(**data)


def _expand(path: str) -> str:
    return path if "://" in path else str(Path(path).expanduser().resolve())


# -- scheduler ----------------------------------------------------------------


def scheduling(spec: SchedulerSpec, total_evals: int) -> Scheduling:
    """The sweep's scheduler and its pause points (:func:`tune_seeds.scheduling.build`)."""
    return build(
        spec.name, total_evals, metric=spec.metric, milestone=spec.milestone(total_evals),
        keep=spec.keep, cohort_size=spec.cohort_size, rank_by=spec.rank_by,
        grace_period=spec.grace_period, reduction_factor=spec.reduction_factor,
    )


def pause_points(spec: SchedulerSpec, total_evals: int) -> frozenset[int]:
    """Evaluations after which the scheduler may pause a trial: they need a checkpoint."""
    return scheduling(spec, total_evals).pause_points


def build_scheduler(spec: SchedulerSpec, total_evals: int) -> Any:
    """The Tune scheduler, with ``time_attr="eval_index"`` and budgets in evaluations."""
    return scheduling(spec, total_evals).scheduler


# -- Ray ----------------------------------------------------------------------


def check_address(
    address: str, timeout_s: float = 3.0, out: Callable[[str], Any] = print
) -> str:
    """The address to pass to ``ray.init``, after checking a cluster answers there.

    ``auto`` looks for a cluster started on this machine (``ray start``) or named
    by ``RAY_ADDRESS``. Raises ``ValueError`` with a clear message otherwise, so
    that nothing is started for an unreachable cluster. A cluster with token
    authentication gets this process's token (:mod:`tune_seeds.cluster_auth`;
    ``out`` says so), or a ``ValueError`` saying how to provide one.
    """
    from ray._private.services import canonicalize_bootstrap_address

    from tune_seeds.cluster_auth import (
        ClusterAuthError,
        enable_if_token_available,
        prepare_token_auth,
    )

    if address == "auto":
        try:
            found = canonicalize_bootstrap_address("auto")
        except Exception as err:  # Ray raises ConnectionError or ValueError here
            raise ValueError(f"--address auto: no running Ray cluster found ({err})") from err
        if found is None:
            raise ValueError(
                "--address auto: no running Ray cluster found on this machine "
                "(start one with `ray start --head`, or drop --address for an embedded Ray)"
            )
        host_port = found
    else:
        host_port = address.removeprefix("ray://")
    host, sep, port = host_port.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"--address {address!r}: expected auto, host:port or ray://host:port")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as err:
        raise ValueError(f"--address {address!r}: cannot reach {host}:{port} ({err})") from err
    try:
        if address.startswith("ray://"):
            notice = enable_if_token_available()
        else:
            notice = prepare_token_auth(host, int(port), timeout_s=max(timeout_s, 5.0))
    except ClusterAuthError as err:
        raise ClusterAuthError(f"--address {address}: {err}") from None
    if notice:
        out(notice)
    return address


@dataclass(frozen=True)
class RayInfo:
    """Where the sweep runs and how to look at it."""

    address: str | None
    dashboard_url: str | None
    token_path: Path | None

    def describe(self) -> str:
        lines = [f"Ray: {'embedded local instance' if self.address is None else self.address}"]
        if self.dashboard_url is None:
            lines.append("Dashboard: off")
            return "\n".join(lines)
        lines.append(f"Dashboard: {self.dashboard_url}")
        if self.token_path is not None:
            lines.append(
                f"  token authentication is on: the token is in {self.token_path} "
                "(`ray get-auth-token` prints it); paste it at the login prompt, or send "
                "`Authorization: Bearer <token>` to the REST API, e.g.\n"
                f"  curl -H \"Authorization: Bearer $(cat {self.token_path})\" "
                f"{self.dashboard_url}/api/v0/actors"
            )
        return "\n".join(lines)


def token_auth_enabled() -> bool:
    return os.environ.get("RAY_AUTH_MODE", "").lower() == "token"


def token_path() -> Path:
    """Where Ray keeps the token: ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``."""
    custom = os.environ.get("RAY_AUTH_TOKEN_PATH")
    return Path(custom) if custom else Path.home() / ".ray" / "auth_token"


def connect(
    address: str | None = None,
    dashboard: bool = True,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    dashboard_port: int | None = None,
    runtime_env: dict[str, Any] | None = None,
) -> RayInfo:
    """Start an embedded Ray, or join the cluster at ``address``.

    The embedded instance is isolated (``address="local"``) so that it never
    joins another cluster running on the machine by accident; its dashboard
    listens on 127.0.0.1 only, on ``dashboard_port`` or else the first free
    port from 8265 on. ``runtime_env`` applies to this job's workers.
    """
    import ray

    if address is None:
        context = ray.init(
            address="local", num_cpus=num_cpus, num_gpus=num_gpus,
            include_dashboard=dashboard, dashboard_host="127.0.0.1",
            dashboard_port=dashboard_port, runtime_env=runtime_env,
        )
    else:
        context = ray.init(address=address, runtime_env=runtime_env)
    url = getattr(context, "dashboard_url", None) or None
    if url is not None and not url.startswith("http"):
        url = f"http://{url}"
    # Ray 2.60 sets RAY_AUTH_MODE=token in this process when it enables tokens.
    token = token_path() if url is not None and token_auth_enabled() else None
    return RayInfo(address, url if dashboard or address else None, token)


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


# -- storage ------------------------------------------------------------------


def _fs_and_path(uri: str) -> tuple[Any, str]:
    import pyarrow.fs

    return pyarrow.fs.FileSystem.from_uri(_expand(uri))


def save_spec(spec: SweepSpec) -> None:
    """Write ``sweep.json`` into the experiment folder (local or remote)."""
    fs, path = _fs_and_path(spec.experiment_path)
    fs.create_dir(path, recursive=True)
    with fs.open_output_stream(f"{path}/{SPEC_FILE}") as f:
        f.write(json.dumps(spec.to_dict(), indent=2).encode())


def load_spec(storage_path: str, name: str) -> SweepSpec:
    """The spec of a sweep to resume; ``ValueError`` if there is none to resume."""
    import pyarrow.fs

    fs, path = _fs_and_path(f"{_expand(storage_path).rstrip('/')}/{name}")
    spec_path = f"{path}/{SPEC_FILE}"
    if fs.get_file_info(spec_path).type != pyarrow.fs.FileType.File:
        raise ValueError(f"--resume: no sweep named {name!r} under {storage_path} ({spec_path})")
    with fs.open_input_stream(spec_path) as f:
        return SweepSpec.from_dict(json.loads(f.read().decode()))


def fault_from_env() -> dict[str, Any] | None:
    """Test-only fault injection (:mod:`tune_seeds.trainable`) from ``TUNE_SEEDS_TEST_FAULT``."""
    text = os.environ.get(FAULT_ENV)
    return json.loads(text) if text else None


class DropFinishedCheckpoints(Callback):
    """Tune callback deleting a trial's checkpoints once it has ended.

    A finished (or stopped) trial is never resumed, and a checkpoint of the default
    model weighs ~270 MB, so a sweep of hundreds of trials keeps only those of
    trials that may still run (running, paused, errored).
    """

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info):
        import pyarrow.fs

        storage = trial.storage
        fs, root = storage.storage_filesystem, storage.trial_fs_path
        for entry in fs.get_file_info(pyarrow.fs.FileSelector(root, allow_not_found=True)):
            if entry.type == pyarrow.fs.FileType.Directory and entry.base_name.startswith(
                "checkpoint_"
            ):
                fs.delete_dir(entry.path)


# -- the sweep ----------------------------------------------------------------


def build_trainable(spec: SweepSpec, fault: dict[str, Any] | None = None) -> Any:
    """The function trainable with its parameters and resources."""
    from ray import tune

    from tune_seeds.trainable import labelled_trainable, seed_trial

    pauses = sorted(pause_points(spec.scheduler, spec.train.total_evals))
    recompute = spec.pause_mode == "recompute"
    trainable = tune.with_parameters(
        seed_trial,
        train_config=spec.train.to_dict(),
        checkpoint_at=[] if recompute else pauses,
        recompute_at=pauses if recompute else [],
        checkpoint_every=spec.checkpoint_every,
        fault=fault,
    )
    resources = {"cpu": spec.cpus_per_trial}
    if spec.gpus_per_trial:
        resources["gpu"] = spec.gpus_per_trial
    # Resources go on the function, where Tune's wrapper picks them up, so that the
    # class naming each actor by its seed pair is the outermost layer.
    return labelled_trainable(tune.with_resources(trainable, resources))


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
    from ray import tune

    from tune_seeds.progress import ProgressLine, status_table
    from tune_seeds.results import ResultsTables

    total = spec.train.total_evals
    searcher, num_samples = build_searcher(
        spec.search, spec.wi_seeds, spec.do_seeds, spec.num_samples, spec.seed
    )
    scheduler = build_scheduler(spec.scheduler, total)
    callbacks = [
        ResultsTables(spec.tables_dir, spec.train.task, total, spec.tables_every_s),
        *callbacks_for(scheduler),
        *([] if spec.keep_checkpoints else [DropFinishedCheckpoints()]),
        *(extra_callbacks or []),
    ]
    if verbose >= 1:
        planned = spec.scheduler.planned_evals(spec.trial_count, total)
        callbacks.append(ProgressLine(spec.trial_count, total, planned))
    max_concurrent = None if spec.limit_by_cpus else spec.max_concurrent
    return tune.Tuner(
        trainable if trainable is not None else build_trainable(spec, fault_from_env()),
        tune_config=tune.TuneConfig(
            search_alg=searcher, scheduler=scheduler, num_samples=num_samples,
            max_concurrent_trials=max_concurrent, reuse_actors=reuse_actors,
        ),
        run_config=tune.RunConfig(
            name=spec.name,
            storage_path=_expand(spec.storage_path),
            callbacks=callbacks,
            failure_config=tune.FailureConfig(max_failures=spec.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            verbose=verbose,
            progress_reporter=status_table(),
        ),
    )


def restore_tuner(spec: SweepSpec, trainable: Any = None) -> Any:
    """Continue the sweep saved at ``spec.experiment_path``; errored trials run again.

    A damaged experiment state (a driver killed while Tune wrote it, before
    :func:`~tune_seeds.atomic_sync.atomic_snapshots`) is a ``ValueError``: Tune itself
    would start the sweep again from scratch."""
    from ray import tune

    from tune_seeds.atomic_sync import check_snapshot

    if spec.is_local:
        check_snapshot(spec.experiment_path.removeprefix("file://"))
    return tune.Tuner.restore(
        spec.experiment_path,
        trainable=trainable if trainable is not None else build_trainable(spec, fault_from_env()),
        resume_errored=True,
    )


def embedded_cpus(spec: SweepSpec) -> int | None:
    """CPUs of the embedded Ray: all of them, or where concurrency is limited by CPUs,
    just enough for ``max_concurrent`` trials."""
    if spec.max_concurrent is None or not spec.limit_by_cpus:
        return None
    return max(1, math.ceil(spec.max_concurrent * spec.cpus_per_trial))


def run_sweep(
    spec: SweepSpec,
    resume: bool = False,
    address: str | None = None,
    dashboard: bool = True,
    verbose: int = 1,
    out: Callable[[str], Any] = print,
    dashboard_port: int | None = None,
    autoscale_wait_s: float = 0.0,
) -> Any:
    """Run (or resume) a sweep to the end; returns Tune's ``ResultGrid``.

    The results tables are in ``spec.tables_dir`` when it returns (also after an
    interruption, with the trials done so far). Raises
    :class:`~tune_seeds.preflight.PreflightError`, with nothing written, when no node
    can hold a trial (after waiting up to ``autoscale_wait_s`` on a cluster).
    """
    import ray

    from tune_seeds.atomic_sync import atomic_snapshots
    from tune_seeds.progress import tune_environment, worker_runtime_env

    owns_ray = not ray.is_initialized()
    if owns_ray:
        cpus = embedded_cpus(spec) if address is None else None
        info = connect(address, dashboard, num_cpus=cpus, dashboard_port=dashboard_port,
                       runtime_env=worker_runtime_env(verbose))
        out(info.describe())
    try:
        # Tune would wait forever for a trial that no node can hold.
        wait_for_resources(spec.cpus_per_trial, spec.gpus_per_trial,
                           autoscale_wait_s if address else 0.0, out)
        if not resume:
            save_spec(spec)
        out(f"Experiment: {spec.experiment_path}\nResults tables: {spec.tables_dir}")
        # A resume keeps the original sweep's choice (Tune restores its TuneConfig).
        tuner = restore_tuner(spec) if resume else build_tuner(
            spec, verbose=verbose, reuse_actors=not dashboard)
        with tune_file_loggers(spec.tune_loggers), environment(tune_environment(verbose)), \
                atomic_snapshots():  # a killed driver leaves a whole snapshot
            if not spec.tune_loggers:
                # Tune's result grid looks for the per-trial files we chose not to write.
                logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
            return tuner.fit()
    finally:
        if owns_ray:
            ray.shutdown()

