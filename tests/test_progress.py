"""The progress line's arithmetic and cadence (no Ray), and a tiny CLI sweep's console output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tune_seeds.tuning import progress
from tune_seeds.tuning.progress import (
    ProgressLine,
    TrialView,
    eta_seconds,
    format_progress,
    measure,
)
from tune_seeds.tuning.spec import SchedulerSpec

REPO = Path(__file__).resolve().parents[1]


def test_plans_follow_the_schedulers():
    assert SchedulerSpec("fifo").setup(100, 30).planned_compute == 3000
    # --quick: 16 trials to 8 of 30 intervals, the best 4 to the end.
    spec = SchedulerSpec("early-discard", discard_at=0.25, keep_share=0.25)
    assert spec.setup(16, 30).planned_compute == 16 * 8 + 4 * 22
    # Cohorts of 4, 4 and 2 keep 2, 2 and 1 (the scheduler rounds its share up).
    spec = SchedulerSpec("early-discard", discard_at=0.25, keep_share=0.5, cohort_size=4)
    assert spec.setup(10, 30).planned_compute == 10 * 8 + 5 * 22
    assert SchedulerSpec("asha").setup(16, 30).planned_compute is None
    assert SchedulerSpec("hyperband").setup(16, 30).planned_compute is None


def test_measure_and_format_the_line():
    trials = [
        TrialView("TERMINATED", 30, 0.8421, wi_seed=3, do_seed=7),
        TrialView("TERMINATED", 8, 0.61, wi_seed=1, do_seed=1),
        TrialView("ERROR", 4, float("nan"), wi_seed=2, do_seed=2),
        TrialView("RUNNING", 10, 0.70, wi_seed=4, do_seed=4),
        TrialView("PAUSED", 8, None, wi_seed=5, do_seed=5),
        TrialView("PENDING", 0),
    ]
    # 60 intervals trained, 20 of them before a resume, in 100 s: 0.4 per second.
    p = measure(trials, total=10, total_evals=30, planned=150, elapsed_s=100, used_at_start=20)
    assert (p.done, p.errored, p.running, p.paused) == (3, 1, 1, 1)
    assert p.used == 60 and p.fifo == 300
    assert (p.best.wi_seed, p.best.do_seed) == (3, 7)
    assert p.eta_s == pytest.approx((150 - 60) / 0.4)
    assert format_progress(p) == (
        "[progress 0:01:40] 3/10 done (1 errored), 1 running, 1 paused | best 0.8421 (WI 3, DO 7)"
        " | compute 2.0 of 5.0 full runs planned (FIFO 10.0) | ETA 0:03:45"
    )
    # No plan (ASHA): the ETA is towards FIFO's compute, an upper bound.
    p = measure(trials, total=10, total_evals=30, planned=None, elapsed_s=100, used_at_start=20)
    assert format_progress(p).endswith(
        "| compute 2.0 full runs (FIFO 10.0) | ETA at most 0:10:00"
    )
    # Before anything is trained there is neither a best trial nor a rate.
    p = measure([TrialView("PENDING", 0)], total=4, total_evals=30, planned=120, elapsed_s=3)
    assert "| best - |" in format_progress(p) and format_progress(p).endswith("ETA unknown")
    # Past the plan (retried work) the ETA stays at zero.
    assert eta_seconds(used=200, target=150, trained_here=50, elapsed_s=10) == 0.0


def fake_trial(trial_id: str, status: str, eval_index: int | None = None,
               best: float | None = None) -> SimpleNamespace:
    result = {} if eval_index is None else {"eval_index": eval_index, "best_score": best}
    return SimpleNamespace(trial_id=trial_id, status=status, last_result=result,
                           config={"wi_seed": 1, "do_seed": eval_index or 0})


def test_callback_prints_every_30_s_and_soon_after_trials_end_or_pause(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    lines: list[str] = []
    line = ProgressLine(total=2, total_evals=6, planned=12, out=lines.append)
    line.setup()
    trials = [fake_trial("a", "RUNNING", 2, 0.5), fake_trial("b", "PENDING")]

    def step(at: float) -> None:
        clock[0] = 1000.0 + at
        line.on_step_end(0, trials)

    step(0)  # the first step prints: the plan is known from the start
    step(10)
    trials[0] = fake_trial("a", "PAUSED", 3, 0.6)
    step(12)  # a pause (a scheduler's decision point) prints
    step(20)
    step(42)  # 30 s after the last line
    trials[:] = [fake_trial("a", "TERMINATED", 6, 0.7), fake_trial("b", "TERMINATED", 3, 0.9)]
    for trial in trials:
        line.on_trial_complete(0, trials, trial)
    step(44)  # finished, but less than 5 s after the last line
    step(47)
    line.on_experiment_end(trials)  # nothing new since the last line
    assert [x.split("]")[0] for x in lines] == [
        "[progress 0:00:00", "[progress 0:00:12", "[progress 0:00:42", "[progress 0:00:47"
    ]
    # Intervals trained before the first step (a resumed sweep's) are not in the rate.
    assert lines[1].endswith("| ETA 0:01:48")  # 1 interval in 12 s, 9 planned ones left
    assert lines[-1].startswith("[progress 0:00:47] 2/2 done, 0 running, 0 paused | best 0.9000")


@pytest.mark.ray
def test_tiny_sweep_prints_progress_and_the_table_quietly(glue_fixture_dir, tmp_path):
    args = ["--task", "rte", "--glue-dir", str(glue_fixture_dir), "--num-hidden-layers", "1",
            "--batch-size", "16", "--epochs", "2", "--evals-per-epoch", "3",
            "--search", "random", "--num-samples", "4", "--wi-seeds", "1-2", "--do-seeds", "1-2",
            "--scheduler", "early-discard", "--keep", "0.5", "--discard-at", "0.5",
            "--storage-path", str(tmp_path), "--name", "quiet", "--no-dashboard"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, str(REPO / "experiments" / "run_sweep.py"), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO,
        timeout=300,
    )
    out = proc.stdout
    assert proc.returncode == 0, out
    lines = [x for x in out.splitlines() if x.startswith("[progress ")]
    assert lines and all("ETA" in x for x in lines), out
    # 4 trials to 3 of 6 intervals, the best 2 to the end: 18 intervals, 3 full runs.
    assert "compute 0.0 of 3.0 full runs planned (FIFO 4.0)" in lines[0]
    assert "4/4 done, 0 running, 0 paused" in lines[-1] and "compute 3.0 of 3.0" in lines[-1]
    # The last table (the first ones may have no scores yet, and empty columns are hidden).
    header = [x for x in out.splitlines() if x.startswith("| Trial name")][-1]
    assert [c.strip() for c in header.strip("|").split("|")][3:] == [
        "wi_seed", "do_seed", "score", "best_score"
    ]
    # Quiet by default: trials paused at the milestone were checkpointed and restored.
    assert "Checkpoint successfully created" not in out
    assert "Restored on" not in out
    assert "snapshotting" not in out
    assert "started with configuration" not in out
    assert sum("WARNING" in x for x in out.splitlines()) <= 2, out


def test_trials_stopped_by_an_interruption_are_not_done(monkeypatch):
    monkeypatch.setattr(progress.time, "monotonic", lambda: 50.0)
    lines: list[str] = []
    line = ProgressLine(total=3, total_evals=6, planned=18, out=lines.append)
    line.setup()
    # Resumed with one trial finished before: it counts as done from the start.
    trials = [fake_trial("a", "TERMINATED", 6, 0.7), fake_trial("b", "RUNNING", 2, 0.5),
              fake_trial("c", "RUNNING", 1, 0.4)]
    line.on_step_end(0, trials)
    trials[1] = fake_trial("b", "TERMINATED", 6, 0.6)
    line.on_trial_complete(0, trials, trials[1])
    # Ctrl+C: Tune marks the running trial TERMINATED without completing it.
    trials[2] = fake_trial("c", "TERMINATED", 1, 0.4)
    line.on_experiment_end(trials)
    assert "2/3 done, 0 running, 0 paused" in lines[-1]
