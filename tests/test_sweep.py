"""End-to-end seed sweeps on a local Ray: every scheduler and search, retries, resume, CLI.

Trials are tiny (a one-layer model, 48 RTE-shaped examples in batches of 16, 2
epochs of 3 evaluations: 6 intervals per run), so a sweep takes seconds. Every trial is
deterministic given its (WI, DO) pair, so the FIFO sweep of the whole 2 x 3 grid
is the reference that paused, retried and resumed trials must reproduce exactly.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import ray
from ray.tune import Callback

from tune_seeds.reporting.report import format_summary, sweep_report
from tune_seeds.schedulers.kinds import hyperband_milestones
from tune_seeds.tables import load_results, read_table
from tune_seeds.trial.config import TrainConfig
from tune_seeds.tuning.results import ResultsTables
from tune_seeds.tuning.search import near_square_grid, random_pairs
from tune_seeds.tuning.spec import SchedulerSpec, SweepSpec
from tune_seeds.tuning.storage import load_spec
from tune_seeds.tuning.sweep import build_trainable, build_tuner, run_sweep

try:
    from tests.faults import failing_seed_trial
except ImportError:  # the test runner imported this module as top level
    from faults import failing_seed_trial

pytestmark = pytest.mark.ray

REPO = Path(__file__).resolve().parents[1]
TOTAL = 6  # evaluation intervals of a tiny run
CURVE_KEYS = ["eval_index", "step", "epoch", "train_loss", "eval_loss", "score", "best_score",
              "accuracy"]
TRIAL_KEYS = ["status", "stopped_by", "best_score", "best_step", "final_score", "evals_trained"]


def tiny_spec(glue_dir: Path, storage: Path, name: str, **overrides) -> SweepSpec:
    train = TrainConfig(task="rte", glue_dir=str(glue_dir), num_hidden_layers=1, batch_size=16,
                        epochs=2, evals_per_epoch=3)
    values = dict(train=train, search="grid", wi_seeds=(1, 2), do_seeds=(1, 2, 3),
                  num_samples=None, scheduler=SchedulerSpec("fifo"), storage_path=str(storage),
                  name=name, tables_every_s=0.0, checkpoint_every=0)
    values.update(overrides)
    return SweepSpec(**values)


def by_pair(df: pd.DataFrame) -> pd.DataFrame:
    return df.set_index(["wi_seed", "do_seed"]).sort_index()


def curves_by_pair(curves: pd.DataFrame) -> pd.DataFrame:
    return curves.set_index(["wi_seed", "do_seed", "eval_index"]).sort_index()[CURVE_KEYS[1:]]


def predictions_by_pair(trials: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    pairs = trials.set_index("trial_id")[["wi_seed", "do_seed"]]
    df = predictions.join(pairs, on="trial_id")
    keys = ["wi_seed", "do_seed", "eval_index", "example"]
    return df.set_index(keys).sort_index()[["label", "pred", "prob"]]


@pytest.fixture(scope="module")
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def reference(local_ray, glue_fixture_dir, tmp_path_factory):
    """The FIFO sweep of the full 2 x 3 grid: (trials, curves)."""
    spec = tiny_spec(glue_fixture_dir, tmp_path_factory.mktemp("ref"), "fifo-grid")
    run_sweep(spec, verbose=0, out=lambda _: None)
    return load_results(spec.tables_dir, predictions=True)


def test_fifo_grid_runs_every_pair_to_the_end(reference):
    trials, curves, _ = reference
    assert sorted(zip(trials.wi_seed, trials.do_seed, strict=True)) == [
        (1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)
    ]
    assert set(trials.status) == {"TERMINATED"}
    assert set(trials.stopped_by) == {"completed"}
    assert trials.evals_trained.tolist() == [TOTAL] * 6
    assert curves.groupby("trial_id").eval_index.apply(list).tolist() == [list(range(7))] * 6
    best = curves.groupby("trial_id").score.max()
    assert (trials.set_index("trial_id").best_score == best).all()
    assert set(curves.task) == {"rte"}
    report = sweep_report(trials, total_evals=TOTAL)
    assert (report["compute"]["evals_used"], report["compute"]["evals_fifo"]) == (36, 36)
    assert "6 completed" in format_summary(report)


def test_every_evaluation_s_predictions_are_kept_and_give_its_accuracy(reference,
                                                                      glue_fixture_dir):
    _, curves, predictions = reference
    dev_labels = pd.read_csv(glue_fixture_dir / "RTE" / "dev.tsv", sep="\t",
                             quoting=csv.QUOTE_NONE).label
    n_dev = len(dev_labels)
    assert list(predictions.columns[:6]) == ["trial_id", "eval_index", "example", "label",
                                            "pred", "prob"]
    assert len(predictions) == 6 * (TOTAL + 1) * n_dev
    for _, rows in predictions.groupby(["trial_id", "eval_index"]):
        assert rows.example.tolist() == list(range(n_dev))
        assert rows.label.tolist() == (dev_labels == "not_entailment").astype(int).tolist()
    accuracy = predictions.assign(right=predictions.pred == predictions.label).groupby(
        ["trial_id", "eval_index"]).right.mean()
    recorded = curves.set_index(["trial_id", "eval_index"]).accuracy
    assert (accuracy.loc[recorded.index] == recorded).all()
    assert ((predictions.prob > 0.5) == (predictions.pred == 1)).all()


def test_asha_random_stops_trials_only_at_rungs(reference, glue_fixture_dir, tmp_path):
    spec = tiny_spec(glue_fixture_dir, tmp_path, "asha", search="random", num_samples=5, seed=3,
                     scheduler=SchedulerSpec("asha", grace_period=1, reduction_factor=2,
                                             rank_by="last"))
    run_sweep(spec, verbose=0, out=lambda _: None)
    trials, curves = load_results(spec.tables_dir)
    pairs = list(zip(trials.wi_seed, trials.do_seed, strict=True))
    assert sorted(pairs) == sorted(random_pairs(5, (1, 2), (1, 2, 3), seed=3))
    for row in trials.itertuples():
        # ASHA's rungs with grace 1 and factor 2 below 6 intervals: 1, 2 and 4.
        expected = "completed" if row.evals_trained == TOTAL else "scheduler"
        assert row.stopped_by == expected
        assert row.evals_trained in {1, 2, 4, TOTAL}
    ref = curves_by_pair(reference[1])
    got = curves_by_pair(curves)
    pd.testing.assert_frame_equal(got, ref.loc[got.index])


def test_hyperband_optuna_pauses_and_resumes_exactly(reference, glue_fixture_dir, tmp_path):
    spec = tiny_spec(glue_fixture_dir, tmp_path, "hb", search="optuna", num_samples=6,
                     scheduler=SchedulerSpec("hyperband"))
    assert hyperband_milestones(TOTAL, 3) == {2}
    run_sweep(spec, verbose=0, out=lambda _: None)
    trials, curves = load_results(spec.tables_dir)
    assert len(set(zip(trials.wi_seed, trials.do_seed, strict=True))) == 6
    assert set(trials.evals_trained) <= {2, TOTAL}
    assert TOTAL in set(trials.evals_trained)
    # Paused at 2 with a checkpoint and resumed: the same curve as run straight through.
    pd.testing.assert_frame_equal(curves_by_pair(curves), curves_by_pair(reference[1]).loc[
        curves_by_pair(curves).index])
    got = predictions_by_pair(trials, load_results(spec.tables_dir, predictions=True)[2])
    ref = predictions_by_pair(reference[0], reference[2])
    pd.testing.assert_frame_equal(got, ref.loc[got.index])


def test_early_discard_keeps_the_best_half(reference, glue_fixture_dir, tmp_path):
    spec = tiny_spec(glue_fixture_dir, tmp_path, "ed", num_samples=4,
                     scheduler=SchedulerSpec("early-discard", discard_at=0.34, keep_share=0.5))
    run_sweep(spec, verbose=0, out=lambda _: None)
    trials, curves = load_results(spec.tables_dir)
    # The 2 x 2 corner of the grid. Expected decision from the reference curves: rank
    # by best score up to eval 2, ties to the smaller config (sorted JSON: do_seed
    # first), keep 2 of 4.
    ref = reference[1]
    ref = ref[ref.do_seed <= 2]
    # Ranked after training starts: evaluations 1 and 2 (not the untrained model's 0).
    after = ref[(ref.eval_index >= 1) & (ref.eval_index <= 2)]
    at_milestone = after.groupby(["wi_seed", "do_seed"]).score.max()
    ranked = sorted(at_milestone.items(), key=lambda kv: (-kv[1], kv[0][1], kv[0][0]))
    kept = {pair for pair, _ in ranked[:2]}
    t = by_pair(trials)
    assert sorted(t.index) == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert {p for p in t.index if t.loc[p, "stopped_by"] == "completed"} == kept
    assert sorted(t.evals_trained) == [2, 2, TOTAL, TOTAL]
    assert sweep_report(trials, total_evals=TOTAL)["compute"]["evals_used"] == 4 * 2 + 2 * (
        TOTAL - 2)
    pd.testing.assert_frame_equal(curves_by_pair(curves), curves_by_pair(ref).loc[
        curves_by_pair(curves).index])


def test_recompute_pause_mode_keeps_no_weights_and_gives_the_same_tables(
    reference, glue_fixture_dir, tmp_path
):
    scheduler = SchedulerSpec("early-discard", discard_at=0.34, keep_share=0.5)
    runs = {}
    for mode in ("checkpoint", "recompute"):
        spec = tiny_spec(glue_fixture_dir, tmp_path / mode, mode, num_samples=4,
                         scheduler=scheduler, pause_mode=mode, keep_checkpoints=True)
        run_sweep(spec, verbose=0, out=lambda _: None)
        runs[mode] = (spec, *load_results(spec.tables_dir))
    (_, t_ck, c_ck), (spec, t_re, c_re) = runs["checkpoint"], runs["recompute"]
    pd.testing.assert_frame_equal(by_pair(t_re)[TRIAL_KEYS], by_pair(t_ck)[TRIAL_KEYS])
    pd.testing.assert_frame_equal(curves_by_pair(c_re), curves_by_pair(c_ck))
    # The cut trials' last checkpoint is the milestone's: a position, no weights.
    kept = [Path(p) for p in Path(spec.experiment_path).glob("*/checkpoint_*")]
    files = sorted({f.name for d in kept for f in d.iterdir()})
    assert files == ["position.pt"]
    assert max(f.stat().st_size for d in kept for f in d.iterdir()) < 100_000


class RestoreLog(Callback):
    """Records (pair, eval_index, iterations_since_restore) of every report."""

    def __init__(self):
        self.rows = []

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.rows.append(((result["wi_seed"], result["do_seed"]), result["eval_index"],
                          result["iterations_since_restore"]))


def test_failed_trial_is_retried_from_its_checkpoint(reference, glue_fixture_dir, tmp_path):
    spec = tiny_spec(glue_fixture_dir, tmp_path, "retry", wi_seeds=(1,), do_seeds=(2, 3),
                     max_failures=1, checkpoint_every=2)
    fail_once = {"wi_seed": 1, "do_seed": 2, "eval_index": 3, "marker": str(tmp_path / "failed")}
    log = RestoreLog()
    trainable = build_trainable(spec, failing_seed_trial, fail_once=fail_once)
    tuner = build_tuner(spec, trainable=trainable, extra_callbacks=[log], verbose=0)
    tuner.fit()
    assert (tmp_path / "failed").exists()
    trials, curves = load_results(spec.tables_dir)
    assert set(trials.stopped_by) == {"completed"}
    # Failed after reporting eval 3; the retry restored the checkpoint of eval 2 and
    # reported 3..6 again (its first report after the restore is eval 3).
    faulty = [(k, n) for pair, k, n in log.rows if pair == (1, 2)]
    assert faulty == [(0, 1), (1, 2), (2, 3), (3, 4), (3, 1), (4, 2), (5, 3), (6, 4)]
    pd.testing.assert_frame_equal(curves_by_pair(curves), curves_by_pair(reference[1]).loc[
        curves_by_pair(curves).index])
    ref = by_pair(reference[0])[TRIAL_KEYS]
    pd.testing.assert_frame_equal(by_pair(trials)[TRIAL_KEYS], ref.loc[[(1, 2), (1, 3)]])


def test_results_tables_keep_the_last_row_per_evaluation(tmp_path):
    """A resumed trial's repeated evaluations replace the earlier ones."""

    class FakeTrial:  # the two attributes the callback reads
        def __init__(self, trial_id, status):
            self.trial_id, self.status = trial_id, status

    tables = ResultsTables(tmp_path, "rte", total_evals=2, write_every_s=0)
    trial = FakeTrial("t1", "RUNNING")
    row = dict(wi_seed=1, do_seed=2, step=0, epoch=0.0, train_loss=float("nan"), eval_loss=0.7,
               score=0.5, best_score=0.5, accuracy=0.5, time_total_s=1.0, node_id="n")
    for k, score in [(0, 0.5), (1, 0.9), (1, 0.6), (2, 0.7)]:
        tables.on_trial_result(0, [trial], trial, {**row, "eval_index": k, "step": k,
                                                   "score": score})
    tables.on_trial_complete(0, [trial], trial)
    tables.on_step_end(0, [trial])  # Tune marks the trial TERMINATED only later
    assert pd.read_parquet(tmp_path / "trials.parquet").status.tolist() == ["TERMINATED"]
    trial.status = "TERMINATED"
    tables.on_experiment_end([trial])
    trials, curves = load_results(tmp_path)
    assert curves.score.tolist() == [0.5, 0.6, 0.7]
    assert trials.loc[0, ["best_score", "best_step", "stopped_by", "status"]].tolist() == [
        0.7, 2, "completed", "TERMINATED"
    ]


