"""Seed-aware comparison of two sweeps (tune_seeds.analysis.compare, compare_sweeps.py).

The sweeps are simulated with a known truth: each dev example j has a difficulty d_j and
each trial i a skill a_i ~ N(mu, sd), and the trial gets example j right with probability
Phi(a_i - d_j). With d_j ~ N(0, sd_d) the expected accuracy over seeds and data is
Phi(mu / sqrt(1 + sd**2 + sd_d**2)), so the true difference of two sweeps is known.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tune_seeds.analysis import (
    CompareError,
    SweepData,
    aso,
    bootstrap_power,
    compare_sweeps,
    multi_bootstrap,
)
from tune_seeds.analysis.compare import (
    design,
    load_sweep,
    on_shared_pairs,
    trial_scores,
    upward_ks,
)
from tune_seeds.tables import trials_from_curves
from tune_seeds.trial.tasks import get_task

from .test_analysis import _script

GRID = np.array([(wi, do) for wi in range(1, 6) for do in range(1, 6)])
ROOT = Path(__file__).resolve().parents[1]
RECORDED = ROOT / "experiments" / "results"


# ---------------------------------------------------------------------------------------
# Simulated sweeps


def dev_set(rng: np.random.Generator, m: int, positive: float = 0.68,
            sd_d: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Labels and difficulties of m dev examples drawn from the population."""
    return (rng.random(m) < positive).astype(np.int8), rng.normal(0.0, sd_d, m)


def final_predictions(rng: np.random.Generator, skills: np.ndarray, labels: np.ndarray,
                      difficulty: np.ndarray, uniforms: np.ndarray | None = None) -> np.ndarray:
    """(n, m) predictions: right with probability Phi(skill - difficulty)."""
    u = rng.random((len(skills), len(labels))) if uniforms is None else uniforms
    right = u < stats.norm.cdf(skills[:, None] - difficulty[None, :])
    return np.where(right, labels, 1 - labels).astype(np.int8)


def true_accuracy(mu: float, sd: float, sd_d: float = 1.0) -> float:
    """E[accuracy] over seeds and examples of the probit model."""
    return float(stats.norm.cdf(mu / np.sqrt(1 + sd**2 + sd_d**2)))


def training_run(rng: np.random.Generator, final: np.ndarray, labels: np.ndarray,
                 n_evals: int) -> np.ndarray:
    """(n_evals, n, m) predictions of a run: evaluation 0 predicts label 1 for every
    example (the untrained model), each later one is the final predictions with a share of
    examples answered at random, the share shrinking to 0 at the last evaluation."""
    n, m = final.shape
    out = np.empty((n_evals, n, m), dtype=np.int8)
    out[0] = 1
    for e in range(1, n_evals):
        noisy = rng.random((n, m)) < 0.6 * (n_evals - 1 - e) / max(n_evals - 1, 1)
        out[e] = np.where(noisy, rng.integers(0, 2, (n, m)), final)
    return out


