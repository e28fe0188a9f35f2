"""Is sweep B better than sweep A, or is it the seeds? A seed-aware comparison of two sweeps.

Three answers, each a pure function of the two sweeps' tables (numpy and scipy only):

**Multi-Bootstrap** (Sellam et al., *The MultiBERTs*, ICLR 2022), :func:`multi_bootstrap`.
The estimand is ``delta = E[metric(B)] - E[metric(A)]``, the expectation over the seed
distribution *and* the data distribution. Each of ``R`` resamples draws every sweep's
trials (seed pairs) with replacement — one draw for both sweeps when they ran the same
(wi_seed, do_seed) pairs (the paired design), one draw each otherwise — and the dev
examples with replacement, one draw shared by both sweeps (they were scored on the same dev
set). A drawn trial's metric is recomputed on the drawn examples from its predictions at
its best evaluation (best dev score, first on ties, as the trials table's ``best_score``),
the drawn trials' metrics are averaged per sweep, and ``delta_b = theta_b(B) - theta_b(A)``.
The point estimate is the same statistic on the full data (the difference of the sweeps'
mean best scores), the interval the 2.5% and 97.5% percentiles of ``delta_b``, the p-value
``2 * min(P(delta_b <= 0), P(delta_b >= 0))`` capped at 1. Resampling only seeds ignores the
dev set's sampling noise and resampling only examples ignores the seeds'; both together
give honest intervals. When either sweep has no per-example predictions the examples
cannot be redrawn: the trials' best scores alone are resampled (the seeds-only bootstrap),
and the result says so (``examples_resampled`` false, and a note).

The resampling is vectorised: a resample's drawn examples are a multinomial count vector
``w`` over the dev rows, so the confusion counts of every trial on every resample are
matrix products — TP from the positive examples' columns (``pred[:, pos] @ w[pos]``), FP
from the negatives' — with examples that every trial predicts alike merged first, and FN
and TN follow from the weights' sums; accuracy, F1 and MCC (the task's headline, as
:meth:`~tune_seeds.trial.tasks.Task.compute_metrics` has it) follow from the counts. A
drawn trial set is a count vector over the trials, so ``theta_b`` is a dot product. The
products run with BLAS on one thread (threadpoolctl, which scikit-learn brings), faster
than OpenBLAS's threads for these sizes.

A caution on the design, not a change to it: resampling seeds and examples together counts
the seed-by-example interaction (which examples a given seed happens to get right) three
times where the truth counts it once (Owen's pigeonhole bootstrap, 2007). When that
interaction is large beside the seeds' own spread — for the difference of two sweeps on a
shared dev set, whose example effects largely cancel — the interval is conservative (wider
than 95% needs); it is about exact when the seeds' spread dominates. (In the tests'
simulations, 300 repeats each: 95-97% coverage, and 2-5% of p-values below 0.05 without a
difference, when the seeds dominate; all 100 intervals cover and no p-value is below 0.05
with almost no seed effect.)

**Almost stochastic order** (Dror, Shlomov and Reichart, ACL 2019; del Barrio et al. 2018),
:func:`aso`. With ``F`` and ``G`` the empirical CDFs of the trials' scores of two sweeps, the
violation ratio of "F dominates G" is::

    eps_W(F, G) = int_{F^-1(t) < G^-1(t)} (F^-1(t) - G^-1(t))^2 dt / int_0^1 (F^-1 - G^-1)^2 dt

on a midpoint grid of ``t`` (``F^-1`` the empirical quantile function, the ``ceil(n t)``-th
smallest score); 0 means F's quantiles are never below G's. ``eps_min`` is the upper end of
a one-sided confidence interval: with ``eps_hat`` on the data and ``sigma_hat`` the standard
deviation (ddof 1) of ``sqrt(n m / (n + m)) * (eps_W(F*, G*) - eps_hat)`` over bootstrap
resamples of both samples, ``eps_min = eps_hat - sqrt((n + m) / (n m)) * sigma_hat *
Phi^-1(alpha)``, alpha the significance level (confidence ``1 - alpha``). It is not capped,
so it can exceed 1 when ``eps_hat`` is near 1. ``eps_min(B over A) < 0.5`` calls B almost
stochastically better than A; the stricter common reading asks ``< 0.2``. When both
quantile functions are equal everywhere the ratio is 0/0 and is taken as 0.5 (neither
dominates), which keeps ``eps_W(F, G) + eps_W(G, F) = 1``.

**How many seeds** (bootstrap power), :func:`bootstrap_power`. For k trials per sweep, the
power is the share of simulated comparisons that reject at level 0.05, each one drawing k
trials from each sweep with replacement (paired if the design is) and the dev examples,
and running the Multi-Bootstrap above on that draw. The data play the truth, so the power
is at the observed delta. k is searched upward (2, 3, ..., 10, then steps of about 10%,
as fine as the power's own Monte-Carlo error resolves) and the smallest k with power at
least 0.8 is the answer. The simulated comparisons use fewer resamples than the main
bootstrap (at most 200 repeats of 200 resamples by default; the result records both), in
batches of 50: a k whose power after a batch is 3 standard errors below 0.8 is left for the
next k without the remaining batches (the powers record how many repeats each rests on).
Every k reuses the same example draws (common random numbers), so the power changes with k
alone. At very small k (2 to 5 trials) the bootstrap test rejects more often than its level
even without a difference, so powers there are flattered.

:func:`compare_sweeps` runs the three on two results folders (or loaded sweeps) and
returns a :class:`Comparison`, whose :meth:`~Comparison.to_dict` is the JSON of
``experiments/compare_sweeps.py``. Only trials that ended (``TERMINATED``) are compared: a
trial still running, paused or in error has a partial best score. A side may be several
folders (a grid run as one sweep per WI seed), read as one sweep (:func:`load_sweep`);
``shared_pairs=True`` compares only the seed pairs both sides ran (:func:`on_shared_pairs`),
paired: a smaller grid against a bigger one, or a grid still running against a finished one.

Two sweeps of 40 trials on the same 300 dev examples, B about 3 points better:

>>> rng = np.random.default_rng(0)
>>> labels = rng.integers(0, 2, 300)
>>> def sweep(skill):  # each trial gets each example right with its own probability
...     right = rng.random((40, 300)) < rng.normal(skill, 0.03, (40, 1))
...     return SweepData.from_predictions(np.where(right, labels, 1 - labels), labels,
...                                       seeds=np.c_[np.arange(40), np.arange(40)],
...                                       task="sst2")
>>> a, b = sweep(0.85), sweep(0.88)
>>> boot = multi_bootstrap(a, b, n_resamples=1000, seed=1)
>>> round(boot.delta, 3), boot.paired, boot.examples_resampled
(0.03, True, True)
>>> bool(boot.ci_low > 0) and boot.p_value < 0.01
True
>>> result = aso(b.scores, a.scores, seed=1)  # eps_min of B over A: small, B dominates
>>> bool(result.eps_min < 0.2)
True

All three at once, as ``experiments/compare_sweeps.py`` runs them (here without the power
analysis, the slowest part):

>>> c = compare_sweeps(a, b, n_resamples=500, power=False)
>>> c.paired, c.examples_resampled, c.trials_for_80_power, c.n_a, c.n_b
(True, True, None, 40, 40)
>>> bool(c.aso_eps_min_b_over_a < 0.5 < c.aso_eps_min_a_over_b)
True
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from tune_seeds.tables import is_synthetic, load_results, ranked_scores, validate_curves
from tune_seeds.trial.tasks import get_task

LEVEL = 0.05
"""Significance level of the test, of the ASO confidence bound and of the power analysis."""

TARGET_POWER = 0.8


class CompareError(ValueError):
    """Two sweeps that cannot be compared (different tasks or dev sets, or not a sweep)."""


def _one_blas_thread(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``func`` with BLAS on one thread.

    The products here are small (a hundred trials by a few hundred examples by a few
    thousand resamples): one thread does one in about a millisecond, while OpenBLAS's
    threads, spinning against each other on a machine whose cores are busy, took ten times
    as long. threadpoolctl comes with scikit-learn; without it BLAS is left as it is.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover - scikit-learn requires it
            limit = contextlib.nullcontext()
        else:
            limit = threadpool_limits(limits=1, user_api="blas")
        with limit:
            return func(*args, **kwargs)

    return wrapper


# ---------------------------------------------------------------------------------------
# One sweep, reduced to what a comparison needs


@dataclass(frozen=True)
class SweepData:
    """One sweep's trials: their best scores, seed pairs and, if recorded, predictions.

    Build it with :meth:`from_tables` (a loaded results folder), :func:`load_sweep` (a
    folder) or :meth:`from_predictions` (arrays, for simulations).

    Attributes:
        scores: each trial's score at its best evaluation, shape ``(n,)``.
        seeds: each trial's ``(wi_seed, do_seed)``, shape ``(n, 2)``.
        task: the task name (``sst2``, ``mrpc``, ...), None when the tables do not say.
        preds: predicted labels at each trial's best evaluation, shape ``(n, m)``, one
            column per dev example; None without predictions.
        labels: the dev labels, shape ``(m,)``; None without predictions.
        examples: the dev rows of the columns of ``preds``; None without predictions.
        name: where the sweep came from, for messages.
        notes: what was left out while reading it (trials without a finite score ...).
        synthetic: whether the tables were generated (figures say so).
    """

    scores: np.ndarray
    seeds: np.ndarray
    task: str | None = None
    preds: np.ndarray | None = None
    labels: np.ndarray | None = None
    examples: np.ndarray | None = None
    name: str = ""
    notes: tuple[str, ...] = ()
    synthetic: bool = False

    @property
    def n(self) -> int:
        """Number of trials."""
        return len(self.scores)

    @property
    def has_predictions(self) -> bool:
        return self.preds is not None

    def take(self, order: np.ndarray) -> SweepData:
        """The same sweep with its trials in ``order`` (indices into the current ones)."""
        preds = None if self.preds is None else self.preds[order]
        return replace(self, scores=self.scores[order], seeds=self.seeds[order], preds=preds)

    def without_predictions(self) -> SweepData:
        """The sweep reduced to its trials' scores (the seeds-only comparison's input)."""
        return replace(self, preds=None, labels=None, examples=None)

    @classmethod
    def from_predictions(
        cls,
        preds: np.ndarray,
        labels: np.ndarray,
        seeds: np.ndarray,
        task: str,
        examples: np.ndarray | None = None,
        name: str = "",
        notes: Sequence[str] = (),
    ) -> SweepData:
        """A sweep from its trials' predictions at their best evaluations.

        Args:
            preds: ``(n, m)`` predicted labels (0/1), one row per trial.
            labels: ``(m,)`` dev labels.
            seeds: ``(n, 2)`` seed pairs (``wi_seed``, ``do_seed``).
            task: the task, whose headline metric scores each trial.
            examples: dev rows of the columns (default ``0..m-1``).
            name, notes: as the attributes.
        """
        preds = np.asarray(preds, dtype=np.int8)
        labels = np.asarray(labels, dtype=np.int8)
        if preds.ndim != 2 or preds.shape[1] != labels.shape[0]:
            raise ValueError(f"predictions of shape {preds.shape} for {labels.shape[0]} labels")
        examples = np.arange(labels.shape[0]) if examples is None else np.asarray(examples)
        scores = trial_scores(task, preds, labels, np.ones((1, labels.shape[0])))[:, 0]
        return cls(scores, _seed_array(seeds, len(preds)), get_task(task).name, preds, labels,
                   examples, name, tuple(notes))

    @classmethod
    def from_scores(cls, scores: np.ndarray, seeds: np.ndarray, task: str | None = None,
                    name: str = "") -> SweepData:
        """A sweep known only by its trials' best scores (the seeds-only comparison)."""
        scores = np.asarray(scores, dtype=float)
        return cls(scores, _seed_array(seeds, len(scores)),
                   None if task is None else get_task(task).name, name=name)

    @classmethod
    def from_tables(
        cls,
        trials: pd.DataFrame,
        curves: pd.DataFrame,
        predictions: pd.DataFrame | None = None,
        task: str | None = None,
        name: str = "",
    ) -> SweepData:
        """A sweep from its results tables (as :func:`tune_seeds.tables.load_results` reads).

        Trials that did not end (``status`` not ``TERMINATED``: running, paused, in
        error) are left out: their best scores are partial. Without predictions a
        trial's score is its ``best_score`` in the trials table, and trials without a
        finite one are left out. With predictions a trial's best evaluation is the first
        one with the highest dev score in the curves
        (:func:`tune_seeds.tables.ranked_scores`: evaluation 0 counts only for a trial with
        nothing after it, NaN never wins), its score is recomputed from its predictions
        there, and trials without a finite best score or without a prediction for every
        dev example at that evaluation are left out. Each omission is listed in ``notes``.

        Args:
            trials, curves, predictions: the sweep's tables.
            task: the task name; default the tables' ``task`` column (needed with
                predictions, to know the metric).
            name: where the sweep came from, for messages.

        Raises:
            CompareError: the task is unknown but needed, the tables name two tasks, no
                trial is left, or an example's label differs between trials.
        """
        task = _task_of(trials, curves, task, name)
        synthetic = is_synthetic(curves) or is_synthetic(trials)
        ended = (trials["status"] == "TERMINATED").to_numpy()
        unfinished = _dropped_note(int((~ended).sum()),
                                   "not TERMINATED (running, paused or in error)")
        trials = trials[ended]
        curves = curves[curves["trial_id"].astype(str).isin(trials["trial_id"].astype(str))]
        if predictions is None:
            finite = np.isfinite(trials["best_score"].to_numpy(dtype=float))
            notes = unfinished + _dropped_note(int((~finite).sum()), "without a finite best score")
            kept = trials[finite]
            if kept.empty:
                raise CompareError(f"{name or 'a sweep'} has no trial with a finite best score")
            return cls(kept["best_score"].to_numpy(dtype=float),
                       kept[["wi_seed", "do_seed"]].to_numpy(np.int64), task,
                       name=name, notes=notes, synthetic=synthetic)
        if task is None:
            raise CompareError(f"{name or 'a sweep'} has predictions but no task column: "
                               "name the task")
        if curves.empty:
            raise CompareError(f"{name or 'a sweep'} has no trial that ended")
        sweep = _from_predictions_table(validate_curves(curves), predictions, task, name)
        return replace(sweep, synthetic=synthetic, notes=unfinished + sweep.notes)


