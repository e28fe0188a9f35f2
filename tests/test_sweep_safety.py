"""Issue 22 on real tiny sweeps: an exit code that tells the truth, a resume that refuses
changed data or settings, one driver per sweep, damaged checkpoints recovered, trials
that never trained, disk and small sweeps.

The sweeps are :mod:`tests.test_sweep`'s (a one-layer model on the RTE fixture, 6
evaluation intervals a run, a few seconds a trial); faults come from
:mod:`tests.faults`, patched in as the trainable of ``experiments/run_sweep.py``'s
``main`` run in this process.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from tune_seeds.schedulers.kinds import SchedulerSpec
from tune_seeds.tables import load_results
from tune_seeds.trial.config import TrainConfig
from tune_seeds.tuning.fingerprint import ResumeRefused, check_resume, fingerprint
from tune_seeds.tuning.lock import SweepLocked, driver_lock
from tune_seeds.tuning.spec import SweepSpec
from tune_seeds.tuning.storage import (
    check_keys,
    load_spec,
    recorded_fingerprint,
    renamed,
    save_spec,
)

try:
    from tests.faults import failing_pair
    from tests.test_sweep import REPO, TOTAL, local_ray, run_cli, tiny_cli_args
except ImportError:  # the test runner imported this module as top level
    from faults import failing_pair
    from test_sweep import REPO, TOTAL, local_ray, run_cli, tiny_cli_args  # noqa: F401

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


# -- a resume refuses what changed -------------------------------------------------------


@pytest.fixture(scope="module")
def finished(local_ray, glue_fixture_dir, tmp_path_factory) -> Path:
    """A finished two-trial sweep on its own copy of the data: its experiment folder."""
    root = tmp_path_factory.mktemp("finished")
    glue = shutil.copytree(glue_fixture_dir, root / "glue")
    assert run_main(small_args(glue, root / "store", "done")) == 0
    return root / "store" / "done"


def copy_sweep(finished: Path, tmp_path: Path) -> tuple[Path, dict]:
    """A copy of the finished sweep (storage ``tmp_path``) and its sweep.json; the copy's
    recorded storage points at itself."""
    folder = shutil.copytree(finished, tmp_path / finished.name)
    saved = json.loads((folder / "sweep.json").read_text())
    return folder, saved


def resume(folder: Path, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        run_main(["--resume", "--name", folder.name, "--storage-path", str(folder.parent),
                  "--no-dashboard", "--verbose", "0"])
    return exc.value.code, capsys.readouterr().err


def test_a_resume_on_changed_data_exits_2_naming_the_file(finished, tmp_path, capsys):
    folder, saved = copy_sweep(finished, tmp_path)
    glue = shutil.copytree(saved["train"]["glue_dir"], tmp_path / "glue")
    train = glue / "RTE" / "train.tsv"
    text = train.read_text()
    flipped = text.replace("\tentailment\n", "\tnot_entailment\n", 1)  # one label
    assert flipped != text
    train.write_text(flipped)
    saved["train"]["glue_dir"] = str(glue)  # where the data lies may change; what, not
    (folder / "sweep.json").write_text(json.dumps(saved))
    code, err = resume(folder, capsys)
    assert code == 2
    assert err.count("\n") == 1 and f"the train data ({train}) is not what the sweep " in err
    assert "mix results of two data sets" in err


@pytest.mark.parametrize(("key", "value", "named"), [
    ("train", {"task": "mrpc"}, "train.task (now 'mrpc')"),
    ("scheduler", {"name": "asha"}, "scheduler.name (now 'asha')"),
    ("num_samples", 1, "num_samples (now 1)"),
])
def test_a_resume_of_an_edited_sweep_json_exits_2_naming_the_setting(
    finished, tmp_path, capsys, key, value, named
):
    folder, saved = copy_sweep(finished, tmp_path)
    saved[key] = {**saved[key], **value} if isinstance(value, dict) else value
    (folder / "sweep.json").write_text(json.dumps(saved))
    code, err = resume(folder, capsys)
    assert code == 2 and err.count("\n") == 1
    assert f"sweep.json was edited since the sweep started: {named} differ" in err


def drop(key: str):
    def edit(saved: dict) -> str:
        section, _, name = key.rpartition(".")
        del (saved[section] if section else saved)[name]
        return json.dumps(saved)
    return edit


@pytest.mark.parametrize(("edit", "message"), [
    (lambda saved: json.dumps(saved)[:-2], "sweep.json: not valid JSON (Expecting"),
    (drop("search"), "sweep.json: lacks the key 'search'"),
    (drop("train.lr"), "sweep.json: lacks the key 'train.lr'"),
    (lambda saved: json.dumps({**saved, "colour": "blue"}), "sweep.json: unknown key 'colour'"),
    (lambda saved: json.dumps({**saved, "scheduler": {**saved["scheduler"], "keep_share": 2}}),
     "sweep.json: --keep-share must be in (0, 1], got 2"),
])
def test_a_malformed_sweep_json_exits_2_naming_file_and_key(finished, tmp_path, capsys,
                                                            edit, message):
    folder, saved = copy_sweep(finished, tmp_path)
    (folder / "sweep.json").write_text(edit(saved))
    code, err = resume(folder, capsys)
    assert code == 2 and err.count("\n") == 1
    assert f"{folder}/{message}" in err


def test_a_sweep_json_without_fingerprint_resumes_with_a_notice(finished, tmp_path, capsys):
    folder, saved = copy_sweep(finished, tmp_path)
    del saved["fingerprint"]
    saved["storage_path"] = str(tmp_path)
    (folder / "sweep.json").write_text(json.dumps(saved))
    assert run_main(["--resume", "--name", folder.name, "--storage-path", str(tmp_path),
                     "--no-dashboard", "--verbose", "0"]) == 0
    assert "records no fingerprint of its data and settings" in capsys.readouterr().out
    recorded = json.loads((folder / "sweep.json").read_text())["fingerprint"]
    original = json.loads((finished / "sweep.json").read_text())["fingerprint"]
    assert recorded["data"] == original["data"]
    moved = {"storage_path"}  # this copy's own
    assert {k: v for k, v in recorded["settings"].items() if k not in moved} == {
        k: v for k, v in original["settings"].items() if k not in moved}


@pytest.mark.parametrize("recorded", sorted((REPO / "experiments" / "results").glob(
    "*/sweep.json")), ids=lambda p: p.parent.name)
def test_recorded_sweep_json_files_still_load(recorded):
    saved = json.loads(recorded.read_text())
    check_keys(renamed(json.loads(recorded.read_text())), str(recorded))
    spec = load_spec(str(recorded.parents[1]), recorded.parent.name)
    assert spec.name == saved["name"]
    assert spec.scheduler.keep_share == saved["scheduler"]["keep"]  # saved under its old name


def test_a_sweep_json_of_old_names_resumes_checked_under_the_new_ones(tmp_path):
    spec = SweepSpec(TrainConfig(task="rte"), storage_path=str(tmp_path), name="old",
                     scheduler=SchedulerSpec(keep_share=0.25))
    data = {"train": {"source": "train.tsv", "sha256": "0" * 16}}
    save_spec(spec, fingerprint(spec, data))
    path = tmp_path / "old" / "sweep.json"
    saved = json.loads(path.read_text())
    # As a sweep started before the renaming saved it.
    saved["scheduler"]["keep"] = saved["scheduler"].pop("keep_share")
    digests = saved["fingerprint"]["settings"]
    digests["scheduler.keep"] = digests.pop("scheduler.keep_share")
    path.write_text(json.dumps(saved))
    assert load_spec(str(tmp_path), "old") == spec
    recorded = recorded_fingerprint(str(tmp_path), "old")
    assert check_resume(recorded, spec, data, str(path)) is None
    # An edit of the old name is caught under the new one.
    saved["scheduler"]["keep"] = 0.5
    path.write_text(json.dumps(saved))
    with pytest.raises(ResumeRefused, match=r"scheduler\.keep_share \(now 0\.5\) differ"):
        check_resume(recorded, load_spec(str(tmp_path), "old"), data, str(path))


# -- one driver per sweep -------------------------------------------------------------


def test_one_driver_per_sweep(glue_fixture_dir, tmp_path):
    """Two starts at once: one runs, the other is refused; a resume while it runs is
    refused naming its PID; once it ended, the lock is free."""
    args = small_args(glue_fixture_dir, tmp_path, "twice")
    first, second = run_cli(*args), run_cli(*args)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and first.poll() is None and second.poll() is None:
        time.sleep(0.1)
    loser = first if first.poll() is not None else second
    winner = second if loser is first else first
    out = loser.communicate(timeout=60)[0]
    assert loser.returncode == 2, out
    assert (f"is being run by PID {winner.pid} on host " in out
            or "already exists: continue it with --resume" in out), out
    while winner.poll() is None and not (tmp_path / "twice" / "sweep.json").exists():
        time.sleep(0.1)  # a resume needs the sweep started: its sweep.json
    assert winner.poll() is None
    resumed = run_cli("--resume", "--name", "twice", "--storage-path", str(tmp_path),
                      "--no-dashboard", "--verbose", "0")
    out = resumed.communicate(timeout=120)[0]
    assert resumed.returncode == 2, out
    assert out.strip().splitlines()[-1].endswith(
        f"error: the sweep 'twice' is being run by PID {winner.pid} on host "
        f"{socket.gethostname()} (it holds {tmp_path / 'twice' / 'driver.lock'}); one driver "
        "per sweep: wait for it to end, or stop it, then --resume")
    assert winner.wait(timeout=240) == 0, winner.communicate()[0]
    trials, _ = load_results(tmp_path / "twice")
    assert len(trials) == 2 and set(trials.stopped_by) == {"completed"}


def test_a_killed_driver_leaves_no_stale_lock(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "from tune_seeds.tuning.lock import driver_lock\n"
         "with driver_lock(sys.argv[1], 'x'):\n    print('held', flush=True)\n"
         "    time.sleep(600)\n", str(tmp_path)],
        stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert holder.stdout.readline() == "held\n"
    with pytest.raises(SweepLocked, match=f"is being run by PID {holder.pid} on host"), \
            driver_lock(tmp_path, "x"):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    with driver_lock(tmp_path, "x") as path:
        assert path.read_text() == f"PID {os.getpid()} on host {socket.gethostname()}\n"


# -- disk -------------------------------------------------------------------------------


def test_disk_full_in_a_trial_stops_the_sweep_in_one_line(
    local_ray, glue_fixture_dir, tmp_path, monkeypatch, capfd
):
    full = OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr("tune_seeds.tuning.trainable.seed_trial",
                        failing_pair(1, 2, full, after_eval=2))
    assert run_main(small_args(glue_fixture_dir, tmp_path, "full", "--max-failures", "3")) == 1
    out, err = capfd.readouterr()
    assert ("No space left on device: trial WI 1 / DO 2 (" in out
            and f") could not write under {tmp_path} (OSError: [Errno 28] No space left on "
            "device); the sweep was stopped. Free some space, then --resume" in out)
    assert "Traceback" not in out + err
    assert "--resume --name full" in out
    monkeypatch.undo()
    assert run_main(["--resume", "--name", "full", "--storage-path", str(tmp_path),
                     "--no-dashboard", "--verbose", "0"]) == 0
    trials, _ = load_results(tmp_path / "full")
    assert set(trials.stopped_by) == {"completed"}


CKPT = 166_099_992  # bytes of a checkpoint of the one-layer model (dryrun.checkpoint_bytes)


@pytest.mark.parametrize(("extra", "free", "message"), [
    ([], CKPT // 2,
     "the checkpoints of 166 MB would not fit: up to 2 at once (one per running trial "
     "(--checkpoint-every 2)), and 2 more while running trials write their next, 664 MB at "
     f"peak, more than the {CKPT // 2 / 1e6:.1f} MB free under "),
    (["--scheduler", "early-discard", "--pause-mode", "recompute"], CKPT // 2,
     "(--pause-mode recompute keeps no weights where trials pause; one periodic checkpoint "
     "per running trial), and 2 more while running trials write their next"),
    (["--scheduler", "early-discard", "--cohort-size", "4"], 7 * CKPT,
     "up to 6 at once (a cohort of 4 paused at the milestone, plus the 2 kept trials of the "
     "cohort before), and 2 more while running trials write their next, 1.3 GB at peak, "
     "more than the 1.2 GB free under "),
    (["--scheduler", "early-discard", "--max-checkpoint-gb", "5"], 211_000_000,
     "not even a cohort of 2 paused checkpoints of 166 MB fits in 80% of the 211 MB free "
     "under "),
    (["--max-checkpoint-gb", "0.0001"], 10**12,
     "664 MB at peak, more than --max-checkpoint-gb 0.0001 (100 KB); a smaller --cohort-size"),
])
def test_the_run_refuses_what_its_dry_run_says_does_not_fit(
    glue_fixture_dir, tmp_path, monkeypatch, capsys, extra, free, message
):
    monkeypatch.setattr("tune_seeds.tuning.dryrun.free_bytes", lambda path: free)
    monkeypatch.setattr("tune_seeds.tuning.preflight.local_cpus", lambda: 2)
    args = tiny_cli_args(glue_fixture_dir, tmp_path / "store", "disk")
    with pytest.raises(SystemExit) as exc:
        run_main([*args, *extra])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err, err
    if "free under" in message:
        assert "(the free space binds" in err
    assert not (tmp_path / "store").exists()


# -- damaged checkpoints ------------------------------------------------------------------


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def scramble(path: Path) -> None:
    path.write_bytes(os.urandom(path.stat().st_size))


def remove_folder(path: Path) -> None:
    shutil.rmtree(path.parent)


@pytest.mark.parametrize("damage", [truncate, scramble, Path.unlink, remove_folder])
def test_a_damaged_checkpoint_is_retrained_from_the_seeds(
    finished, glue_fixture_dir, tmp_path, monkeypatch, capfd, damage
):
    """A trial in ERROR after evaluation 3 holds its checkpoint of evaluation 2; that
    checkpoint's weights are damaged; the resume names the file, retrains the trial from
    its seeds to evaluation 2 and ends with the uninterrupted sweep's tables."""
    monkeypatch.setattr("tune_seeds.tuning.trainable.seed_trial",
                        failing_pair(1, 2, RuntimeError("node lost"), after_eval=3))
    assert run_main(small_args(glue_fixture_dir, tmp_path, "dmg")) == 1
    monkeypatch.undo()
    (weights,) = (tmp_path / "dmg").glob("*/checkpoint_*/trial.pt")
    damage(weights)
    capfd.readouterr()
    assert run_main(["--resume", "--name", "dmg", "--storage-path", str(tmp_path),
                     "--no-dashboard", "--verbose", "0"]) == 0
    time.sleep(2)  # the worker's warning reaches the driver's console through Ray's logs
    out, err = capfd.readouterr()
    if damage is remove_folder:  # Ray itself would fail: "Could not recover from checkpoint"
        assert (f"WARNING: checkpoint {weights.parent} is gone: WI 1 / DO 2 is retrained from "
                "its seeds to evaluation 2, its reports up to there not repeated") in out + err
    else:
        what = "is missing" if damage is Path.unlink else "cannot be loaded ("
        assert f"WARNING: checkpoint {weights} {what}" in out + err
        assert "retraining WI 1 / DO 2 from its seeds to step 2 (evaluation 2)" in out + err
    trials, curves = load_results(tmp_path / "dmg")
    ref_trials, ref_curves = load_results(finished)
    keys = ["wi_seed", "do_seed", "eval_index"]
    columns = ["step", "train_loss", "eval_loss", "score", "best_score", "accuracy"]
    pd.testing.assert_frame_equal(curves.set_index(keys).sort_index()[columns],
                                  ref_curves.set_index(keys).sort_index()[columns])
    scores = ["stopped_by", "best_score", "best_step", "final_score", "evals_trained"]
    pd.testing.assert_frame_equal(trials.set_index(keys[:2]).sort_index()[scores],
                                  ref_trials.set_index(keys[:2]).sort_index()[scores])
    assert not list((tmp_path / "dmg").glob("*/checkpoint_*"))  # none left behind


def test_a_failed_trial_keeps_only_the_checkpoint_it_continues_from(tmp_path):
    """A partial upload (a checkpoint folder Tune never registered) is deleted when the
    trial fails; the one it continues from stays."""
    import pyarrow.fs
    from ray.tune import Checkpoint

    from tune_seeds.tuning.storage import DropPartialCheckpoints

    for name in ("checkpoint_000001", "checkpoint_000002"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "trial.pt").write_bytes(b"x")
    trial = SimpleNamespace(
        storage=SimpleNamespace(storage_filesystem=pyarrow.fs.LocalFileSystem(),
                                trial_fs_path=str(tmp_path)),
        checkpoint=Checkpoint.from_directory(str(tmp_path / "checkpoint_000001")))
    DropPartialCheckpoints().on_trial_error(0, [trial], trial)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_000001"]
    trial.checkpoint = None  # failed before its first checkpoint: nothing to continue from
    DropPartialCheckpoints().on_trial_recover(0, [trial], trial)
    assert list(tmp_path.iterdir()) == []
