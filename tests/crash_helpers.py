"""Test-only stand-ins for crash tests of whole sweeps (tests/test_crash_resume.py).

- :func:`fake_seed_trial`: a stand-in for :func:`tune_seeds.tuning.trainable.seed_trial` with
  its signature and its reporting protocol (evaluation 0, then one record per
  interval, with every column the results tables read; checkpoints exactly where
  ``seed_trial`` takes them), but no model: each record is a pure function of the seed
  pair and the evaluation, and an interval costs :data:`INTERVAL_S` of sleep. So the
  tables of a sweep are known to be the same whatever was interrupted, and a sweep
  takes seconds.
- :class:`KillSwitch`: a Tune callback that SIGKILLs its own driver process once the
  run has reached a given state (:data:`POINTS`) *and* an experiment snapshot taken
  after that moment is on disk, so the kill lands at a known point. Unpickled in any
  other process (a resumed run restores the callbacks from ``tuner.pkl``) it does
  nothing.
- :func:`install`: patches the sweep runner in a driver process (``crash_driver.py``)
  to use both.

This module is shipped to Ray's workers by value (tests/ is not an installed package).
"""

from __future__ import annotations

import glob
import json
import math
import os
import signal
import sys
import tempfile
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
from ray import cloudpickle, tune
from ray.tune import Callback

from tune_seeds.tuning import sweep, trainable
from tune_seeds.tuning.trainable import needs_checkpoint

cloudpickle.register_pickle_by_value(sys.modules[__name__])

INTERVAL_S = 0.25
"""Sleep per trained interval."""
_POSITION_FILE = "position.json"


def fake_curve(wi_seed: int, do_seed: int, total: int) -> list[float]:
    """Scores at evaluations 0..total: a noisy saturating rise, distinct per pair."""
    rng = np.random.default_rng(1000 * wi_seed + do_seed)
    level, speed = rng.uniform(0.55, 0.9), rng.uniform(1.0, 4.0)
    noise = rng.normal(0.0, 0.04, total + 1)
    return [
        round(float(0.5 + (level - 0.5) * (1 - math.exp(-k / speed)) + noise[k]), 6)
        for k in range(total + 1)
    ]


def fake_seed_trial(
    config: dict[str, Any],
    *,
    train_config: dict[str, Any],
    checkpoint_at: Collection[int] = (),
    checkpoint_every: int = 0,
    recompute_at: Collection[int] = (),
    **_ignored: Any,
) -> None:
    """``seed_trial``'s protocol and record columns without a model (see the module doc).

    Its "checkpoint" is only the position, so ``recompute_at`` pauses are the same as
    ``checkpoint_at`` ones; any other keyword is ignored."""
    per_epoch = int(train_config["evals_per_epoch"])
    total = per_epoch * int(train_config["epochs"])
    wi, do = int(config["wi_seed"]), int(config["do_seed"])
    curve = fake_curve(wi, do, total)
    pauses = frozenset(checkpoint_at) | frozenset(recompute_at)
    checkpoint = tune.get_checkpoint()
    start = 0
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            start = json.loads(Path(d, _POSITION_FILE).read_text())["position"] + 1
    for k in range(start, total + 1):
        if k > 0:
            time.sleep(INTERVAL_S)
        score = curve[k]
        record = {
            "eval_index": k, "step": 3 * k, "epoch": k / per_epoch,
            "train_loss": math.nan if k == 0 else round(1.0 - score, 6),
            "eval_loss": round(1.2 - score, 6), "accuracy": score, "score": score,
            "best_score": max(curve[: k + 1]), "wi_seed": wi, "do_seed": do,
            "diverged": False, "node_id": "fake", "device": "cpu", "device_name": "cpu",
            "precision": "fp32", "gpu_peak_mb": math.nan,
        }
        if needs_checkpoint(k, total, pauses, checkpoint_every):
            with tempfile.TemporaryDirectory() as d:
                Path(d, _POSITION_FILE).write_text(json.dumps({"position": k}))
                tune.report(record, checkpoint=tune.Checkpoint.from_directory(d))
        else:
            tune.report(record)


