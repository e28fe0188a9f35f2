from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "run_trial.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)


def tiny_args(glue: Path, out: Path, wi: int = 3, do: int = 7) -> list[str]:
    return ["--task", "SST-2", "--wi-seed", str(wi), "--do-seed", str(do), "--glue-dir", str(glue),
            "--num-hidden-layers", "1", "--batch-size", "8", "--epochs", "1",
            "--evals-per-epoch", "3", "--threads", "1", "--output", str(out)]


def test_identical_seeds_give_identical_csv(glue_fixture_dir: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    first = run(*tiny_args(glue_fixture_dir, a))
    assert first.returncode == 0, first.stderr
    assert "completed: best" in first.stdout
    assert run(*tiny_args(glue_fixture_dir, b)).returncode == 0
    assert a.read_bytes() == b.read_bytes()
    rows = list(csv.DictReader(a.open()))
    assert len(rows) == 4
    assert {"step", "epoch", "train_loss", "eval_loss", "score", "best_score", "accuracy"} <= set(
        rows[0])


@pytest.mark.parametrize(
    "change,message",
    [
        (["--task", "qnli"], "unknown task 'qnli'"),
        (["--wi-seed", "-3"], "a seed is a non-negative integer"),
        (["--train-examples", "0"], "must be at least 1"),
        (["--glue-dir", "/nonexistent/glue"], "does not exist"),
        (["--train-examples", "4000"], "asked for 4000 examples"),
        (["--evals-per-epoch", "50"], "fewer than the 50 evaluations"),
        (["--optimizer", "sgd"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_and_write_nothing(
    glue_fixture_dir: Path, tmp_path: Path, change: list[str], message: str
) -> None:
    out = tmp_path / "curve.csv"
    args = tiny_args(glue_fixture_dir, out)
    for i in range(0, len(change), 2):
        if change[i] in args:
            args[args.index(change[i]) + 1] = change[i + 1]
        else:
            args += change[i : i + 2]
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []
