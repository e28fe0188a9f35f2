"""Compare Tune schedulers on replayed curves at a given budget.

For each repeat, the recorded curves are shuffled with a seeded generator: the first
``n_pilot`` curves form the *pilot* (the only curves the adaptive planner may look
at) and the rest, in that random order, are the held-out *pool*. Every scheduler
starts its trials from the front of the same pool, in the same arrival order
(common random numbers), and its sweep is replayed through Ray Tune
(:func:`tune_seeds.replay.trainable.run_replay`). Each run records the compute it used (in full
runs) and the best score it found (stopped trials count).

The schedulers, for a budget of ``B`` full runs of ``T`` intervals (each kind's
:meth:`~tune_seeds.schedulers.kinds.SchedulerKind.for_budget`):

- ``fifo``: ``floor(B)`` trials trained fully (what the budget buys without stopping);
- ``early-discard``: the paper's rule of thumb
  (:meth:`~tune_seeds.plan.EarlyDiscardPlan.rule_of_thumb`: cut at 25% of training, keep
  half as many trials as the budget has full runs, start what the rest buys);
- ``adaptive``: early discarding with the milestone, keep count and number of trials
  planned on the pilot's curves (:func:`~tune_seeds.analysis.plan_early_discard`);
- ``asha``, ``hyperband``, ``median``: Ray's schedulers with the rule of thumb's number
  of trials (and its milestone as ASHA's and the median rule's grace period); they have
  no budget parameter, so their compute is whatever they use, reported beside their
  best score.

Plans never start more trials than the pool holds, so no curve is replayed twice.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from tune_seeds.analysis.planner import curve_matrix, plan_early_discard
from tune_seeds.plan import EarlyDiscardPlan
from tune_seeds.replay.trainable import ReplayCurves, run_replay
from tune_seeds.schedulers.kinds import BASELINE, KINDS, Budget, Setting

SCHEDULERS: tuple[str, ...] = tuple(KINDS)


def settings_for(
    names: Iterable[str],
    budget: float,
    n_evals: int,
    pool_size: int,
    pilot: np.ndarray | None,
    *,
    discard_at: float = 0.25,
    keep_per_run: float = 0.5,
    n_resamples: int = 2000,
    seed: int = 0,
) -> list[Setting]:
    """The schedulers of one repeat, configured for ``budget`` (see the module doc).

    Args:
        names: scheduler names, a subset of :data:`SCHEDULERS`.
        budget: budget in full runs.
        n_evals: T, intervals of a full run.
        pool_size: curves available to start (caps every plan).
        pilot: ``(trials, T + 1)`` score matrix of the pilot curves, when a scheduler
            plans on them (``adaptive``).
        discard_at, keep_per_run: the rule of thumb
            (:meth:`~tune_seeds.plan.EarlyDiscardPlan.rule_of_thumb`).
        n_resamples, seed: the adaptive planner's resampling.
    """
    rule = EarlyDiscardPlan.rule_of_thumb(budget, n_evals, discard_at, keep_per_run)
    if rule.started > pool_size:
        rule = EarlyDiscardPlan(pool_size, rule.milestone, min(rule.keep, pool_size), n_evals)
    fifo = EarlyDiscardPlan.full_training(min(int(budget), pool_size), n_evals)
    planned = None if pilot is None else plan_early_discard(
        pilot, budget, n_resamples=n_resamples, seed=seed, replace=True, max_started=pool_size,
    ).plan
    given = Budget(budget, n_evals, rule, fifo, planned)
    return [KINDS[name].for_budget(given) for name in names]


def compare_schedulers(
    curves: pd.DataFrame,
    budget: float,
    repeats: int,
    *,
    names: Iterable[str] = SCHEDULERS,
    pilot_share: float = 0.2,
    seed: int = 0,
    n_resamples: int = 2000,
    max_concurrent_trials: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Replay every scheduler over ``repeats`` random pilots, pools and arrival orders.

    Ray must be initialized by the caller.

    Args:
        curves: the recorded curves table.
        budget: budget in full runs.
        repeats: number of random repeats.
        names: schedulers to run.
        pilot_share: share of the curves held out as the adaptive planner's pilot (the
            other schedulers never see them, so all are evaluated on the same pool).
        seed: base seed; repeat r uses ``seed + r``.
        n_resamples: the adaptive planner's resamples.
        max_concurrent_trials: Tune's concurrency limit (None: as the CPUs allow).
        progress: called with one line per finished run.

    Returns:
        One row per (repeat, scheduler): ``repeat, scheduler, started, milestone, keep,
        compute`` (full runs), ``best_score``, ``wall_s``.
    """
    names = list(names)
    assert repeats >= 1 and 0 <= pilot_share < 1, (repeats, pilot_share)
    ids, scores = curve_matrix(curves)
    T = scores.shape[1] - 1
    packed = ReplayCurves.from_table(curves)
    # The pilot is held out whichever schedulers run, so that a scheduler's results do
    # not depend on which others were compared in the same call.
    n_pilot = round(pilot_share * len(ids))
    planners = [name for name in names if KINDS[name].needs_pilot]
    if planners and n_pilot < 2:
        raise ValueError(f"{', '.join(planners)} needs a pilot of at least 2 curves "
                         f"(--pilot-share {pilot_share} of {len(ids)} curves holds {n_pilot})")
    rows = []
    for r in range(repeats):
        rng = np.random.default_rng(seed + r)
        perm = rng.permutation(len(ids))
        pilot, pool = perm[:n_pilot], ids[perm[n_pilot:]]
        settings = settings_for(
            names, budget, T, len(pool), scores[pilot] if planners else None,
            n_resamples=n_resamples, seed=seed + r,
        )
        for s in settings:
            name, built = s.setup.name, s.setup.build()
            with tempfile.TemporaryDirectory(prefix="replay_") as storage:
                run = run_replay(
                    packed, pool[: s.started], built.scheduler, storage_path=storage,
                    name=f"{name}_{r}", checkpoint_at=sorted(built.pause_points),
                    max_concurrent_trials=max_concurrent_trials, callbacks=built.callbacks(),
                )
            plan = s.setup.plan
            cuts = plan is not None and plan.discards
            rows.append({
                "repeat": r, "scheduler": name, "started": s.started,
                "milestone": plan.milestone if cuts else None, "keep": plan.keep if cuts else None,
                "compute": run.compute / T, "best_score": run.best_score, "wall_s": run.wall_s,
            })
            if progress:
                progress(f"repeat {r} {name:>13}: started {s.started:4d}, compute "
                         f"{run.compute / T:7.2f} runs, best {run.best_score:.4f} "
                         f"({run.wall_s:.1f} s)")
    return pd.DataFrame(rows)


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd over repeats of compute and best score, one row per scheduler.

    Also ``best_vs_fifo``: mean over repeats of the best score minus FIFO's in the same
    repeat (paired, so the pool's luck cancels), when FIFO ran.
    """
    g = runs.groupby("scheduler", sort=False)
    out = pd.DataFrame({
        "started": g["started"].mean(),
        "compute_mean": g["compute"].mean(),
        "compute_sd": g["compute"].std(ddof=1),
        "best_mean": g["best_score"].mean(),
        "best_sd": g["best_score"].std(ddof=1),
        "repeats": g.size(),
    })
    if (runs["scheduler"] == BASELINE).any():
        out["best_vs_fifo"] = paired_vs_fifo(runs)["diff"]
    return out.reset_index()


def paired_vs_fifo(runs: pd.DataFrame) -> pd.DataFrame:
    """Per scheduler: mean, standard error and wins/ties/losses of best - FIFO's best.

    The difference is paired within a repeat (same pool, same arrival order), so the
    luck of the pool cancels.
    """
    fifo = runs[runs["scheduler"] == BASELINE].set_index("repeat")["best_score"]
    if fifo.empty:
        raise ValueError("the comparison has no FIFO runs to pair with")
    diff = runs["best_score"] - runs["repeat"].map(fifo)
    g = diff.groupby(runs["scheduler"], sort=False)
    n = g.size()
    return pd.DataFrame({
        "diff": g.mean(),
        "se": g.std(ddof=1) / n.pow(0.5),
        "wins": g.apply(lambda d: int((d > 0).sum())),
        "ties": g.apply(lambda d: int((d == 0).sum())),
        "losses": g.apply(lambda d: int((d < 0).sum())),
    })
