"""Budget planner against a separate, direct simulation of the paper's procedure."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tune_seeds.analysis import (
    expected_max,
    fixed_plan,
    plan_budgets,
    plan_cost,
    plan_early_discard,
)
from tune_seeds.analysis.planner import curve_matrix
from tune_seeds.synthetic import synthetic_curves


def simulate(scores, started, milestone, keep, draws, seed):
    """The paper's procedure, one draw at a time: sample, rank, keep, take the max.

    Samples ``started`` distinct trials in a random order, ranks them by best score over
    evaluations 0..milestone (stable sort: earlier arrival wins ties), trains the top
    ``keep`` to the end, and returns the best score found over all trials per draw.
    """
    rng = np.random.default_rng(seed)
    out = np.empty(draws)
    for d in range(draws):
        idx = rng.choice(len(scores), size=started, replace=False)
        at_cut = np.array([np.nanmax(scores[i, : milestone + 1]) for i in idx])
        ranked = idx[np.argsort(-at_cut, kind="stable")]
        kept, stopped = ranked[:keep], ranked[keep:]
        found = [np.nanmax(scores[i]) for i in kept]
        found += [np.nanmax(scores[i, : milestone + 1]) for i in stopped]
        out[d] = max(found)
    return out


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
                         [(3, 7, 2, 2), (6, 13, 3, 3), (6, 51, 1, 1), (3, 5, 5, 1)])
def test_planner_agrees_with_direct_simulation(scores, result, budget, started, milestone, keep):
    T = scores.shape[1] - 1
    row = result.plans.query(
        "budget == @budget and started == @started and milestone == @milestone and keep == @keep"
    )
    assert len(row) == 1, "the plan spending the budget must be listed"
    assert row["cost"].iloc[0] == plan_cost(started, milestone, keep, T) <= budget * T
    sim = simulate(scores, started, milestone, keep, draws=3000, seed=7)
    se = np.hypot(row["se"].iloc[0], sim.std() / np.sqrt(sim.size))
    assert row["expected_best"].iloc[0] == pytest.approx(sim.mean(), abs=4 * se)


def test_planner_matches_exact_enumeration_with_ties():
    # 5 trials, T = 3: enumerate every ordered choice of 3 (60 arrival orders).
    s = np.array([
        [0.5, 0.6, 0.6, 0.9],
        [0.5, 0.7, 0.7, 0.7],
        [0.5, 0.6, 0.8, 0.8],
        [0.5, 0.7, 0.7, 0.95],
        [0.5, 0.5, 0.5, 0.5],
    ])
    exact = []
    for order in itertools.permutations(range(5), 3):
        at_cut = [s[i, :2].max() for i in order]
        ranked = [order[k] for k in np.argsort(-np.array(at_cut), kind="stable")]
        exact.append(max(s[ranked[0]].max(), *(s[i, :2].max() for i in ranked[1:])))
    res = plan_budgets(s, budgets=[5 / 3], n_resamples=20000, seed=3)  # 5 intervals
    row = res.plans.query("started == 3 and milestone == 1 and keep == 1")
    assert row["expected_best"].iloc[0] == pytest.approx(np.mean(exact), abs=4 * row["se"].iloc[0])


def test_every_plan_is_feasible_and_best_is_reported(scores, result):
    T, N = scores.shape[1] - 1, scores.shape[0]
    plans = result.plans
    assert (plans["cost"] <= plans["budget"] * T).all()
    assert ((plans["keep"] < plans["started"]) & (plans["started"] <= N)).all()
    # Each (budget, milestone, keep) appears once: the plan starting the most trials.
    assert not plans.duplicated(["budget", "milestone", "keep"]).any()
    for _, best in result.best.iterrows():
        assert best["cost"] <= best["budget"] * T
        baseline = expected_max(np.nanmax(scores, axis=1), int(best["budget"]), replace=False)[0]
        assert best["baseline"] == pytest.approx(baseline)
        assert best["gain_over_full"] == pytest.approx(best["expected_best"] - baseline)
        listed = plans[plans["budget"] == best["budget"]]["expected_best"].max()
        assert best["expected_best"] >= min(listed, baseline) - 1e-12


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


def test_fixed_plan_rule_of_thumb():
    assert fixed_plan(10, 30) == (23, 8, 5)
    assert plan_cost(23, 8, 5, 30) <= 300
    with pytest.raises(ValueError, match="no trial to discard"):
        fixed_plan(1, 30)


def test_evaluate_plan_matches_the_plans_table(scores, result):
    from tune_seeds.analysis import evaluate_plan

    row = result.plans.query("budget == 6 and milestone == 3 and keep == 3").iloc[0]
    mean, se = evaluate_plan(scores, int(row.started), 3, 3, n_resamples=4000, seed=1)
    # Same seed and resamples: the same arrival orders, so the same number.
    assert mean == pytest.approx(row.expected_best) and se == pytest.approx(row.se)
    full, full_se = evaluate_plan(scores, 6, 3, 6, n_resamples=4000)
    baseline = expected_max(np.nanmax(scores, axis=1), 6, replace=False)[0]
    assert full == pytest.approx(baseline, abs=4 * full_se)
    with pytest.raises(ValueError, match="without replacement"):
        evaluate_plan(scores, len(scores) + 1, 3, 3)
