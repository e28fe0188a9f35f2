"""Replay recorded learning curves as Tune trials, so schedulers run on real curves in seconds.

A replayed trial reports, one evaluation at a time, the records a real trial reported
(``eval_index``, ``score``, ``best_score``, task metrics, seeds ...), so any Tune
scheduler (FIFO, ASHA, HyperBand, median stopping, early discarding) makes the same
decisions it would have made on the real sweep, without training anything. The trial's
config names the recorded trial (``{"curve_id": "<trial_id>"}``); the curves are
passed once through :func:`ray.tune.with_parameters`, so they sit in the object store
once, as a few numpy arrays (:class:`ReplayCurves`), and every trial reads them
without copying.

Pausing works: the trainable saves a tiny JSON checkpoint (``{"curve_id", "next"}``)
with its reports, and a resumed trial continues after the last checkpointed record,
as a real trial restores its weights. By default every report carries a checkpoint;
``checkpoint_at`` limits that to the evaluations where a scheduler may pause (a
milestone), which makes large replays much cheaper. A trial paused at a report
without a checkpoint would restart from its first record, as a real one would.

Example (needs Ray)::

    from ray import tune
    curves = ReplayCurves.from_table(curves_df)
    tuner = tune.Tuner(
        tune.with_parameters(replay_trainable, curves=curves),
        param_space={"curve_id": tune.grid_search(list(curves.ids[:20]))},
        tune_config=tune.TuneConfig(metric="score", mode="max", reuse_actors=True),
    )
    results = tuner.fit()
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from ray import tune
from ray.tune.search.basic_variant import BasicVariantGenerator

from tune_seeds.tables import CURVES_COLUMNS, metric_columns, running_best, validate_curves

CHECKPOINT_FILE = "replay.json"
_INT_COLUMNS = frozenset({"eval_index", "step", "wi_seed", "do_seed"})
_BASE_COLUMNS = tuple(c for c in CURVES_COLUMNS if c != "trial_id")


@dataclass(frozen=True)
class ReplayCurves:
    """Recorded curves packed as arrays: cheap to ship to workers and to index.

    Attributes:
        ids: trial ids, one per curve.
        columns: the metric names reported per record.
        values: ``(records, columns)`` float array, the curves back to back in eval order.
        offsets: curve i spans ``values[offsets[i]:offsets[i + 1]]``.
    """

    ids: np.ndarray
    columns: tuple[str, ...]
    values: np.ndarray
    offsets: np.ndarray
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {str(k): i for i, k in enumerate(self.ids)})

    @classmethod
    def from_table(
        cls, curves: pd.DataFrame, columns: Iterable[str] | None = None
    ) -> ReplayCurves:
        """Pack a curves table (checked by :func:`~tune_seeds.tables.validate_curves`).

        Args:
            curves: one row per trial per evaluation.
            columns: metrics to report; defaults to the shared schema's numeric columns
                plus every task metric column.
        """
        curves = validate_curves(curves)
        cols = tuple(columns) if columns is not None else (*_BASE_COLUMNS, *metric_columns(curves))
        missing = [c for c in cols if c not in curves.columns]
        if missing:
            raise ValueError(f"curves table lacks the column(s) {', '.join(missing)}")
        if "best_score" in cols:
            # Recorded before evaluation 0 stopped counting as a result, perhaps: the
            # best so far is recomputed from the scores, as the planner counts it.
            curves = curves.assign(best_score=running_best(curves))
        counts = curves.groupby("trial_id", sort=False).size()
        offsets = np.concatenate([[0], np.cumsum(counts.to_numpy())]).astype(np.int64)
        values = curves[list(cols)].to_numpy(dtype=float)
        return cls(counts.index.to_numpy(dtype=str), cols, values, offsets)

    def __len__(self) -> int:
        return len(self.ids)

    def position(self, curve_id: str) -> int:
        """Index of a curve by its trial id; KeyError with the id when unknown."""
        try:
            return self._index[str(curve_id)]
        except KeyError:
            raise KeyError(f"no recorded curve with trial id {curve_id!r}") from None

    def length(self, curve_id: str) -> int:
        i = self.position(curve_id)
        return int(self.offsets[i + 1] - self.offsets[i])

    def records(self, curve_id: str, start: int = 0) -> Iterator[dict[str, float | int]]:
        """The records of one curve from record ``start`` on, as Tune metric dicts."""
        i = self.position(curve_id)
        rows = self.values[self.offsets[i] + start : self.offsets[i + 1]]
        for row in rows:
            yield {
                c: (int(v) if c in _INT_COLUMNS and np.isfinite(v) else float(v))
                for c, v in zip(self.columns, row, strict=True)
            }

    def subset(self, curve_ids: Iterable[str]) -> ReplayCurves:
        """A new pack with only the given curves, in the given order."""
        pos = [self.position(c) for c in curve_ids]
        spans = [np.arange(self.offsets[i], self.offsets[i + 1]) for i in pos]
        lengths = [len(s) for s in spans]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        take = np.concatenate(spans) if spans else np.empty(0, dtype=np.int64)
        return ReplayCurves(self.ids[pos], self.columns, self.values[take], offsets)


def _resume_position(curve_id: str) -> int:
    """Record to start from: after the last checkpointed one, or 0 for a fresh trial."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return 0
    with checkpoint.as_directory() as d:
        state = json.loads((Path(d) / CHECKPOINT_FILE).read_text())
    if state["curve_id"] != curve_id:
        raise RuntimeError(
            f"checkpoint is for curve {state['curve_id']!r}, trial replays {curve_id!r}"
        )
    return int(state["next"])


