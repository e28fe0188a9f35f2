"""The report of a sweep: one JSON-ready dict, printed in full or as a summary.

:func:`sweep_report` gathers the expected-best table, the WI-against-DO variance
views, the failed runs, the best seeds and (given a run's length) the compute used
against FIFO, from a trials table; :func:`planner_report` adds the budget planner's
recommended plans, computed on the curves. :func:`format_report` renders the dict as
plain-text tables (``experiments/analyze.py``), :func:`format_summary` as the few
lines printed at the end of a sweep (``experiments/run_sweep.py``). Everything comes
from one dict, so the printed report, the summary, ``--json`` and the findings page
(:mod:`tune_seeds.reporting.findings`) can never disagree.

>>> import pandas as pd
>>> trials = pd.DataFrame({"trial_id": ["a", "b"], "wi_seed": [1, 2], "do_seed": [1, 1],
...     "status": "TERMINATED", "stopped_by": ["completed", "scheduler"],
...     "best_score": [0.8, 0.6], "best_step": [10, 5], "evals_trained": [30, 9],
...     "task": "rte"})
>>> report = sweep_report(trials, total_evals=30)
>>> report["compute"]["evals_used"], report["compute"]["evals_fifo"]
(39, 60)
>>> print(format_summary(report).splitlines()[0])
Sweep summary: rte, 2 trials (1 completed, 1 scheduler)
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from tune_seeds.analysis.evp import default_ns, expected_validation_performance
from tune_seeds.analysis.failures import failed_runs, infer_threshold
from tune_seeds.analysis.planner import (
    cut_rank_correlation,
    evaluate_plan,
    plan_budgets,
)
from tune_seeds.analysis.variance import (
    FACTORS,
    best_vs_worst_anova,
    factor_sd,
    seed_means,
    two_way_anova,
)
from tune_seeds.plan import EarlyDiscardPlan

CUT_SHARES: tuple[float, ...] = (0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
"""Shares of training at which :func:`cut_report` tests the ranking."""


def _clean(value: Any) -> Any:
    """Plain JSON values: numpy scalars to Python, NaN/inf to None, keys to str."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def sweep_report(
    trials: pd.DataFrame,
    *,
    threshold: float | None = None,
    score: str = "best_score",
    n_best: int = 5,
    synthetic: bool = False,
    total_evals: int | None = None,
) -> dict[str, Any]:
    """Every number of the report of one sweep.

    Args:
        trials: the trials table (one row per trial).
        threshold: failed-run threshold on ``score``; None takes the task's (from a
            ``task`` column). When neither is known the failure section says so.
        score: the column analysed.
        n_best: how many best seeds and trials to list.
        synthetic: mark the report as made from synthetic data.
        total_evals: evaluation intervals of a full run; adds ``compute``, the
            intervals trained against those of FIFO (every trial to the end).

    Returns:
        A dict with ``meta`` (``stopped_by``: trials per way they ended, where the
        table says), ``expected_best``, ``variance``, ``anova``, ``best_vs_worst``,
        ``failures``, ``best_seeds`` and, with ``total_evals``, ``compute``.
    """
    values = trials[score].dropna()
    tasks = sorted(trials["task"].dropna().unique()) if "task" in trials.columns else []
    report: dict[str, Any] = {
        "meta": {
            "n_trials": len(trials),
            "n_scored": len(values),
            "score": score,
            "tasks": [str(t) for t in tasks],
            "synthetic": bool(synthetic),
            "n_wi_seeds": int(trials["wi_seed"].nunique()),
            "n_do_seeds": int(trials["do_seed"].nunique()),
        }
    }
    if "stopped_by" in trials.columns:
        counts = trials["stopped_by"].fillna("unfinished").value_counts()
        report["meta"]["stopped_by"] = {str(k): int(v) for k, v in sorted(counts.items())}
    if total_evals is not None:
        used, fifo = int(trials["evals_trained"].sum()), len(trials) * int(total_evals)
        report["compute"] = {"evals_used": used, "evals_fifo": fifo,
                             "share": used / fifo if fifo else None}
    evp = expected_validation_performance(values, default_ns(len(values)))
    report["expected_best"] = evp[["n", "mean", "sd"]].to_dict(orient="records")
    report["variance"] = factor_sd(trials, score).to_dict()
    try:
        report["anova"] = two_way_anova(trials, score).to_dict(orient="index")
    except ValueError as err:
        report["anova"] = {"skipped": str(err)}
    report["best_vs_worst"] = {}
    for f in FACTORS:
        try:
            report["best_vs_worst"][f] = best_vs_worst_anova(trials, f, score).to_dict()
        except ValueError as err:
            report["best_vs_worst"][f] = {"skipped": str(err)}
    try:
        thr = infer_threshold(trials, threshold)
    except ValueError as err:
        report["failures"] = {"skipped": str(err)}
    else:
        fails = failed_runs(trials, thr, score)
        report["failures"] = {
            "threshold": fails.threshold,
            "n_failed": fails.n_failed,
            "n_trials": fails.n_trials,
            "rate": fails.rate,
            "lowest_score": float(values.min()) if len(values) else None,
            "per_seed": {
                f: fails.per_seed[f][fails.per_seed[f]["failed"] > 0]["failed"].to_dict()
                for f in FACTORS
            },
        }
    best_trials = trials.sort_values(score, ascending=False, kind="stable").head(n_best)
    report["best_seeds"] = {
        f: seed_means(trials, f, score).head(n_best).reset_index().to_dict(orient="records")
        for f in FACTORS
    }
    shown = ["wi_seed", "do_seed", score,
             *(c for c in ("best_step", "stopped_by") if c in trials.columns)]
    report["best_seeds"]["trials"] = best_trials[shown].to_dict(orient="records")
    return _clean(report)


