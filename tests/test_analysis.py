"""Analysis library: EVP against brute force, variance views, failures, consistency, tables."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pandas as pd
import pytest

from tune_seeds.analysis import (
    best_vs_worst_anova,
    default_ns,
    expected_max,
    expected_validation_performance,
    factor_sd,
    failed_runs,
    heatmap_table,
    max_weights,
    seed_consistency,
    seed_means,
    two_way_anova,
)
from tune_seeds.replay.synthetic import synthetic_curves
from tune_seeds.tables import (
    CURVES_COLUMNS,
    TRIALS_COLUMNS,
    is_synthetic,
    load_any,
    load_results,
    read_table,
    trials_from_curves,
    validate_curves,
)
from tune_seeds.tuning.results import write_atomic


def brute_force_max(scores, n, replace):
    """Mean and sd of the max over every n-draw, enumerated (ordered tuples or subsets)."""
    draws = (
        itertools.product(scores, repeat=n) if replace else itertools.combinations(scores, n)
    )
    maxima = np.array([max(d) for d in draws])
    return maxima.mean(), maxima.std()


@pytest.mark.parametrize("replace", [True, False])
def test_evp_matches_enumeration_with_ties(replace):
    scores = [0.61, 0.7, 0.7, 0.55, 0.82, 0.7]  # ties on purpose
    for n in range(1, 5):
        mean, sd = expected_max(scores, n, replace=replace)
        bf_mean, bf_sd = brute_force_max(scores, n, replace)
        assert mean == pytest.approx(bf_mean, abs=1e-12)
        assert sd == pytest.approx(bf_sd, abs=1e-9)


def test_evp_table_and_edges():
    table = expected_validation_performance([0.3, 0.1, float("nan"), 0.2], ns=[1, 3, 10])
    assert table["n"].tolist() == [1, 3, 10]
    assert table["mean"].iloc[0] == pytest.approx(0.2)
    assert table["mean"].is_monotonic_increasing
    assert (table["upper"] <= 0.3 + 1e-12).all()
    assert max_weights(5, 3).sum() == pytest.approx(1.0)
    assert max_weights(5, 5, replace=False).tolist() == [0, 0, 0, 0, 1]
    with pytest.raises(ValueError, match="without replacement"):
        max_weights(3, 4, replace=False)
    with pytest.raises(ValueError, match="finite score"):
        expected_max([float("nan")], 1)
    assert default_ns(12) == [1, 5, 10, 12]
    assert default_ns(10) == [1, 5, 10]


def grid(values: np.ndarray) -> pd.DataFrame:
    """Trials table of a WI x DO grid (rows = WI seeds 1.., columns = DO seeds 1..)."""
    wi, do = np.meshgrid(np.arange(values.shape[0]) + 1, np.arange(values.shape[1]) + 1,
                         indexing="ij")
    return pd.DataFrame({
        "trial_id": [f"t{i}" for i in range(values.size)],
        "wi_seed": wi.ravel(), "do_seed": do.ravel(), "best_score": values.ravel(),
    })


def test_factor_sd_exact_numbers():
    # Score depends on WI only: with WI fixed nothing varies.
    values = np.array([[0.5, 0.5, 0.5], [0.7, 0.7, 0.7], [0.9, 0.9, 0.9]])
    sd = factor_sd(grid(values))
    assert sd.do_varying_wi_fixed == 0.0
    assert sd.wi_varying_do_fixed == pytest.approx(0.2)
    assert sd.overall == pytest.approx(np.std(values, ddof=1))


def test_two_way_anova_shares_add_up_and_match_manual():
    rng = np.random.default_rng(3)
    values = rng.normal(0, 0.1, (5, 1)) + rng.normal(0, 0.02, (1, 4)) + rng.normal(0, 0.01, (5, 4))
    table = two_way_anova(grid(values))
    assert list(table.index) == ["wi_seed", "do_seed", "residual"]
    assert table["share"].sum() == pytest.approx(1.0)  # balanced grid: orthogonal effects
    ss_wi = 4 * ((values.mean(axis=1) - values.mean()) ** 2).sum()
    assert table.loc["wi_seed", "sum_sq"] == pytest.approx(ss_wi)
    assert table.loc["wi_seed", "share"] > table.loc["do_seed", "share"]
    with pytest.raises(ValueError, match="two WI seeds"):
        two_way_anova(grid(values[:1]))


def test_best_vs_worst_and_seed_means():
    values = np.array([[0.5, 0.52, 0.51], [0.9, 0.88, 0.91], [0.7, 0.71, 0.69]])
    res = best_vs_worst_anova(grid(values), "wi_seed")
    assert (res.best_seed, res.worst_seed) == (2, 1)
    assert res.p_value < 1e-4
    assert seed_means(grid(values), "wi_seed").index.tolist() == [2, 3, 1]
    heat = heatmap_table(grid(values))
    assert heat.loc[2, 3] == 0.91 and heat.shape == (3, 3)
    with pytest.raises(ValueError, match="factor must be"):
        seed_means(grid(values), "lr")


def test_failed_runs_threshold_and_per_seed():
    values = np.array([[0.74, 0.8], [0.75, 0.9]])
    trials = grid(values)
    summary = failed_runs(trials, threshold=0.75)
    assert (summary.n_failed, summary.n_trials, summary.rate) == (2, 4, 0.5)
    assert summary.failed_ids == ("t0", "t2")
    assert summary.per_seed["do_seed"].loc[1, "failed"] == 2
    assert summary.per_seed["wi_seed"]["failed"].tolist() == [1, 1]
    trials["task"] = "MRPC"
    assert failed_runs(trials).threshold == 0.75
    with pytest.raises(ValueError, match="give one"):
        failed_runs(grid(values))


def test_seed_consistency_reversed_ranks():
    a = grid(np.array([[0.1, 0.1], [0.2, 0.2], [0.3, 0.3], [0.4, 0.4]]))
    b = grid(np.array([[0.9, 0.9], [0.7, 0.7], [0.6, 0.6], [0.1, 0.1]]))
    res = seed_consistency(a, b)
    assert res.rho == pytest.approx(-1.0) and res.n_seeds == 4
    assert res.table["rank_a"].tolist() == [4.0, 3.0, 2.0, 1.0]


def test_synthetic_is_labelled_and_in_schema():
    curves = synthetic_curves(3, 4, n_evals=30, seed=2)
    assert set(CURVES_COLUMNS) <= set(curves.columns)
    assert is_synthetic(curves) and (curves["task"] == "synthetic").all()
    assert len(curves) == 12 * 31
    assert (curves.groupby("trial_id")["best_score"].diff().dropna() >= 0).all()
    assert synthetic_curves(3, 4, seed=2).equals(curves)  # seeded


def test_tables_roundtrip_and_errors(tmp_path):
    curves = synthetic_curves(2, 3, seed=0)
    trials = trials_from_curves(curves)
    assert list(trials.columns[: len(TRIALS_COLUMNS)]) == list(TRIALS_COLUMNS)
    one = curves[curves["trial_id"] == trials["trial_id"].iloc[0]]
    assert trials["best_score"].iloc[0] == one["score"].max()
    assert trials["evals_trained"].tolist() == [30] * 6
    curves.to_parquet(tmp_path / "curves.parquet")
    trials.to_parquet(tmp_path / "trials.parquet")
    t2, c2 = load_results(tmp_path)
    assert len(t2) == 6 and len(c2) == 6 * 31 and is_synthetic(c2)
    curves.drop(columns=["score"]).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match=r"lacks the column\(s\) score"):
        load_any(tmp_path / "bad.csv")
    with pytest.raises(FileNotFoundError, match="no such results directory"):
        load_results(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match=r"no trials\.parquet"):
        load_results(_only_curves(tmp_path))
    assert len(load_any(_only_curves_dir(tmp_path))[0]) == 2  # trials rebuilt from curves
    # A resumed trial reports steps twice: the last row wins.
    dup = pd.concat([curves, curves.iloc[[5]].assign(score=0.0)])
    assert validate_curves(dup).iloc[5]["score"] == 0.0


def test_a_table_replaced_while_read_is_read_whole(tmp_path):
    # A sweep replaces its tables while others (the progress view, a watcher) read
    # them: every read must see one whole version, old or new.
    path = tmp_path / "trials.parquet"
    small, large = (synthetic_curves(n, 2, seed=0) for n in (1, 40))
    write_atomic(small, path)
    stop = threading.Event()

    def rewrite():
        while not stop.is_set():
            for frame in (large, small):
                write_atomic(frame, path)

    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        lengths = {len(read_table(path)) for _ in range(300)}
    finally:
        stop.set()
        writer.join()
    assert lengths <= {len(small), len(large)}


def _only_curves(tmp_path, name="only_curves"):
    d = tmp_path / name
    d.mkdir()
    synthetic_curves(1, 2, seed=0).to_parquet(d / "curves.parquet")
    return d


def _only_curves_dir(tmp_path):
    return _only_curves(tmp_path, "only_curves_2")


def _script(name):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "experiments" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_analyze_cli_on_results_dir(tmp_path, capsys):
    import json

    curves = synthetic_curves(4, 5, seed=3)
    trials = trials_from_curves(curves)
    trials.to_parquet(tmp_path / "trials.parquet")
    curves.to_parquet(tmp_path / "curves.parquet")
    analyze = _script("analyze")
    out_json, figs = tmp_path / "out" / "report.json", tmp_path / "figs"
    assert analyze.main([str(tmp_path), "--json", str(out_json), "--figures", str(figs),
                         "--threshold", "0.7"]) == 0
    printed = capsys.readouterr().out
    assert "Expected best score of n trials" in printed and "[SYNTHETIC DATA]" in printed
    report = json.loads(out_json.read_text())
    assert [r["n"] for r in report["expected_best"]] == [1, 5, 10, 15, 20]
    assert report["expected_best"][1]["mean"] == pytest.approx(
        expected_max(trials["best_score"], 5)[0])
    assert report["variance"]["overall"] == pytest.approx(trials["best_score"].std())
    assert report["failures"]["threshold"] == 0.7
    assert report["anova"]["residual"]["df"] == 12.0
    assert sorted(p.name for p in figs.iterdir()) == [
        "curves.png", "expected_best.png", "heatmap.png", "seed_means.png"]


def test_analyze_plan_json_has_one_record_per_budget(tmp_path):
    import json

    curves = synthetic_curves(4, 5, seed=3)
    curves.to_parquet(tmp_path / "curves.parquet")
    trials_from_curves(curves).to_parquet(tmp_path / "trials.parquet")
    out = tmp_path / "plan.json"
    assert _script("analyze").main([str(tmp_path), "--plan", "5,10", "--resamples", "200",
                                    "--json", str(out)]) == 0
    records = json.loads(out.read_text())["planner"]
    assert [r["budget"] for r in records] == [5, 10]
    for r in records:
        assert {"budget", "started", "kept", "cut_after", "expected_best", "se",
                "no_early_stopping", "rule_of_thumb"} <= set(r)
        assert set(r["rule_of_thumb"]) >= {"started", "kept", "cut_after", "expected_best"}
        assert r["started"] * r["cut_after"] + r["kept"] * (30 - r["cut_after"]) == \
            r["budget"] * 30


def test_clis_reject_bad_input_with_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    synthetic_curves(2, 2, seed=0).drop(columns=["eval_index"]).to_csv(bad, index=False)
    out = tmp_path / "out.json"
    with pytest.raises(SystemExit) as exc:
        _script("analyze").main([str(bad), "--json", str(out)])
    assert exc.value.code == 2 and not out.exists()
    assert "eval_index" in capsys.readouterr().err
    compare = _script("compare_schedulers")
    good = tmp_path / "curves.parquet"
    synthetic_curves(2, 2, seed=0).to_parquet(good)
    for args, message in [
        (["--curves", str(tmp_path / "missing.parquet")], "no such file"),
        (["--curves", str(good), "--schedulers", "fifo,pbt"], "unknown scheduler"),
        (["--curves", str(good), "--budget", "1"], "at least 2"),
    ]:
        with pytest.raises(SystemExit) as exc:
            compare.main([*args, "--out", str(tmp_path / "cmp")])
        assert exc.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "cmp").exists()