def replay_trainable(
    config: dict,
    curves: ReplayCurves,
    checkpoint_at: Iterable[int] | None = None,
) -> None:
    """Tune function trainable: report the recorded curve ``config["curve_id"]`` record by record.

    Every report carries the curve's metrics plus ``curve_id``. Use with
    :func:`ray.tune.with_parameters` so that ``curves`` is stored once.

    Args:
        config: must hold ``curve_id``, the recorded trial to replay.
        curves: the packed recorded curves.
        checkpoint_at: ``eval_index`` values whose report carries a checkpoint (where a
            scheduler may pause); None checkpoints every report. The last record never
            needs one.
    """
    curve_id = str(config["curve_id"])
    n = curves.length(curve_id)
    start = _resume_position(curve_id)
    wanted = None if checkpoint_at is None else frozenset(int(k) for k in checkpoint_at)
    for k, metrics in enumerate(curves.records(curve_id, start), start=start):
        metrics["curve_id"] = curve_id
        last = k == n - 1
        if last or (wanted is not None and metrics["eval_index"] not in wanted):
            tune.report(metrics)
            continue
        with tempfile.TemporaryDirectory() as d:
            state = {"curve_id": curve_id, "next": k + 1}
            (Path(d) / CHECKPOINT_FILE).write_text(json.dumps(state))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))


@dataclass(frozen=True)
class ReplayRun:
    """Outcome of one replayed sweep.

    Attributes:
        trials: one row per trial: ``curve_id``, ``arrival`` (start order),
            ``evals_trained`` (last ``eval_index`` reported), ``best_score`` (best so far
            at its last report: stopped trials count), ``status``.
        compute: evaluation intervals trained, summed over trials.
        best_score: best score found over all trials.
        wall_s: wall-clock seconds of ``Tuner.fit``.
    """

    trials: pd.DataFrame
    compute: int
    best_score: float
    wall_s: float


def replay_configs(curve_ids: Iterable[str]) -> list[dict[str, str]]:
    """One config per curve, in arrival order.

    ``arrival`` is zero-padded and sorts before ``curve_id``, so a scheduler that breaks
    ties by the config's sorted JSON (early discarding does) prefers the earlier
    arrival, as the budget planner assumes.
    """
    ids = [str(c) for c in curve_ids]
    width = max(6, len(str(len(ids))))
    return [{"arrival": f"{k:0{width}d}", "curve_id": c} for k, c in enumerate(ids)]