def _seed_array(seeds: np.ndarray, n: int) -> np.ndarray:
    seeds = np.asarray(seeds, dtype=np.int64)
    if seeds.shape != (n, 2):
        raise ValueError(f"expected {n} seed pairs of shape ({n}, 2), got {seeds.shape}")
    return seeds


def _dropped_note(count: int, why: str) -> tuple[str, ...]:
    return (f"{count} trial(s) {why} left out",) if count else ()


def _task_of(trials: pd.DataFrame, curves: pd.DataFrame, task: str | None,
             name: str) -> str | None:
    """The sweep's task: the one given, else the tables' ``task`` column (one value)."""
    found: set[str] = set()
    for table in (trials, curves):
        if "task" in table.columns:
            found |= {get_task(str(t)).name for t in table["task"].dropna().unique()}
    if len(found) > 1:
        raise CompareError(f"{name or 'a sweep'} mixes tasks: {', '.join(sorted(found))}")
    if task is not None:
        return get_task(task).name
    return found.pop() if found else None


def _from_predictions_table(curves: pd.DataFrame, predictions: pd.DataFrame, task: str,
                            name: str) -> SweepData:
    rank = ranked_scores(curves)
    # idxmax keeps the first of equal maxima: the earliest best evaluation, as trials_from_curves.
    best_row = pd.Series(rank, index=curves.index).groupby(curves["trial_id"]).idxmax()
    best = curves.loc[best_row.to_numpy(), ["trial_id", "eval_index", "wi_seed", "do_seed"]]
    finite = np.isfinite(rank[best_row.to_numpy()])
    notes = list(_dropped_note(int((~finite).sum()), "without a finite best score"))
    best = best[finite].reset_index(drop=True)

    # -1 for a trial left out above (or never in the curves): its rows are not taken.
    code = pd.Index(best["trial_id"]).get_indexer(predictions["trial_id"].astype(str))
    best_eval = best["eval_index"].to_numpy(np.int64)
    at_best = (code >= 0) & (predictions["eval_index"].to_numpy(np.int64)
                             == best_eval[np.maximum(code, 0)])
    rows = predictions.loc[at_best]
    code = code[at_best]
    if rows.empty:
        raise CompareError(f"{name or 'a sweep'}: no prediction at any trial's best evaluation")
    examples, col = np.unique(rows["example"].to_numpy(np.int64), return_inverse=True)
    labels = np.empty(len(examples), dtype=np.int8)
    labels[col] = rows["label"].to_numpy(np.int8)
    if (labels[col] != rows["label"].to_numpy(np.int8)).any():
        raise CompareError(f"{name or 'a sweep'}: an example's label differs between trials")
    preds = np.full((len(best), len(examples)), -1, dtype=np.int8)
    preds[code, col] = rows["pred"].to_numpy(np.int8)
    complete = (preds >= 0).all(axis=1)
    notes += _dropped_note(int((~complete).sum()),
                           "without a prediction for every dev example at their best "
                           "evaluation")
    if not complete.any():
        raise CompareError(f"{name or 'a sweep'} has no trial with predictions at its best "
                           "evaluation")
    best = best[complete]
    return SweepData.from_predictions(preds[complete], labels,
                                      best[["wi_seed", "do_seed"]].to_numpy(np.int64), task,
                                      examples=examples, name=name, notes=notes)


