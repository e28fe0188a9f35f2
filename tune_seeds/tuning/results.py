"""Keep a sweep's results tables current while it runs.

:class:`ResultsTables` is a Ray Tune callback. It keeps one row per
(trial, evaluation) from the reported records, the latest one winning: a trial
resumed from a checkpoint (after a retry, a pause or an interrupted sweep)
reports the evaluations after that checkpoint again, and keeping the last row
per ``(trial_id, eval_index)`` makes the tables equal to an undisturbed run's.
Its state is saved with the experiment state (``get_state``/``set_state``), so
``Tuner.restore`` continues the same tables.

The tables are rewritten atomically (a temporary file, then a rename) at most
every ``write_every_s`` seconds while trials report or end, and at the end of
the run (also when it is interrupted). Their schema is :mod:`tune_seeds.tables`:

- ``trials.parquet``: :data:`~tune_seeds.tables.TRIALS_COLUMNS` plus ``task``,
  ``node_id``, ``device_name`` (the GPU's model, or ``cpu``) and ``precision`` (what
  ``auto`` resolved to). ``best_score`` is NaN for a trial that never trained (only
  evaluation 0, the untrained model). ``stopped_by`` is ``completed`` (all
  evaluations), ``scheduler`` (stopped early), ``diverged`` (the loss became NaN/inf)
  or ``error``; it is empty for trials still running, paused, pending or ``INTERRUPTED`` (stopped by
  an interruption of the sweep: they continue on resume).
- ``curves.parquet``: :data:`~tune_seeds.tables.CURVES_COLUMNS`, every task
  metric, ``device`` (``cpu``, ``cuda:0``...), ``gpu_peak_mb`` (the attempt's peak GPU
  memory so far; NaN on a CPU) and ``task``.
- ``predictions.parquet``: :data:`~tune_seeds.tables.PREDICTIONS_COLUMNS`, when the
  trials report their predictions (the trainable's ``predictions=True``); kept like the
  curves, the last report of a (trial, evaluation) winning.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from ray.tune import Callback

from tune_seeds.atomic import atomic_path
from tune_seeds.tables import (
    CURVES_COLUMNS,
    CURVES_FILE,
    PREDICTIONS_COLUMNS,
    PREDICTIONS_FILE,
    TRIALS_COLUMNS,
    TRIALS_FILE,
    trials_from_curves,
)
from tune_seeds.trial.tasks import get_task

TERMINATED, ERROR = "TERMINATED", "ERROR"
RUN_CURVE_COLUMNS = ("device", "gpu_peak_mb")
"""Curve columns saying where each evaluation ran (beside the schema's own)."""
RUN_TRIAL_COLUMNS = ("task", "node_id", "device_name", "precision")
"""Trial columns beside the schema's own."""
INTERRUPTED = "INTERRUPTED"
"""Status of a trial stopped by an interruption of the sweep (it continues on resume)."""


def stopped_by(status: str, diverged: bool, evals_trained: int, total_evals: int) -> str | None:
    """Why a trial ended, or None while it has not.

    >>> stopped_by("TERMINATED", False, 30, 30), stopped_by("TERMINATED", False, 9, 30)
    ('completed', 'scheduler')
    >>> stopped_by("ERROR", False, 4, 30), stopped_by("PAUSED", False, 9, 30) is None
    ('error', True)
    """
    if status == ERROR:
        return "error"
    if status != TERMINATED:
        return None
    if diverged:
        return "diverged"
    return "completed" if evals_trained >= total_evals else "scheduler"


def curves_frame(rows: dict[tuple[str, int], dict], metric_names: tuple[str, ...], task: str):
    """The curves table from the kept rows, sorted by trial and evaluation."""
    columns = [*CURVES_COLUMNS, *metric_names, *RUN_CURVE_COLUMNS]
    df = pd.DataFrame([rows[key] for key in sorted(rows)], columns=columns)
    df = df.astype({"trial_id": str, "wi_seed": "int64", "do_seed": "int64"})
    df = df.astype({"eval_index": "int64", "step": "int64"})
    df["task"] = task
    return df


def trials_frame(
    curves: pd.DataFrame, meta: dict[str, dict[str, Any]], total_evals: int, task: str
) -> pd.DataFrame:
    """One row per trial with a record: scores from its curve, status from ``meta``."""
    if curves.empty:
        return pd.DataFrame(columns=[*TRIALS_COLUMNS, *RUN_TRIAL_COLUMNS])
    trials = trials_from_curves(curves.drop(columns=["task", *RUN_CURVE_COLUMNS]))
    info = [meta[t] for t in trials["trial_id"]]
    trials["status"] = [m["status"] for m in info]
    trials["stopped_by"] = [
        stopped_by(m["status"], m["diverged"], int(n), total_evals)
        for m, n in zip(info, trials["evals_trained"], strict=True)
    ]
    # Evaluation 0 is the untrained model, not a result: a trial that never trained (out
    # of memory at its first step, say) has no best score, unless it diverged there.
    never_trained = (trials["evals_trained"] == 0) & (trials["stopped_by"] != "diverged")
    trials.loc[never_trained, "best_score"] = math.nan
    trials["wall_s"] = [float(m["wall_s"]) for m in info]
    trials["task"] = task
    for column in RUN_TRIAL_COLUMNS[1:]:
        trials[column] = [m.get(column, "") for m in info]
    return trials[[*TRIALS_COLUMNS, *RUN_TRIAL_COLUMNS]]


def predictions_frame(
    predictions: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]],
    examples: dict[str, tuple[np.ndarray, np.ndarray]],
) -> pd.DataFrame:
    """The predictions table from the kept arrays, sorted by trial, evaluation, example."""
    keys = sorted(predictions)
    if not keys:
        return pd.DataFrame(columns=list(PREDICTIONS_COLUMNS))
    sizes = [len(predictions[k][0]) for k in keys]
    trial_ids = [k[0] for k in keys]
    # Each trial's arrays in dev order; sorted by dev row for the table.
    order = {t: np.argsort(examples[t][0], kind="stable") for t in set(trial_ids)}

    def column(arrays: list[np.ndarray], ids: list[str]) -> np.ndarray:
        return np.concatenate([a[order[t]] for a, t in zip(arrays, ids, strict=True)])

    return pd.DataFrame({
        "trial_id": pd.Categorical(np.repeat(trial_ids, sizes)),
        "eval_index": np.repeat(np.array([k[1] for k in keys], dtype=np.int64), sizes),
        "example": column([examples[t][0] for t in trial_ids], trial_ids),
        "label": column([examples[t][1] for t in trial_ids], trial_ids),
        "pred": column([predictions[k][0] for k in keys], trial_ids),
        "prob": column([predictions[k][1] for k in keys], trial_ids),
    })