def _never_sampled(spec: object) -> None:
    raise RuntimeError("replay trials come from points_to_evaluate; nothing is sampled")


def run_replay(
    curves: ReplayCurves,
    curve_ids: Iterable[str],
    scheduler: object | None = None,
    *,
    storage_path: str | Path,
    name: str = "replay",
    checkpoint_at: Iterable[int] | None = None,
    callbacks: Iterable[object] = (),
    max_concurrent_trials: int | None = None,
) -> ReplayRun:
    """Replay ``curve_ids`` (in that arrival order) through a Tune scheduler.

    Ray must be initialized by the caller (one ``ray.init`` serves many replays). Actors
    are reused between trials; the scheduler gets its own ``metric``/``mode`` (none is
    passed to ``TuneConfig``). A scheduler with a ``state_callback()`` (early
    discarding) gets that callback attached.

    Args:
        curves: the packed recorded curves.
        curve_ids: which curves to start, in arrival order.
        scheduler: a Tune scheduler; None runs FIFO.
        storage_path: where Tune writes the experiment (checkpoints of paused trials).
        name: experiment name under ``storage_path``.
        checkpoint_at: passed to :func:`replay_trainable`.
        callbacks: extra Tune callbacks.
        max_concurrent_trials: Tune's concurrency limit (None: as many as the CPUs allow).
    """
    configs = replay_configs(curve_ids)
    if not configs:
        raise ValueError("no curves to replay")
    cbs = list(callbacks)
    if hasattr(scheduler, "state_callback"):
        cbs.append(scheduler.state_callback())
    trainable = tune.with_parameters(replay_trainable, curves=curves, checkpoint_at=checkpoint_at)
    # Every trial comes from points_to_evaluate, in order; the param space only declares
    # the keys (Tune requires them) and never samples, since num_samples == len(configs).
    # A constant-size domain, not a choice over every value: Tune deep-copies the whole
    # param space for each preset point, which made adding n trials cost O(n^2).
    space = {key: tune.sample_from(_never_sampled) for key in ("arrival", "curve_id")}
    # Tune warns, twice per trial, that each preset value differs from that domain.
    logging.getLogger("ray.tune.search.variant_generator").setLevel(logging.ERROR)
    tuner = tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(
            scheduler=scheduler,
            search_alg=BasicVariantGenerator(points_to_evaluate=configs),
            num_samples=len(configs),
            reuse_actors=True,
            max_concurrent_trials=max_concurrent_trials,
        ),
        run_config=tune.RunConfig(
            storage_path=str(Path(storage_path).resolve()),
            name=name,
            verbose=0,
            # No num_to_keep: it forces an experiment snapshot at every checkpoint,
            # which costs O(trials) each time. Checkpoints are a few bytes each.
            callbacks=cbs,
        ),
    )
    if os.environ.get("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS") == "1":
        # Without result.json files Tune warns once per trial that it cannot load the
        # trial's history; the replay reads only the last results, kept in memory.
        logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    start = time.perf_counter()
    grid = tuner.fit()
    wall = time.perf_counter() - start
    rows = []
    for result in grid:
        m = result.metrics or {}
        cfg = result.config or {}
        rows.append(
            {
                "curve_id": cfg.get("curve_id"),
                "arrival": int(cfg.get("arrival", -1)),
                "evals_trained": int(m.get("eval_index", 0) or 0),
                "best_score": float(m.get("best_score", np.nan)),
                "status": "ERROR" if result.error else "TERMINATED",
            }
        )
    trials = pd.DataFrame(rows).sort_values("arrival", kind="stable").reset_index(drop=True)
    return ReplayRun(
        trials=trials,
        compute=int(trials["evals_trained"].sum()),
        best_score=float(trials["best_score"].max()),
        wall_s=wall,
    )
