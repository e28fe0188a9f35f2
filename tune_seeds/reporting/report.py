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

import argparse
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


ENDED = ("completed", "diverged")
"""How a trial that ran to its end stopped: its best score is a final one."""
LISTED = 10
"""Trials named at most in a line listing them (the rest are counted)."""


def _evp(values: pd.Series) -> list[dict[str, Any]]:
    if values.empty:
        return []
    evp = expected_validation_performance(values, default_ns(len(values)))
    return evp[["n", "mean", "sd"]].to_dict(orient="records")


def _pairs(trials: pd.DataFrame, progress: bool = True) -> list[dict[str, Any]]:
    shown = ["wi_seed", "do_seed", *(["evals_trained"] if progress else [])]
    return trials[[c for c in shown if c in trials.columns]].to_dict(orient="records")


def sweep_report(
    trials: pd.DataFrame,
    *,
    threshold: float | None = None,
    score: str = "best_score",
    n_best: int = 5,
    synthetic: bool = False,
    total_evals: int | None = None,
    trial_count: int | None = None,
) -> dict[str, Any]:
    """Every number of the report of one sweep.

    Trials without a score (they never trained: stopped before their first training
    interval, e.g. by an error) are no draw of anything: they are left out of every
    number and listed in ``meta["unscored"]``. Where the table says how trials ended
    (``stopped_by``), the expected best is over the trials that ran to the end
    (:data:`ENDED`), and the partial bests of those the scheduler cut are a table of their own
    (``expected_best_cut``): they are not draws of the same distribution. Unfinished
    trials (running, paused, interrupted, or in ERROR after some training) are in
    neither, nor in the failed runs, and listed in ``meta["unfinished"]``.

    Args:
        trials: the trials table (one row per trial).
        threshold: failed-run threshold on ``score``; None takes the task's (from a
            ``task`` column). When neither is known the failure section says so.
        score: the column analysed.
        n_best: how many best seeds and trials to list.
        synthetic: mark the report as made from synthetic data.
        total_evals: evaluation intervals of a full run; adds ``compute``, the
            intervals trained against those of FIFO (every trial to the end).
        trial_count: trials the sweep runs in all, where known: those beyond the table
            never reported (``meta["not_reported"]``).

    Returns:
        A dict with ``meta`` (``stopped_by``: trials per way they ended, where the
        table says; ``expected_best_over``: which trials the expected best is over),
        ``expected_best``, ``expected_best_cut`` (None without cut trials),
        ``variance``, ``anova``, ``best_vs_worst``, ``failures``, ``best_seeds`` and,
        with ``total_evals``, ``compute``.
    """
    tasks = sorted(trials["task"].dropna().unique()) if "task" in trials.columns else []
    unscored = trials[trials[score].isna()]
    everything, trials = trials, trials[trials[score].notna()]
    values = trials[score]
    ended = counted = trials  # counted: trials with a final or a cut score
    report: dict[str, Any] = {
        "meta": {
            "n_trials": len(everything),
            "n_scored": len(values),
            "score": score,
            "tasks": [str(t) for t in tasks],
            "synthetic": bool(synthetic),
            "n_wi_seeds": int(everything["wi_seed"].nunique()),
            "n_do_seeds": int(everything["do_seed"].nunique()),
            "unscored": _pairs(unscored, progress=False),
            "unfinished": [],
            "not_reported": max(0, (trial_count or 0) - len(everything)),
            "expected_best_over": "every trial",
        },
        "expected_best_cut": None,
    }
    if "stopped_by" in everything.columns:
        counts = everything["stopped_by"].fillna("unfinished").value_counts()
        report["meta"]["stopped_by"] = {str(k): int(v) for k, v in sorted(counts.items())}
        how = trials["stopped_by"]
        ended, cut = trials[how.isin(ENDED)], trials[how == "scheduler"]
        counted = trials[how.isin([*ENDED, "scheduler"])]
        report["meta"]["unfinished"] = _pairs(trials[~how.isin([*ENDED, "scheduler"])])
        if len(ended) < len(trials):
            report["meta"]["expected_best_over"] = "trained to the end"
        if len(cut):
            report["expected_best_cut"] = _evp(cut[score])
        report["meta"]["n_cut"] = len(cut)
    if total_evals is not None:
        used = int(everything["evals_trained"].sum())
        fifo = len(everything) * int(total_evals)
        report["compute"] = {"evals_used": used, "evals_fifo": fifo,
                             "share": used / fifo if fifo else None}
    report["meta"]["n_ended"] = len(ended)
    report["expected_best"] = _evp(ended[score])
    try:
        report["variance"] = factor_sd(trials, score).to_dict()
    except ValueError as err:
        report["variance"] = {"skipped": str(err)}
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
        thr = infer_threshold(everything, threshold)
    except ValueError as err:
        report["failures"] = {"skipped": str(err)}
    else:
        fails = failed_runs(counted, thr, score)
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
    report["best_seeds"] = {}
    for f in FACTORS:
        try:
            means = seed_means(trials, f, score).head(n_best).reset_index()
        except ValueError:  # fewer than two scored trials: nothing to compare
            means = pd.DataFrame()
        report["best_seeds"][f] = means.to_dict(orient="records")
    shown = ["wi_seed", "do_seed", score,
             *(c for c in ("best_step", "stopped_by") if c in trials.columns)]
    report["best_seeds"]["trials"] = best_trials[shown].to_dict(orient="records")
    return _clean(report)


