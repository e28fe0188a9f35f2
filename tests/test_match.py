"""Compute to match FIFO: a scan of every plan, checked against the paper's procedure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.test_planner import paper_estimate
from tune_seeds.analysis import compute_to_match, plan_budgets
from tune_seeds.analysis.match import RANGE_SE, fifo_expected_best
from tune_seeds.plan import plan_cost
from tune_seeds.replay.synthetic import synthetic_curves

REPO = Path(__file__).resolve().parents[1]
T, BUDGET = 5, 4


@pytest.fixture(scope="module")
def scores() -> np.ndarray:
    """Six curves of five intervals whose best exact-budget plan is not monotone in budget."""
    return np.round(np.random.default_rng(0).random((6, T + 1)), 2)


def target(scores: np.ndarray) -> float:
    """FIFO's expected best of BUDGET full runs, by the paper's formula, written out."""
    best = np.sort(scores[:, 1:].max(axis=1))
    n = len(best)
    i = np.arange(1, n + 1)
    return float(np.sum(best * ((i / n) ** BUDGET - ((i - 1) / n) ** BUDGET)))


def bisection(scores: np.ndarray) -> int:
    """What the findings page did before: bisect budgets on the best exact-budget plan."""
    goal = target(scores)

    def best_at(intervals: int) -> float:
        best = plan_budgets(scores, [intervals / T], n_resamples=4000).best.iloc[0]
        return float(best["expected_best"])

    lo, hi = T, BUDGET * T
    while lo < hi:
        mid = (lo + hi) // 2
        if best_at(mid) >= goal:
            hi = mid
        else:
            lo = mid + 1
    return lo


def all_plans(max_cost: int) -> list[tuple[int, int, int]]:
    return [(t, e, p) for e in range(1, T) for t in range(2, max_cost + 1)
            for p in range(1, t) if plan_cost(t, e, p, T) <= max_cost]


def test_exact_budget_best_is_not_monotone_and_bisection_misses(scores):
    best = plan_budgets(scores, [b / T for b in range(T, BUDGET * T + 1)],
                        n_resamples=4000).best["expected_best"].to_numpy()
    assert (np.diff(best) < -0.005).any(), "the constructed curves must be non-monotone"
    m = compute_to_match(scores, BUDGET, n_resamples=20_000)
    assert round(m.plan_budget * T) < bisection(scores)


def test_the_answer_reaches_fifo_and_nothing_cheaper_does(scores):
    m = compute_to_match(scores, BUDGET, n_resamples=20_000)
    goal = target(scores)
    assert m.fifo_expected_best == pytest.approx(goal, abs=1e-12)
    p = m.plan
    assert plan_cost(p.started, p.cut_after, p.kept, T) == round(m.plan_budget * T)
    sim = paper_estimate(scores, p.started, p.cut_after, p.kept, draws=200_000, seed=11)
    assert sim.mean() >= goal - 3 * sim.std() / np.sqrt(sim.size)
    assert m.plan_expected_best - RANGE_SE * m.se >= goal
    # No plan cheaper than the stated lower end reaches FIFO, by the paper's procedure.
    cheaper = all_plans(round(m.plan_budget_low * T) - 1)
    assert cheaper
    for t, e, k in cheaper:
        sim = paper_estimate(scores, t, e, k, draws=20_000, seed=12)
        assert sim.mean() < goal + 3 * sim.std() / np.sqrt(sim.size), (t, e, k)


def test_fifo_runs_to_match_the_best_plan(scores):
    m = compute_to_match(scores, BUDGET, n_resamples=20_000)
    full = scores[:, 1:].max(axis=1)
    n = m.fifo_runs_to_match_plan
    reach = m.best_expected_best_at_budget - RANGE_SE * m.best_se_at_budget
    assert m.best_expected_best_at_budget > m.fifo_expected_best
    assert fifo_expected_best(full, n) >= reach > fifo_expected_best(full, n - 1)
    assert n > BUDGET


def test_nothing_beats_fifo_gives_fifo_itself():
    # Every curve rises only at the very end: ranking early says nothing.
    scores = np.zeros((5, T + 1))
    scores[:, -1] = [0.5, 0.6, 0.7, 0.8, 0.9]
    m = compute_to_match(scores, 3, n_resamples=2000)
    assert (m.plan.started, m.plan.kept, m.plan.cut_after) == (3, 3, T)
    assert m.plan_budget == 3 and m.se == 0.0


def test_analyze_writes_the_match_json(tmp_path):
    curves = tmp_path / "curves.parquet"
    synthetic_curves(8, 8, seed=3).to_parquet(curves)
    out = tmp_path / "r.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "experiments" / "analyze.py"), str(curves), "--match", "4",
         "--match-resamples", "2000", "--json", str(out)],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "planned early discarding needs" in done.stdout
    match = json.loads(out.read_text())["match"]
    assert {"budget", "fifo_expected_best", "plan_budget", "plan", "plan_expected_best", "se",
            "fifo_runs_to_match_plan"} <= match.keys()
    assert set(match["plan"]) == {"started", "kept", "cut_after"}
    bad = subprocess.run(
        [sys.executable, str(REPO / "experiments" / "analyze.py"), str(curves), "--match", "0"],
        capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "must be at least 1 full run" in bad.stderr
