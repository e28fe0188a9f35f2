"""Analysis of seed sweeps: pure numpy/pandas/scipy functions of the results tables.

- :mod:`.evp`: expected validation performance (expected best of n trials);
- :mod:`.variance`: WI against DO (per-factor sd, two-way ANOVA, best vs worst seed);
- :mod:`.failures`: failed runs overall and per seed;
- :mod:`.consistency`: do good seeds stay good across sweeps;
- :mod:`.planner`: the early-discarding budget planner;
- :mod:`.compare`: is sweep B better than sweep A, or is it the seeds (Multi-Bootstrap, ASO).
"""

from tune_seeds.analysis.compare import (
    ASO,
    Bootstrap,
    CompareError,
    Comparison,
    Power,
    SweepData,
    aso,
    bootstrap_power,
    compare_sweeps,
    load_sweep,
    multi_bootstrap,
)
from tune_seeds.analysis.consistency import Consistency, pair_consistency, seed_consistency
from tune_seeds.analysis.evp import (
    default_ns,
    expected_max,
    expected_validation_performance,
    max_weights,
)
from tune_seeds.analysis.failures import FailureSummary, failed_runs, infer_threshold
from tune_seeds.analysis.match import Match, compute_to_match, cut_table
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
    "ASO",
    "BestWorst",
    "Bootstrap",
    "CompareError",
    "Comparison",
    "Consistency",
    "FactorSD",
    "FailureSummary",
    "Match",
    "Plan",
    "PlannerResult",
    "Power",
    "SweepData",
    "aso",
    "best_vs_worst_anova",
    "bootstrap_power",
    "compare_sweeps",
    "compute_to_match",
    "curve_matrix",
    "cut_rank_correlation",
    "cut_table",
    "default_ns",
    "evaluate_plan",
    "expected_max",
    "expected_validation_performance",
    "factor_sd",
    "failed_runs",
    "fixed_plan",
    "heatmap_table",
    "infer_threshold",
    "load_sweep",
    "max_weights",
    "multi_bootstrap",
    "pair_consistency",
    "plan_budgets",
    "plan_cost",
    "plan_early_discard",
    "seed_consistency",
    "seed_means",
    "two_way_anova",
]
