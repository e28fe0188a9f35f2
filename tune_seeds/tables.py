"""The results tables of a sweep, and how to read and check them.

A sweep writes up to three tables into its results directory:

- ``trials.parquet``: one row per trial (:data:`TRIALS_COLUMNS`);
- ``curves.parquet``: one row per trial per evaluation (:data:`CURVES_COLUMNS` plus
  one column per task metric, e.g. ``accuracy`` and ``f1`` for MRPC);
- ``predictions.parquet`` (unless the sweep ran with ``--no-predictions``): one row per
  trial per evaluation per dev example (:data:`PREDICTIONS_COLUMNS`), what the model
  predicted, so that two sweeps can be compared example by example.

The sweep runner writes them; everything that analyses them reads them through
:func:`load_results` (a results directory) or :func:`load_any` (a directory or a bare
curves file), which check the columns and fail with a message naming the file and the
missing columns instead of a ``KeyError`` deep inside the analysis.

A curves table on its own is enough for most of the analysis: :func:`trials_from_curves`
rebuilds the trials table from it (best score, best step, final score, compute).

>>> import pandas as pd
>>> curves = pd.DataFrame({
...     "trial_id": ["a"] * 3, "wi_seed": 1, "do_seed": 2, "eval_index": [0, 1, 2],
...     "step": [0, 10, 20], "epoch": [0.0, 0.5, 1.0], "train_loss": [float("nan"), 0.6, 0.5],
...     "eval_loss": [0.7, 0.6, 0.65], "score": [0.5, 0.8, 0.7], "best_score": [0.5, 0.8, 0.8]})
>>> row = trials_from_curves(curves).iloc[0]
>>> row["trial_id"], float(row["best_score"]), int(row["best_step"]), float(row["final_score"])
('a', 0.8, 10, 0.7)
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

TRIALS_COLUMNS: tuple[str, ...] = (
    "trial_id",
    "wi_seed",
    "do_seed",
    "status",
    "stopped_by",
    "best_score",
    "best_step",
    "final_score",
    "evals_trained",
    "wall_s",
)
"""Required columns of ``trials.parquet`` (``task`` is optional)."""

CURVES_COLUMNS: tuple[str, ...] = (
    "trial_id",
    "wi_seed",
    "do_seed",
    "eval_index",
    "step",
    "epoch",
    "train_loss",
    "eval_loss",
    "score",
    "best_score",
)
"""Required columns of ``curves.parquet``; task metric columns and ``task`` come on top."""

OPTIONAL_COLUMNS: tuple[str, ...] = ("task", "synthetic")
"""Columns either table may carry: the task name and, for generated data, a marker."""

STOPPED_BY_VALUES: tuple[str, ...] = ("completed", "scheduler", "diverged", "error")

PREDICTIONS_COLUMNS: tuple[str, ...] = (
    "trial_id", "eval_index", "example", "label", "pred", "prob"
)
"""Columns of ``predictions.parquet``: ``example`` is the row of the dev file (0 = the first
example), ``prob`` the predicted probability of label 1 (all four tasks are binary)."""

TRIALS_FILE = "trials.parquet"
CURVES_FILE = "curves.parquet"
PREDICTIONS_FILE = "predictions.parquet"


def _check_columns(df: pd.DataFrame, required: tuple[str, ...], what: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(
            f"{what} lacks the column(s) {', '.join(missing)}; "
            f"it has {', '.join(map(str, df.columns)) or 'no columns'}"
        )


def validate_trials(trials: pd.DataFrame, source: str = "trials table") -> pd.DataFrame:
    """Check a trials table has every column of :data:`TRIALS_COLUMNS` and one row per trial.

    Returns the table with ``trial_id`` as strings and the seeds as integers.

    Raises:
        ValueError: naming the missing columns or the repeated trial ids.
    """
    _check_columns(trials, TRIALS_COLUMNS, source)
    out = trials.copy()
    out["trial_id"] = out["trial_id"].astype(str)
    dup = out["trial_id"][out["trial_id"].duplicated()].unique()
    if len(dup):
        raise ValueError(f"{source} has repeated trial ids: {', '.join(dup[:5])}")
    out["wi_seed"] = out["wi_seed"].astype(np.int64)
    out["do_seed"] = out["do_seed"].astype(np.int64)
    return out


def validate_curves(curves: pd.DataFrame, source: str = "curves table") -> pd.DataFrame:
    """Check a curves table has every column of :data:`CURVES_COLUMNS`.

    Returns the table sorted by trial and evaluation, with ``trial_id`` as strings.
    Rows repeated for the same (trial, evaluation) — a trial resumed from a checkpoint
    reports the steps after it again — keep the last one.

    Raises:
        ValueError: naming the missing columns, or when the table is empty.
    """
    _check_columns(curves, CURVES_COLUMNS, source)
    if curves.empty:
        raise ValueError(f"{source} has no rows")
    out = curves.copy()
    out["trial_id"] = out["trial_id"].astype(str)
    out["eval_index"] = out["eval_index"].astype(np.int64)
    out["wi_seed"] = out["wi_seed"].astype(np.int64)
    out["do_seed"] = out["do_seed"].astype(np.int64)
    out = out.drop_duplicates(["trial_id", "eval_index"], keep="last")
    out = out.sort_values(["trial_id", "eval_index"], kind="stable").reset_index(drop=True)
    out.attrs = dict(curves.attrs)
    return out


def read_parquet_whole(path: str | Path) -> pd.DataFrame:
    """Read a parquet file that a running sweep may be replacing.

    A running sweep replaces its tables atomically, but pyarrow takes a file's size
    and opens it in two steps: a replacement in between makes it read the new file at
    the old file's footer offset ("Couldn't deserialize thrift"). Reading the bytes
    through one open file sees one version, whole.
    """
    return pd.read_parquet(io.BytesIO(Path(path).read_bytes()))


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a ``.parquet`` or ``.csv`` file into a DataFrame.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: for any other file type.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return read_parquet_whole(path)
    if suffix == ".csv":
        return pd.read_csv(path)
    raise ValueError(f"{path}: expected a .parquet or .csv file, not {suffix or 'no suffix'}")


def is_synthetic(df: pd.DataFrame) -> bool:
    """Whether a table was made by :mod:`tune_seeds.replay.synthetic` (marker column or attr)."""
    if df.attrs.get("synthetic"):
        return True
    return "synthetic" in df.columns and bool(df["synthetic"].astype(bool).any())


def metric_columns(curves: pd.DataFrame) -> list[str]:
    """The task metric columns of a curves table: numeric columns beyond the shared schema."""
    skip = set(CURVES_COLUMNS) | set(OPTIONAL_COLUMNS)
    return [
        c for c in curves.columns if c not in skip and pd.api.types.is_numeric_dtype(curves[c])
    ]


def ranked_scores(curves: pd.DataFrame) -> np.ndarray:
    """Scores as they count for a trial's best: evaluation 0 (the untrained model) only
    when the trial has nothing after it, as in the paper, whose curves start after
    training does. NaN becomes -inf, so a missing evaluation never hides the best one.
    """
    scores = curves["score"].to_numpy(dtype=float).copy()
    at_start = curves["eval_index"].to_numpy() == 0
    trained = curves.groupby("trial_id")["eval_index"].transform("max").to_numpy() > 0
    scores[at_start & trained] = np.nan
    return np.where(np.isnan(scores), -np.inf, scores)


def running_best(curves: pd.DataFrame) -> np.ndarray:
    """Each row's best score so far in its trial (rows in evaluation order per trial):
    evaluation 0 is its own best, later ones the best since training started."""
    scores = curves["score"].to_numpy(dtype=float)
    after = np.where(curves["eval_index"].to_numpy() > 0, scores, np.nan)
    best = pd.Series(after).groupby(curves["trial_id"].to_numpy()).cummax().to_numpy()
    return np.where(curves["eval_index"].to_numpy() == 0, scores, best)


def trials_from_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """Rebuild a trials table (:data:`TRIALS_COLUMNS`) from a curves table.

    ``best_score`` is the best ``score`` after training starts (:func:`ranked_scores`;
    evaluation 0 only for a trial with nothing after it), ``best_step``
    the step of its first occurrence, ``final_score`` the last one, ``evals_trained``
    the last ``eval_index``. A curves file records neither the trial's status nor its
    wall time, so ``status`` is ``TERMINATED``, ``wall_s`` is NaN, and ``stopped_by`` is
    ``completed`` for trials that reached the largest evaluation index in the table and
    ``scheduler`` for the others (a guess: divergence and errors cannot be told apart).
    """
    curves = validate_curves(curves)
    g = curves.groupby("trial_id", sort=True)
    first = g.head(1).set_index("trial_id")
    last = g.tail(1).set_index("trial_id")
    idx_best = (
        pd.Series(ranked_scores(curves), index=curves.index)
        .groupby(curves["trial_id"])
        .idxmax()
    )
    max_eval = int(curves["eval_index"].max())
    trials = pd.DataFrame(
        {
            "trial_id": first.index.astype(str),
            "wi_seed": first["wi_seed"].to_numpy(),
            "do_seed": first["do_seed"].to_numpy(),
            "status": "TERMINATED",
            "stopped_by": np.where(last["eval_index"] >= max_eval, "completed", "scheduler"),
            "best_score": curves.loc[idx_best.to_numpy(), "score"].to_numpy(dtype=float),
            "best_step": curves.loc[idx_best.to_numpy(), "step"].to_numpy(dtype=np.int64),
            "final_score": last["score"].to_numpy(dtype=float),
            "evals_trained": last["eval_index"].to_numpy(dtype=np.int64),
            "wall_s": np.nan,
        }
    )
    for col in OPTIONAL_COLUMNS:
        if col in curves.columns:
            trials[col] = first[col].to_numpy()
    trials.attrs = dict(curves.attrs)
    return trials


def load_results(results_dir: str | Path, predictions: bool = False) -> tuple[pd.DataFrame, ...]:
    """Read and check ``trials.parquet`` and ``curves.parquet`` of a results directory.

    Returns:
        ``(trials, curves)``, checked by :func:`validate_trials` and :func:`validate_curves`;
        with ``predictions=True``, ``(trials, curves, predictions)``, the last from
        :func:`load_predictions` (None when the sweep recorded none).

    Raises:
        FileNotFoundError: when the directory or either table is missing.
        ValueError: when a table lacks columns (the message names them).
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise FileNotFoundError(f"no such results directory: {results_dir}")
    paths = {name: results_dir / name for name in (TRIALS_FILE, CURVES_FILE)}
    missing = [name for name, p in paths.items() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{results_dir} has no {' and no '.join(missing)}")
    trials = validate_trials(read_parquet_whole(paths[TRIALS_FILE]), str(paths[TRIALS_FILE]))
    curves = validate_curves(read_parquet_whole(paths[CURVES_FILE]), str(paths[CURVES_FILE]))
    if predictions:
        return trials, curves, load_predictions(results_dir)
    return trials, curves


def load_sweep_json(results_dir: str | Path) -> dict[str, Any] | None:
    """The ``sweep.json`` saved beside a results directory's tables, if any."""
    path = Path(results_dir) / "sweep.json"
    return json.loads(path.read_text()) if path.is_file() else None


def load_predictions(results_dir: str | Path) -> pd.DataFrame | None:
    """``predictions.parquet`` of a results directory, checked and sorted; None if absent.

    Rows repeated for the same (trial, evaluation, example) keep the last one, as the
    curves do.
    """
    path = Path(results_dir) / PREDICTIONS_FILE
    if not path.is_file():
        return None
    df = read_parquet_whole(path)
    _check_columns(df, PREDICTIONS_COLUMNS, str(path))
    df["trial_id"] = df["trial_id"].astype(str)
    keys = ["trial_id", "eval_index", "example"]
    df = df.drop_duplicates(keys, keep="last").sort_values(keys, kind="stable")
    return df.reset_index(drop=True)


def merge_results(
    folders: list[str | Path], finished_only: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """One sweep's tables from sweeps of parts of it (a grid run one WI seed at a time).

    Trials are deterministic, so the same (WI, DO) pair in any part is the same trial;
    a pair that two parts both ran is an error. ``finished_only`` keeps the trials that
    ended (``stopped_by`` set), leaving out those an interruption left unfinished.

    Returns:
        ``(trials, curves, predictions)``; predictions None unless every part has them.
    """
    if not folders:
        raise ValueError("no results folders to merge")
    parts = [load_results(f, predictions=True) for f in folders]
    tasks = {str(t) for trials, _, _ in parts if "task" in trials for t in trials["task"]}
    if len(tasks) > 1:
        raise ValueError(f"the folders hold sweeps of different tasks: {sorted(tasks)}")
    trials = pd.concat([p[0] for p in parts], ignore_index=True)
    if finished_only:
        trials = trials[trials["stopped_by"].notna()]
    pairs = trials[["wi_seed", "do_seed"]]
    twice = pairs[pairs.duplicated()]
    if len(twice):
        raise ValueError("seed pairs in more than one folder: " + ", ".join(
            f"(WI {w}, DO {d})" for w, d in twice.itertuples(index=False)))
    keep = set(trials["trial_id"])
    curves = pd.concat([p[1] for p in parts], ignore_index=True)
    curves = curves[curves["trial_id"].isin(keep)]
    predictions = None
    if all(p[2] is not None for p in parts):
        predictions = pd.concat([p[2] for p in parts], ignore_index=True)
        predictions = predictions[predictions["trial_id"].isin(keep)].reset_index(drop=True)
    trials = trials.sort_values(["wi_seed", "do_seed"], kind="stable").reset_index(drop=True)
    curves = curves.sort_values(["wi_seed", "do_seed", "eval_index"], kind="stable")
    return trials, curves.reset_index(drop=True), predictions


def load_any(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a results directory, or a bare curves file (``.parquet``/``.csv``).

    A directory needs ``curves.parquet``; its ``trials.parquet`` is used when present
    and rebuilt from the curves otherwise (:func:`trials_from_curves`).

    Returns:
        ``(trials, curves)``.
    """
    path = Path(path)
    if path.is_dir():
        if (path / TRIALS_FILE).is_file():
            return load_results(path)
        path = path / CURVES_FILE
    curves = validate_curves(read_table(path), str(path))
    return trials_from_curves(curves), curves
