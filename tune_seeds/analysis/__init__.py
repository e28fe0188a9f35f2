"""Analysis of seed sweeps: pure numpy/pandas/scipy functions of the results tables.

- :mod:`.evp`: expected validation performance (expected best of n trials);
- :mod:`.variance`: WI against DO (per-factor sd, two-way ANOVA, best vs worst seed);
- :mod:`.failures`: failed runs overall and per seed;
- :mod:`.consistency`: do good seeds stay good across sweeps;
- :mod:`.planner`: the early-discarding budget planner.
"""

from tune_seeds.analysis.consistency import Consistency, seed_consistency
from tune_seeds.analysis.evp import (
    default_ns,
    expected_max,
    expected_validation_performance,
    max_weights,
)
from tune_seeds.analysis.failures import FailureSummary, failed_runs, infer_threshold
from tune_seeds.analysis.planner import (
    Plan,
    PlannerResult,
    curve_matrix,
    cut_rank_correlation,
    evaluate_plan,
    fixed_plan,
    plan_budgets,
    plan_cost,
    plan_early_discard,
)
from tune_seeds.analysis.variance import (
    BestWorst,
    FactorSD,
    best_vs_worst_anova,
    factor_sd,
    heatmap_table,
    seed_means,
    two_way_anova,
)

__all__ = [
    "BestWorst",
    "Consistency",
    "FactorSD",
    "FailureSummary",
    "Plan",
    "PlannerResult",
    "best_vs_worst_anova",
    "curve_matrix",
    "cut_rank_correlation",
    "default_ns",
    "evaluate_plan",
    "expected_max",
    "expected_validation_performance",
    "factor_sd",
    "failed_runs",
    "fixed_plan",
    "heatmap_table",
    "infer_threshold",
    "max_weights",
    "plan_budgets",
    "plan_cost",
    "plan_early_discard",
    "seed_consistency",
    "seed_means",
    "two_way_anova",
]