def write_atomic(df: pd.DataFrame, path: Path) -> None:
    """Write a parquet file so that readers only ever see a complete one."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


class ResultsTables(Callback):
    """Tune callback writing the sweep's results tables as it goes.

    Args:
        results_dir: where ``trials.parquet`` and ``curves.parquet`` go (created).
        task: the GLUE task (its metric names become curve columns).
        total_evals: evaluation intervals of a full run (``TrainConfig.total_evals``).
        write_every_s: least time between two rewrites while trials report.

    Example::

        tables = ResultsTables("results/mrpc", "mrpc", total_evals=30)
        tune.Tuner(..., run_config=tune.RunConfig(callbacks=[tables])).fit()
        trials, curves = tables.frames()
    """

    def __init__(
        self, results_dir: str | os.PathLike[str], task: str, total_evals: int,
        write_every_s: float = 30.0,
    ):
        self.results_dir = Path(results_dir)
        self.task = get_task(task)
        self.total_evals = int(total_evals)
        self.write_every_s = float(write_every_s)
        self.rows: dict[tuple[str, int], dict[str, Any]] = {}
        self.meta: dict[str, dict[str, Any]] = {}
        self.predictions: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
        self.examples: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._last_write = 0.0
        self._dirty = False

    # -- Tune hooks -------------------------------------------------------------

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info):
        if "eval_index" not in result:
            return
        trial_id = str(trial.trial_id)
        index = int(result["eval_index"])
        keep = (*CURVES_COLUMNS[1:], *self.task.metric_names, *RUN_CURVE_COLUMNS)
        self.rows[(trial_id, index)] = {
            "trial_id": trial_id, **{k: _plain(result.get(k, math.nan)) for k in keep}
        }
        if "pred" in result:
            self.examples.setdefault(trial_id, (result["example"], result["label"]))
            self.predictions[(trial_id, index)] = (result["pred"], result["prob"])
        meta = self.meta.setdefault(trial_id, {"diverged": False})
        meta.update(
            status=str(trial.status),
            diverged=bool(result.get("diverged", False)),
            wall_s=float(result.get("time_total_s", math.nan)),
            node_id=str(result.get("node_id", "")),
            device_name=str(result.get("device_name", "")),
            precision=str(result.get("precision", "")),
        )
        self._dirty = True
        self._write(force=False)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info):
        self._set_status(trial, TERMINATED)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info):
        self._set_status(trial, ERROR)

    def on_step_end(self, iteration: int, trials: list, **info):
        # Pauses and restarts only show in the trials' status. Endings come from the
        # hooks above: Tune also marks the trials it stops on an interruption
        # TERMINATED, but those did not finish and run again on resume.
        for trial in trials:
            meta = self.meta.get(str(trial.trial_id))
            if meta is None or meta["status"] == TERMINATED:
                continue
            status = str(trial.status)
            if status == TERMINATED:
                status = INTERRUPTED
            if meta["status"] != status:
                meta["status"] = status
                self._dirty = True
        self._write(force=False)

    def on_experiment_end(self, trials: list, **info):
        self.on_step_end(0, trials)
        self._write(force=True)

    def get_state(self) -> dict[str, Any]:
        return {
            "rows": self.rows, "meta": self.meta,
            "predictions": self.predictions, "examples": self.examples,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.rows = state["rows"]
        self.meta = state["meta"]
        # A state saved before predictions were kept has none.
        self.predictions = state.get("predictions", {})
        self.examples = state.get("examples", {})
        self._dirty = True

    # -- tables -----------------------------------------------------------------

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(trials, curves)`` as they stand now."""
        curves = curves_frame(self.rows, self.task.metric_names, self.task.name)
        return trials_frame(curves, self.meta, self.total_evals, self.task.name), curves

    def _set_status(self, trial: Any, status: str) -> None:
        meta = self.meta.get(str(trial.trial_id))
        if meta is not None:
            meta["status"] = status
            self._dirty = True
            self._write(force=False)

    def _write(self, force: bool) -> None:
        now = time.monotonic()
        if not self._dirty or not self.rows:
            return
        if not force and now - self._last_write < self.write_every_s:
            return
        self.results_dir.mkdir(parents=True, exist_ok=True)
        trials, curves = self.frames()
        if self.predictions:
            write_atomic(
                predictions_frame(self.predictions, self.examples),
                self.results_dir / PREDICTIONS_FILE,
            )
        write_atomic(curves, self.results_dir / CURVES_FILE)
        write_atomic(trials, self.results_dir / TRIALS_FILE)
        self._last_write = now
        self._dirty = False


def _plain(value: Any) -> Any:
    """Numpy scalars to Python ones, so the kept rows pickle small and compare equal."""
    return value.item() if hasattr(value, "item") else value
