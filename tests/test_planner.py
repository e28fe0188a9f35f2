"""Budget planner against a separate, direct simulation of the paper's procedure."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tune_seeds.analysis import (
    evaluate_plan,
    expected_max,
    fixed_plan,
    plan_budgets,
    plan_cost,
    plan_early_discard,
)
from tune_seeds.analysis.planner import curve_matrix
from tune_seeds.replay.synthetic import synthetic_curves


def paper_estimate(scores, started, cut_after, keep, draws, seed):
    """The paper's early-stopping analysis, written from its description alone.

    Each draw picks ``started`` recorded curves with replacement (``randint``); the
    curves are the evaluations after training starts (column 0, the untrained model,
    is dropped); trials are ranked by their best score over the first ``cut_after``
    evaluations; the ``keep`` best continue; the draw's result is the best of the kept
    trials' best over the whole run and the stopped trials' best over their first
    ``cut_after`` evaluations. Returns the per-draw results.
    """
    curves = np.asarray(scores)[:, 1:]
    rng = np.random.RandomState(seed)
    picked = curves[rng.randint(0, len(curves), size=(draws, started))]
    at_cut = picked[:, :, :cut_after].max(axis=2)
    whole = picked.max(axis=2)
    ranked = np.argsort(-at_cut, axis=1, kind="stable")
    kept = np.take_along_axis(whole, ranked[:, :keep], axis=1).max(axis=1)
    if keep == started:
        return kept
    stopped = np.take_along_axis(at_cut, ranked[:, keep:], axis=1).max(axis=1)
    return np.maximum(kept, stopped)


@pytest.fixture(scope="module")
def scores():
    # Quantized scores (like accuracy on a small dev set) so that ties in the ranking occur.
    curves = synthetic_curves(8, 8, n_evals=10, seed=4)
    curves["score"] = (curves["score"] * 50).round() / 50
    return curve_matrix(curves)[1]


@pytest.fixture(scope="module")
def result(scores):
    return plan_budgets(scores, budgets=[3, 6], n_resamples=4000, seed=1)


@pytest.mark.parametrize(("budget", "started", "milestone", "keep"),
                         [(3, 7, 2, 2), (6, 13, 3, 3), (6, 51, 1, 1), (3, 11, 2, 1), (3, 5, 5, 1)])
def test_planner_agrees_with_the_papers_procedure(scores, result, budget, started, milestone,
                                                  keep):
    T = scores.shape[1] - 1
    row = result.plans.query(
        "budget == @budget and started == @started and milestone == @milestone and keep == @keep"
    )
    assert len(row) == 1, "the plan spending the budget exactly must be listed"
    assert row["cost"].iloc[0] == plan_cost(started, milestone, keep, T) == budget * T
    sim = paper_estimate(scores, started, milestone, keep, draws=20000, seed=7)
    se = np.hypot(row["se"].iloc[0], sim.std() / np.sqrt(sim.size))
    assert row["expected_best"].iloc[0] == pytest.approx(sim.mean(), abs=4 * se)


@pytest.mark.parametrize("budget", [3, 6])
def test_planners_best_plan_agrees_with_the_papers_procedure(scores, result, budget):
    best = result.best.query("budget == @budget").iloc[0]
    assert best["started"] > best["keep"], "an early-discarding plan is expected here"
    sim = paper_estimate(scores, int(best["started"]), int(best["milestone"]),
                         int(best["keep"]), draws=20000, seed=11)
    se = np.hypot(best["se"], sim.std() / np.sqrt(sim.size))
    assert best["expected_best"] == pytest.approx(sim.mean(), abs=4 * se)
    # Without early stopping: the expected best of `budget` full runs, as the paper's EVP.
    full = paper_estimate(scores, budget, 1, budget, draws=20000, seed=12)
    assert best["baseline"] == pytest.approx(full.mean(), abs=4 * full.std() / np.sqrt(20000))


def test_planner_matches_exact_enumeration_with_ties():
    # 5 trials, T = 3: enumerate every ordered choice of 3 (60 arrival orders).
    s = np.array([
        [0.99, 0.6, 0.6, 0.9],
        [0.5, 0.7, 0.7, 0.7],
        [0.5, 0.6, 0.8, 0.8],
        [0.5, 0.7, 0.7, 0.95],
        [0.5, 0.5, 0.5, 0.5],
    ])
    # Without replacement; the step-0 column is left out of ranking and results.
    exact = []
    for order in itertools.permutations(range(5), 3):
        at_cut = [s[i, 1:2].max() for i in order]
        ranked = [order[k] for k in np.argsort(-np.array(at_cut), kind="stable")]
        exact.append(max(s[ranked[0], 1:].max(), *(s[i, 1:2].max() for i in ranked[1:])))
    res = plan_budgets(s, budgets=[5 / 3], n_resamples=20000, seed=3, replace=False)
    row = res.plans.query("started == 3 and milestone == 1 and keep == 1")
    assert row["expected_best"].iloc[0] == pytest.approx(np.mean(exact), abs=4 * row["se"].iloc[0])


def test_every_plan_is_feasible_and_best_is_reported(scores, result):
    T = scores.shape[1] - 1
    plans = result.plans
    # The paper's search space: plans that spend the budget exactly, at most 200 started.
    assert (plans["cost"] == plans["budget"] * T).all()
    assert ((plans["keep"] < plans["started"]) & (plans["started"] <= 200)).all()
    assert not plans.duplicated(["budget", "milestone", "keep"]).any()
    for _, best in result.best.iterrows():
        assert best["cost"] == best["budget"] * T
        final = np.nanmax(scores[:, 1:], axis=1)  # the step-0 evaluation is not a result
        baseline = expected_max(final, int(best["budget"]), replace=True)[0]
        assert best["baseline"] == pytest.approx(baseline)
        assert best["gain_over_full"] == pytest.approx(best["expected_best"] - baseline)
        listed = plans[plans["budget"] == best["budget"]]["expected_best"].max()
        assert best["expected_best"] >= min(listed, baseline) - 1e-12


def test_without_replacement_and_at_most_the_budget_are_options(scores):
    res = plan_budgets(scores, budgets=[3], n_resamples=500, replace=False, exact_budget=False)
    plans, T, N = res.plans, scores.shape[1] - 1, scores.shape[0]
    assert (plans["cost"] <= 3 * T).all() and (plans["cost"] < 3 * T).any()
    assert (plans["started"] <= N).all()
    final = np.nanmax(scores[:, 1:], axis=1)
    assert res.best.iloc[0]["baseline"] == pytest.approx(expected_max(final, 3, False)[0])


def test_step_zero_is_neither_ranked_nor_a_result():
    # Trial 0 looks best only at step 0 (the untrained model): it must not win.
    s = np.array([[0.99, 0.5, 0.5, 0.5], [0.1, 0.6, 0.6, 0.7]] * 3)
    mean, se = evaluate_plan(s, 2, 1, 1, n_resamples=200)
    assert mean <= 0.7 and se >= 0


def test_budget_one_is_full_training_and_errors(scores):
    res = plan_budgets(scores, budgets=[1], n_resamples=100)
    best = res.best.iloc[0]
    assert (best["started"], best["keep"], best["gain_over_full"]) == (1, 1, 0.0)
    with pytest.raises(ValueError, match="at least 1"):
        plan_budgets(scores, budgets=[0.5])
    with pytest.raises(ValueError, match="2-D"):
        plan_budgets(scores[0])


def test_plan_early_discard_bootstraps_small_pilot(scores):
    pilot = scores[:12]
    plan = plan_early_discard(pilot, budget=4, n_resamples=500)
    assert plan.cost <= 4 * 10
    assert plan.started > 12 or plan.keep == plan.started  # may start more than the pilot
    assert plan_early_discard(pilot, budget=4, n_resamples=500) == plan  # seeded


def test_rule_of_thumb_plan():
    from tune_seeds.plan import EarlyDiscardPlan

    plan = EarlyDiscardPlan.rule_of_thumb(10, 30)
    assert (plan.started, plan.milestone, plan.keep) == fixed_plan(10, 30) == (23, 8, 5)
    assert plan.cost == plan_cost(23, 8, 5, 30) == 294 and plan.pause_points == {8}
    full = EarlyDiscardPlan.full_training(10, 30)
    assert full.cost == 300 and not full.discards and not full.pause_points
    with pytest.raises(ValueError, match="no trial to discard"):
        EarlyDiscardPlan.rule_of_thumb(1, 30)
    with pytest.raises(ValueError, match="keep=5 exceeds started=4"):
        EarlyDiscardPlan(4, 8, 5, 30)


def test_a_sweep_s_shares_make_the_plan_its_scheduler_carries_out():
    from tune_seeds.plan import EarlyDiscardPlan, share_kept
    from tune_seeds.schedulers.early_discard import n_keep

    # --quick: 16 trials to 8 of 30 intervals, the best 4 to the end.
    quick = EarlyDiscardPlan.from_shares(16, 30, discard_at=0.25, keep_share=0.25)
    assert (quick.milestone, quick.keep, quick.cost) == (8, 4, 16 * 8 + 4 * 22)
    assert quick.paused_at_once == 16
    # Cohorts of 4, 4 and 2 keep 2, 2 and 1: the scheduler rounds each cohort's share up.
    cohorts = EarlyDiscardPlan.from_shares(10, 30, 0.25, 0.5, cohort_size=4)
    assert cohorts.keep == sum(n_keep(0.5, n) for n in (4, 4, 2)) == 5
    assert cohorts.cost == 10 * 8 + 5 * 22 == 190
    # A cohort waits paused while the kept trials of the one before may still hold theirs.
    assert cohorts.paused_at_once == 4 + 2
    assert EarlyDiscardPlan.from_shares(400, 30, 0.25, 0.3, 64).keep == 6 * 20 + 5
    # A share that keeps every trial is full training: nothing pauses.
    everyone = EarlyDiscardPlan.from_shares(8, 30, 0.25, 1.0)
    assert not everyone.discards and everyone.cost == 8 * 30 and everyone.paused_at_once == 0
    # A plan of a count, decided in cohorts, keeps its share of each.
    assert EarlyDiscardPlan(23, 8, 5, 30).in_cohorts(10).keep == sum(
        share_kept(5 / 23, n) for n in (10, 10, 3))


def test_evaluate_plan_matches_the_plans_table(scores, result):
    row = result.plans.query("budget == 6 and milestone == 3 and keep == 3").iloc[0]
    mean, se = evaluate_plan(scores, int(row.started), 3, 3, n_resamples=4000, seed=1)
    # Same seed and resamples: the same arrival orders, so the same number.
    assert mean == pytest.approx(row.expected_best) and se == pytest.approx(row.se)
    full, full_se = evaluate_plan(scores, 6, 3, 6, n_resamples=4000)
    baseline = expected_max(np.nanmax(scores[:, 1:], axis=1), 6)[0]
    assert full == pytest.approx(baseline, abs=4 * full_se)
    with pytest.raises(ValueError, match="without replacement"):
        evaluate_plan(scores, len(scores) + 1, 3, 3, replace=False)