# -- the command line -----------------------------------------------------------------


def run_cli(*args: str, env_extra: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env_extra or {})}
    return subprocess.Popen(
        [sys.executable, str(REPO / "experiments" / "run_sweep.py"), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO,
    )


def tiny_cli_args(glue_dir: Path, storage: Path, name: str) -> list[str]:
    return ["--task", "rte", "--glue-dir", str(glue_dir), "--num-hidden-layers", "1",
            "--batch-size", "16", "--epochs", "2", "--evals-per-epoch", "3",
            "--search", "grid", "--wi-seeds", "1-2", "--do-seeds", "1-3",
            "--scheduler", "fifo", "--checkpoint-every", "2", "--tables-every", "0",
            "--storage-path", str(storage), "--name", name, "--no-dashboard", "--verbose", "0"]


def test_sigint_then_resume_gives_the_uninterrupted_tables(reference, glue_fixture_dir,
                                                           tmp_path):
    args = tiny_cli_args(glue_fixture_dir, tmp_path, "cli")
    tables = tmp_path / "cli" / "trials.parquet"
    proc = run_cli(*args)
    deadline = time.monotonic() + 150
    finished = pd.DataFrame()
    while time.monotonic() < deadline and proc.poll() is None:
        if tables.exists():
            finished = read_table(tables).dropna(subset=["stopped_by"])
            if len(finished) >= 2:
                break
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()[0]
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 1, out
    assert "--resume --name cli" in out
    interrupted, _ = load_results(tmp_path / "cli")
    done = interrupted.dropna(subset=["stopped_by"])
    assert 2 <= len(done) < 6
    assert set(done.status) == {"TERMINATED"}
    assert set(interrupted.status) - {"TERMINATED"} <= {"INTERRUPTED", "PENDING"}

    resumed = run_cli("--resume", "--name", "cli", "--storage-path", str(tmp_path),
                      "--no-dashboard", "--verbose", "0")
    out = resumed.communicate(timeout=240)[0]
    assert resumed.returncode == 0, out
    assert "Sweep summary: rte, 6 trials (6 completed)" in out
    trials, curves = load_results(tmp_path / "cli")
    ref_trials, ref_curves, ref_predictions = reference
    pd.testing.assert_frame_equal(by_pair(trials)[TRIAL_KEYS], by_pair(ref_trials)[TRIAL_KEYS])
    pd.testing.assert_frame_equal(curves_by_pair(curves), curves_by_pair(ref_curves))
    pd.testing.assert_frame_equal(
        predictions_by_pair(trials, load_results(tmp_path / "cli", predictions=True)[2]),
        predictions_by_pair(ref_trials, ref_predictions))
    # Trials finished before the interruption were not run again: same id, same time.
    again = trials.set_index("trial_id").loc[done.trial_id, ["wall_s", "node_id"]]
    pd.testing.assert_frame_equal(again, done.set_index("trial_id")[["wall_s", "node_id"]])
    assert len(trials) == 6


BAD_INPUT = [
    (["--task", "qnli"], "unknown task 'qnli'"),
    (["--num-samples", "0"], "argument --num-samples: must be at least 1, got 0"),
    (["--num-samples", "-4"], "must be at least 1, got -4"),
    (["--wi-seeds", ""], "empty seed range"),
    (["--do-seeds", "3-1"], "'3-1' in '3-1' ends before it starts"),
    (["--wi-seeds", "1-x"], "malformed seed range item '1-x'"),
    (["--discard-at", "1.5"], "argument --discard-at: must be in (0, 1), got 1.5"),
    (["--keep", "0"], "argument --keep-share/--keep: must be in (0, 1], got 0.0"),
    (["--keep-share", "1.5"], "argument --keep-share/--keep: must be in (0, 1], got 1.5"),
    (["--reduction-factor", "1"], "argument --reduction-factor: must be above 1, got 1.0"),
    (["--scheduler", "median"], "argument --scheduler: invalid choice: 'median'"),
    (["--search", "random"], "--search random needs --num-samples"),
    (["--cohort-size", "1"], "--cohort-size must be at least 2, got 1"),
    (["--scheduler", "asha", "--grace-period", "6"], "--grace-period 6 must be below the 6"),
    (["--search", "random", "--num-samples", "7"], "more than the 6 distinct (WI, DO) pairs"),
    (["--address", "127.0.0.1:9"], "--address '127.0.0.1:9': cannot reach 127.0.0.1:9"),
    (["--address", "nonsense"], "expected auto, host:port or ray://host:port"),
]


@pytest.mark.parametrize(("extra", "message"), BAD_INPUT)
def test_bad_input_exits_2_and_writes_nothing(glue_fixture_dir, tmp_path, capsys, extra,
                                              message):
    from experiments.run_sweep import main

    storage = tmp_path / "store"
    with pytest.raises(SystemExit) as exc:
        main([*tiny_cli_args(glue_fixture_dir, storage, "bad"), *extra])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not storage.exists()


def test_missing_data_and_unknown_resume_exit_2(tmp_path, capsys):
    from experiments.run_sweep import main

    storage = tmp_path / "store"
    with pytest.raises(SystemExit) as exc:
        main(tiny_cli_args(tmp_path / "no-glue", storage, "bad"))
    assert exc.value.code == 2
    assert "GLUE data directory (from --glue-dir) does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--resume", "--name", "nothing-here", "--storage-path", str(storage)])
    assert exc.value.code == 2
    assert "--resume: no sweep named 'nothing-here'" in capsys.readouterr().err
    assert not storage.exists()