POINTS = ("before", "waiting", "decided", "kept-running", "kept-done", "ended")
"""Kill points: ``before`` (3 reports below the milestone, none at it), ``waiting``
(2 trials paused at the milestone, none ended), ``decided`` (every cut trial stopped,
none finished), ``kept-running`` (a kept trial reported past the milestone),
``kept-done`` (2 trials finished the whole run; the report of issue 13) and ``ended``
(``count`` trials ended, one running: any scheduler)."""


class KillSwitch(Callback):
    """SIGKILLs the driver process it was made in at a :data:`POINTS` state.

    Once the state is reached, it waits (up to 10 s) for an experiment snapshot that
    Tune wrote at least 0.5 s later (run with ``TUNE_GLOBAL_CHECKPOINT_S=0`` so that
    every controller step snapshots), writes ``marker`` (JSON: the point and each
    trial's status and last ``eval_index`` when it was reached) and kills.
    """

    def __init__(
        self, point: str, marker: str, experiment_dir: str, milestone: int, total: int,
        n_cut: int = 0, count: int = 2,
    ) -> None:
        if point not in POINTS:
            raise ValueError(f"unknown kill point {point!r}")
        self.point, self.marker, self.experiment_dir = point, marker, experiment_dir
        self.milestone, self.total, self.n_cut, self.count = milestone, total, n_cut, count
        self.pid = os.getpid()
        self.reached_at: float | None = None
        self.state: list[tuple[str, str, int | None]] = []
        self.reports_below = 0

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        if 0 < result.get("eval_index", 0) < self.milestone:
            self.reports_below += 1

    def _reached(self, trials: list) -> bool:
        status = [(t.status, (t.last_result or {}).get("eval_index")) for t in trials]
        at = [s for s, k in status if k == self.milestone]
        ended_at = [k for s, k in status if s == "TERMINATED"]
        if self.point == "before":
            return self.reports_below >= 3 and not at
        if self.point == "waiting":
            return at.count("PAUSED") >= 2 and not ended_at
        if self.point == "decided":
            return ended_at.count(self.milestone) >= self.n_cut and self.total not in ended_at
        if self.point == "kept-running":
            return any(s == "RUNNING" and k is not None and k > self.milestone for s, k in status)
        if self.point == "kept-done":
            return ended_at.count(self.total) >= 2
        return len(ended_at) >= self.count and any(s == "RUNNING" for s, _ in status)

    def on_step_end(self, iteration: int, trials: list, **info) -> None:
        if os.getpid() != self.pid:
            return  # a resumed run: disarmed
        now = time.time()
        if self.reached_at is None:
            if not self._reached(trials):
                return
            self.reached_at = now
            self.state = [
                (t.trial_id, t.status, (t.last_result or {}).get("eval_index")) for t in trials
            ]
        snapshots = glob.glob(os.path.join(self.experiment_dir, "experiment_state-*.json"))
        fresh = any(os.path.getmtime(p) > self.reached_at + 0.5 for p in snapshots)
        if fresh or now - self.reached_at > 10:
            Path(self.marker).write_text(json.dumps({"point": self.point, "state": self.state}))
            os.kill(os.getpid(), signal.SIGKILL)


def install(kill: dict[str, Any] | None) -> None:
    """In a driver process: the sweep runner uses :func:`fake_seed_trial` and (with
    ``kill``: :class:`KillSwitch` arguments) kills itself."""
    trainable.seed_trial = fake_seed_trial
    if kill is None:
        return
    build_tuner = sweep.build_tuner

    def with_kill_switch(spec, *args, **kwargs):
        kwargs["extra_callbacks"] = [*(kwargs.get("extra_callbacks") or []), KillSwitch(**kill)]
        return build_tuner(spec, *args, **kwargs)

    sweep.build_tuner = with_kill_switch
