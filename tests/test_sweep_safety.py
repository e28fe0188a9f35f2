"""Issue 22 on real tiny sweeps: an exit code that tells the truth, a resume that refuses
changed data or settings, one driver per sweep, damaged checkpoints recovered, trials
that never trained, disk and small sweeps.

The sweeps are :mod:`tests.test_sweep`'s (a one-layer model on the RTE fixture, 6
evaluation intervals a run, a few seconds a trial); faults come from
:mod:`tests.faults`, patched in as the trainable of ``experiments/run_sweep.py``'s
``main`` run in this process.
"""

from __future__ import annotations

import signal
import time

import pytest

from tune_seeds.tables import load_results

try:
    from tests.faults import failing_pair
    from tests.test_sweep import TOTAL, local_ray, run_cli, tiny_cli_args
except ImportError:  # the test runner imported this module as top level
    from faults import failing_pair
    from test_sweep import TOTAL, local_ray, run_cli, tiny_cli_args  # noqa: F401

pytestmark = pytest.mark.ray

OOM = RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 GB")


def run_main(argv: list[str]) -> int:
    from experiments.run_sweep import main

    return main(argv)


def small_args(glue_dir, storage, name: str, *extra: str) -> list[str]:
    """Two trials, (1, 1) and (1, 2), FIFO, no retry."""
    return [*tiny_cli_args(glue_dir, storage, name), "--wi-seeds", "1", "--do-seeds", "1-2",
            "--max-failures", "0", *extra]


def test_a_trial_in_error_exits_1_naming_it_and_how_to_resume(
    local_ray, glue_fixture_dir, tmp_path, monkeypatch, capsys
):
    # Out of memory at the first training step: evaluation 0 reported, nothing trained.
    monkeypatch.setattr("tune_seeds.tuning.trainable.seed_trial",
                        failing_pair(1, 2, OOM, after_eval=0))
    assert run_main(small_args(glue_fixture_dir, tmp_path, "oom")) == 1
    out = capsys.readouterr().out
    assert "1 trial(s) ended in ERROR:\n  WI 1 / DO 2 (trial " in out
    assert "): RuntimeError: DefaultCPUAllocator: can't allocate memory" in out
    assert "1 trial(s) in ERROR. Continue with" in out
    assert f"--resume --name oom --storage-path {tmp_path}" in out
    trials, _ = load_results(tmp_path / "oom")
    assert trials.set_index("do_seed").stopped_by.to_dict() == {1: "completed", 2: "error"}
    # Never trained: no best score (evaluation 0 is the untrained model), left out.
    assert trials.set_index("do_seed").best_score.isna().to_dict() == {1: False, 2: True}
    assert "1 trial(s) never trained (no score: " in out and "every number: WI 1 / DO 2" in out
    assert "Failed runs (best score <= 0.500): " in out and " of 1\n" in out
    assert "EVP over every trial's best score" in out

    # The resume runs the trial in ERROR again; now it trains, and the sweep is done.
    monkeypatch.undo()
    assert run_main(["--resume", "--name", "oom", "--storage-path", str(tmp_path),
                     "--no-dashboard", "--verbose", "0"]) == 0
    trials, curves = load_results(tmp_path / "oom")
    assert set(trials.stopped_by) == {"completed"}
    assert curves.groupby("trial_id").eval_index.max().tolist() == [TOTAL, TOTAL]
    assert "ERROR" not in capsys.readouterr().out


def test_sigterm_after_the_first_report_ends_like_ctrl_c(glue_fixture_dir, tmp_path):
    """Tables written (the interrupted trials marked so), the summary of what there is,
    the resume hint, exit 1: a job scheduler's stop loses nothing."""
    proc = run_cli(*tiny_cli_args(glue_fixture_dir, tmp_path, "term"))
    tables = tmp_path / "term" / "trials.parquet"
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and proc.poll() is None and not tables.exists():
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()[0]
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 1, out
    assert "Sweep summary: rte, " in out and "Traceback" not in out
    assert "did not finish. Continue with" in out and "--resume --name term" in out
    trials, _ = load_results(tmp_path / "term")
    assert "INTERRUPTED" in set(trials.status)