def load_sweep(path: str | Path | Sequence[str | Path], task: str | None = None,
               name: str | None = None) -> SweepData:
    """Read a results folder (``trials.parquet``, ``curves.parquet``, ``predictions.parquet``
    if recorded) into a :class:`SweepData` (see :meth:`SweepData.from_tables`).

    Several folders are read as one sweep: a grid run as one sweep per WI seed. Their
    tables are concatenated (predictions only when every folder recorded them), so a
    folder whose trials are all still running adds nothing instead of failing.

    Args:
        path: a results folder, or several.
        task: as in :meth:`SweepData.from_tables`.
        name: what messages call the sweep (default the folders, comma-separated).

    Raises:
        FileNotFoundError: a folder or one of its two tables is missing.
        ValueError: no folder given, a table lacks columns, or :class:`CompareError` from
            ``from_tables``.
    """
    paths = [path] if isinstance(path, str | os.PathLike) else list(path)
    if not paths:
        raise ValueError("no results folder given")
    name = ", ".join(map(str, paths)) if name is None else name
    parts = [load_results(p, predictions=True) for p in paths]
    trials, curves, predictions = parts[0] if len(parts) == 1 else _concat_tables(parts)
    return SweepData.from_tables(trials, curves, predictions, task=task, name=name)


def _concat_tables(parts: Sequence[tuple[pd.DataFrame, ...]]) -> tuple[pd.DataFrame | None, ...]:
    """Several sweeps' ``(trials, curves, predictions)`` as one sweep's.

    Ray's trial ids are unique within a sweep only: each is prefixed with its folder's
    index. Predictions are kept only when every folder has them (else None).
    """
    def tagged(i: int, table: pd.DataFrame) -> pd.DataFrame:
        return table.assign(trial_id=f"{i}/" + table["trial_id"].astype(str))

    out: list[pd.DataFrame | None] = []
    for which in range(3):
        tables = [part[which] for part in parts]
        out.append(None if any(t is None for t in tables) else
                   pd.concat([tagged(i, t) for i, t in enumerate(tables)], ignore_index=True))
    return tuple(out)