def test_help_explains_the_options(capsys):
    from experiments.run_sweep import main

    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for option in ("--quick", "--search", "--scheduler", "--discard-at", "--address",
                   "--gpus-per-trial", "--resume", "--max-failures", "--storage-path"):
        assert option in text


def test_spec_round_trips_through_sweep_json(glue_fixture_dir, tmp_path):
    from tune_seeds.tuning.storage import code_version, save_spec, version_notice

    spec = tiny_spec(glue_fixture_dir, tmp_path, "saved", search="random", num_samples=3,
                     scheduler=SchedulerSpec("early-discard", cohort_size=4, keep_share=0.25))
    save_spec(spec)
    saved = json.loads((tmp_path / "saved" / "sweep.json").read_text())
    assert saved["search"] == "random" and saved["code_version"] == code_version()
    assert load_spec(str(tmp_path), "saved") == spec
    assert version_notice(str(tmp_path), "saved") is None
    saved["code_version"] = "0.0.1 (git 0000000)"
    (tmp_path / "saved" / "sweep.json").write_text(json.dumps(saved))
    assert load_spec(str(tmp_path), "saved") == spec
    assert "started by tune-seeds 0.0.1 (git 0000000)" in version_notice(str(tmp_path), "saved")
    del saved["code_version"]  # saved before versions were recorded
    (tmp_path / "saved" / "sweep.json").write_text(json.dumps(saved))
    assert version_notice(str(tmp_path), "saved") is None
    assert replace(spec, name="x").experiment_path == f"{tmp_path}/x"
    assert near_square_grid(4, spec.wi_seeds, spec.do_seeds) == [(1, 1), (1, 2), (2, 1), (2, 2)]
