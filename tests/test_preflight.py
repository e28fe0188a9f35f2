"""What is refused before a sweep starts, and the plan that --dry-run prints.

Every bad case goes through the command line (``experiments/run_sweep.py``'s
``main``): exit code 2, a one-line message, and nothing written, neither the
experiment folder nor the tokenization cache. The pieces are pure functions,
tested without Ray.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from tune_seeds.trial import model
from tune_seeds.trial.config import TrainConfig
from tune_seeds.tuning import dryrun, preflight
from tune_seeds.tuning.dryrun import Probe, estimate_wall_s, paused_checkpoints, sweep_compute
from tune_seeds.tuning.preflight import PreflightError, check_storage, wait_for_resources
from tune_seeds.tuning.spec import SchedulerSpec, SweepSpec

from .test_sweep import tiny_cli_args


@pytest.fixture
def cli(glue_fixture_dir, tmp_path, capsys):
    """``main`` on the tiny 2 x 3 grid with its own cache; returns (exit code, stdout,
    stderr) and checks that a failure wrote nothing."""
    from experiments.run_sweep import main

    def run(*extra: str, glue_dir: Path = glue_fixture_dir) -> tuple[int, str, str]:
        args = [*tiny_cli_args(glue_dir, tmp_path / "store", "plan"),
                "--cache-dir", str(tmp_path / "cache"), *extra]
        try:
            code = main(args)
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        if code != 0:
            assert not (tmp_path / "store").exists()
            assert not (tmp_path / "cache").exists()
        return code, out, err

    return run


def error_line(err: str) -> str:
    """argparse's error line (the line before it is the usage)."""
    lines = err.strip().splitlines()
    prog, sep, message = lines[-1].partition(": error: ")
    assert sep and " " not in prog, err
    return message


def test_too_many_cpus_per_trial_exits_2_at_once(cli):
    cpus = preflight.local_cpus()
    start = time.monotonic()
    code, _, err = cli("--cpus-per-trial", str(cpus + 1))
    assert time.monotonic() - start < 10
    assert code == 2
    assert error_line(err).startswith(
        f"--cpus-per-trial {cpus + 1}: a trial needs {cpus + 1} CPUs, but the embedded Ray has "
        f"{cpus} CPU"
    )


@pytest.mark.skipif(torch.cuda.device_count() > 0, reason="this machine has a GPU")
def test_a_gpu_without_one_exits_2(cli):
    code, _, err = cli("--gpus-per-trial", "1")
    assert code == 2
    assert "--gpus-per-trial 1: a trial needs 1 GPU, but the embedded Ray has" in err
    assert "and 0 GPUs on this machine" in error_line(err)


