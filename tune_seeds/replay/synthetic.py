"""Synthetic learning curves for tests, notebooks and scale checks.

Real curves cost a fine-tuning run each; many checks only need curves with the
*shape* of a seed sweep: a WI effect and a DO effect on the final score, noisy
evaluations, curves that rise then plateau, and a share of failed runs that stay at
the majority-class score. :func:`synthetic_curves` draws such a table in the
``curves.parquet`` schema (:data:`tune_seeds.tables.CURVES_COLUMNS` plus an
``accuracy`` metric).

Every table it makes is labelled: a ``synthetic`` column that is ``True`` on every
row, ``task == "synthetic"``, and ``df.attrs["synthetic"] = True``, so that numbers
computed from it are never mistaken for measurements.

>>> curves = synthetic_curves(n_wi=2, n_do=3, n_evals=30, seed=0)
>>> len(curves), curves["trial_id"].nunique(), bool(curves["synthetic"].all())
(186, 6, True)
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def synthetic_curves(
    n_wi: int = 10,
    n_do: int = 10,
    n_evals: int = 30,
    *,
    seed: int = 0,
    majority: float = 0.68,
    mean_final: float = 0.82,
    wi_sd: float = 0.015,
    do_sd: float = 0.015,
    trial_sd: float = 0.015,
    eval_noise: float = 0.01,
    drift_sd: float = 0.03,
    fail_rate: float = 0.1,
    steps_per_eval: int = 23,
    evals_per_epoch: int = 10,
    n_trials: int | None = None,
) -> pd.DataFrame:
    """Draw a labelled synthetic curves table for a WI x DO seed grid.

    A trial's plateau is ``mean_final + wi_effect + do_effect + trial noise``; its
    score at evaluation k rises along a logistic curve,
    ``majority + (plateau - majority) * sigmoid((k - onset) / width)``, with a
    trial-specific onset (0.5 to 10 intervals: some trials take off late, so early
    rankings are informative but not perfect), plus independent noise per
    evaluation and a per-trial drift that fades linearly over training, rounded to 4
    decimals and clipped to [0, 1]. Failed trials (each with probability about
    ``fail_rate``, more likely for poor seeds) stay at the majority score with small noise.
    Evaluation 0 is the untrained model (at the majority score plus noise).

    Args:
        n_wi: number of weight-initialization seeds (1..n_wi).
        n_do: number of data-order seeds (1..n_do).
        n_evals: training intervals of a full run; eval_index runs 0..n_evals.
        seed: seed of the numpy Generator; the same arguments give the same table.
        majority: score of the majority-class predictor (where failed runs sit).
        mean_final: mean plateau of the runs that learn.
        wi_sd: standard deviation of the per-WI-seed effect.
        do_sd: standard deviation of the per-DO-seed effect.
        trial_sd: standard deviation of the per-trial (interaction) effect.
        eval_noise: standard deviation of the noise of each evaluation.
        drift_sd: standard deviation of each trial's late drift: the level it shows
            early differs from its plateau by a term that fades linearly over training,
            so early leaders are not always the final ones.
        fail_rate: average share of failed runs.
        steps_per_eval: optimizer steps per evaluation interval (fills ``step``).
        evals_per_epoch: evaluations per epoch (fills ``epoch``).
        n_trials: if given, draw this many trials with seeds cycling over the grid
            (for scale checks beyond ``n_wi * n_do``); trial ids stay unique.

    Returns:
        The curves table, one row per trial per evaluation, sorted by trial and evaluation.
    """
    if n_wi < 1 or n_do < 1 or n_evals < 1:
        raise ValueError("n_wi, n_do and n_evals must be at least 1")
    if not 0.0 <= fail_rate <= 1.0:
        raise ValueError(f"fail_rate must be in [0, 1], got {fail_rate}")
    rng = np.random.default_rng(seed)
    grid = n_wi * n_do
    n = grid if n_trials is None else int(n_trials)
    if n < 1:
        raise ValueError("n_trials must be at least 1")
    wi_eff = rng.normal(0.0, wi_sd, n_wi)
    do_eff = rng.normal(0.0, do_sd, n_do)
    cell = np.arange(n) % grid
    wi = cell // n_do
    do = cell % n_do
    plateau = mean_final + wi_eff[wi] + do_eff[do] + rng.normal(0.0, trial_sd, n)
    # Poor seed pairs fail more often, as in the paper (failures cluster by seed).
    seed_quality = (wi_eff[wi] + do_eff[do]) / max(np.hypot(wi_sd, do_sd), 1e-12)
    p_fail = np.clip(fail_rate * np.exp(-0.5 * seed_quality), 0.0, 1.0)
    failed = rng.random(n) < p_fail
    onset = rng.uniform(0.5, 10.0, n) * n_evals / 30
    width = rng.uniform(0.7, 2.5, n) * n_evals / 30
    k = np.arange(n_evals + 1)
    rise = 1.0 / (1.0 + np.exp(-(k[None, :] - onset[:, None]) / width[:, None]))
    rise[:, 0] = 0.0  # the untrained model sits at the majority score
    drift = rng.normal(0.0, drift_sd, n)[:, None] * (1.0 - k[None, :] / n_evals)
    target = np.where(failed, majority, plateau)[:, None] + np.where(failed[:, None], 0.0, drift)
    scores = majority + (target - majority) * rise
    scores = scores + rng.normal(0.0, eval_noise, scores.shape)
    scores = np.clip(np.round(scores, 4), 0.0, 1.0)
    eval_loss = 0.7 - 0.8 * (scores - majority) + rng.normal(0.0, 0.02, scores.shape)
    eval_loss = np.clip(eval_loss, 0.05, None)
    train_loss = 0.05 + 0.65 * (1.0 - rise) + 0.1 * np.exp(-k[None, :] / 10)
    train_loss[:, 0] = np.nan

    digits = len(str(n - 1))
    ids = np.array([f"syn_{i:0{digits}d}" for i in range(n)])
    df = pd.DataFrame(
        {
            "trial_id": np.repeat(ids, n_evals + 1),
            "wi_seed": np.repeat(wi + 1, n_evals + 1).astype(np.int64),
            "do_seed": np.repeat(do + 1, n_evals + 1).astype(np.int64),
            "eval_index": np.tile(k, n).astype(np.int64),
            "step": np.tile(k * steps_per_eval, n).astype(np.int64),
            "epoch": np.tile(k / evals_per_epoch, n),
            "train_loss": train_loss.ravel(),
            "eval_loss": eval_loss.ravel(),
            "score": scores.ravel(),
            "best_score": np.maximum.accumulate(scores, axis=1).ravel(),
            "accuracy": scores.ravel(),
            "task": "synthetic",
            "synthetic": True,
        }
    )
    df.attrs["synthetic"] = True
    return df
