"""Replay trainable: records reported in order, pause/resume from checkpoints, schedulers."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from tune_seeds.analysis.planner import curve_matrix
from tune_seeds.replay.synthetic import synthetic_curves
from tune_seeds.replay.trainable import ReplayCurves, replay_configs, run_replay

ray = pytest.importorskip("ray")
from ray import tune  # noqa: E402
from ray.tune.schedulers import FIFOScheduler, TrialScheduler  # noqa: E402

pytestmark = pytest.mark.ray

T = 6


@pytest.fixture(scope="module")
def curves_df():
    return synthetic_curves(2, 3, n_evals=T, seed=5)


@pytest.fixture(scope="module")
def packed(curves_df):
    return ReplayCurves.from_table(curves_df)


@pytest.fixture(scope="module", autouse=True)
def ray_instance():
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


class Recorder(tune.Callback):
    """Every (curve_id, eval_index) reported, in order."""

    def __init__(self):
        self.seen: list[tuple[str, int]] = []

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.seen.append((result["curve_id"], result["eval_index"]))


class PauseOnceAt(FIFOScheduler):
    """Pauses every trial once when it reports ``eval_index == at``."""

    def __init__(self, at):
        super().__init__()
        self.at, self.paused = at, set()

    def on_trial_result(self, tune_controller, trial, result):
        if result["eval_index"] == self.at and trial.trial_id not in self.paused:
            self.paused.add(trial.trial_id)
            return TrialScheduler.PAUSE
        return TrialScheduler.CONTINUE


def test_pack_records_and_errors(curves_df, packed):
    ids = sorted(curves_df["trial_id"].unique())
    first = list(packed.records(ids[0]))
    expected = curves_df[curves_df["trial_id"] == ids[0]]
    assert [r["score"] for r in first] == expected["score"].tolist()
    assert [r["eval_index"] for r in first] == list(range(T + 1))
    assert isinstance(first[0]["eval_index"], int)
    assert np.isnan(first[0]["train_loss"])
    assert [r["eval_index"] for r in packed.records(ids[1], start=4)] == [4, 5, 6]
    assert list(packed.subset(ids[::-1]).ids) == ids[::-1]
    with pytest.raises(KeyError, match="no recorded curve"):
        packed.length("nope")
    assert replay_configs(["b", "a"]) == [
        {"arrival": "000000", "curve_id": "b"}, {"arrival": "000001", "curve_id": "a"}]


def test_fifo_replays_every_record_in_order(tmp_path, curves_df, packed):
    rec = Recorder()
    ids = list(packed.ids[:3])
    run = run_replay(packed, ids, storage_path=tmp_path, callbacks=[rec])
    for cid in ids:
        assert [k for c, k in rec.seen if c == cid] == list(range(T + 1))
    assert run.compute == 3 * T
    best = curves_df.groupby("trial_id")["score"].max()
    assert run.best_score == best[ids].max()
    assert run.trials["curve_id"].tolist() == ids


def test_pause_resumes_from_checkpoint_without_repeating(tmp_path, packed):
    rec = Recorder()
    ids = list(packed.ids)
    run = run_replay(packed, ids, PauseOnceAt(3), storage_path=tmp_path, callbacks=[rec])
    for cid in ids:
        assert [k for c, k in rec.seen if c == cid] == list(range(T + 1)), cid
    assert run.compute == len(ids) * T and (run.trials["status"] == "TERMINATED").all()


def test_pause_without_checkpoint_restarts_from_first_record(tmp_path, packed):
    rec = Recorder()
    cid = packed.ids[0]
    run_replay(packed, [cid], PauseOnceAt(3), storage_path=tmp_path, callbacks=[rec],
               checkpoint_at=[5])
    assert [k for _, k in rec.seen] == [0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6]


def test_early_discard_keeps_the_best_so_far_at_the_milestone(tmp_path, curves_df, packed):
    from tune_seeds.plan import EarlyDiscardPlan
    from tune_seeds.schedulers.adaptive import scheduler_for_plan

    ids, scores = curve_matrix(curves_df)
    T = scores.shape[1] - 1
    plan = EarlyDiscardPlan(started=6, milestone=2, keep=2, total_evals=T)
    order = list(packed.ids)
    run = run_replay(packed, order, scheduler_for_plan(plan), storage_path=tmp_path,
                     checkpoint_at=sorted(plan.pause_points))
    # Ranked and counted after training starts: evaluations 1..2, then 1..T.
    at_cut = dict(zip(ids, np.nanmax(scores[:, 1:3], axis=1), strict=True))
    # Ties go to the earlier arrival, as in the planner.
    ranked = sorted(order, key=lambda c: (-at_cut[c], order.index(c)))
    trained = dict(zip(run.trials["curve_id"], run.trials["evals_trained"], strict=True))
    assert {c for c, k in trained.items() if k == T} == set(ranked[:2])
    assert all(trained[c] == 2 for c in ranked[2:])
    assert run.compute == 6 * 2 + 2 * (T - 2)
    full_best = dict(zip(ids, np.nanmax(scores[:, 1:], axis=1), strict=True))
    expected = max(max(full_best[c] for c in ranked[:2]), max(at_cut[c] for c in ranked[2:]))
    assert run.best_score == pytest.approx(expected)


def test_adaptive_factory_plans_from_curves(curves_df):
    from tune_seeds.analysis import plan_early_discard
    from tune_seeds.schedulers.adaptive import adaptive_early_discard
    from tune_seeds.schedulers.early_discard import EarlyDiscardScheduler

    scheduler, n = adaptive_early_discard(curves_df, budget=3, n_resamples=300)
    plan = plan_early_discard(curves_df, 3, n_resamples=300)
    assert n == plan.started
    if plan.keep < plan.started:
        assert isinstance(scheduler, EarlyDiscardScheduler)
        assert (scheduler._milestone, scheduler._keep) == (plan.milestone, plan.keep)
    else:
        assert isinstance(scheduler, FIFOScheduler)


def test_every_kind_is_replayed_at_the_budget_it_is_given():
    from tune_seeds.plan import EarlyDiscardPlan
    from tune_seeds.replay.compare import SCHEDULERS, compare_schedulers, summarize

    curves = synthetic_curves(6, 6, n_evals=T, seed=2)
    runs = compare_schedulers(curves, budget=3, repeats=1, pilot_share=0.25, n_resamples=200)
    by = runs.set_index("scheduler")
    assert list(by.index) == list(SCHEDULERS)
    rule = EarlyDiscardPlan.rule_of_thumb(3, T)  # 27 curves in the pool: within it
    assert by.loc["fifo", "started"] == 3 and by.loc["fifo", "compute"] == 3.0
    assert (by.loc["early-discard", ["started", "milestone", "keep"]].tolist()
            == [rule.started, rule.milestone, rule.keep])
    assert by.loc["early-discard", "compute"] == rule.cost / T
    # The schedulers without a budget start what the rule of thumb starts, and cut nothing
    # by a plan of their own.
    for name in ("asha", "hyperband", "median"):
        assert by.loc[name, "started"] == rule.started
        assert pd.isna(by.loc[name, "milestone"]) and pd.isna(by.loc[name, "keep"])
        assert by.loc[name, "compute"] <= rule.started
    assert (summarize(runs).set_index("scheduler").loc["fifo", "best_vs_fifo"]) == 0
    with pytest.raises(ValueError, match="adaptive needs a pilot of at least 2 curves"):
        compare_schedulers(curves, budget=3, repeats=1, names=["adaptive"], pilot_share=0.0)
