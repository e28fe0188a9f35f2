"""A sweep's settings: the scheduler's (:class:`SchedulerSpec`) and the whole sweep's
(:class:`SweepSpec`), checked when built and saved beside the sweep for ``--resume``
(:mod:`tune_seeds.tuning.storage`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tune_seeds.trial.config import TrainConfig
from tune_seeds.tuning.search import SEARCHES

SCHEDULERS = ("fifo", "asha", "hyperband", "early-discard")
PAUSE_MODES = ("checkpoint", "recompute")
RANK_BY = ("best", "last")
SPEC_FILE = "sweep.json"


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
        from tune_seeds.schedulers import planned_compute

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
        search: ``grid``, ``random`` or ``optuna`` (see :mod:`tune_seeds.tuning.search`).
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
        predictions: keep every evaluation's dev-set predictions in
            ``predictions.parquet`` (``--no-predictions``: not).
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
    predictions: bool = True

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
        return f"{expand_path(self.storage_path).rstrip('/')}/{self.name}"

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
        # A sweep saved before predictions were recorded did not record them.
        data = {"predictions": False, **data}
        data["train"] = TrainConfig.from_dict(data["train"])
        data["scheduler"] = SchedulerSpec(**data["scheduler"])
        data["wi_seeds"] = tuple(data["wi_seeds"])
        data["do_seeds"] = tuple(data["do_seeds"])
        return cls(**data)


def expand_path(path: str) -> str:
    """A local path made absolute (``~`` expanded); a URI as it is."""
    return path if "://" in path else str(Path(path).expanduser().resolve())