def tables(run: np.ndarray, labels: np.ndarray, seeds: np.ndarray, task: str, tag: str,
           metrics: Callable[[np.ndarray, np.ndarray], dict[str, float]] | None = None,
           ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A sweep's three results tables from its predictions at every evaluation.

    Args:
        run: (E, n, m) predictions.
        labels: (m,) dev labels.
        seeds: (n, 2) seed pairs.
        task: the task (its metrics score the curves).
        tag: makes the trial ids of two sweeps differ.
        metrics: scores one trial's predictions (default the task's compute_metrics).
    """
    n_evals, n, m = run.shape
    task_ = get_task(task)
    metrics = metrics or task_.compute_metrics
    ids = [f"{tag}{i:04d}" for i in range(n)]
    rows = []
    for i in range(n):
        for e in range(n_evals):
            rows.append({"trial_id": ids[i], "wi_seed": int(seeds[i, 0]),
                         "do_seed": int(seeds[i, 1]), "eval_index": e, "step": 10 * e,
                         "epoch": e / 2, "train_loss": np.nan if e == 0 else 0.5,
                         "eval_loss": 0.6, **metrics(run[e, i], labels), "task": task_.name})
    curves = pd.DataFrame(rows)
    curves["best_score"] = curves.groupby("trial_id")["score"].cummax()
    trials = trials_from_curves(curves)
    pred = run.transpose(1, 0, 2).ravel()  # trial, then evaluation, then example
    predictions = pd.DataFrame({
        "trial_id": np.repeat(ids, n_evals * m),
        "eval_index": np.tile(np.repeat(np.arange(n_evals), m), n),
        "example": np.tile(np.arange(m), n * n_evals),
        "label": np.tile(labels, n * n_evals),
        "pred": pred,
        "prob": np.where(pred == 1, 0.8, 0.2),
    })
    return trials, curves, predictions


def write_sweep(folder: Path, run: np.ndarray, labels: np.ndarray, seeds: np.ndarray,
                task: str, predictions: bool = True, tag: str = "t",
                metrics: Callable[[np.ndarray, np.ndarray], dict[str, float]] | None = None,
                ) -> Path:
    """Write a simulated sweep as a results folder (``predictions=False``: none recorded)."""
    folder.mkdir(parents=True, exist_ok=True)
    trials, curves, preds = tables(run, labels, seeds, task, tag, metrics)
    trials.to_parquet(folder / "trials.parquet")
    curves.to_parquet(folder / "curves.parquet")
    if predictions:
        preds.to_parquet(folder / "predictions.parquet")
    return folder


def simulated_pair(rng: np.random.Generator, n: int, m: int, mu_a: float, mu_b: float,
                   paired: bool, sd_seed: float = 0.4, sd_trial: float = 0.3,
                   task: str = "sst2") -> tuple[SweepData, SweepData]:
    """Two sweeps on one dev set drawn afresh: a trial's skill is its sweep's mean, plus a
    seed effect shared by the two sweeps' trials of the same seed pair when ``paired``
    (sd ``sd_seed``), plus its own (sd ``sd_trial``)."""
    labels, difficulty = dev_set(rng, m)
    shared = rng.normal(0.0, sd_seed, n)
    own_a = shared if paired else rng.normal(0.0, sd_seed, n)
    skills_a = mu_a + own_a + rng.normal(0.0, sd_trial, n)
    skills_b = mu_b + shared + rng.normal(0.0, sd_trial, n)
    seeds = np.c_[np.arange(n), np.arange(n)]
    return (SweepData.from_predictions(final_predictions(rng, skills_a, labels, difficulty),
                                       labels, seeds, task),
            SweepData.from_predictions(final_predictions(rng, skills_b, labels, difficulty),
                                       labels, seeds if paired else seeds + n, task))


def repeat_bootstrap(repeats: int, n: int, m: int, mu_a: float, mu_b: float, paired: bool,
                     seed: int, **kwargs) -> tuple[float, np.ndarray, float]:
    """Coverage of the true difference and the p-values over repeated simulated sweeps, and
    the coverage of the seeds-only bootstrap on the same sweeps."""
    rng = np.random.default_rng(seed)
    sd = np.hypot(kwargs.get("sd_seed", 0.4), kwargs.get("sd_trial", 0.3))
    truth = true_accuracy(mu_b, sd) - true_accuracy(mu_a, sd)
    covered, seeds_only, p = [], [], []
    for r in range(repeats):
        a, b = simulated_pair(rng, n, m, mu_a, mu_b, paired, **kwargs)
        boot = multi_bootstrap(a, b, n_resamples=400, seed=r)
        assert boot.paired == paired and boot.examples_resampled
        covered.append(boot.ci_low <= truth <= boot.ci_high)
        p.append(boot.p_value)
        only = multi_bootstrap(a.without_predictions(), b.without_predictions(),
                               n_resamples=400, seed=r)
        seeds_only.append(only.ci_low <= truth <= only.ci_high)
    return float(np.mean(covered)), np.array(p), float(np.mean(seeds_only))


# ---------------------------------------------------------------------------------------
# The Multi-Bootstrap: calibration on simulated sweeps


@pytest.mark.parametrize("paired", [True, False])
def test_interval_covers_a_known_difference_about_95_percent(paired):
    coverage, p, seeds_only = repeat_bootstrap(300, 20, 150, 1.0, 1.2, paired, seed=11)
    # 300 repeats: a standard error of 1.3 points around 95%.
    assert 0.91 <= coverage <= 0.985
    assert (p < 0.05).mean() > 0.2  # the difference is found often
    if paired:
        # With the seeds' effect shared, what is left of the difference's noise is mostly
        # the dev set's, which resampling seeds alone leaves out (the paper's point).
        assert seeds_only < min(coverage - 0.03, 0.93)


@pytest.mark.parametrize("paired", [True, False])
def test_p_value_is_about_uniform_without_a_difference(paired):
    coverage, p, _ = repeat_bootstrap(300, 20, 150, 1.0, 1.0, paired, seed=12)
    assert 0.91 <= coverage <= 0.985
    for q, tol in ((0.05, 0.035), (0.2, 0.07), (0.5, 0.09)):
        assert abs((p < q).mean() - q) <= tol, (q, (p < q).mean())


def test_interval_is_conservative_when_seed_by_example_noise_dominates():
    """Resampling seeds and examples together counts the seed-by-example interaction three
    times (Owen's pigeonhole bootstrap): with almost no seed effect the interval is wider
    than 95% needs. Never narrower: that is the direction to err in."""
    coverage, p, _ = repeat_bootstrap(100, 20, 150, 1.0, 1.0, False, seed=13, sd_seed=0.05,
                                      sd_trial=0.05)
    assert coverage >= 0.97 and (p < 0.05).mean() <= 0.03


# ---------------------------------------------------------------------------------------
# Seeds only: the ordinary bootstrap, as scipy computes it


def seeds_only(scores, seeds, task="sst2"):
    return SweepData.from_scores(np.asarray(scores), np.asarray(seeds), task)


def scipy_interval(samples, statistic, paired, resamples, seed):
    ci = stats.bootstrap(samples, statistic, paired=paired, vectorized=True, method="percentile",
                         n_resamples=resamples, random_state=np.random.default_rng(seed),
                         confidence_level=0.95).confidence_interval
    return np.array([ci.low, ci.high])


@pytest.mark.parametrize("design_", ["one sweep", "unpaired", "paired"])
def test_seeds_only_interval_agrees_with_scipy_bootstrap(design_):
    rng = np.random.default_rng(5)
    x = rng.normal(0.85, 0.02, 30)
    y = x + rng.normal(0.01, 0.01, 30) if design_ == "paired" else rng.normal(0.86, 0.03, 40)
    grid = np.c_[np.arange(40), np.arange(40)]
    resamples = 5000
    if design_ == "one sweep":
        # A sweep whose trials all score 0 against B: B - A is B's mean.
        a, b = seeds_only(np.zeros(30), grid[:30] + 100), seeds_only(x, grid[:30])
        ref = scipy_interval((x,), lambda s, axis: s.mean(axis=axis), False, resamples, 1)
        spread = x.std() / np.sqrt(30)
    else:
        seeds_b = grid[:30] if design_ == "paired" else grid[:40] + 100
        a, b = seeds_only(x, grid[:30]), seeds_only(y, seeds_b)
        ref = scipy_interval((y, x), lambda s, t, axis: s.mean(axis=axis) - t.mean(axis=axis),
                             design_ == "paired", resamples, 1)
        spread = np.std(y - x) / np.sqrt(30) if design_ == "paired" else np.hypot(
            x.std() / np.sqrt(30), y.std() / np.sqrt(40))
    boot = multi_bootstrap(a, b, n_resamples=resamples, seed=2)
    assert boot.paired == (design_ == "paired") and not boot.examples_resampled
    assert boot.delta == pytest.approx(b.scores.mean() - a.scores.mean())
    # Monte-Carlo error of a 2.5% percentile at 5,000 resamples: about 0.04 standard errors
    # of the statistic each; 0.2 is five of the difference's.
    assert np.abs(np.array([boot.ci_low, boot.ci_high]) - ref).max() < 0.2 * spread


# ---------------------------------------------------------------------------------------
# Metrics recomputed on resampled examples


@pytest.mark.filterwarnings("ignore:A single label was found")
@pytest.mark.parametrize("task", ["mrpc", "cola", "sst2", "rte"])
def test_vectorised_metrics_equal_the_tasks_own_on_resampled_examples(task):
    rng = np.random.default_rng(3)
    m = 40
    labels = rng.integers(0, 2, m)
    preds = np.vstack([rng.integers(0, 2, (6, m)), np.zeros(m, int), np.ones(m, int),
                       labels, 1 - labels])
    weights = np.vstack([np.ones(m, int), rng.multinomial(m, np.ones(m) / m, size=20),
                         np.where(labels == 0, 1, 0)])  # a resample without a positive
    got = trial_scores(task, preds, labels, weights)
    metric = get_task(task).compute_metrics
    for r, w in enumerate(weights):
        for i, p in enumerate(preds):
            want = metric(np.repeat(p, w), np.repeat(labels, w))["score"]
            assert got[i, r] == pytest.approx(want, abs=1e-12)


def test_merging_equal_columns_changes_nothing():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 2, 300)
    base = rng.integers(0, 2, (1, 300))
    # Trials that disagree on few examples: most columns are equal and get merged.
    preds = np.where(rng.random((30, 300)) < 0.05, 1 - base, base)
    weights = rng.multinomial(300, np.ones(300) / 300, size=50)
    right = (preds == labels).astype(float) @ weights.T / 300
    assert np.allclose(trial_scores("sst2", preds, labels, weights), right, atol=1e-12)


# ---------------------------------------------------------------------------------------
# Almost stochastic order against a straightforward implementation of the paper's formula


def reference_violation(x, y):
    """eps_W(F_x, F_y) with exact integrals: the quantile functions are steps that change
    only at multiples of 1/n and 1/m, so integrate piece by piece between those."""
    x, y = np.sort(x), np.sort(y)
    n, m = len(x), len(y)
    cuts = np.unique(np.concatenate([np.arange(n + 1) / n, np.arange(m + 1) / m]))
    below = total = 0.0
    for lo, hi in itertools.pairwise(cuts):
        mid = (lo + hi) / 2  # F^-1(t) = the ceil(n t)-th smallest on (lo, hi)
        fx = x[int(np.ceil(n * mid)) - 1]
        gy = y[int(np.ceil(m * mid)) - 1]
        piece = (fx - gy) ** 2 * (hi - lo)
        total += piece
        below += piece if fx < gy else 0.0
    return below / total if total > 0 else 0.5


def reference_eps_min(x, y, alpha, resamples, seed):
    rng = np.random.default_rng(seed)
    n, m = len(x), len(y)
    eps_hat = reference_violation(x, y)
    boot = []
    for _ in range(resamples):
        xs = x[rng.integers(0, n, n)]
        ys = y[rng.integers(0, m, m)]
        boot.append(np.sqrt(n * m / (n + m)) * (reference_violation(xs, ys) - eps_hat))
    sigma = np.std(boot, ddof=1)
    return eps_hat, eps_hat - np.sqrt((n + m) / (n * m)) * sigma * stats.norm.ppf(alpha)


@pytest.mark.parametrize("shift", [0.0, 0.3, 1.0])
def test_aso_agrees_with_the_papers_formula(shift):
    rng = np.random.default_rng(7)
    x, y = rng.normal(shift, 1, 25), rng.normal(0, 1, 30)
    ref_hat, ref_min = reference_eps_min(x, y, 0.05, 400, seed=8)
    got = aso(x, y, alpha=0.05, n_resamples=2000, grid=1000, seed=9)
    assert got.eps_hat == pytest.approx(ref_hat, abs=0.01)  # a grid against exact integrals
    assert got.confidence == 0.95 and got.eps_min > got.eps_hat  # an upper bound
    # Different resamples: sigma agrees to its Monte-Carlo error (a few percent).
    assert got.eps_min == pytest.approx(ref_min, abs=0.1 * (ref_min - ref_hat) + 0.01)


def test_aso_on_the_checks_of_the_docs():
    rng = np.random.default_rng(10)
    same_x, same_y = rng.normal(0, 1, 2000), rng.normal(0, 1, 2000)
    assert aso(same_x, same_y, n_resamples=200).eps_hat == pytest.approx(0.5, abs=0.15)
    low, high = rng.normal(0, 1, 50), rng.normal(10, 1, 50)
    assert aso(high, low).eps_min == pytest.approx(0.0, abs=1e-9)  # far above: dominates
    assert aso(low, high).eps_min == pytest.approx(1.0, abs=1e-9)
    # The two directions' violation ratios add to 1.
    x, y = rng.normal(0.2, 1, 40), rng.normal(0, 1.5, 30)
    assert aso(x, y).eps_hat + aso(y, x).eps_hat == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------
# The design: pairing, tasks, dev sets


def test_paired_design_is_detected_and_aligned():
    rng = np.random.default_rng(1)
    a = seeds_only(rng.random(25), GRID)
    order = rng.permutation(25)
    b = seeds_only(a.scores[order] + 0.01, GRID[order])
    d = design(a, b)
    assert d.paired and np.array_equal(d.b.seeds, d.a.seeds)
    assert np.allclose(d.b.scores - d.a.scores, 0.01)
    # Every resample draws the same seed pairs: a constant difference has no spread.
    boot = multi_bootstrap(a, b, n_resamples=200)
    assert boot.paired and np.allclose(boot.deltas, 0.01)
    assert not design(a, b, paired=False).paired
    assert not design(a, seeds_only(b.scores[:20], b.seeds[:20])).paired  # other pairs
    twice = np.vstack([GRID[:24], GRID[:1]])
    assert not design(a, seeds_only(b.scores, twice)).paired  # a pair run twice
    with pytest.raises(CompareError, match="same seed pairs"):
        design(a, seeds_only(b.scores[:20], b.seeds[:20]), paired=True)


def test_different_tasks_and_dev_sets_are_refused():
    a = seeds_only([0.8, 0.9], GRID[:2], task="sst2")
    with pytest.raises(CompareError, match=r"different tasks: sst2 .* mrpc"):
        design(a, seeds_only([0.8, 0.9], GRID[:2], task="mrpc"))
    labels = np.array([0, 1, 1, 0])
    x = SweepData.from_predictions(np.array([[0, 1, 1, 1]]), labels, GRID[:1], "sst2")
    y = SweepData.from_predictions(np.array([[0, 1, 1]]), labels[:3], GRID[:1], "sst2")
    with pytest.raises(CompareError, match="different dev sets"):
        design(x, y)


# ---------------------------------------------------------------------------------------
# Results folders


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """Simulated results folders: MRPC A, MRPC B (same seeds, better), B without
    predictions, an SST-2 sweep, and a folder that is not a sweep."""
    root = tmp_path_factory.mktemp("sweeps")
    rng = np.random.default_rng(0)
    labels, difficulty = dev_set(rng, 120)
    shared = rng.normal(0, 0.4, len(GRID))
    out = {}
    for name, mu in (("a", 1.0), ("b", 1.4)):
        skills = mu + shared + rng.normal(0, 0.3, len(GRID))
        run = training_run(rng, final_predictions(rng, skills, labels, difficulty), labels, 5)
        out[name] = write_sweep(root / name, run, labels, GRID, "mrpc", tag=name)
        if name == "b":
            out["b_scores"] = write_sweep(root / "b_scores", run, labels, GRID, "mrpc",
                                          predictions=False, tag=name)
    run = training_run(rng, final_predictions(rng, shared + 1, labels, difficulty), labels, 3)
    out["sst2"] = write_sweep(root / "sst2", run, labels, GRID, "sst2", tag="s")
    out["not_a_sweep"] = root / "not_a_sweep"
    out["not_a_sweep"].mkdir()
    (out["not_a_sweep"] / "summary.csv").write_text("scheduler,best\nfifo,0.8\n")
    return out


def test_predictions_are_taken_at_each_trials_first_best_evaluation(folders, tmp_path):
    trials, curves, preds = tables(*tie_run(), GRID[:2], "mrpc", tag="t")
    sweep = SweepData.from_tables(trials, curves, preds)
    # Trial 0 scores the same at evaluations 1 and 2: the first is taken. Evaluation 0
    # (the untrained model) never counts once a trial trained: trial 1's best is its 2.
    run, _ = tie_run()
    assert np.array_equal(sweep.preds, np.vstack([run[1, 0], run[2, 1]]))
    assert np.allclose(sweep.scores, trials["best_score"])

    loaded = load_sweep(folders["a"])
    t = pd.read_parquet(folders["a"] / "trials.parquet")
    assert loaded.task == "mrpc" and loaded.n == len(GRID) and loaded.preds.shape == (25, 120)
    assert np.allclose(np.sort(loaded.scores), np.sort(t["best_score"]))


def tie_run() -> tuple[np.ndarray, np.ndarray]:
    """Two trials, three evaluations, six examples: trial 0 ties at evaluations 1 and 2
    (other predictions, same score); trial 1 is perfect at evaluation 0 only."""
    labels = np.array([1, 1, 1, 0, 0, 1], dtype=np.int8)
    run = np.array([
        [[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 1]],
        [[1, 1, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0]],
        [[1, 0, 1, 0, 0, 1], [1, 1, 1, 1, 1, 1]],
    ], dtype=np.int8)
    return run, labels


def test_compare_folders_with_predictions(folders):
    result = compare_sweeps(folders["a"], folders["b"], n_resamples=1000, power_repeats=100,
                            power_resamples=100)
    d = result.to_dict()
    for key in ("delta", "ci_low", "ci_high", "p_value", "aso_eps_min_b_over_a",
                "aso_eps_min_a_over_b", "trials_for_80_power", "n_a", "n_b", "paired",
                "examples_resampled"):
        assert key in d
    assert d["paired"] and d["examples_resampled"] and d["n_a"] == d["n_b"] == 25
    assert d["ci_low"] < d["delta"] < d["ci_high"] and d["delta"] > 0
    assert d["aso_eps_min_b_over_a"] < d["aso_eps_min_a_over_b"]
    json.dumps(d)  # JSON-ready
    # B without predictions: trials alone, and said so.
    only = compare_sweeps(folders["a"], folders["b_scores"], n_resamples=1000, power=False)
    assert not only.examples_resampled and "seeds only" in only.note
    assert only.delta == pytest.approx(result.delta)
    assert only.trials_for_80_power is None


def running(folder: Path, out: Path, pairs: list[tuple[int, int]]) -> Path:
    """A copy of a results folder in which the trials of ``pairs`` are still RUNNING."""
    out.mkdir(parents=True)
    for name in ("curves.parquet", "predictions.parquet"):
        if (folder / name).is_file():
            (out / name).write_bytes((folder / name).read_bytes())
    trials = pd.read_parquet(folder / "trials.parquet")
    hit = [(wi, do) in pairs for wi, do in zip(trials["wi_seed"], trials["do_seed"], strict=True)]
    trials.loc[hit, ["status", "stopped_by"]] = ["RUNNING", None]
    trials.to_parquet(out / "trials.parquet")
    return out


@pytest.mark.parametrize("source", ["a", "b_scores"])  # with and without predictions
def test_trials_that_did_not_end_are_left_out(folders, tmp_path, source):
    sweep = load_sweep(running(folders[source], tmp_path / "x", [(1, 1), (3, 4)]))
    full = load_sweep(folders[source])
    assert sweep.n == 23 and sweep.has_predictions == full.has_predictions
    assert not {(1, 1), (3, 4)} & {tuple(p) for p in sweep.seeds.tolist()}
    left = np.isin(full.seeds[:, 0] * 100 + full.seeds[:, 1], [101, 304])
    assert np.isclose(sweep.scores.sum(), full.scores[~left].sum())
    assert sweep.notes == ("2 trial(s) not TERMINATED (running, paused or in error) left out",)


def split_by_wi(folder: Path, root: Path) -> list[Path]:
    """A results folder as one folder per WI seed, as a grid run one row at a time writes."""
    tables = {name: pd.read_parquet(folder / f"{name}.parquet")
              for name in ("trials", "curves", "predictions")}
    ids = tables["trials"].set_index("trial_id")["wi_seed"]
    out = []
    for wi in sorted(ids.unique()):
        part = root / f"wi{wi}"
        part.mkdir(parents=True)
        for name, table in tables.items():
            table[table["trial_id"].map(ids) == wi].to_parquet(part / f"{name}.parquet")
        out.append(part)
    return out


def test_several_folders_are_one_sweep(folders, tmp_path):
    parts = split_by_wi(folders["a"], tmp_path / "rows")
    whole = load_sweep(folders["a"])
    sweep = load_sweep(parts)
    assert sweep.has_predictions and sweep.n == 25 and sweep.task == "mrpc"
    assert np.array_equal(sweep.seeds, GRID) and np.allclose(sweep.scores, whole.scores)
    assert np.array_equal(sweep.preds, whole.preds)
    # A row still running counts its finished trials; one without predictions makes the
    # whole side seeds only.
    (tmp_path / "rows" / "wi5").rename(tmp_path / "wi5")
    running(tmp_path / "wi5", parts[4], [(5, d) for d in range(1, 6)])
    assert load_sweep(parts).n == 20
    (parts[0] / "predictions.parquet").unlink()
    assert not load_sweep(parts).has_predictions
    with pytest.raises(ValueError, match="no results folder"):
        load_sweep([])


def test_shared_pairs_compare_a_smaller_grid_pair_by_pair():
    rng = np.random.default_rng(3)
    big = np.array([(wi, do) for wi in range(1, 11) for do in range(1, 11)])
    a = seeds_only(rng.normal(0.80, 0.02, 100), big)
    small = GRID[rng.permutation(25)]
    on_a = [int(np.flatnonzero((big == p).all(axis=1))[0]) for p in small]
    b = seeds_only(a.scores[on_a] - 0.03 + rng.normal(0, 0.005, 25), small)
    assert not compare_sweeps(a, b, power=False).paired  # 100 trials against 25
    c = compare_sweeps(a, b, shared_pairs=True, n_resamples=500, power=False)
    assert c.paired and c.n_a == c.n_b == 25
    assert c.delta == pytest.approx(np.mean(b.scores - a.scores[on_a]))
    assert "75 trial(s) whose seed pair the other sweep did not run left out" in c.note
    x, y = on_shared_pairs(b, a)
    assert y.n == 25 and x.notes == ()
    with pytest.raises(CompareError, match="share no seed pair"):
        on_shared_pairs(a, seeds_only([0.8], [[11, 11]]))


def test_power_agrees_with_a_direct_simulation_and_the_search_stops_at_the_first_k():
    """The vectorised power at one k against running the comparison itself on each
    simulated draw of k trials and the examples; then the upward search."""
    rng = np.random.default_rng(6)
    a, b = simulated_pair(rng, 20, 150, 1.0, 1.4, paired=True)
    k = 8
    power = bootstrap_power(a, b, repeats=200, resamples=200, max_trials=k, seed=1, batch=200)
    assert list(power.power) == upward_ks(k) and power.repeats_used[k] == 200
    draw = np.random.default_rng(2)
    rejected = 0
    for r in range(200):
        trials = draw.integers(0, a.n, k)  # the same seed pairs in both: paired
        examples = draw.integers(0, len(a.labels), len(a.labels))
        sub = [SweepData.from_predictions(s.preds[trials][:, examples], s.labels[examples],
                                          np.c_[np.arange(k), np.arange(k)], "sst2")
               for s in (a, b)]
        rejected += multi_bootstrap(*sub, n_resamples=200, seed=r).p_value <= 0.05
    # Two estimates of 200 repeats each: a standard error of about 0.05 between them.
    assert 0.2 < power.power[k] < 0.8
    assert power.power[k] == pytest.approx(rejected / 200, abs=0.15)

    search = bootstrap_power(a, b, max_trials=60, seed=1)
    found = search.trials
    assert found is not None and list(search.power)[-1] == found
    assert search.power[found] >= 0.8 and search.repeats_used[found] == 200
    assert all(p < 0.8 for p in list(search.power.values())[:-1])
    # Far below the target, one batch of 50 is enough to move on.
    assert min(search.repeats_used.values()) == 50


def test_larger_difference_needs_fewer_trials():
    rng = np.random.default_rng(8)
    a = seeds_only(rng.normal(0.80, 0.02, 25), GRID)
    near = bootstrap_power(a, seeds_only(rng.normal(0.81, 0.02, 25), GRID + 100), seed=1)
    far = bootstrap_power(a, seeds_only(rng.normal(0.83, 0.02, 25), GRID + 100), seed=1)
    assert far.trials is not None and (near.trials is None or far.trials < near.trials)
    none = bootstrap_power(a, seeds_only(a.scores, GRID + 100))  # no difference at all
    assert none.trials is None and none.power == {}


# ---------------------------------------------------------------------------------------
# The command line


def test_cli_report_json_and_figure(folders, tmp_path, capsys):
    cli = _script("compare_sweeps")
    out_json, fig = tmp_path / "out" / "cmp.json", tmp_path / "out" / "cmp.png"
    argv = [str(folders["a"]), str(folders["b"]), "--json", str(out_json), "--figure",
            str(fig), "--resamples", "500", "--seed", "3"]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "B - A = +" in text and "paired" in text and "eps_min(B over A)" in text
    assert "trials per sweep for 80% power" in text
    data = json.loads(out_json.read_text())
    assert data["n_resamples"] == 500 and data["paired"] and data["examples_resampled"]
    assert fig.stat().st_size > 10_000
    assert cli.main([str(folders["a"]), str(folders["b_scores"]), "--no-power",
                     "--resamples", "200"]) == 0
    assert "seeds only" in capsys.readouterr().out


def test_cli_reads_a_side_from_several_folders(folders, tmp_path, capsys):
    """A glob pattern or a comma-separated list: the same comparison as one folder."""
    cli = _script("compare_sweeps")
    parts = split_by_wi(folders["b"], tmp_path / "rows")
    (tmp_path / "rows" / "wi9").mkdir()  # a sweep that has not written its tables yet
    out = {}
    for side in (str(folders["b"]), str(tmp_path / "rows" / "wi*"),
                 ",".join(map(str, parts))):
        assert cli.main([str(folders["a"]), side, "--json", str(tmp_path / "c.json"),
                         "--resamples", "200", "--no-power"]) == 0
        out[side] = json.loads((tmp_path / "c.json").read_text())
        assert out[side]["b"] == side
    first, *others = out.values()
    for other in others:
        assert {k: other[k] for k in ("delta", "ci_low", "ci_high", "paired", "n_b")} == {
            k: first[k] for k in ("delta", "ci_low", "ci_high", "paired", "n_b")}
    assert "B  " + str(tmp_path / "rows" / "wi*") in capsys.readouterr().out


def test_cli_shared_pairs_on_the_recorded_sst2_sweeps(tmp_path, capsys):
    """AdamW's 10 x 10 grid against BERT Adam's 5 x 5, on the 25 pairs both ran."""
    a, b = RECORDED / "sst2-grid10-fifo", RECORDED / "sst2-grid5-bertadam-fifo"
    if not (a.is_dir() and b.is_dir()):
        pytest.skip("recorded sweeps absent")
    cli = _script("compare_sweeps")
    assert cli.main([str(a), str(b), "--shared-pairs", "--json", str(tmp_path / "c.json"),
                     "--resamples", "500", "--no-power"]) == 0
    data = json.loads((tmp_path / "c.json").read_text())
    assert data["paired"] and data["shared_pairs"] and data["n_a"] == data["n_b"] == 25
    assert not data["examples_resampled"] and "seeds only" in data["note"]
    assert data["ci_high"] < 0 and data["delta"] == pytest.approx(-0.0675, abs=5e-4)
    assert "75 trial(s) whose seed pair" in capsys.readouterr().out


@pytest.mark.parametrize("other, message", [
    ("sst2", "different tasks: mrpc"),
    ("not_a_sweep", "has no trials.parquet"),
    ("missing", "no such results directory"),
    ("missing*", "no results folder matches"),
])
def test_cli_refuses_with_one_line_and_status_2(folders, capsys, other, message):
    cli = _script("compare_sweeps")
    path = folders.get(other, folders["not_a_sweep"].parent / other)
    assert cli.main([str(folders["a"]), str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in captured.err


def test_cli_as_a_process_on_recorded_sweeps(tmp_path):
    """The recorded sweeps have no predictions: the seeds-only comparison, said so; and a
    real exit status 2 with one line for a missing folder."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    script = root / "experiments" / "compare_sweeps.py"
    a = root / "experiments" / "results" / "sst2-grid10-fifo"
    b = root / "experiments" / "results" / "sst2-grid5-bertadam-fifo"
    if not (a.is_dir() and b.is_dir()):
        pytest.skip("recorded sweeps absent")
    done = subprocess.run([sys.executable, str(script), str(a), str(b), "--json",
                           str(tmp_path / "c.json"), "--resamples", "500"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / "c.json").read_text())
    assert not data["examples_resampled"] and not data["paired"] and "seeds only" in data["note"]
    assert data["n_a"] == 100 and data["n_b"] == 25 and data["ci_high"] < 0
    done = subprocess.run([sys.executable, str(script), str(a), str(tmp_path / "nothing")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1


# ---------------------------------------------------------------------------------------
# The precision parity benchmark's verdict


def test_precision_parity_verdict_comes_from_the_comparison(tmp_path):
    """``--from-json`` recomputes the committed result's comparison and verdict from its
    trials: the committed numbers are current, and the old fields are kept."""
    import importlib.util

    path = ROOT / "benchmarks" / "bench_precision_parity.py"
    spec = importlib.util.spec_from_file_location("bench_precision_parity", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    committed = json.loads((ROOT / "benchmarks" / "results" / "precision_parity.json").read_text())
    saved = tmp_path / "parity.json"
    saved.write_text(json.dumps(committed))
    assert bench.main(["--from-json", str(saved)]) == 0
    result = json.loads(saved.read_text())
    assert result == committed
    c = result["comparison"]
    assert c["paired"] and not c["examples_resampled"] and c["n_a"] == c["n_b"] == 25
    for key in ("delta", "ci_low", "ci_high", "p_value", "aso_eps_min_b_over_a",
                "aso_eps_min_a_over_b", "trials_for_80_power"):
        assert key in c
    diffs = [t["bf16"] - t["fp32"] for t in result["trials"]]
    assert c["delta"] == pytest.approx(np.mean(diffs))
    within = c["ci_low"] >= -bench.MARGIN and c["ci_high"] <= bench.MARGIN
    assert result["verdict"] == (bench.VERDICT_OK if within else bench.VERDICT_NOT)
    assert result["rule"] == bench.RULE and "one_se_verdict" in result
    # A difference of 0.02 on every pair is outside the margin.
    worse = [{**t, "bf16": t["fp32"] - 0.02} for t in result["trials"]]
    assert bench.seed_comparison(worse)["verdict"] == bench.VERDICT_NOT
