"""Crash-safe resume: SIGKILL the sweep driver anywhere, resume, get the same tables.

Each crash test runs ``experiments/run_sweep.py``'s ``main`` in a driver process of its
own session (``tests/crash_driver.py``, with its own embedded Ray under a private temp
dir). A test-only callback (:class:`crash_helpers.KillSwitch`) SIGKILLs that driver
once the sweep reaches a given state and a snapshot taken after it is on disk; the
test then kills whatever is left of that session (the driver's Ray) and nothing else.
The resume runs ``main --resume`` in this process, on the module's own local Ray, and
its tables (pairs, statuses, ``stopped_by``, scores, curves) and early-discarding
decisions must equal an uninterrupted run's.

The trials are :func:`crash_helpers.fake_seed_trial`: the real trainable's protocol and
columns, deterministic scores, a quarter second per interval, no model. What is under
test is the scheduler, Tune's restore and the runner, not training.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.fs
import pytest
import ray
from ray.train._internal.storage import _FilesystemSyncer
from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from tests.crash_helpers import fake_seed_trial
from tune_seeds.schedulers import DECISIONS_FILE, EarlyDiscardScheduler
from tune_seeds.schedulers.stall import STALL_TIMEOUT_ENV, StallGuard, SweepStalled
from tune_seeds.tables import load_results
from tune_seeds.tuning import atomic_sync
from tune_seeds.tuning.atomic_sync import check_snapshot

REPO = Path(__file__).resolve().parents[1]
N, TOTAL, MILESTONE = 6, 8, 4  # trials; intervals of a run (2 epochs x 4); --discard-at 0.5
N_CUT = 3  # --keep 0.5 of 6
TRIAL_KEYS = ["status", "stopped_by", "best_score", "best_step", "final_score", "evals_trained"]
CURVE_KEYS = ["step", "epoch", "train_loss", "eval_loss", "score", "best_score", "accuracy"]
SCHEDULER_ARGS = {
    "early-discard": ["--scheduler", "early-discard", "--discard-at", "0.5", "--keep", "0.5"],
    # One trial at a time: ASHA's decisions depend on arrival order.
    "asha": ["--scheduler", "asha", "--grace-period", "1", "--reduction-factor", "2",
             "--max-concurrent", "1"],
    "fifo": ["--scheduler", "fifo"],
}
DRIVER_TIMEOUT_S = 180


def cli_args(glue_dir: Path, storage: Path, name: str, scheduler: str) -> list[str]:
    return ["--task", "rte", "--glue-dir", str(glue_dir), "--batch-size", "8", "--epochs", "2",
            "--evals-per-epoch", "4", "--search", "random", "--num-samples", str(N),
            "--wi-seeds", "1-3", "--do-seeds", "1-3", "--seed", "1", "--checkpoint-every", "3",
            "--tables-every", "0", "--storage-path", str(storage), "--name", name,
            "--no-dashboard", "--verbose", "0", *SCHEDULER_ARGS[scheduler]]


@pytest.fixture(scope="module")
def local_ray():
    """This process's Ray, private temp dir; trials are fake; a stall fails in 30 s."""
    patch = pytest.MonkeyPatch()
    patch.setattr("tune_seeds.tuning.trainable.seed_trial", fake_seed_trial)
    patch.setenv(STALL_TIMEOUT_ENV, "30")
    temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths
    ray.init(address="local", num_cpus=2, include_dashboard=False, _temp_dir=temp,
             logging_level="ERROR")
    yield
    ray.shutdown()
    patch.undo()
    shutil.rmtree(temp, ignore_errors=True)


def run_main(argv: list[str]) -> int:
    from experiments.run_sweep import main

    return main(argv)


def tables(folder: Path) -> dict[str, Any]:
    trials, curves = load_results(folder)
    out = {
        "trials": trials.set_index(["wi_seed", "do_seed"]).sort_index()[TRIAL_KEYS],
        "curves": curves.set_index(["wi_seed", "do_seed", "eval_index"]).sort_index()[CURVE_KEYS],
        "decisions": None,
    }
    if (folder / DECISIONS_FILE).exists():
        lines = [json.loads(line) for line in (folder / DECISIONS_FILE).read_text().splitlines()]
        out["decisions"] = sorted(
            (d["config"]["wi_seed"], d["config"]["do_seed"], d["decision"], d["rank"])
            for d in lines
        )
    return out


@pytest.fixture(scope="module")
def reference(local_ray, glue_fixture_dir, tmp_path_factory):
    """Uninterrupted sweep of each scheduler, run once: its tables."""
    done: dict[str, dict[str, Any]] = {}

    def get(scheduler: str) -> dict[str, Any]:
        if scheduler not in done:
            storage = tmp_path_factory.mktemp(f"ref-{scheduler}")
            assert run_main(cli_args(glue_fixture_dir, storage, "ref", scheduler)) == 0
            done[scheduler] = tables(storage / "ref")
        return done[scheduler]

    return get


