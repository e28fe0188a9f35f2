"""A sweep's settings: the whole sweep's (:class:`SweepSpec`) with its scheduler's
(:class:`~tune_seeds.schedulers.kinds.SchedulerSpec`), saved beside the sweep for
``--resume`` (:mod:`tune_seeds.tuning.storage`).

Checked once, when built: the command line and ``sweep.json`` both make one, and
everything below them trusts it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from tune_seeds.schedulers.kinds import SchedulerSpec, Setup
from tune_seeds.trial.config import TrainConfig
from tune_seeds.tuning.preflight import is_remote, local_storage
from tune_seeds.tuning.search import SEARCHES

PAUSE_MODES = ("checkpoint", "recompute")
SPEC_FILE = "sweep.json"


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
            no disk, at most ``keep x milestone`` more training).
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
            raise ValueError(f"unknown search {self.search!r}; choose one of {', '.join(SEARCHES)}")
        if self.num_samples is None and self.search != "grid":
            raise ValueError(f"--search {self.search} needs --num-samples")
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
        if not self.is_local and self.results_dir is None:
            raise ValueError("a remote --storage-path needs a local --results-dir for the tables")
        self.scheduler.kind.check(self.scheduler, self.train.total_evals)

    @property
    def experiment_path(self) -> str:
        """``storage_path/name``, with ``~`` expanded for local paths."""
        return f"{expand_path(self.storage_path).rstrip('/')}/{self.name}"

    @property
    def is_local(self) -> bool:
        return not is_remote(self.storage_path)

    @property
    def local_experiment_dir(self) -> Path | None:
        """The experiment folder on this machine; None on remote storage."""
        return local_storage(self.experiment_path)

    @property
    def tables_dir(self) -> Path:
        if self.results_dir is not None:
            return Path(self.results_dir).expanduser().resolve()
        folder = self.local_experiment_dir
        assert folder is not None, "remote storage has a --results-dir (checked when built)"
        return folder.resolve()

    @property
    def trial_count(self) -> int:
        """Trials the sweep runs in all."""
        if self.num_samples is not None:
            return self.num_samples
        return len(self.wi_seeds) * len(self.do_seeds)

    @cached_property
    def setup(self) -> Setup:
        """The scheduler with this sweep's trials and run length: its plan, pause points
        and planned compute, and how to build it."""
        return self.scheduler.setup(self.trial_count, self.train.total_evals)

    @property
    def limit_by_cpus(self) -> bool:
        """Whether ``max_concurrent`` must be enforced through CPUs, not Tune's limit
        (:attr:`~tune_seeds.schedulers.kinds.SchedulerKind.caps_concurrency_by_cpus`)."""
        return self.scheduler.kind.caps_concurrency_by_cpus

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