def planner_report(
    curves: pd.DataFrame,
    budgets: list[float],
    *,
    n_resamples: int = 2000,
    seed: int = 0,
    replace: bool = True,
    exact_budget: bool = True,
) -> list[dict[str, Any]]:
    """The planner's best plan per budget, beside the paper's rule of thumb.

    By default plans are estimated as the paper's analysis does (see
    :mod:`~tune_seeds.analysis.planner`): trials drawn with replacement from the
    recorded ones, only plans spending the budget exactly, the step-0 evaluation
    left out.

    Args:
        curves: the curves table of the sweep.
        budgets: budgets in full runs (each at least 1).
        n_resamples: Monte-Carlo draws shared by all plans.
        seed: seed of those draws.
        replace: False draws distinct recorded trials instead.
        exact_budget: False also admits plans spending less than the budget.

    Returns:
        One record per budget: ``budget``; the best plan's ``started``, ``kept``,
        ``cut_after`` (evaluations after the start of training), ``cut_share``
        (cut_after / T), ``cost`` (intervals), ``expected_best`` and its ``se``;
        ``no_early_stopping`` (the expected best of ``budget`` full runs) and
        ``gain``; and ``rule_of_thumb``, the paper's advice (cut at 25%, keep half the
        budget, start what the rest allows) as ``started``, ``kept``, ``cut_after``,
        ``expected_best`` and ``se`` (None where the rule does not fit the budget).
    """
    result = plan_budgets(curves, budgets, n_resamples=n_resamples, seed=seed,
                          replace=replace, exact_budget=exact_budget)
    T, N = result.n_evals, result.n_trials
    rows = []
    for best in result.best.to_dict(orient="records"):
        row = {
            "budget": best["budget"], "started": int(best["started"]),
            "kept": int(best["keep"]), "cut_after": int(best["milestone"]),
            "cut_share": best["milestone"] / T, "cost": int(best["cost"]),
            "expected_best": best["expected_best"], "se": best["se"],
            "no_early_stopping": best["baseline"], "gain": best["gain_over_full"],
            "rule_of_thumb": None,
        }
        try:
            rule = EarlyDiscardPlan.rule_of_thumb(best["budget"], T)
            t, e, p = rule.started, rule.cut_after, rule.kept
        except ValueError:
            t = 0
        if t > 0 and (replace or t <= N):
            value, se = evaluate_plan(curves, t, e, p, n_resamples=n_resamples, seed=seed,
                                      replace=replace)
            row["rule_of_thumb"] = {"started": t, "kept": p, "cut_after": e,
                                    "expected_best": value, "se": se}
        rows.append(row)
    return _clean(rows)


def cut_report(curves: pd.DataFrame, shares: tuple[float, ...] = CUT_SHARES) -> list[dict]:
    """Rank correlation of best-so-far at cuts across training with the final best.

    The cuts are the evaluations nearest to ``shares`` of the run (at least 1), each
    once; see :func:`~tune_seeds.analysis.planner.cut_rank_correlation`.
    """
    T = int(curves["eval_index"].max())
    cuts = sorted({min(T - 1, max(1, round(f * T))) for f in shares})
    return _clean(cut_rank_correlation(curves, cuts).to_dict(orient="records"))


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"
    return str(v)


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    table = pd.DataFrame(rows).reindex(columns=columns).astype(object)
    return table.to_string(index=False, formatters=dict.fromkeys(columns, _fmt), na_rep="n/a")


