"""The seeded trial as a Ray Tune function trainable.

:func:`seed_trial` runs one :class:`~tune_seeds.trial.training.Trial` for the
``wi_seed``/``do_seed`` pair in its Tune config and reports every evaluation
record with ``tune.report``. Everything else a sweep needs is decided here:

- **Checkpoints only where a resume must start.** A checkpoint of the default
  model with its optimizer state is ~270 MB, so one is attached only after the
  evaluations listed in ``checkpoint_at`` (the scheduler's pause milestones:
  a PAUSE on a report without a checkpoint would silently restart the trial
  from scratch) and after every ``checkpoint_every`` evaluations (so a crash
  or an interrupted sweep loses at most that much work). Never after the last
  evaluation: a finished trial is never resumed.
- **Exact resume.** A restored trial (``tune.get_checkpoint()``) continues from
  the checkpointed evaluation and reproduces the uninterrupted run bit for bit,
  because the core trial restores every RNG and the torch thread count is
  pinned to the trial's CPUs (``max(1, floor(cpus))``), which do not change
  between attempts.
- **Damaged checkpoints recovered.** Every checkpoint also holds the trial's
  position and curve (``position.pt``, a few KB). A ``trial.pt`` that cannot be
  loaded (truncated, overwritten, gone) is named in a warning, and the trial is
  retrained from its seeds to that position, checked against the recorded curve,
  as ``--pause-mode recompute`` does (:func:`restore_trial`). A checkpoint folder
  that is gone altogether (Ray would fail with "Could not recover from checkpoint")
  is replayed: the trial trains from its seeds again, its reports up to the lost
  checkpoint's evaluation are not repeated, and that evaluation must match what was
  reported (:data:`REPLAY_FILE`).
- **Data once per worker.** The tokenized subsets are read from the disk cache
  once per worker process and kept, so that with ``reuse_actors=True`` the next
  trial on the same worker starts without reading anything.
- **Actors named by their pair.** :func:`labelled_trainable` turns the function
  into Tune's trainable class with a ``__repr__`` naming the seed pair and the trial
  (``seed_trial(wi=3, do=7, trial=2c077b0f)``), which Ray shows as the actor's
  name on the dashboard's Actors page and in the prefix of worker log lines.
- **Divergence.** The core trial just stops when its loss turns NaN/inf; the
  trainable then repeats the last record with ``diverged=True`` (same
  ``eval_index``, so a table keeping the last row per evaluation is unchanged)
  so that the sweep can mark the trial ``stopped_by="diverged"``.

- **Predictions.** With ``predictions=True`` every report also carries what the
  model predicted for each dev example (:func:`prediction_fields`), which the sweep
  keeps in ``predictions.parquet``.

Every record also carries ``wi_seed``, ``do_seed``, ``diverged``, ``node_id`` (the
Ray node the attempt ran on; all nodes of a machine share one IP), ``device``,
``device_name``, ``precision`` (what ``auto`` resolved to) and ``gpu_peak_mb`` (the
trial's peak GPU memory; NaN on a CPU).
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable, Collection, Mapping
from contextlib import nullcontext
from typing import Any

CHECKPOINT_FILE = "trial.pt"
POSITION_FILE = "position.pt"
"""A pause that keeps no weights: the trial's position and curve, recomputed on resume.
Full checkpoints hold it too, marked :data:`WITH_WEIGHTS`, to recover damaged weights."""
WITH_WEIGHTS = "with_weights"
REPLAY_FILE = "replay.json"
"""What a lost checkpoint's report said (evaluation, step, scores): written into its
recreated folder, so that the trial replays from its seeds to it."""


def threads_for(cpus: float) -> int:
    """Torch threads for a trial with ``cpus`` CPUs: at least one, never more than it owns."""
    return max(1, math.floor(cpus + 1e-9))


def needs_checkpoint(
    eval_index: int, total_evals: int, checkpoint_at: Collection[int], checkpoint_every: int
) -> bool:
    """Whether the report of ``eval_index`` must carry a checkpoint.

    >>> [k for k in range(11) if needs_checkpoint(k, 10, {3}, 4)]
    [3, 4, 8]
    """
    if eval_index <= 0 or eval_index >= total_evals:
        return False
    if eval_index in checkpoint_at:
        return True
    return checkpoint_every > 0 and eval_index % checkpoint_every == 0


@functools.lru_cache(maxsize=4)
def _cached_data(config: Any) -> Any:
    from tune_seeds.trial.data import prepare_data

    return prepare_data(config)


def _trial_cpus() -> float:
    from ray import tune

    resources = tune.get_context().get_trial_resources()
    return float(resources.required_resources.get("CPU", 1.0))


def _run_info(trial: Any) -> dict[str, Any]:
    """Where and how the trial ran, for every report: device, precision, peak GPU memory."""
    return {
        "device": str(trial.device),
        "device_name": trial.device_name,
        "precision": trial.precision,
        "gpu_peak_mb": trial.peak_gpu_memory_mb(),
    }


def prediction_fields(trial: Any) -> dict[str, Any]:
    """The latest evaluation's predictions as compact arrays for a report.

    ``example`` (rows of the dev file) and ``label`` travel with every report, so that
    the driver needs no data of its own (on a cluster it may have none).
    """
    import numpy as np

    preds, probs = trial.last_predictions
    return {
        "example": trial.data.dev_rows.astype(np.int32),
        "label": trial.data.dev.labels.astype(np.int8),
        "pred": preds.astype(np.int8),
        "prob": probs.astype(np.float32),
    }


def make_trial(
    config: dict[str, Any], train_config: dict[str, Any], threads: int, checkpoint_dir: str | None
) -> Any:
    """The core trial of the pair in ``config``, resumed from ``checkpoint_dir`` if given.

    Pure of Ray: the trainable adds reporting and checkpoints around it.
    """
    import torch

    from tune_seeds.trial.config import TrainConfig
    from tune_seeds.trial.training import Trial

    cfg = TrainConfig.from_dict({**train_config, "threads": threads})
    torch.set_num_threads(threads)

    def fresh() -> Trial:
        return Trial(cfg, wi_seed=int(config["wi_seed"]), do_seed=int(config["do_seed"]),
                     data=_cached_data(cfg))

    return (fresh(), None) if checkpoint_dir is None else restore_trial(fresh, checkpoint_dir)


def _warn(message: str) -> None:
    # A worker's stderr reaches the driver's console, prefixed with the trial's actor.
    print(f"WARNING: {message}", file=sys.stderr, flush=True)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def restore_trial(fresh: Callable[[], Any], checkpoint_dir: str) -> tuple[Any, dict | None]:
    """The trial of ``fresh()`` brought back to the checkpoint in ``checkpoint_dir``, and
    the report to replay it to (None: it is there already).

    From its weights (``trial.pt``) where there are some and they load; else retrained
    from its seeds to its position (``position.pt``: ``--pause-mode recompute``, or a
    damaged ``trial.pt``, named in a warning), checked against the recorded curve by
    :meth:`~tune_seeds.trial.training.Trial.recompute`. A folder recreated for a lost
    checkpoint (:data:`REPLAY_FILE`) gives a fresh trial and the report to replay it to.
    Where nothing can be read the trial starts over from its seeds (a warning says so):
    its evaluations are reported again, and the tables keep one row per evaluation.
    """
    import torch

    weights = os.path.join(checkpoint_dir, CHECKPOINT_FILE)
    position = os.path.join(checkpoint_dir, POSITION_FILE)
    replay = os.path.join(checkpoint_dir, REPLAY_FILE)
    trial = fresh()
    if os.path.exists(replay):
        with open(replay, encoding="utf-8") as f:
            return trial, json.load(f)
    damage = None
    if os.path.exists(weights):
        try:
            trial.load_checkpoint(weights)
            return trial, None
        except Exception as err:  # any damage: the seeds and the position still hold
            damage = f"checkpoint {weights} cannot be loaded ({_first_line(err)})"
        trial = fresh()  # a failed load may have changed some of the weights
    try:
        state = torch.load(position, weights_only=True)
    except Exception as err:
        _warn(f"{damage or f'checkpoint {weights} is missing'}, and its position {position} "
              f"cannot be read ({_first_line(err)}): WI {trial.wi_seed} / DO "
              f"{trial.do_seed} starts over from its seeds")
        return trial, None
    if damage is None and state.get(WITH_WEIGHTS):  # not a recompute pause: weights lost
        damage = f"checkpoint {weights} is missing"
    if damage:
        _warn(f"{damage}: retraining WI {trial.wi_seed} / DO {trial.do_seed} from its seeds "
              f"to step {state['step']} (evaluation {len(state['records']) - 1}), checked "
              "against its recorded curve")
    trial.recompute(state)
    return trial, None


def check_replayed(record: dict[str, Any], reported: dict[str, Any]) -> None:
    """The replayed evaluation must be the one reported before its checkpoint was lost:
    same step, training loss and score (NaN equal to NaN), else ``ValueError``."""
    for key in ("step", "train_loss", "score"):
        again, then = record.get(key), reported.get(key)
        same = again == then or (isinstance(again, float) and isinstance(then, float)
                                 and math.isnan(again) and math.isnan(then))
        if not same:
            raise ValueError(
                f"replaying to evaluation {reported['eval_index']} gave {key} {again!r}, the "
                f"run reported {then!r}: not the same arithmetic (thread count, precision, "
                "device or library versions)"
            )


def recreate_lost_checkpoint(checkpoint: Any, metrics: dict[str, Any], label: str) -> None:
    """Recreate the folder of a checkpoint that is gone, holding :data:`REPLAY_FILE` (its
    report), so that Tune restores the trial instead of failing, and the trial replays."""
    import pyarrow.fs

    fs, path = checkpoint.filesystem, checkpoint.path
    if fs.get_file_info(path).type != pyarrow.fs.FileType.NotFound:
        return
    reported = {k: metrics.get(k) for k in ("eval_index", "step", "train_loss", "score")}
    if reported["eval_index"] is None:
        return  # not our report: let Tune say what it says
    _warn(f"checkpoint {path} is gone: {label} is retrained from its seeds to evaluation "
          f"{reported['eval_index']}, its reports up to there not repeated, checked against "
          "the reported one")
    fs.create_dir(path)
    with fs.open_output_stream(f"{path}/{REPLAY_FILE}") as f:
        f.write(json.dumps(reported).encode())


def seed_trial(
    config: dict[str, Any],
    *,
    train_config: dict[str, Any],
    checkpoint_at: Collection[int] = (),
    checkpoint_every: int = 0,
    recompute_at: Collection[int] = (),
    predictions: bool = False,
) -> None:
    """Tune function trainable: one seeded fine-tuning trial.

    Args:
        config: the Tune config, holding ``wi_seed`` and ``do_seed``.
        train_config: :meth:`TrainConfig.to_dict` of the sweep (``threads`` is
            replaced by the trial's CPUs).
        checkpoint_at: evaluation indices whose report carries a checkpoint
            (the scheduler's pause milestones).
        checkpoint_every: also checkpoint every this many evaluations (0: never).
        recompute_at: evaluation indices whose report carries only the trial's position
            (a few KB, no weights; ``--pause-mode recompute``): a trial paused there is
            retrained from its seeds when it resumes, exactly.
        predictions: report every evaluation's dev-set predictions
            (:func:`prediction_fields`).

    Use it through :func:`tune.with_parameters`, e.g.::

        trainable = tune.with_parameters(seed_trial, train_config=cfg.to_dict(),
                                         checkpoint_at={8}, checkpoint_every=10)
    """
    import ray
    import torch
    from ray import tune

    from tune_seeds.trial.training import TrialStatus

    total_evals = int(train_config.get("evals_per_epoch", 10)) * int(train_config.get("epochs", 3))
    checkpoint_at = frozenset(int(k) for k in checkpoint_at)
    recompute_at = frozenset(int(k) for k in recompute_at)
    seeds = {"wi_seed": int(config["wi_seed"]), "do_seed": int(config["do_seed"])}
    node_id = ray.get_runtime_context().get_node_id()
    threads = threads_for(_trial_cpus())

    restored = tune.get_checkpoint()
    with restored.as_directory() if restored is not None else nullcontext() as checkpoint_dir:
        trial, replay = make_trial(config, train_config, threads, checkpoint_dir)
        for record in trial.evaluations():
            if replay is not None and record["eval_index"] <= replay["eval_index"]:
                if record["eval_index"] == replay["eval_index"]:
                    check_replayed(record, replay)
                continue  # reported before the checkpoint was lost
            row = {**record, **seeds, **_run_info(trial), "diverged": False, "node_id": node_id}
            if predictions:
                row.update(prediction_fields(trial))
            index = int(record["eval_index"])
            if index in recompute_at and 0 < index < total_evals:
                with tempfile.TemporaryDirectory(prefix="tune-seeds-pos-") as tmp:
                    torch.save({**trial.position_state(), WITH_WEIGHTS: True},
                               os.path.join(tmp, POSITION_FILE))
                    tune.report(row, checkpoint=tune.Checkpoint.from_directory(tmp))
            elif needs_checkpoint(index, total_evals, checkpoint_at, checkpoint_every):
                with tempfile.TemporaryDirectory(prefix="tune-seeds-ckpt-") as tmp:
                    trial.save_checkpoint(os.path.join(tmp, CHECKPOINT_FILE))
                    # The position too: the trial can be retrained to it if trial.pt is damaged.
                    torch.save({**trial.position_state(), WITH_WEIGHTS: True},
                               os.path.join(tmp, POSITION_FILE))
                    tune.report(row, checkpoint=tune.Checkpoint.from_directory(tmp))
            else:
                tune.report(row)
    if trial.status == TrialStatus.DIVERGED and trial.records:
        tune.report({
            **trial.records[-1], **seeds, **_run_info(trial), "diverged": True, "node_id": node_id
        })


def actor_label(config: Mapping[str, Any], trial_id: str) -> str:
    """The repr of a trial's actor: its seed pair and Tune trial id.

    >>> actor_label({"wi_seed": 3, "do_seed": 7}, "2c077b0f")
    'seed_trial(wi=3, do=7, trial=2c077b0f)'
    """
    return f"seed_trial(wi={config.get('wi_seed')}, do={config.get('do_seed')}, trial={trial_id})"


def labelled_trainable(train_func: Callable[[dict[str, Any]], Any]) -> type:
    """Tune's class for the function trainable ``train_func``, its repr naming the trial.

    Tune wraps a function in ``ImplicitFunc``, whose ``__repr__`` is the function's
    name, and Ray captures an actor's repr once, right after its creation task, as the
    name the dashboard and the log prefixes show. This subclass returns
    :func:`actor_label` of the config and trial id the actor was created with. A
    reused actor (``reuse_actors=True``) keeps the label of its first trial, which is
    why :func:`tune_seeds.tuning.sweep.run_sweep` turns reuse off while the dashboard is on.
    The Tune trainable name stays that of ``train_func``, so that sweeps started
    before keep resuming.
    """
    from ray.tune.trainable.function_trainable import wrap_function

    class SeedTrial(wrap_function(train_func)):
        def __repr__(self) -> str:
            # Also called while the actor is being built, before Tune sets the config.
            config = getattr(self, "config", None) or {}
            return actor_label(config, getattr(self, "trial_id", "?"))

        def restore(self, checkpoint_path: Any) -> Any:
            # A checkpoint folder that is gone would fail the trial here, in Ray.
            checkpoint = getattr(checkpoint_path, "checkpoint", None)
            if checkpoint is not None:
                config = getattr(self, "config", None) or {}
                recreate_lost_checkpoint(
                    checkpoint, getattr(checkpoint_path, "metrics", None) or {},
                    f"WI {config.get('wi_seed')} / DO {config.get('do_seed')}")
            return super().restore(checkpoint_path)

    # The dashboard's Class column shows the qualified name.
    SeedTrial.__qualname__ = SeedTrial.__name__
    return SeedTrial
