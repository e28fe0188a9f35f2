"""benchmarks/gpu_sweep.py: its sizing rules, and a whole run on the CPU with the tiny data.

Only the GPU itself goes untested: the probe and ``nvidia-smi`` are skipped on
``--device cpu``; everything else (the environment, the sweep sized by the caller, the
deadline, the tables and the report) runs as on the GPU machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from benchmarks import gpu_sweep

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_sweep.py"
TINY = ["--num-hidden-layers", "2", "--train-examples", "16", "--dev-examples", "16",
        "--batch-size", "8", "--epochs", "1", "--evals-per-epoch", "2", "--verbose", "0"]


def mrpc_spec(*extra: str):
    """The sweep spec that the probe builds from run_sweep.py's own parser."""
    run_sweep = gpu_sweep.load_sweep_module()
    args = run_sweep.build_parser().parse_args(
        ["--task", "mrpc", "--scheduler", "early-discard", "--num-samples", "1", *extra])
    return run_sweep.sweep_spec(args)


LEVEL = {"step_s": 0.02, "eval_s": 0.2, "steps_per_trial": 690}


def test_sweep_size_grows_with_the_budget_in_multiples_of_the_level():
    spec = mrpc_spec()
    sizes = [gpu_sweep.size_sweep(spec, 8, LEVEL, build_s=2.0, budget_s=b, cap=400)
             for b in (10, 200, 400, 800)]
    assert sizes[0] == 8  # at least one wave: the deadline stops a sweep that runs over
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0]
    assert all(n % 8 == 0 for n in sizes)
    for n in sizes[1:]:
        assert gpu_sweep.sweep_estimate_s(spec, n, 8, LEVEL, 2.0) <= 800
    assert gpu_sweep.size_sweep(spec, 8, LEVEL, 2.0, budget_s=1e9, cap=64) == 64


def test_early_discard_costs_less_than_fifo_but_more_than_its_compute():
    # 30 intervals, cut after 8, half kept: 16 * 8 + 8 * 22 = 304 of FIFO's 16 * 30;
    # the 8 resumed trials are built (and their checkpoints read) a second time.
    discard, fifo = mrpc_spec(), mrpc_spec("--scheduler", "fifo")
    d = gpu_sweep.sweep_estimate_s(discard, 16, 4, LEVEL, 2.0) - gpu_sweep.RAY_START_S
    f = gpu_sweep.sweep_estimate_s(fifo, 16, 4, LEVEL, 2.0) - gpu_sweep.RAY_START_S
    assert 304 / 480 < d / f < 1


def test_levels_and_gpu_fractions_fit():
    assert gpu_sweep.probe_levels(16) == [1, 2, 4, 8, 16]
    for n in range(1, 17):
        assert n * gpu_sweep.gpus_per_trial(n) <= 1.0
    levels = [{"trials": k, "trials_per_hour": rate}
              for k, rate in ((1, 100), (2, 180), (4, 300), (8, 320))]
    assert gpu_sweep.choose_level(levels)["trials"] == 4  # 8 brings only 7% more


def test_nvidia_smi_samples_within_the_sweep(tmp_path):
    path = tmp_path / "nvidia_smi.csv"
    path.write_text(
        "timestamp, utilization.gpu [%], utilization.memory [%], memory.used [MiB], "
        "memory.total [MiB], power.draw [W]\n"
        "2026/11/30 10:00:00.000, 5, 1, 1000, 143771, 90.0\n"
        "2026/11/30 10:00:02.000, 80, 30, 9000, 143771, 400.0\n"
        "2026/11/30 10:00:04.000, 60, 20, 11000, 143771, [N/A]\n")
    summary = gpu_sweep.gpu_samples(path, datetime(2026, 11, 30, 10, 0, 1),
                                    datetime(2026, 11, 30, 10, 0, 5))
    assert summary["samples"] == 2
    assert summary["mean_utilization_pct"] == 70.0
    assert summary["max_memory_used_mb"] == 11000.0
    assert summary["mean_power_w"] == 400.0


def test_probe_mechanics_on_cpu(tmp_path, glue_fixture_dir):
    # The probe is for the GPU; on a CPU its workers, levels, choice and sizing still run.
    sweep_args = ["--task", "mrpc", "--glue-dir", str(glue_fixture_dir), *TINY[:-2]]
    output = tmp_path / "probe.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "_probe", "--device", "cpu", "--sweep-args",
         json.dumps(sweep_args), "--levels", "1,2", "--seconds", "0.5", "--sweep-deadline",
         str(time.time() + 600), "--scratch", str(tmp_path), "--output", str(output)],
        capture_output=True, text=True, timeout=300, env=gpu_sweep.python_env(None))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    probe = json.loads(output.read_text())
    assert [level["trials"] for level in probe["levels"]] == [1, 2] and not probe["errors"]
    assert probe["trials_at_once"] in (1, 2)
    assert probe["num_samples"] % probe["trials_at_once"] == 0
    assert (probe["steps_per_trial"], probe["evals_per_trial"]) == (2, 3)
    assert "2 at once" in done.stdout


def test_refuses_a_folder_that_is_not_empty(tmp_path, glue_fixture_dir):
    (tmp_path / "old.txt").write_text("x")
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "--device", "cpu",
                           "--glue-dir", str(glue_fixture_dir)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "is not empty" in done.stderr


@pytest.mark.ray
def test_whole_run_on_cpu(tmp_path, glue_fixture_dir):
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(out), "--device", "cpu", "--glue-dir",
         str(glue_fixture_dir), "--num-samples", "4", "--trials-at-once", "2",
         "--time-limit", "240", *TINY],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert {p.name for p in out.iterdir()} == {
        "trials.parquet", "curves.parquet", "predictions.parquet", "sweep.json", "gpu_sweep.log",
        "gpu_sweep.json"}
    report = json.loads((out / "gpu_sweep.json").read_text())
    assert report["probe"] == {"skipped": "no probe on --device cpu"}
    assert report["nvidia_smi"] is None and report["peak_gpu_memory_per_trial_mb"] is None
    assert (report["trials_at_once"], report["gpus_per_trial"], report["gpus"]) == (2, 0.0, 0)
    assert report["trials_reported"] == 4 and not report["interrupted_at_deadline"]
    # 2 intervals a run; early discard trains 4 * 1 + 2 * 1 of them: 3 full trials.
    assert report["full_trial_equivalents"] == pytest.approx(3.0)
    assert report["full_trial_equivalents_per_gpu_hour"] is None
    assert report["full_trial_equivalents_per_hour"] > 0
    assert report["wall_s"]["total"] < 240
    assert report["device_names"] == ["cpu"]
    assert "--scheduler" in report["sweep_command"]
    curves = pd.read_parquet(out / "curves.parquet")
    assert set(curves["device"]) == {"cpu"} and curves["gpu_peak_mb"].isna().all()
    spec = json.loads((out / "sweep.json").read_text())
    assert spec["train"]["task"] == "mrpc" and spec["scheduler"]["name"] == "early-discard"
    assert spec["gpus_per_trial"] == 0.0
    assert "setup: ray" in (out / "gpu_sweep.log").read_text()