def test_storage_path_that_is_a_file_exits_2(cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    code, _, err = cli("--storage-path", str(blocker))
    assert code == 2
    assert error_line(err) == f"--storage-path {blocker}: is a file, not a directory"
    code, _, err = cli("--storage-path", str(blocker / "below"))
    assert code == 2
    assert f"is a file, not a directory ({blocker} is in the way)" in error_line(err)


def test_unwritable_storage_path_exits_2(cli, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    if os.geteuid() == 0:
        # Permission bits do not bind root: pretend, for this folder only.
        real = os.access
        monkeypatch.setattr(preflight.os, "access",
                            lambda p, mode: False if Path(p) == locked else real(p, mode))
    code, _, err = cli("--storage-path", str(locked / "sweeps"))
    assert code == 2
    assert error_line(err) == (
        f"--storage-path {locked / 'sweeps'}: {locked} is not writable by this user"
    )
    assert list(locked.iterdir()) == []


def test_a_huge_grid_needs_max_trials(cli):
    code, _, err = cli("--wi-seeds", "1-1000000", "--do-seeds", "1-25")
    assert code == 2
    assert error_line(err) == (
        "--search grid over 1,000,000 WI x 25 DO seeds is 25,000,000 trials, more than "
        "--max-trials 100,000; narrow the seed ranges or give --num-samples, or raise "
        "--max-trials if you mean it"
    )
    code, _, err = cli("--max-trials", "5")
    assert code == 2
    assert "is 6 trials, more than --max-trials 5" in err
    code, out, _ = cli("--max-trials", "6", "--dry-run")
    assert code == 0
    assert "Trials: 6 of the 6" in out


def test_help_names_the_new_options(capsys):
    from experiments.run_sweep import main

    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--dry-run" in text
    assert "--max-trials" in text and "(default 100000)" in text
    assert "--autoscale-wait" in text


def test_non_utf8_glue_file_names_file_and_line(cli, glue_fixture_dir, tmp_path):
    glue = tmp_path / "glue"
    shutil.copytree(glue_fixture_dir, glue)
    train = glue / "RTE" / "train.tsv"
    lines = train.read_bytes().split(b"\n")
    lines[4] = lines[4][:6] + b"\xff" + lines[4][6:]
    train.write_bytes(b"\n".join(lines))
    code, _, err = cli(glue_dir=glue)
    assert code == 2
    assert error_line(err) == f"{train}:5: byte 0xff at column 7 is not UTF-8 text"


def test_path_like_model_that_does_not_exist(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("--model", "./no-such-model")
    assert code == 2
    assert error_line(err) == (
        f"--model ./no-such-model: no such directory ({tmp_path / 'no-such-model'})"
    )
    code, _, err = cli("--model", "/no/such/model")
    assert code == 2
    assert error_line(err) == "--model /no/such/model: no such directory"


def test_dry_run_prints_the_plan_and_writes_nothing(cli, tmp_path):
    code, out, _ = cli("--scheduler", "early-discard", "--keep", "0.5", "--dry-run")
    assert code == 0
    assert not (tmp_path / "store").exists()
    assert not (tmp_path / "cache").exists()
    assert "Ray is not started and nothing is written" in out
    assert "Trials: 6 of the 6 (WI, DO) pairs (grid search)" in out
    # 6 trials to the milestone (2 of 6 intervals), the best 3 to the end: 12 + 12.
    assert "Compute: 24 evaluation intervals = 4.0 full runs, 67% of FIFO's 6 full runs" in out
    assert "up to 6 at once (early-discard without --cohort-size" in out
    assert "fits:" in out or "WARNING: does not fit" in out
    assert "Timing probe (cpu, 1 thread)" in out
    assert "Estimated wall time: about" in out and "An estimate" in out


# -- pure pieces ------------------------------------------------------------------


def spec(**overrides) -> SweepSpec:
    train = TrainConfig(task="rte", epochs=3, evals_per_epoch=10)
    values = dict(train=train, search="random", num_samples=400, storage_path="/tmp/x")
    values.update(overrides)
    return SweepSpec(**values)


def test_compute_follows_the_scheduler():
    fifo = sweep_compute(spec(scheduler=SchedulerSpec("fifo")))
    assert (fifo.used, fifo.fifo, fifo.resumed) == (12_000, 12_000, 0)
    whole = sweep_compute(spec(scheduler=SchedulerSpec(keep_share=0.5)))
    assert (whole.used, whole.resumed) == (400 * 8 + 200 * 22, 200)
    # Cohorts of 64, 64, ..., 16: each keeps half, rounded up by the scheduler's rule.
    cohorts = sweep_compute(spec(num_samples=400, scheduler=SchedulerSpec(keep_share=0.3,
                                                                          cohort_size=64)))
    kept = 6 * 20 + 5  # ceil(0.3 * 64) = 20 per full cohort, ceil(0.3 * 16) = 5
    assert (cohorts.used, cohorts.resumed) == (400 * 8 + kept * 22, kept)
    assert "7 cohorts of up to 64" in cohorts.detail
    assert sweep_compute(spec(scheduler=SchedulerSpec("asha"))).used is None


def test_checkpoints_held_at_once():
    assert paused_checkpoints(spec(), running=2)[0] == 400
    cohorts = spec(scheduler=SchedulerSpec(keep_share=0.25, cohort_size=32))
    assert paused_checkpoints(cohorts, running=2)[0] == 32 + 8
    assert paused_checkpoints(spec(scheduler=SchedulerSpec("fifo")), running=2)[0] == 2
    assert paused_checkpoints(spec(scheduler=SchedulerSpec("fifo"), checkpoint_every=0), 2)[0] == 0
    assert paused_checkpoints(spec(scheduler=SchedulerSpec("asha"), keep_checkpoints=True),
                              2)[0] == 400
    assert paused_checkpoints(spec(scheduler=SchedulerSpec("hyperband")), 2)[0] == 400


def test_disk_bounds_the_cohort_of_paused_checkpoints():
    from tune_seeds.tuning.dryrun import disk_bounded_cohort

    gb = 10**9
    ed = spec(scheduler=SchedulerSpec(keep_share=0.5))  # 400 trials, whole-sweep cohort
    # 100 GB free, 1 GB a checkpoint: 80 fit (80% of the free space); a cohort c holds
    # c + ceil(c/2) at its peak, so c = 53 (53 + 27 = 80).
    assert disk_bounded_cohort(ed, gb, 100 * gb) == 53
    assert disk_bounded_cohort(ed, gb, 100 * gb, max_bytes=30 * gb) == 20  # 20 + 10
    assert disk_bounded_cohort(ed, gb, 10_000 * gb) is None  # all 400 fit
    assert disk_bounded_cohort(ed, gb, None) is None  # remote storage: unknown
    with pytest.raises(ValueError, match="--pause-mode recompute"):
        disk_bounded_cohort(ed, gb, 3 * gb)
    # Nothing to bound: an explicit cohort, recompute mode, other schedulers.
    assert disk_bounded_cohort(spec(scheduler=SchedulerSpec(cohort_size=64)), gb, gb) == 64
    assert disk_bounded_cohort(replace(ed, pause_mode="recompute"), gb, gb) is None
    assert disk_bounded_cohort(spec(scheduler=SchedulerSpec("fifo")), gb, gb) is None
    assert paused_checkpoints(replace(ed, pause_mode="recompute"), running=2)[0] == 2


def test_checkpoint_size_is_counted_without_loading_weights():
    from tune_seeds.tuning.dryrun import checkpoint_bytes

    # The default MiniLM-L6 with a 2-label head: 22.7M parameters, 3 float32 copies.
    assert checkpoint_bytes(TrainConfig(task="mrpc")) == 12 * 22_713_986


def test_wall_time_estimate_adds_up():
    probe = Probe("cpu", 1, steps_per_trial=300, build_s=2.0, step_s=0.1, eval_s=1.0,
                  checkpoint_bytes=1)
    s = spec(num_samples=10, scheduler=SchedulerSpec("fifo"))
    # 10 builds, 10 evaluations at step 0, 300 intervals of 10 steps and an evaluation.
    assert estimate_wall_s(s, probe, sweep_compute(s), running=2) == pytest.approx(
        (10 * 2.0 + 10 * 1.0 + 300 * (10 * 0.1 + 1.0)) / 2
    )
    # Recompute pauses retrain the kept trials to the milestone: steps, no evaluations.
    ed = spec(num_samples=10, scheduler=SchedulerSpec("early-discard", keep_share=0.5))
    total, milestone = ed.train.total_evals, ed.setup.plan.milestone
    again = sweep_compute(replace(ed, pause_mode="recompute"))
    assert again.recomputed == 5 * milestone and sweep_compute(ed).recomputed == 0
    extra = estimate_wall_s(replace(ed, pause_mode="recompute"), probe, again, running=2) - (
        estimate_wall_s(ed, probe, sweep_compute(ed), running=2))
    assert extra == pytest.approx(5 * milestone * (300 / total * 0.1) / 2)
    assert dryrun.concurrency(replace(s, cpus_per_trial=0.5), cpus=2, gpus=0) == 4
    assert dryrun.concurrency(replace(s, gpus_per_trial=0.25, max_concurrent=3), 16, 1) == 3
    assert dryrun.concurrency(replace(s, gpus_per_trial=0.1), cpus=16, gpus=1) == 10


def test_storage_checks(tmp_path):
    check_storage(str(tmp_path / "new" / "deeper"))  # created later, by the sweep
    check_storage("s3://bucket/sweeps")  # remote: left to pyarrow
    (tmp_path / "f").write_text("")
    with pytest.raises(PreflightError, match="is a file, not a directory"):
        check_storage(f"file://{tmp_path / 'f'}")
    assert not (tmp_path / "new").exists()


class FakeCluster:
    """Nodes that grow after some polls, a clock that sleep advances."""

    def __init__(self, joins_after: int | None):
        self.polls, self.joins_after, self.now, self.asks = 0, joins_after, 0.0, []

    def nodes(self) -> list[dict[str, float]]:
        self.polls += 1
        big = self.joins_after is not None and self.polls > self.joins_after
        return [{"CPU": 2.0}, *([{"CPU": 8.0, "GPU": 1.0}] if big else [])]

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def wait(self, wait_s: float, lines: list[str]) -> None:
        wait_for_resources(4, 1, wait_s, lines.append, nodes=self.nodes, ask=self.asks.append,
                           sleep=self.sleep, clock=lambda: self.now)


def test_cluster_without_a_node_that_fits_fails_at_once():
    cluster = FakeCluster(joins_after=None)
    with pytest.raises(PreflightError) as err:
        cluster.wait(0, [])
    assert str(err.value) == (
        "--cpus-per-trial 4 --gpus-per-trial 1: no node of the cluster has 4 CPUs and 1 GPU "
        "for a trial: its largest node has 2 CPUs and 0 GPUs (2 CPUs and 0 GPUs on 1 node); "
        "if the cluster autoscales, give --autoscale-wait SECONDS"
    )
    assert (cluster.polls, cluster.now, cluster.asks) == (1, 0.0, [])


def test_cluster_that_autoscales_is_waited_for_a_bounded_time():
    lines: list[str] = []
    cluster = FakeCluster(joins_after=3)
    cluster.wait(60, lines)
    assert cluster.now == 3 * preflight.POLL_S
    assert cluster.asks == [{"CPU": 4, "GPU": 1}, None]  # asked for, then withdrawn
    assert "Waiting up to 60 s for the autoscaler" in lines[0]
    assert lines[-1].startswith("A node that fits a trial has joined")

    never = FakeCluster(joins_after=None)
    with pytest.raises(PreflightError, match="after waiting 12 s"):
        never.wait(12, [])
    assert never.now == 12
    assert never.asks[-1] is None


def test_hub_names_are_not_paths():
    assert not model.looks_like_path("sentence-transformers/all-MiniLM-L6-v2")
    assert all(model.looks_like_path(n) for n in ("/m", "./m", "../m", "~/m", "a/b/c", "m/"))
