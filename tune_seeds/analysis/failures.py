"""Failed runs: trials whose best score never beat the majority-class predictor.

A failed run diverges or never leaves the majority class; its best validation score
stays at or below what always predicting the majority label scores. The paper's
thresholds on the best score are MRPC 0.75, RTE 0.5 and CoLA 0.1; the task table
(:mod:`tune_seeds.trial.tasks`) holds them, and any other threshold can be given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from tune_seeds.analysis.variance import FACTORS
from tune_seeds.trial.tasks import get_task


def task_threshold(task: str) -> float:
    """The failed-run threshold of a GLUE task (``MRPC``, ``RTE``, ``CoLA``, ``SST-2``)."""
    return float(get_task(task).failed_threshold)


def infer_threshold(trials: pd.DataFrame, threshold: float | None = None) -> float:
    """The threshold to use: the given one, else the task's from a ``task`` column.

    Raises:
        ValueError: when no threshold is given and the table names no single known task.
    """
    if threshold is not None:
        return float(threshold)
    tasks = trials["task"].dropna().unique() if "task" in trials.columns else []
    if len(tasks) != 1:
        raise ValueError(
            "cannot tell the failed-run threshold: give one (e.g. --threshold 0.75), "
            "or use a table with a single known task in its 'task' column"
        )
    try:
        return task_threshold(str(tasks[0]))
    except ValueError as err:
        raise ValueError(f"{err}; give a failed-run threshold explicitly") from None


@dataclass(frozen=True)
class FailureSummary:
    """Failed runs overall and per seed.

    Attributes:
        threshold: a run failed when its best score is <= threshold.
        n_failed: number of failed runs.
        n_trials: number of trials counted.
        per_seed: for each factor (``wi_seed``, ``do_seed``), a DataFrame indexed by seed
            with ``failed``, ``trials`` and ``rate``, most failures first.
        failed_ids: the trial ids of the failed runs.
    """

    threshold: float
    n_failed: int
    n_trials: int
    per_seed: dict[str, pd.DataFrame] = field(repr=False)
    failed_ids: tuple[str, ...] = field(repr=False)

    @property
    def rate(self) -> float:
        return self.n_failed / self.n_trials if self.n_trials else float("nan")


def failed_runs(
    trials: pd.DataFrame, threshold: float | None = None, score: str = "best_score"
) -> FailureSummary:
    """Count the trials whose ``score`` is at or below ``threshold``, overall and per seed.

    A trial with a NaN score (it errored before its first evaluation) counts as failed.

    >>> df = pd.DataFrame({"trial_id": ["a", "b", "c"], "wi_seed": [1, 1, 2],
    ...                    "do_seed": [1, 2, 1], "best_score": [0.7, 0.9, float("nan")]})
    >>> s = failed_runs(df, threshold=0.75)
    >>> s.n_failed, s.failed_ids
    (2, ('a', 'c'))
    """
    thr = infer_threshold(trials, threshold)
    values = trials[score].astype(float)
    failed = values.isna() | (values <= thr)
    per_seed = {}
    for factor in FACTORS:
        g = failed.groupby(trials[factor])
        table = pd.DataFrame({"failed": g.sum().astype(int), "trials": g.size().astype(int)})
        table["rate"] = table["failed"] / table["trials"]
        per_seed[factor] = table.sort_values(["failed", "rate"], ascending=False, kind="stable")
    ids = tuple(trials.loc[failed, "trial_id"].astype(str)) if "trial_id" in trials else ()
    return FailureSummary(thr, int(failed.sum()), len(trials), per_seed, ids)
