"""The report counts each trial by how it ended (issues 19 and 22): the expected best is
over trials trained to the end, cut trials' partial bests are a table of their own,
trials that never trained or did not finish are left out and named, and a sweep of one
trial still gets its summary."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from tune_seeds.analysis.evp import expected_validation_performance
from tune_seeds.reporting.report import format_report, format_summary, sweep_report

NAN = math.nan


def trials_table(stopped_by: list, best: list, evals: list) -> pd.DataFrame:
    n = len(best)
    return pd.DataFrame({
        "trial_id": [f"t{i}" for i in range(n)], "wi_seed": range(1, n + 1),
        "do_seed": [1, 2] * (n // 2) + [1] * (n % 2), "status": "TERMINATED",
        "stopped_by": stopped_by, "best_score": best, "best_step": 5, "final_score": best,
        "evals_trained": evals, "wall_s": 1.0, "task": "rte",
    })


def evp_means(values: list[float]) -> list[float]:
    return expected_validation_performance(values)["mean"].tolist()


MIXED = trials_table(
    ["completed", "completed", "diverged", "scheduler", "scheduler", "error", None],
    [0.8, 0.7, 0.5, 0.65, 0.6, NAN, 0.55], [30, 30, 12, 8, 8, 0, 12])


def test_expected_best_is_over_trials_trained_to_the_end_and_cut_trials_apart():
    report = sweep_report(MIXED, total_evals=30)
    ended = [r["mean"] for r in report["expected_best"]]
    assert ended == pytest.approx([evp_means([0.8, 0.7, 0.5])[0], evp_means([0.8, 0.7, 0.5])[2]])
    cut = [r["mean"] for r in report["expected_best_cut"]]
    assert cut == pytest.approx(evp_means([0.65, 0.6]))
    summary = format_summary(report)
    assert "(EVP over the best scores of the 3 trials trained to the end):" in summary
    assert ("Cut trials' partial bests: expected best of n of the 2 trials the scheduler "
            "stopped early") in summary
    # Never trained: out of every number; unfinished: out of the expected best and the
    # failed runs, and named.
    assert report["failures"]["n_trials"] == 5
    assert ("1 trial(s) never trained (no score: stopped before their first training "
            "interval, e.g. by an error), left out of every number: WI 6 / DO 2") in summary
    assert ("1 trial(s) unfinished (running, paused, interrupted, or in ERROR after some "
            "training), left out of the expected best and the failed runs: WI 7 / DO 1 "
            "(12 evaluations)") in summary


def test_analyze_report_says_how_many_trials_are_unfinished_and_which():
    running = MIXED.assign(stopped_by=["completed"] * 2 + [None] * 5)
    text = format_report(sweep_report(running, trial_count=9))
    assert "4 trial(s) unfinished" in text and "WI 3 / DO 1 (12 evaluations)" in text
    assert "2 trial(s) of the sweep have not reported a result" in text
    assert "over the best scores of the 2 trials trained to the end" in text


def test_a_fifo_sweep_keeps_every_trial_in_its_expected_best():
    done = trials_table(["completed"] * 4, [0.8, 0.7, 0.6, 0.5], [30] * 4)
    report = sweep_report(done)
    assert report["expected_best_cut"] is None
    assert [r["mean"] for r in report["expected_best"]] == pytest.approx(
        evp_means([0.8, 0.7, 0.6, 0.5])[:1] + evp_means([0.8, 0.7, 0.6, 0.5])[3:])
    assert "(EVP over every trial's best score):" in format_summary(report)
    assert "never trained" not in format_report(report)


@pytest.mark.parametrize("stopped_by", ["completed", None])
def test_one_trial_gets_its_summary(stopped_by):
    report = sweep_report(trials_table([stopped_by], [0.7], [30]), total_evals=30)
    summary = format_summary(report)
    assert summary.startswith("Sweep summary: rte, 1 trials")
    assert "skipped" in report["variance"]
    assert "need at least two trials" in format_report(report)