# ---------------------------------------------------------------------------------------
# Metrics of many trials on many resampled dev sets at once


def _column_products(p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``p @ w.T`` in float32, with equal columns of ``p`` merged first.

    Trials of a sweep agree on most examples (the easy ones every seed gets right), and
    examples that every trial predicts alike contribute alike: summing their weights
    first shrinks the product to the distinct columns. float32 is exact here (sums of
    small integers, far below 2**24) and halves the work of float64.
    """
    if p.shape[1] == 0:
        return np.zeros((p.shape[0], w.shape[0]), dtype=np.float32)
    distinct, group = np.unique(p, axis=1, return_inverse=True)
    if distinct.shape[1] > 0.8 * p.shape[1]:  # merging would cost more than it saves
        return p.astype(np.float32) @ w.T
    group = group.ravel()
    order = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[order], np.arange(distinct.shape[1]))
    merged = np.add.reduceat(w[:, order], starts, axis=1)
    return distinct.astype(np.float32) @ merged.T


def confusion_counts(preds: np.ndarray, labels: np.ndarray,
                     weights: np.ndarray) -> tuple[np.ndarray, ...]:
    """Confusion counts of every trial on every resampled dev set.

    Args:
        preds: ``(n, m)`` 0/1 predictions, one row per trial.
        labels: ``(m,)`` 0/1 labels.
        weights: ``(R, m)`` how many times each resample drew each example (a row of ones
            is the dev set itself).

    Returns:
        ``(tp, fp, fn, tn)``, each of shape ``(n, R)``, float64.

    >>> tp, fp, fn, tn = confusion_counts(np.array([[1, 1, 0]]), np.array([1, 0, 0]),
    ...                                   np.array([[1, 1, 1], [3, 0, 0]]))
    >>> tp.tolist(), fp.tolist(), fn.tolist(), tn.tolist()
    ([[1.0, 3.0]], [[1.0, 0.0]], [[0.0, 0.0]], [[1.0, 0.0]])
    """
    # Split by label, the positives' columns give TP and the negatives' FP: one pass over
    # the examples between them, and FN and TN follow from the weights' sums.
    p = np.asarray(preds, dtype=np.int8)
    w = np.asarray(weights, dtype=np.float32)
    pos = np.asarray(labels) == 1
    w_pos, w_neg = w[:, pos], w[:, ~pos]
    tp = _column_products(p[:, pos], w_pos).astype(np.float64)
    fp = _column_products(p[:, ~pos], w_neg).astype(np.float64)
    fn = w_pos.sum(axis=1, dtype=np.float64) - tp
    tn = w_neg.sum(axis=1, dtype=np.float64) - fp
    return tp, fp, fn, tn


def _metric(name: str, tp: np.ndarray, fp: np.ndarray, fn: np.ndarray,
            tn: np.ndarray) -> np.ndarray:
    # The same conventions as scikit-learn's, which Task.compute_metrics uses: F1 of label 1,
    # 0 when it is neither predicted nor present; MCC 0 when a marginal is empty.
    if name == "accuracy":
        return (tp + tn) / (tp + fp + fn + tn)
    if name == "f1":
        den = 2 * tp + fp + fn
        return np.divide(2 * tp, den, out=np.zeros_like(tp), where=den > 0)
    if name == "mcc":
        den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        return np.divide(tp * tn - fp * fn, den, out=np.zeros_like(tp), where=den > 0)
    raise ValueError(f"no vectorised form of the metric {name!r}")


def trial_scores(task: str, preds: np.ndarray, labels: np.ndarray,
                 weights: np.ndarray) -> np.ndarray:
    """The task's headline score of every trial on every resampled dev set, ``(n, R)``.

    The same numbers as :meth:`tune_seeds.trial.tasks.Task.compute_metrics` on the
    resampled predictions and labels (MRPC: mean of accuracy and F1; CoLA: MCC; RTE and
    SST-2: accuracy), from :func:`confusion_counts`.

    >>> preds, labels = np.array([[1, 1, 0, 0]]), np.array([1, 0, 0, 1])
    >>> trial_scores("mrpc", preds, labels, np.ones((1, 4))).tolist()
    [[0.5]]
    >>> get_task("mrpc").compute_metrics([1, 1, 0, 0], [1, 0, 0, 1])["score"]
    0.5
    """
    counts = confusion_counts(preds, labels, weights)
    return np.mean([_metric(m, *counts) for m in get_task(task).metric_names], axis=0)


# ---------------------------------------------------------------------------------------
# The Multi-Bootstrap


def draw_counts(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """``size`` draws of n indices out of n with replacement, as counts: ``(size, n)``.

    >>> counts = draw_counts(np.random.default_rng(0), 5, 3)
    >>> counts.shape, counts.sum(axis=1).tolist()
    ((3, 5), [5, 5, 5])
    """
    idx = rng.integers(0, n, size=(size, n)) + n * np.arange(size)[:, None]
    return np.bincount(idx.ravel(), minlength=size * n).reshape(size, n)


def p_value(deltas: np.ndarray, axis: int = -1) -> np.ndarray | float:
    """Two-sided bootstrap p-value ``2 * min(P(delta <= 0), P(delta >= 0))``, capped at 1."""
    d = np.asarray(deltas)
    p = np.minimum(1.0, 2 * np.minimum((d <= 0).mean(axis=axis), (d >= 0).mean(axis=axis)))
    return float(p) if np.ndim(p) == 0 else p


def paired_order(a: SweepData, b: SweepData) -> np.ndarray | None:
    """Where each of A's seed pairs is among B's, when both ran the same pairs once each.

    Returns:
        Indices into B's trials in A's order, or None when the designs differ (another
        set of pairs, or a pair run twice in a sweep).

    >>> a = SweepData.from_scores([0.8, 0.9], [[1, 1], [1, 2]])
    >>> paired_order(a, SweepData.from_scores([0.7, 0.6], [[1, 2], [1, 1]])).tolist()
    [1, 0]
    >>> paired_order(a, SweepData.from_scores([0.7], [[1, 1]])) is None
    True
    """
    ka = [tuple(s) for s in a.seeds.tolist()]
    kb = [tuple(s) for s in b.seeds.tolist()]
    if len(set(ka)) != len(ka) or len(set(kb)) != len(kb) or set(ka) != set(kb):
        return None
    where = {k: i for i, k in enumerate(kb)}
    return np.array([where[k] for k in ka], dtype=np.int64)


def on_shared_pairs(a: SweepData, b: SweepData) -> tuple[SweepData, SweepData]:
    """The two sweeps restricted to the seed pairs both ran, each with a note of what it
    left out: a smaller grid against a bigger one, or a grid still running against a
    finished one, compared pair by pair.

    >>> a = SweepData.from_scores([0.8, 0.9, 0.7], [[1, 1], [1, 2], [2, 1]])
    >>> x, y = on_shared_pairs(a, SweepData.from_scores([0.6, 0.5], [[2, 1], [3, 3]]))
    >>> x.seeds.tolist(), y.seeds.tolist(), x.scores.tolist()
    ([[2, 1]], [[2, 1]], [0.7])
    >>> y.notes
    ('1 trial(s) whose seed pair the other sweep did not run left out',)

    Raises:
        CompareError: no seed pair is in both.
    """
    pairs = [[tuple(p) for p in s.seeds.tolist()] for s in (a, b)]
    both = set(pairs[0]) & set(pairs[1])
    if not both:
        raise CompareError(f"{a.name or 'A'} and {b.name or 'B'} share no seed pair")
    out = []
    for s, own in zip((a, b), pairs, strict=True):
        keep = np.array([p in both for p in own], dtype=bool)
        note = _dropped_note(int((~keep).sum()), "whose seed pair the other sweep did not run")
        out.append(replace(s.take(np.flatnonzero(keep)), notes=s.notes + note))
    return out[0], out[1]


@dataclass(frozen=True)
class Design:
    """How two sweeps are compared: the sweeps as compared (B in A's trial order when
    paired, both reduced to scores when the examples cannot be resampled), and why."""

    a: SweepData
    b: SweepData
    paired: bool
    examples_resampled: bool
    task: str | None
    notes: tuple[str, ...]


def design(a: SweepData, b: SweepData, paired: bool | None = None) -> Design:
    """Check two sweeps can be compared and settle the design.

    Args:
        a, b: the sweeps.
        paired: None to detect it (paired when both ran the same seed pairs once each),
            False to treat them as independent, True to require the paired design.

    Raises:
        CompareError: different tasks, different dev sets (examples or labels), or
            ``paired=True`` for sweeps that did not run the same seed pairs.
    """
    name_a, name_b = a.name or "A", b.name or "B"
    if a.task is not None and b.task is not None and a.task != b.task:
        raise CompareError(f"the sweeps are of different tasks: {a.task} ({name_a}) and "
                           f"{b.task} ({name_b})")
    notes = [f"{name}: {note}" for name, s in ((name_a, a), (name_b, b)) for note in s.notes]
    examples = a.has_predictions and b.has_predictions
    if examples:
        same = (np.array_equal(a.examples, b.examples)
                and np.array_equal(a.labels, b.labels))
        if not same:
            raise CompareError(f"the sweeps' predictions are on different dev sets ({len(a.labels)}"
                               f" and {len(b.labels)} examples, or other labels)")
        if a.task is None or b.task is None:
            raise CompareError("the task is needed to score predictions")
    else:
        missing = [n for n, s in ((name_a, a), (name_b, b)) if not s.has_predictions]
        notes.append(f"seeds only: no per-example predictions in {' and '.join(missing)}, so "
                     "the trials' best scores are resampled and the dev set's sampling "
                     "noise is not in the interval")
        a, b = a.without_predictions(), b.without_predictions()
    order = paired_order(a, b) if paired is not False else None
    if paired and order is None:
        raise CompareError("paired=True but the sweeps did not run the same seed pairs once each")
    if order is not None:
        b = b.take(order)
    task = a.task or b.task
    return Design(a, b, order is not None, examples, task, tuple(notes))


@dataclass(frozen=True)
class Bootstrap:
    """The Multi-Bootstrap of ``delta = mean score of B - mean score of A``.

    Attributes:
        delta: the point estimate (the difference of the sweeps' mean best scores).
        ci_low, ci_high: the 2.5% and 97.5% percentiles of the resampled deltas.
        p_value: ``2 * min(P(delta_b <= 0), P(delta_b >= 0))``, capped at 1.
        paired, examples_resampled: the design (see :class:`Design`).
        deltas: the ``R`` resampled deltas.
        notes: what the design left out or fell back to.
    """

    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    paired: bool
    examples_resampled: bool
    deltas: np.ndarray = field(repr=False)
    notes: tuple[str, ...] = ()


def _sweep_means(d: Design, trials_a: np.ndarray, trials_b: np.ndarray,
                 weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Each resample's mean score of the drawn trials, for both sweeps.

    ``trials_*`` are ``(R, n)`` draw counts; ``weights`` the ``(R, m)`` example counts, or
    None to score each trial by its best score (seeds only).
    """
    means = []
    for s, counts in ((d.a, trials_a), (d.b, trials_b)):
        if weights is None:
            means.append(counts @ s.scores / s.n)
        else:
            scores = trial_scores(d.task, s.preds, s.labels, weights)  # (n, R)
            means.append(np.einsum("ri,ir->r", counts, scores) / s.n)
    return means[0], means[1]


@_one_blas_thread
def multi_bootstrap(
    a: SweepData | Design,
    b: SweepData | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
    paired: bool | None = None,
) -> Bootstrap:
    """The Multi-Bootstrap difference of mean best score, B - A (see the module's text).

    Args:
        a, b: the two sweeps, or a :class:`Design` alone.
        n_resamples: R, the number of bootstrap resamples.
        seed: seeds the draws (trials of A, trials of B and examples from separate
            streams, so the seeds-only comparison draws the same trials).
        paired: None to detect the paired design, True to require it, False to ignore it.

    Returns:
        :class:`Bootstrap`.
    """
    d = a if isinstance(a, Design) else design(a, b, paired)
    rng_a, rng_b, rng_examples = (np.random.default_rng(s)
                                  for s in np.random.SeedSequence(seed).spawn(3))
    trials_a = draw_counts(rng_a, d.a.n, n_resamples)
    trials_b = trials_a if d.paired else draw_counts(rng_b, d.b.n, n_resamples)
    weights = (draw_counts(rng_examples, len(d.a.labels), n_resamples)
               if d.examples_resampled else None)
    theta_a, theta_b = _sweep_means(d, trials_a, trials_b, weights)
    deltas = theta_b - theta_a
    low, high = np.percentile(deltas, [2.5, 97.5])
    return Bootstrap(float(d.b.scores.mean() - d.a.scores.mean()), float(low), float(high),
                     p_value(deltas), d.paired, d.examples_resampled, deltas, d.notes)


# ---------------------------------------------------------------------------------------
# Almost stochastic order


def _quantile_grid(grid: int) -> np.ndarray:
    # Midpoints: the integrals over (0, 1) by the midpoint rule, and no t at 0 or 1.
    return (np.arange(grid) + 0.5) / grid


def _quantiles(sorted_scores: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Empirical quantile function on ``t``: the ``ceil(n t)``-th smallest (last axis)."""
    n = sorted_scores.shape[-1]
    idx = np.clip(np.ceil(n * t).astype(np.int64) - 1, 0, n - 1)
    return sorted_scores[..., idx]


def _violation(qx: np.ndarray, qy: np.ndarray) -> np.ndarray:
    diff = qx - qy
    sq = diff * diff
    total = sq.sum(axis=-1)
    below = np.where(diff < 0, sq, 0.0).sum(axis=-1)
    # Equal quantile functions: 0/0, neither dominates.
    return np.divide(below, total, out=np.full_like(total, 0.5), where=total > 0)


def violation_ratio(x: np.ndarray, y: np.ndarray, grid: int = 500) -> float:
    """``eps_W(F_x, F_y)``: the violation ratio of "x stochastically dominates y".

    >>> violation_ratio([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])  # x above y everywhere
    0.0
    >>> violation_ratio([0.0, 1.0, 2.0], [1.0, 2.0, 3.0])
    1.0
    """
    t = _quantile_grid(grid)
    qx = _quantiles(np.sort(np.asarray(x, dtype=float)), t)
    qy = _quantiles(np.sort(np.asarray(y, dtype=float)), t)
    return float(_violation(qx, qy))


@dataclass(frozen=True)
class ASO:
    """Almost stochastic order of x over y.

    Attributes:
        eps_hat: the violation ratio on the data.
        eps_min: its upper confidence bound at ``confidence``; small means x dominates y.
        sigma: the bootstrap standard deviation of ``sqrt(n m/(n + m)) (eps* - eps_hat)``.
        confidence: ``1 - alpha``.
    """

    eps_hat: float
    eps_min: float
    sigma: float
    confidence: float


def aso(
    x: np.ndarray,
    y: np.ndarray,
    alpha: float = LEVEL,
    n_resamples: int = 1000,
    grid: int = 500,
    seed: int = 0,
) -> ASO:
    """Almost stochastic order of x over y (Dror et al. 2019; see the module's text).

    Args:
        x, y: the trials' scores of the two sweeps (n and m of them).
        alpha: significance level; the bound holds with confidence ``1 - alpha``.
        n_resamples: bootstrap resamples of both samples for ``sigma_hat``.
        grid: points of the quantile grid on (0, 1).
        seed: seeds the resamples.

    Returns:
        :class:`ASO`; ``eps_min < 0.5`` calls x almost stochastically better than y
        (``< 0.2`` in the stricter reading).
    """
    x = np.sort(np.asarray(x, dtype=float))
    y = np.sort(np.asarray(y, dtype=float))
    n, m = len(x), len(y)
    t = _quantile_grid(grid)
    eps_hat = float(_violation(_quantiles(x, t), _quantiles(y, t)))
    rng = np.random.default_rng(seed)
    xs = np.sort(x[rng.integers(0, n, size=(n_resamples, n))], axis=1)
    ys = np.sort(y[rng.integers(0, m, size=(n_resamples, m))], axis=1)
    eps_star = _violation(_quantiles(xs, t), _quantiles(ys, t))
    sigma = float(np.std(np.sqrt(n * m / (n + m)) * (eps_star - eps_hat), ddof=1))
    eps_min = eps_hat - np.sqrt((n + m) / (n * m)) * sigma * norm.ppf(alpha)
    return ASO(eps_hat, float(eps_min), sigma, 1 - alpha)


# ---------------------------------------------------------------------------------------
# How many seeds


def upward_ks(max_trials: int, start: int = 2) -> list[int]:
    """Candidate trial counts, upward: every k to 10, then steps of about 10%.

    >>> upward_ks(30)
    [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 21, 24, 27, 30]
    """
    ks, k = [], start
    while k <= max_trials:
        ks.append(k)
        k = k + 1 if k < 10 else int(np.ceil(k * 1.1))
    if ks and ks[-1] != max_trials:
        ks.append(max_trials)
    return ks


@dataclass(frozen=True)
class Power:
    """Bootstrap power of the comparison against the number of trials per sweep.

    Attributes:
        trials: the smallest k searched with power >= ``target``; None when even
            ``max_trials`` falls short (or the observed delta is 0).
        delta: the effect assumed, the observed delta.
        power: power at each k searched, in order (the search stops at ``trials``).
        repeats_used: simulated comparisons behind each k's power (fewer than
            ``repeats`` where the first batches put it clearly below the target).
        repeats, resamples: simulated comparisons per k at most, bootstrap resamples in
            each.
        target, level: the power wanted and the test's level.
        max_trials: where the search would have stopped.
    """

    trials: int | None
    delta: float
    power: dict[int, float]
    repeats_used: dict[int, int]
    repeats: int
    resamples: int
    target: float
    level: float
    max_trials: int


def _nested_trial_scores(d: Design, repeats: int, resamples: int,
                         rng: np.random.Generator, chunk: int = 16) -> tuple[np.ndarray, ...]:
    """Every trial's score in every resample of every simulated comparison: ``(P, R, n)``.

    A simulated comparison draws its dev set (m examples out of m), and each of its
    resamples draws m examples out of that draw; all trials' scores on those are computed
    once and shared by every k (common random numbers). Seeds only, the scores do not
    depend on the draws: ``(1, 1, n)``.
    """
    if not d.examples_resampled:
        return tuple(s.scores.astype(np.float32)[None, None, :] for s in (d.a, d.b))
    m = len(d.a.labels)
    out = [np.empty((repeats, resamples, s.n), dtype=np.float32) for s in (d.a, d.b)]
    for start in range(0, repeats, chunk):
        stop = min(start + chunk, repeats)
        outer = rng.integers(0, m, size=(stop - start, 1, m), dtype=np.int32)
        inner = np.take_along_axis(
            outer, rng.integers(0, m, size=(stop - start, resamples, m), dtype=np.int32), axis=2)
        rows = inner.shape[0] * resamples
        flat = inner.reshape(rows, m) + (m * np.arange(rows, dtype=np.int32))[:, None]
        weights = np.bincount(flat.ravel(), minlength=rows * m).reshape(rows, m)
        weights = weights.astype(np.float32)
        for s, o in zip((d.a, d.b), out, strict=True):
            scores = trial_scores(d.task, s.preds, s.labels, weights)  # (n, chunk * R)
            o[start:stop] = scores.T.reshape(stop - start, resamples, s.n)
    return out[0], out[1]


def _rejections(d: Design, k: int, scores_a: np.ndarray, scores_b: np.ndarray, repeats: int,
                resamples: int, level: float, rng: np.random.Generator) -> int:
    """How many of ``repeats`` simulated comparisons of k trials per sweep reject.

    ``scores_*`` are the trials' scores per simulated comparison and resample, ``(repeats,
    resamples, n)``, or ``(1, 1, n)`` seeds only (the same for all).
    """
    means = []
    idx = None
    for s, scores in ((d.a, scores_a), (d.b, scores_b)):
        if idx is None or not d.paired:
            # The k trials of a simulated sweep, then each resample's k draws among them.
            outer = rng.integers(0, s.n, size=(repeats, 1, k), dtype=np.int32)
            inner = rng.integers(0, k, size=(repeats, resamples, k), dtype=np.int32)
            idx = np.take_along_axis(outer, inner, axis=2)
        # Flat indices into the scores: one take instead of a fancy index per axis.
        offset = 0
        if scores.shape[0] > 1:
            n = scores.shape[2]
            offset = (np.arange(repeats, dtype=np.int64)[:, None, None] * (resamples * n)
                      + np.arange(resamples, dtype=np.int64)[None, :, None] * n)
        means.append(np.ascontiguousarray(scores).ravel().take(idx + offset)
                     .sum(axis=2, dtype=np.float64) / k)
    return int((p_value(means[1] - means[0], axis=1) <= level).sum())


def _clearly_below(power: float, repeats: int, target: float) -> bool:
    """Whether a power estimated on ``repeats`` comparisons is 3 standard errors (at the
    target) below it, so that the search can move on without the remaining batches."""
    return bool(power < target - 3 * np.sqrt(target * (1 - target) / repeats))


@_one_blas_thread
def bootstrap_power(
    a: SweepData | Design,
    b: SweepData | None = None,
    repeats: int = 200,
    resamples: int = 200,
    target: float = TARGET_POWER,
    level: float = LEVEL,
    max_trials: int | None = None,
    seed: int = 0,
    paired: bool | None = None,
    batch: int = 50,
) -> Power:
    """Trials per sweep for ``target`` power at the observed delta (see the module's text).

    Args:
        a, b: the two sweeps, or a :class:`Design` alone.
        repeats: simulated comparisons per k (P).
        resamples: bootstrap resamples in each simulated comparison (R).
        target: the power wanted (0.8).
        level: the test's level (0.05).
        max_trials: the largest k searched; default ``max(200, 2 * max(n_a, n_b))``.
        seed: seeds the draws; each k draws its trials from its own stream.
        paired: as in :func:`multi_bootstrap`.
        batch: simulated comparisons per batch: after each batch, a k whose power is
            clearly below the target (3 standard errors) is left for the next k.

    Returns:
        :class:`Power`.
    """
    d = a if isinstance(a, Design) else design(a, b, paired)
    max_trials = max(200, 2 * max(d.a.n, d.b.n)) if max_trials is None else max_trials
    delta = float(d.b.scores.mean() - d.a.scores.mean())
    batches = [(lo, min(lo + batch, repeats)) for lo in range(0, repeats, batch)]
    nested: dict[int, tuple[np.ndarray, ...]] = {}  # a batch's scores, made when first needed
    power: dict[int, float] = {}
    used: dict[int, int] = {}
    found = None
    for k in upward_ks(max_trials) if delta != 0 else []:
        rejected = 0
        for i, (lo, hi) in enumerate(batches):
            if i not in nested:
                nested[i] = _nested_trial_scores(d, hi - lo, resamples,
                                                 np.random.default_rng([seed, 0, i]))
            rejected += _rejections(d, k, *nested[i], hi - lo, resamples, level,
                                    np.random.default_rng([seed, k, i]))
            if hi < repeats and _clearly_below(rejected / hi, hi, target):
                break
        power[k], used[k] = rejected / hi, hi
        if hi == repeats and power[k] >= target:
            found = k
            break
    return Power(found, delta, power, used, repeats, resamples, target, level, max_trials)


# ---------------------------------------------------------------------------------------
# All of it


@dataclass(frozen=True)
class Comparison:
    """The comparison of two sweeps; :meth:`to_dict` is its JSON.

    Attributes:
        delta, ci_low, ci_high, p_value: the Multi-Bootstrap of B - A.
        aso_eps_min_b_over_a, aso_eps_min_a_over_b: ASO's eps_min (small: the first
            dominates), at ``aso_confidence``.
        trials_for_80_power: trials per sweep for 80% power at the observed delta (None:
            more than ``power.max_trials``, or not computed).
        n_a, n_b: trials compared in each sweep.
        paired, examples_resampled: the design.
        task, mean_a, mean_b: the task and each sweep's mean best score.
        n_resamples: resamples of the Multi-Bootstrap.
        note: the design's notes in one line.
        bootstrap, aso_b_over_a, aso_a_over_b, power: the full results.
        scores_a, scores_b: the trials' scores compared.
    """

    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    aso_eps_min_b_over_a: float
    aso_eps_min_a_over_b: float
    trials_for_80_power: int | None
    n_a: int
    n_b: int
    paired: bool
    examples_resampled: bool
    task: str | None
    mean_a: float
    mean_b: float
    n_resamples: int
    aso_confidence: float
    note: str
    bootstrap: Bootstrap = field(repr=False)
    aso_b_over_a: ASO = field(repr=False)
    aso_a_over_b: ASO = field(repr=False)
    power: Power | None = field(repr=False)
    scores_a: np.ndarray = field(repr=False)
    scores_b: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The numbers as JSON-ready values (the keys of ``compare_sweeps.py --json``)."""
        out: dict[str, Any] = {
            "delta": self.delta, "ci_low": self.ci_low, "ci_high": self.ci_high,
            "p_value": self.p_value, "aso_eps_min_b_over_a": self.aso_eps_min_b_over_a,
            "aso_eps_min_a_over_b": self.aso_eps_min_a_over_b,
            "trials_for_80_power": self.trials_for_80_power, "n_a": self.n_a, "n_b": self.n_b,
            "paired": self.paired, "examples_resampled": self.examples_resampled,
            "task": self.task, "mean_a": self.mean_a, "mean_b": self.mean_b,
            "n_resamples": self.n_resamples, "aso_confidence": self.aso_confidence,
            "aso_eps_hat_b_over_a": self.aso_b_over_a.eps_hat, "note": self.note,
        }
        if self.power is not None:
            out["power"] = {
                "assumed_delta": self.power.delta, "target": self.power.target,
                "level": self.power.level, "repeats": self.power.repeats,
                "resamples": self.power.resamples, "max_trials": self.power.max_trials,
                "by_trials": {str(k): v for k, v in self.power.power.items()},
                "repeats_by_trials": {str(k): v for k, v in self.power.repeats_used.items()},
            }
        return out


def compare_sweeps(
    a: SweepData | str | Path | Sequence[str | Path],
    b: SweepData | str | Path | Sequence[str | Path],
    n_resamples: int = 2000,
    seed: int = 0,
    paired: bool | None = None,
    shared_pairs: bool = False,
    alpha: float = LEVEL,
    aso_resamples: int = 1000,
    power: bool = True,
    power_repeats: int = 200,
    power_resamples: int = 200,
    max_trials: int | None = None,
) -> Comparison:
    """Compare sweep B with sweep A: Multi-Bootstrap, almost stochastic order and power.

    Args:
        a, b: results folders (one or several per side, see :func:`load_sweep`) or loaded
            :class:`SweepData`.
        n_resamples: resamples of the Multi-Bootstrap (R).
        seed: seeds every draw (each part from its own stream).
        paired: None detects the paired design; True requires it; False ignores it.
        shared_pairs: compare only the seed pairs both sweeps ran
            (:func:`on_shared_pairs`), which makes the design paired unless a sweep ran a
            pair twice or ``paired`` is False.
        alpha: the level of the test, of ASO's bound and of the power analysis.
        aso_resamples: bootstrap resamples of ASO's sigma.
        power: run the power analysis (the slowest part).
        power_repeats, power_resamples, max_trials: see :func:`bootstrap_power`.

    Raises:
        CompareError: the sweeps cannot be compared (different tasks or dev sets, or no
            shared seed pair with ``shared_pairs``).
        FileNotFoundError, ValueError: a folder is missing or not a sweep.
    """
    a = a if isinstance(a, SweepData) else load_sweep(a)
    b = b if isinstance(b, SweepData) else load_sweep(b)
    if shared_pairs:
        a, b = on_shared_pairs(a, b)
    d = design(a, b, paired)
    boot = multi_bootstrap(d, n_resamples=n_resamples, seed=seed)
    aso_ba = aso(d.b.scores, d.a.scores, alpha, aso_resamples, seed=seed)
    aso_ab = aso(d.a.scores, d.b.scores, alpha, aso_resamples, seed=seed)
    pw = (bootstrap_power(d, repeats=power_repeats, resamples=power_resamples, level=alpha,
                          max_trials=max_trials, seed=seed) if power else None)
    return Comparison(
        delta=boot.delta, ci_low=boot.ci_low, ci_high=boot.ci_high, p_value=boot.p_value,
        aso_eps_min_b_over_a=aso_ba.eps_min, aso_eps_min_a_over_b=aso_ab.eps_min,
        trials_for_80_power=None if pw is None else pw.trials, n_a=d.a.n, n_b=d.b.n,
        paired=d.paired, examples_resampled=d.examples_resampled, task=d.task,
        mean_a=float(d.a.scores.mean()), mean_b=float(d.b.scores.mean()),
        n_resamples=n_resamples, aso_confidence=1 - alpha, note="; ".join(d.notes),
        bootstrap=boot, aso_b_over_a=aso_ba, aso_a_over_b=aso_ab, power=pw,
        scores_a=d.a.scores, scores_b=d.b.scores,
    )