def format_report(report: dict[str, Any]) -> str:
    """The report as plain-text tables."""
    meta = report["meta"]
    out = []
    label = " [SYNTHETIC DATA]" if meta["synthetic"] else ""
    out.append(
        f"Sweep of {meta['n_trials']} trials ({meta['n_wi_seeds']} WI x {meta['n_do_seeds']} DO"
        f" seeds), task {', '.join(meta['tasks']) or 'unknown'}, score {meta['score']}{label}"
    )
    out.append("\nExpected best score of n trials (sampling with replacement)")
    out.append(_table(report["expected_best"], ["n", "mean", "sd"]))
    v = report["variance"]
    out.append("\nStandard deviation of the score")
    out.append(_table([
        {"view": "overall", "sd": v["overall"]},
        {"view": "WI varying, DO fixed", "sd": v["wi_varying_do_fixed"]},
        {"view": "DO varying, WI fixed", "sd": v["do_varying_wi_fixed"]},
    ], ["view", "sd"]))
    anova = report["anova"]
    if "skipped" in anova:
        out.append(f"\nTwo-way ANOVA: skipped ({anova['skipped']})")
    else:
        out.append("\nTwo-way ANOVA (type II)")
        rows = [{"source": k, **val} for k, val in anova.items()]
        out.append(_table(rows, ["source", "sum_sq", "df", "F", "p_value", "share"]))
    out.append("\nOne-way ANOVA, best against worst seed")
    rows = [r for r in report["best_vs_worst"].values() if "skipped" not in r]
    out.append(_table(rows, ["factor", "best_seed", "best_mean", "worst_seed", "worst_mean",
                             "f_stat", "p_value"]))
    fails = report["failures"]
    if "skipped" in fails:
        out.append(f"\nFailed runs: skipped ({fails['skipped']})")
    else:
        out.append(
            f"\nFailed runs (best score <= {fails['threshold']:.4f}): {fails['n_failed']} of "
            f"{fails['n_trials']} ({100 * fails['rate']:.1f}%)"
        )
        for f, counts in fails["per_seed"].items():
            listed = ", ".join(f"{s}: {n}" for s, n in counts.items()) or "none"
            out.append(f"  per {f}: {listed}")
    best = report["best_seeds"]
    for f in FACTORS:
        out.append(f"\nBest {f} values (mean score over the other seed)")
        out.append(_table(best[f], [f, "mean", "sd", "count"]))
    out.append("\nBest trials")
    out.append(_table(best["trials"], ["wi_seed", "do_seed", meta["score"]]))
    if report.get("planner"):
        out.append(
            "\nBudget planner (budget in full runs; the paper's sampling): start t, cut "
            "after e evaluations,\ntrain p fully; no_early_stopping = expected best of "
            "`budget` full runs"
        )
        rows = [{**r, **{f"rule_{k}": v for k, v in (r["rule_of_thumb"] or {}).items()}}
                for r in report["planner"]]
        out.append(_table(rows, [
            "budget", "started", "cut_after", "kept", "expected_best", "se",
            "no_early_stopping", "gain", "rule_started", "rule_cut_after", "rule_kept",
            "rule_expected_best",
        ]))
    if report.get("cut_correlation"):
        out.append("\nSpearman correlation of best-so-far at the cut with the final best")
        out.append(_table(report["cut_correlation"], ["milestone", "share", "spearman"]))
    return "\n".join(out)


SUMMARY_NS = (1, 5, 10)
"""The n of the summary's expected best (and all trials)."""


def format_summary(report: dict[str, Any]) -> str:
    """The few lines printed at the end of a sweep, from :func:`sweep_report`'s dict:
    the best pairs, the expected best of n trials, compute against FIFO, failed runs."""
    meta = report["meta"]
    ended = ", ".join(f"{n} {how}" for how, n in meta.get("stopped_by", {}).items())
    lines = [f"Sweep summary: {', '.join(meta['tasks']) or 'unknown task'}, "
             f"{meta['n_trials']} trials" + (f" ({ended})" if ended else "")]
    best = report["best_seeds"]["trials"]
    if best:
        lines.append("Best (WI, DO) pairs:")
        lines.append(_table(best, list(best[0])))
    evp = [r for r in report["expected_best"]
           if r["n"] in SUMMARY_NS or r["n"] == meta["n_scored"]]
    if evp:
        lines.append("Expected best score of n trials (EVP over every trial's best score):")
        lines.append(_table(evp, ["n", "mean", "sd"]))
    compute = report.get("compute")
    if compute:
        lines.append(
            f"Compute: {compute['evals_used']} evaluation intervals, {compute['share']:.1%} "
            f"of the {compute['evals_fifo']} a FIFO sweep of the same trials would train"
        )
    fails = report["failures"]
    if "skipped" in fails:
        lines.append(f"Failed runs: not counted ({fails['skipped']})")
    else:
        lines.append(f"Failed runs (best score <= {fails['threshold']:.3f}): "
                     f"{fails['n_failed']} of {fails['n_trials']}")
    return "\n".join(lines)
