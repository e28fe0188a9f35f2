"""A grid run in parts (one sweep per WI seed) merged into one results folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from tune_seeds.replay.synthetic import synthetic_curves
from tune_seeds.tables import load_results, trials_from_curves

REPO = Path(__file__).resolve().parents[1]


def write_part(folder: Path, wi: int, task: str = "mrpc", unfinished: int = 0) -> None:
    """A results folder of WI ``wi`` x DO 1-3, the last ``unfinished`` trials not ended."""
    curves = synthetic_curves(1, 3, n_evals=4, seed=wi)
    curves["wi_seed"] = wi
    curves["trial_id"] = [f"w{wi}d{d}" for d in curves["do_seed"]]
    curves["task"] = task
    trials = trials_from_curves(curves.drop(columns=["task"]))
    trials["status"] = "TERMINATED"
    trials["stopped_by"] = ["completed"] * (3 - unfinished) + [None] * unfinished
    trials["wall_s"] = 1.0
    trials["task"] = task
    rows = []
    for (tid, k), _ in curves.groupby(["trial_id", "eval_index"]):
        rows.append(pd.DataFrame({"trial_id": tid, "eval_index": k, "example": np.arange(5),
                                  "label": [0, 1, 0, 1, 1], "pred": [0, 1, 1, 1, 0],
                                  "prob": np.linspace(0.1, 0.9, 5, dtype=np.float32)}))
    folder.mkdir(parents=True)
    trials.to_parquet(folder / "trials.parquet")
    curves.to_parquet(folder / "curves.parquet")
    pd.concat(rows).to_parquet(folder / "predictions.parquet")
    spec = {"train": {"task": task, "glue_dir": "/data/glue", "cache_dir": None},
            "wi_seeds": [wi], "do_seeds": [1, 2, 3], "storage_path": "/somewhere",
            "name": f"part-{wi}"}
    (folder / "sweep.json").write_text(json.dumps(spec))


def merge(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "experiments" / "merge_results.py"),
                           *args], capture_output=True, text=True, timeout=120)


def test_parts_merge_into_one_grid_without_unfinished_trials(tmp_path):
    write_part(tmp_path / "wi1", 1)
    write_part(tmp_path / "wi2", 2, unfinished=1)
    done = merge(str(tmp_path / "grid"), str(tmp_path / "wi2"), str(tmp_path / "wi1"))
    assert done.returncode == 0, done.stderr
    trials, curves, predictions = load_results(tmp_path / "grid", predictions=True)
    assert list(zip(trials.wi_seed, trials.do_seed, strict=True)) == [
        (1, 1), (1, 2), (1, 3), (2, 1), (2, 2)]
    assert set(curves.trial_id) == set(trials.trial_id) == set(predictions.trial_id)
    assert len(predictions) == 5 * 5 * 5  # trials x evaluations x examples
    spec = json.loads((tmp_path / "grid" / "sweep.json").read_text())
    assert spec["wi_seeds"] == [1, 2] and spec["storage_path"] == "" and spec["name"] == "grid"
    assert spec["train"]["glue_dir"] is None
    everything = merge(str(tmp_path / "all"), str(tmp_path / "wi1"), str(tmp_path / "wi2"),
                       "--all-trials")
    assert everything.returncode == 0 and len(load_results(tmp_path / "all")[0]) == 6


def test_a_pair_twice_or_two_tasks_exit_2_and_write_nothing(tmp_path):
    write_part(tmp_path / "wi1", 1)
    write_part(tmp_path / "again", 1)
    write_part(tmp_path / "rte", 2, task="rte")
    for parts, message in [(["wi1", "again"], "seed pairs in more than one folder: (WI 1, DO 1)"),
                           (["wi1", "rte"], "different tasks"),
                           (["wi1", "nothing"], "nothing")]:
        done = merge(str(tmp_path / "out"), *(str(tmp_path / p) for p in parts))
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert not (tmp_path / "out").exists()