def parse_budgets(text: str) -> list[float]:
    """Budgets for :func:`planner_report` from a command line (an ``argparse`` type).

    >>> parse_budgets("5,10")
    [5.0, 10.0]

    Raises:
        argparse.ArgumentTypeError: unless every budget is a number of at least one
            full run.
    """
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"budgets must be at least 1 full run, got {text!r}")
    return values


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
    if not rows:
        return "none"
    table = pd.DataFrame(rows).reindex(columns=columns).astype(object)
    return table.to_string(index=False, formatters=dict.fromkeys(columns, _fmt), na_rep="n/a")


def _named(pairs: list[dict[str, Any]]) -> str:
    """``WI 1 / DO 2 (3 evaluations), ...``, the first :data:`LISTED` of them."""
    names = [f"WI {p['wi_seed']} / DO {p['do_seed']}"
             + (f" ({p['evals_trained']} evaluations)" if "evals_trained" in p else "")
             for p in pairs[:LISTED]]
    more = f" and {len(pairs) - LISTED} more" if len(pairs) > LISTED else ""
    return ", ".join(names) + more


def _evp_label(report: dict[str, Any]) -> str:
    meta = report["meta"]
    if meta["expected_best_over"] == "every trial":
        return "over every trial's best score"
    return f"over the best scores of the {meta['n_ended']} trials trained to the end"


def _cut_label(report: dict[str, Any]) -> str:
    return (f"Cut trials' partial bests: expected best of n of the {report['meta']['n_cut']} "
            "trials the scheduler stopped early (best score before the cut; not comparable "
            "with the above)")


def _left_out(report: dict[str, Any]) -> list[str]:
    """Lines naming the trials the numbers leave out, and why."""
    meta = report["meta"]
    lines = []
    if meta.get("unscored"):
        lines.append(
            f"{len(meta['unscored'])} trial(s) never trained (no score: stopped before "
            f"their first training interval, e.g. by an error), left out of every number: "
            f"{_named(meta['unscored'])}")
    if meta.get("unfinished"):
        lines.append(
            f"{len(meta['unfinished'])} trial(s) unfinished (running, paused, interrupted, "
            f"or in ERROR after some training), left out of the expected best and the failed "
            f"runs: "
            f"{_named(meta['unfinished'])}")
    if meta.get("not_reported"):
        lines.append(f"{meta['not_reported']} trial(s) of the sweep have not reported a result")
    return lines


def format_report(report: dict[str, Any]) -> str:
    """The report as plain-text tables."""
    meta = report["meta"]
    out = []
    label = " [SYNTHETIC DATA]" if meta["synthetic"] else ""
    out.append(
        f"Sweep of {meta['n_trials']} trials ({meta['n_wi_seeds']} WI x {meta['n_do_seeds']} DO"
        f" seeds), task {', '.join(meta['tasks']) or 'unknown'}, score {meta['score']}{label}"
    )
    out.extend(_left_out(report))
    if report["expected_best"]:
        out.append(f"\nExpected best score of n trials (sampling with replacement; "
                   f"{_evp_label(report)})")
        out.append(_table(report["expected_best"], ["n", "mean", "sd"]))
    else:
        out.append("\nExpected best score: none yet (no trial has trained to the end)")
    if report.get("expected_best_cut"):
        out.append(f"\n{_cut_label(report)}")
        out.append(_table(report["expected_best_cut"], ["n", "mean", "sd"]))
    v = report["variance"]
    if "skipped" in v:
        out.append(f"\nStandard deviation of the score: skipped ({v['skipped']})")
    else:
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
        rate = f" ({100 * fails['rate']:.1f}%)" if fails["rate"] is not None else ""
        out.append(
            f"\nFailed runs (best score <= {fails['threshold']:.4f}): {fails['n_failed']} of "
            f"{fails['n_trials']}{rate}"
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
    lines.extend(_left_out(report))
    evp = [r for r in report["expected_best"]
           if r["n"] in SUMMARY_NS or r["n"] == meta["n_ended"]]
    if evp:
        lines.append(f"Expected best score of n trials (EVP {_evp_label(report)}):")
        lines.append(_table(evp, ["n", "mean", "sd"]))
    else:
        lines.append("Expected best score: none yet (no trial has trained to the end)")
    cut = [r for r in report.get("expected_best_cut") or []
           if r["n"] in SUMMARY_NS or r["n"] == meta["n_cut"]]
    if cut:
        lines.append(f"{_cut_label(report)}:")
        lines.append(_table(cut, ["n", "mean", "sd"]))
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