# ----- killing a driver and only what it started ------------------------------------


def _session_members(sid: int) -> list[int]:
    """Live (not zombie) processes of session ``sid``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        state, _ppid, _pgrp, session = stat[stat.rindex(")") + 2 :].split()[:4]
        if int(session) == sid and state != "Z":
            pids.append(int(entry))
    return pids


def _kill_session(sid: int, timeout_s: float = 20.0) -> None:
    """SIGKILL every process of the session we started (the driver's Ray), until none."""
    deadline = time.monotonic() + timeout_s
    while (pids := _session_members(sid)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    assert not _session_members(sid), "processes of the killed driver's session survived"


def run_killed_driver(argv: list[str], kill: dict[str, Any], log: Path) -> dict[str, Any]:
    """Runs the driver until its kill switch fires; returns the kill marker."""
    ray_temp = tempfile.mkdtemp(prefix="rk", dir="/tmp")
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_TMPDIR": ray_temp,
           "TUNE_GLOBAL_CHECKPOINT_S": "0", STALL_TIMEOUT_ENV: "30"}
    job = json.dumps({"argv": argv, "kill": kill})
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.crash_driver", job],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True,
        )
        try:
            proc.wait(timeout=DRIVER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass
        finally:
            _kill_session(proc.pid)
            proc.wait()
            shutil.rmtree(ray_temp, ignore_errors=True)
    assert proc.returncode == -signal.SIGKILL, log.read_text()[-3000:]
    return json.loads(Path(kill["marker"]).read_text())


KILLS = [
    ("early-discard", "before"),
    ("early-discard", "waiting"),
    ("early-discard", "decided"),
    ("early-discard", "kept-running"),
    ("early-discard", "kept-done"),
    ("asha", "ended"),
    ("fifo", "ended"),
]


@pytest.mark.ray
@pytest.mark.parametrize(("scheduler", "point"), KILLS, ids=[f"{s}-{p}" for s, p in KILLS])
def test_sigkill_then_resume_gives_the_uninterrupted_tables(
    reference, glue_fixture_dir, tmp_path, scheduler: str, point: str
) -> None:
    name = "crash"
    argv = cli_args(glue_fixture_dir, tmp_path, name, scheduler)
    kill = {"point": point, "marker": str(tmp_path / "killed.json"),
            "experiment_dir": str(tmp_path / name), "milestone": MILESTONE, "total": TOTAL,
            "n_cut": N_CUT, "count": 3 if scheduler == "asha" else 2}
    marker = run_killed_driver(argv, kill, tmp_path / "driver.log")
    statuses = [status for _, status, _ in marker["state"]]
    assert set(statuses) != {"TERMINATED"}, marker  # killed mid-sweep

    code = run_main(["--resume", "--name", name, "--storage-path", str(tmp_path),
                     "--no-dashboard", "--verbose", "0"])
    assert code == 0

    got, ref = tables(tmp_path / name), reference(scheduler)
    pd.testing.assert_frame_equal(got["trials"], ref["trials"])
    pd.testing.assert_frame_equal(got["curves"], ref["curves"])
    assert got["decisions"] == ref["decisions"]
    if scheduler == "early-discard":
        assert len(got["decisions"]) == N
        assert sorted(got["trials"].evals_trained) == [MILESTONE] * N_CUT + [TOTAL] * (N - N_CUT)


# ----- stalls: detected, reported, never a success ----------------------------------


class _Forgetful(FIFOScheduler):
    """Pauses every trial at eval_index 2 and never resumes one: a stall."""

    def on_trial_result(self, tune_controller, trial, result):
        return TrialScheduler.PAUSE if result["eval_index"] == 2 else TrialScheduler.CONTINUE

    def choose_trial_to_run(self, tune_controller):
        return None


@pytest.mark.ray
def test_a_stalled_sweep_is_reported_and_exits_non_zero(
    local_ray, glue_fixture_dir, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv(STALL_TIMEOUT_ENV, "12")  # above an actor's start on a busy machine
    monkeypatch.setattr("tune_seeds.tuning.sweep.build_scheduler", lambda spec: _Forgetful())
    argv = cli_args(glue_fixture_dir, tmp_path, "stall", "fifo")
    argv[argv.index("--num-samples") + 1] = "3"
    started = time.monotonic()
    assert run_main(argv) == 1
    assert time.monotonic() - started < 120
    out = capsys.readouterr().out
    assert "The sweep stalled and was stopped." in out
    assert "no trial is running, 3 trial(s) wait" in out
    assert out.count(" PAUSED, eval_index=2, config ") == 3
    assert "--resume --name stall" in out
    trials, _ = load_results(tmp_path / "stall")  # the tables were written
    assert len(trials) == 3 and trials.stopped_by.isna().all()


class _FakeTrial:
    def __init__(self, trial_id: str, status: str, eval_index: int | None = None) -> None:
        self.trial_id, self.status, self.config = trial_id, status, {"seed": trial_id}
        self.last_result = {} if eval_index is None else {"eval_index": eval_index}


def test_stall_guard_needs_nothing_running_something_waiting_and_time() -> None:
    waiting = [_FakeTrial("a", Trial.PAUSED, 8), _FakeTrial("b", Trial.PENDING)]
    guard = StallGuard(timeout_s=0, time_attr="eval_index", describe=lambda: "cohort 0 open")
    guard.setup()
    guard.on_step_end(0, [*waiting, _FakeTrial("c", Trial.RUNNING, 3)])  # busy
    guard.on_step_end(0, [_FakeTrial("d", Trial.TERMINATED, 9)])  # finished
    with pytest.raises(SweepStalled) as info:
        guard.on_step_end(0, [*waiting, _FakeTrial("d", Trial.TERMINATED, 9)])
    assert [t["trial_id"] for t in info.value.trials] == ["a", "b"]
    text = str(info.value)
    assert "a PAUSED, eval_index=8" in text and "b PENDING, eval_index=never reported" in text
    assert text.endswith("Scheduler: cohort 0 open")
    patient = StallGuard(timeout_s=60)
    patient.setup()
    patient.on_step_end(0, waiting)  # not yet


def test_unfinished_counts_tune_statuses_beside_the_tables() -> None:
    from experiments.run_sweep import unfinished_trials

    done = pd.DataFrame({"stopped_by": ["completed", "scheduler", "error"]})
    assert unfinished_trials(done, 3, 0) == 0
    # Issue 13: the tables said every trial ended, Tune still held three PAUSED.
    assert unfinished_trials(done, 3, 3) == 3
    assert unfinished_trials(done.iloc[:2], 3, 0) == 1  # one never reported
    running = pd.DataFrame({"stopped_by": ["completed", None, None]})
    assert unfinished_trials(running, 3, 0) == 2  # interrupted: Tune says TERMINATED


# ----- reconciliation, without Ray ------------------------------------------------


class _Trial:
    """What the scheduler reads of a Tune trial."""

    trainable_name = "fake"

    def __init__(self, trial_id: str, seed: int) -> None:
        self.trial_id, self.config, self.status = trial_id, {"seed": seed}, Trial.PENDING
        self.is_saving = False

    def set_status(self, status: str) -> None:
        self.status = status

    def get_trainable_cls(self) -> type:
        return object  # not a function trainable: no checkpoint check


class _Search:
    def is_finished(self) -> bool:
        return True


class _Controller:
    """Stops trials the way Tune's stop_trial does for a PAUSED one."""

    def __init__(self, scheduler: EarlyDiscardScheduler, trials: list[_Trial]) -> None:
        self.scheduler, self.trials, self.search_alg = scheduler, trials, _Search()
        self.stopped: list[str] = []

    def get_trials(self) -> list[_Trial]:
        return self.trials

    def stop_trial(self, trial: _Trial) -> None:
        self.stopped.append(trial.trial_id)
        self.scheduler.on_trial_remove(self, trial)
        trial.status = Trial.TERMINATED


def test_a_cut_trial_restored_unfinished_is_stopped_untrained() -> None:
    """Tune saves a cut trial stopped while PAUSED as PAUSED (its stop is never marked
    for the snapshot), while the bookkeeping saved with it says stopped. Restored, the
    trial comes back PENDING: the scheduler must stop it, not leave it waiting."""

    def scheduler() -> EarlyDiscardScheduler:
        return EarlyDiscardScheduler(milestone=2, keep=1, metric="score", mode="max",
                                     time_attr="eval_index")

    first = scheduler()
    first.state_callback().setup()
    trials = [_Trial(f"t{i}", i) for i in range(3)]
    tune = _Controller(first, trials)
    for t in trials:
        first.on_trial_add(tune, t)
    scores = {"t0": 0.6, "t1": 0.9, "t2": 0.5}
    actions = {}
    for t in trials:  # t0, t1 pause at the milestone; t2's arrival decides: t1 kept
        t.status = Trial.RUNNING
        actions[t.trial_id] = first.on_trial_result(
            tune, t, {"eval_index": 2, "score": scores[t.trial_id]})
        t.status = {TrialScheduler.PAUSE: Trial.PAUSED, TrialScheduler.STOP: Trial.TERMINATED,
                    TrialScheduler.CONTINUE: Trial.RUNNING}[actions[t.trial_id]]
        if t.status == Trial.TERMINATED:
            first.on_trial_complete(tune, t, {})
    assert actions == {"t0": "PAUSE", "t1": "PAUSE", "t2": "STOP"}
    assert first.choose_trial_to_run(tune) is trials[1]  # the kept one resumes
    assert tune.stopped == ["t0"]  # the paused cut one is stopped
    saved = first.state_callback().get_state()

    # Restore: Tune brings t0 back PENDING (stale PAUSED), t1 PENDING, t2 TERMINATED.
    second = scheduler()
    second.state_callback().setup()
    second.state_callback().set_state(json.loads(json.dumps(saved)))
    restored = [_Trial(f"t{i}", i) for i in range(3)]
    restored[2].status = Trial.TERMINATED
    tune = _Controller(second, restored)
    for t in restored:
        second.on_trial_add(tune, t)
    assert restored[0].status == Trial.PAUSED  # held: it must not train
    assert restored[1].status == Trial.PENDING  # kept and continuing: Tune resumes it
    assert second.choose_trial_to_run(tune) is restored[1]  # Tune would start it anyway
    assert tune.stopped == ["t0"] and restored[0].status == Trial.TERMINATED
    assert [(d["trial_id"], d["decision"]) for d in second.decisions] == [
        ("t1", "kept"), ("t0", "cut"), ("t2", "cut")]
    assert "1 continuing, 2 cut" in second.debug_string()
    # Everything ended: the cohort is closed again and its state frozen.
    second.on_trial_complete(tune, restored[1], {})
    assert set(second._book.frozen) == {0}


# ----- crash-safe snapshots, without Ray running --------------------------------------


def _staging(root: Path) -> Path:
    (root / "trial_1").mkdir(parents=True)
    (root / "experiment_state-2026.json").write_text('{"new": 1}')
    (root / "callback-states-2026.pkl").write_bytes(b"callbacks")
    (root / "trial_1" / "result.json").write_text("r")
    return root


def test_tune_syncs_replace_whole_files_with_the_trial_states_last(tmp_path, monkeypatch):
    staging, dest = _staging(tmp_path / "staging"), tmp_path / "exp"
    dest.mkdir()
    (dest / "experiment_state-2026.json").write_text('{"old": 1}')
    replaced = []
    real_replace = os.replace
    monkeypatch.setattr(atomic_sync.os, "replace",
                        lambda a, b: (replaced.append(Path(b).name), real_replace(a, b)))
    syncer = _FilesystemSyncer(storage_filesystem=pyarrow.fs.LocalFileSystem())
    ray_command = _FilesystemSyncer._sync_up_command
    with atomic_sync.atomic_snapshots():  # Tune's own sync command, patched
        upload, kwargs = syncer._sync_up_command(local_path=str(staging), uri=str(dest))
        assert len(replaced) == 3  # copied at once, in this thread
        upload(**kwargs)  # what Tune's thread runs: nothing left to do
    assert _FilesystemSyncer._sync_up_command is ray_command  # unpatched after the block
    assert sorted(replaced[:-1]) == ["callback-states-2026.pkl", "result.json"]
    assert replaced[-1] == "experiment_state-2026.json"
    assert json.loads((dest / "experiment_state-2026.json").read_text()) == {"new": 1}
    assert not list(dest.rglob("*.tmp-sync"))

    # A driver killed mid-copy (here: the second file fails) leaves the old state whole.
    (staging / "experiment_state-2026.json").write_text('{"newer": 1}')
    copies = []
    real_copy = shutil.copyfile

    def dying_copy(src, dst):
        copies.append(src)
        if len(copies) == 2:
            raise KeyboardInterrupt("killed")
        return real_copy(src, dst)

    monkeypatch.setattr(atomic_sync.shutil, "copyfile", dying_copy)
    with pytest.raises(KeyboardInterrupt):
        atomic_sync._replace_tree(str(staging), str(dest))
    assert json.loads((dest / "experiment_state-2026.json").read_text()) == {"new": 1}
    assert len(replaced) == 3  # nothing renamed since the first sync
    assert not list(dest.rglob("*.tmp-sync"))  # the one finished copy is removed too


def test_a_damaged_state_is_refused_not_restarted(tmp_path):
    with pytest.raises(ValueError, match="no experiment state"):
        check_snapshot(str(tmp_path))
    (tmp_path / "experiment_state-2026-01.json").write_text('{"trial_data": [')
    with pytest.raises(ValueError, match=r"is damaged .* start the sweep again from scratch"):
        check_snapshot(str(tmp_path))
    (tmp_path / "experiment_state-2025-12.json").write_text("{}")  # older: not used
    with pytest.raises(ValueError, match=r"2026-01\.json is damaged"):
        check_snapshot(str(tmp_path))
    (tmp_path / "experiment_state-2026-01.json").write_text("{}")
    check_snapshot(str(tmp_path))
