"""The end-of-sweep summary printed by ``experiments/run_sweep.py``.

From the trials table of a sweep (:mod:`tune_seeds.tables`) it reports:

- the best (WI, DO) pairs and their best validation scores;
- the expected best score among n trials (EVP, :mod:`tune_seeds.analysis.evp`)
  for n = 1, 5, 10 and all trials, over every trial's best score: trials
  stopped early count with the best score they reached before being stopped,
  as in the paper's early-discarding evaluation;
- the compute used, in evaluation intervals, against a FIFO sweep that trains
  every trial to the end;
- the failed runs: best score at or below the task's threshold (the paper's, or
  the majority-class score; :mod:`tune_seeds.analysis.failures`).

>>> import pandas as pd
>>> trials = pd.DataFrame({"trial_id": ["a", "b"], "wi_seed": [1, 2], "do_seed": [1, 1],
...     "status": "TERMINATED", "stopped_by": ["completed", "scheduler"],
...     "best_score": [0.8, 0.6], "best_step": [10, 5], "final_score": [0.8, 0.6],
...     "evals_trained": [30, 9], "wall_s": [1.0, 1.0]})
>>> s = summarize(trials, "rte", total_evals=30)
>>> s.evals_used, s.evals_fifo, s.n_failed
(39, 60, 0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tune_seeds.analysis.evp import expected_max
from tune_seeds.analysis.failures import failed_runs
from tune_seeds.trial.tasks import get_task

EVP_NS = (1, 5, 10)


@dataclass(frozen=True)
class SweepSummary:
    """What a finished (or interrupted) sweep found and what it cost."""

    task: str
    n_trials: int
    stopped_by: dict[str, int]
    best: pd.DataFrame  # wi_seed, do_seed, best_score, best_step, stopped_by
    evp: dict[int, float]  # n -> expected best of n trials
    evals_used: int
    evals_fifo: int
    failed_threshold: float
    n_failed: int

    @property
    def compute_share(self) -> float:
        return self.evals_used / self.evals_fifo if self.evals_fifo else float("nan")


def summarize(trials: pd.DataFrame, task: str, total_evals: int, top: int = 5) -> SweepSummary:
    """Summarize a trials table.

    Args:
        trials: the sweep's ``trials.parquet``.
        task: the GLUE task (its failed-run threshold).
        total_evals: evaluation intervals of a full run (the FIFO cost per trial).
        top: how many of the best pairs to list.
    """
    t = get_task(task)
    scores = trials["best_score"].to_numpy(dtype=float)
    finite = scores[np.isfinite(scores)]
    ns = sorted({n for n in EVP_NS if n <= len(trials)} | {len(trials)})
    evp = {n: expected_max(finite, n)[0] for n in ns} if finite.size else {}
    best = trials.sort_values(
        ["best_score", "wi_seed", "do_seed"], ascending=[False, True, True], kind="stable"
    ).head(top)[["wi_seed", "do_seed", "best_score", "best_step", "stopped_by"]]
    failures = failed_runs(trials, threshold=t.failed_threshold)
    counts = trials["stopped_by"].fillna("unfinished").value_counts()
    return SweepSummary(
        task=t.name,
        n_trials=len(trials),
        stopped_by={str(k): int(v) for k, v in counts.items()},
        best=best.reset_index(drop=True),
        evp=evp,
        evals_used=int(trials["evals_trained"].sum()),
        evals_fifo=int(len(trials) * total_evals),
        failed_threshold=float(t.failed_threshold),
        n_failed=failures.n_failed,
    )


def format_summary(s: SweepSummary) -> str:
    """The summary as the text printed at the end of a sweep."""
    lines = [
        f"Sweep summary: {s.task}, {s.n_trials} trials "
        f"({', '.join(f'{v} {k}' for k, v in sorted(s.stopped_by.items()))})",
        "Best (WI, DO) pairs:",
    ]
    for row in s.best.itertuples(index=False):
        lines.append(
            f"  WI {row.wi_seed:>4}  DO {row.do_seed:>4}  best score {row.best_score:.4f} "
            f"(step {row.best_step}, {row.stopped_by or 'unfinished'})"
        )
    if s.evp:
        lines.append("Expected best score of n trials (EVP over every trial's best score):")
        lines.extend(
            f"  n = {n:>4}{' (all)' if n == s.n_trials else '':6}  {v:.4f}"
            for n, v in s.evp.items()
        )
    lines.append(
        f"Compute: {s.evals_used} evaluation intervals, {s.compute_share:.1%} of the "
        f"{s.evals_fifo} a FIFO sweep of the same trials would train"
    )
    lines.append(
        f"Failed runs (best score <= {s.failed_threshold:.3f}): {s.n_failed} of {s.n_trials}"
    )
    return "\n".join(lines)
