"""A model-free Tune trainable with deterministic noisy learning curves.

Used by the scheduler tests. Each trial's curve is a pure function of its config
(``curve_seed`` if present, else ``seed``), so a test can compute every score, and
therefore every expected keep/cut decision, without running Ray.

Protocol (the project's reporting convention): evaluation 0 is reported before any
training, then one report per trained interval, ``eval_index`` 1..``intervals``.
Every report carries a checkpoint holding the position, so a paused or restored trial
resumes exactly where it stopped and trains no interval twice (unless Tune restarts
it from an older checkpoint, which the ledger would show).

Config keys:
    seed: int, identifies the trial (and its curve unless ``curve_seed`` is given).
    intervals: int, total number of training intervals T.
    curve_seed: optional int, the curve's seed (give two trials the same one to tie).
    ledger_dir: optional str, a directory where every trained interval is appended as
        one line ``"<seed> <interval> <unix time>"`` to ``<seed>.txt``: the compute
        actually spent, and when.
    fail_at: optional int, raise before training this interval (a crashing trial).
    sleep_s: optional float, seconds spent per interval.
    checkpoints: optional bool, default True; False reports without checkpoints (a
        misuse the scheduler must reject).
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from ray import cloudpickle, tune

_POSITION_FILE = "position.json"

# Ship this module to Ray's workers by value: they need not find it on their path
# (tests/ is not an installed package, and the test runner may import it either as
# `synthetic_trainable` or as `tests.synthetic_trainable`).
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def synthetic_curve(curve_seed: int, intervals: int) -> list[float]:
    """Scores at evaluations 0..intervals: a saturating rise to a seed-specific level,
    plus noise large enough that the best-so-far and the last value differ."""
    rng = np.random.default_rng(curve_seed)
    level = rng.uniform(0.55, 0.9)
    speed = rng.uniform(1.0, 4.0)
    noise = rng.normal(0.0, 0.05, intervals + 1)
    return [
        round(float(0.5 + (level - 0.5) * (1 - math.exp(-k / speed)) + noise[k]), 6)
        for k in range(intervals + 1)
    ]


def curve_of(config: dict[str, Any]) -> list[float]:
    """The curve a trial with this config reports."""
    return synthetic_curve(config.get("curve_seed", config["seed"]), config["intervals"])


def synthetic_trainable(config: dict[str, Any]) -> None:
    curve = curve_of(config)
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        position = 0
        _report(config, curve, 0)
    else:
        with checkpoint.as_directory() as d:
            position = json.loads(Path(d, _POSITION_FILE).read_text())["position"]
    for k in range(position + 1, config["intervals"] + 1):
        if config.get("fail_at") == k:
            raise RuntimeError(f"synthetic failure before interval {k}")
        time.sleep(config.get("sleep_s", 0.0))
        if config.get("ledger_dir"):
            with open(Path(config["ledger_dir"], f"{config['seed']}.txt"), "a") as f:
                f.write(f"{config['seed']} {k} {time.time()}\n")
        _report(config, curve, k)


def _report(config: dict[str, Any], curve: list[float], k: int) -> None:
    metrics = {
        "eval_index": k,
        "score": curve[k],
        "best_score": max(curve[: k + 1]),
        "seed": config["seed"],
    }
    if not config.get("checkpoints", True):
        tune.report(metrics)
        return
    with tempfile.TemporaryDirectory() as d:
        Path(d, _POSITION_FILE).write_text(json.dumps({"position": k}))
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))


def read_ledger(ledger_dir: str | os.PathLike) -> list[tuple[int, int, float]]:
    """Every (seed, interval, time) trained, in file order, duplicates included."""
    rows = []
    for path in sorted(Path(ledger_dir).glob("*.txt")):
        for line in path.read_text().splitlines():
            seed, k, t = line.split()
            rows.append((int(seed), int(k), float(t)))
    return rows
