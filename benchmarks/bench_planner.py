"""Time the budget planner on 625 trials x 30 intervals for every budget 1..30.

The planner must cover all budgets 1..30 on 625 recorded trials within 10 seconds
on a 2-core machine. The baseline is the direct simulation of the paper's procedure
that the tests check the planner against (``tests/test_planner.py::paper_estimate``:
every resample of a plan drawn and ranked, as the paper's script did with 50,000
resamples per plan, vectorised over the resamples with numpy), timed on a random sample
of plans at a few resamples and extrapolated to every plan. The same sample checks
agreement: the planner's estimate and the simulation's must differ by less than 4
combined standard errors.

A second section measures the adaptive mode: over random splits of the curves into a
pilot (20%) and a held-out pool, the plan chosen on the pilot alone
(:func:`~tune_seeds.analysis.plan_early_discard`, bootstrap) and the paper's fixed
rule (cut at 25%, keep half the budget) are both scored on the pool with
:func:`~tune_seeds.analysis.evaluate_plan`, beside training ``B`` trials fully; the
JSON reports the paired mean differences and how often the adaptive plan wins.

The curves are synthetic (625 = 25 x 25 seeds, :mod:`tune_seeds.replay.synthetic`): the
planner's running time does not depend on the values, but the adaptive-versus-fixed
numbers do, so they say how the method behaves on curves of this shape only. Run it as
a module from the repository root, where the ``tests`` package it takes the simulation
from can be imported::

    python -m benchmarks.bench_planner [--out benchmarks/results/planner.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from tests.test_planner import paper_estimate
from tune_seeds.analysis import evp
from tune_seeds.analysis.planner import (
    curve_matrix,
    evaluate_plan,
    fixed_plan,
    plan_budgets,
    plan_early_discard,
)
from tune_seeds.replay.synthetic import synthetic_curves

BOUND_S = 10.0


def adaptive_vs_fixed(scores: np.ndarray, budgets: list[int], splits: int,
                      pilot_share: float = 0.2, resamples: int = 1000) -> dict:
    """Held-out comparison of the pilot-planned plan with the fixed rule of thumb."""
    T = scores.shape[1] - 1
    out = {}
    for B in budgets:
        rows = []
        for s in range(splits):
            perm = np.random.default_rng(100 + s).permutation(len(scores))
            n_pilot = round(pilot_share * len(scores))
            pilot, pool = scores[perm[:n_pilot]], scores[perm[n_pilot:]]
            plan = plan_early_discard(pilot, B, n_resamples=resamples, seed=s,
                                      max_started=len(pool))
            t, e, p = fixed_plan(B, T)
            adaptive = evaluate_plan(pool, plan.started, plan.milestone, plan.keep,
                                     n_resamples=resamples, seed=s)[0]
            fixed = evaluate_plan(pool, t, e, p, n_resamples=resamples, seed=s)[0]
            full = evp.expected_max(np.nanmax(pool, axis=1), B, replace=False)[0]
            rows.append((adaptive, fixed, full, plan.started, plan.milestone, plan.keep))
        a = np.array(rows)
        diff = a[:, 0] - a[:, 1]
        out[str(B)] = {
            "fixed_plan": dict(zip(("started", "milestone", "keep"), fixed_plan(B, T),
                                   strict=True)),
            "adaptive_plans": [dict(zip(("started", "milestone", "keep"), map(int, r[3:]),
                                        strict=True)) for r in rows],
            "mean_expected_best": {"adaptive": a[:, 0].mean(), "fixed": a[:, 1].mean(),
                                   "full_training": a[:, 2].mean()},
            "adaptive_minus_fixed": {"mean": diff.mean(),
                                     "se": diff.std(ddof=1) / np.sqrt(len(diff)),
                                     "adaptive_wins": int((diff > 0).sum()), "splits": splits},
            "adaptive_minus_full": float((a[:, 0] - a[:, 2]).mean()),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/planner.json"))
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-plans", type=int, default=12)
    parser.add_argument("--baseline-resamples", type=int, default=200)
    parser.add_argument("--splits", type=int, default=20, help="adaptive-vs-fixed splits")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    curves = synthetic_curves(25, 25, n_evals=30, seed=0)
    _, scores = curve_matrix(curves)
    budgets = list(range(1, 31))
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        result = plan_budgets(scores, budgets, n_resamples=args.resamples, seed=0)
        times.append(time.perf_counter() - start)
    plans = result.plans

    rng = np.random.default_rng(1)
    sample = plans.iloc[rng.choice(len(plans), args.baseline_plans, replace=False)]
    sim_s, z = 0.0, []
    for _, p in sample.iterrows():
        start = time.perf_counter()
        sim = paper_estimate(scores, int(p.started), int(p.milestone), int(p.keep),
                             args.baseline_resamples, seed=2)
        sim_s += time.perf_counter() - start
        se = np.hypot(p.se, sim.std() / np.sqrt(sim.size))
        z.append(abs(p.expected_best - sim.mean()) / se)
    per_resample = sim_s / (args.baseline_plans * args.baseline_resamples)
    loop_same = per_resample * len(plans) * args.resamples
    loop_paper = per_resample * len(plans) * 50_000
    best = min(times)
    report = {
        "benchmark": "budget planner, all budgets 1..30, 625 trials x 30 intervals",
        "data": "synthetic curves (25 WI x 25 DO seeds); time does not depend on values",
        "planner_s": {"min": best, "all": times},
        "bound_s": BOUND_S,
        "within_bound": bool(max(times) < BOUND_S),
        "n_resamples": args.resamples,
        "plans_listed": len(plans),
        "baseline": {
            "method": "direct per-plan simulation of the paper's procedure "
                      "(tests/test_planner.py::paper_estimate, vectorised over resamples), "
                      f"timed on {args.baseline_plans} random plans x "
                      f"{args.baseline_resamples} resamples, extrapolated to every plan",
            "seconds_per_plan_resample": per_resample,
            "extrapolated_s_same_resamples": loop_same,
            "extrapolated_s_paper_50000_resamples": loop_paper,
        },
        "speedup_same_resamples": loop_same / best,
        "speedup_vs_paper_resamples": loop_paper / best,
        "agreement_max_z": float(max(z)),
        "agreement_ok": bool(max(z) < 4),
        "adaptive_vs_fixed": {
            "method": "pilot = random 20% of the curves, plan on it (bootstrap), score the "
                      "plan and the fixed rule (25%, keep half) on the other 80% with "
                      "evaluate_plan (1000 resamples); paired over splits",
            "synthetic_data": True,
            "by_budget": adaptive_vs_fixed(scores, [5, 10, 20], args.splits),
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "load_avg_before": load_before,
            "load_avg_after": os.getloadavg(),
            "note": "2 cores shared with other processes; see the load averages",
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0 if report["within_bound"] and report["agreement_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
