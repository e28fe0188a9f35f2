from __future__ import annotations

import numpy as np
import pytest

from tune_seeds.trial.data import read_glue_tsv
from tune_seeds.trial.tasks import TASK_NAMES, get_task


@pytest.mark.parametrize("alias,name", [("MRPC", "mrpc"), ("sst-2", "sst2"), ("SST2", "sst2"),
                                        ("CoLA", "cola"), (" rte ", "rte")])
def test_task_aliases(alias: str, name: str) -> None:
    assert get_task(alias).name == name


def test_unknown_task_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown task 'qnli'.*mrpc, rte, cola, sst2"):
        get_task("qnli")


def from_counts(preds: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The GLUE metrics from the confusion counts, written out by hand (the oracle)."""
    tp = float(np.sum((preds == 1) & (labels == 1)))
    tn = float(np.sum((preds == 0) & (labels == 0)))
    fp = float(np.sum((preds == 1) & (labels == 0)))
    fn = float(np.sum((preds == 0) & (labels == 1)))
    denom = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    return {
        "accuracy": (tp + tn) / len(labels),
        "f1": 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else 0.0,
        "mcc": (tp * tn - fp * fn) / float(np.sqrt(denom)) if denom else 0.0,
    }


@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_the_formulas_bit_for_bit(seed: int) -> None:
    # Bit for bit: the recorded sweeps were scored with these formulas.
    rng = np.random.default_rng(seed)
    preds, labels = rng.integers(0, 2, 408), rng.integers(0, 2, 408)
    m = from_counts(preds, labels)
    assert get_task("mrpc").compute_metrics(preds, labels) == {
        "accuracy": m["accuracy"], "f1": m["f1"], "score": float(np.mean([m["accuracy"], m["f1"]]))}
    assert get_task("rte").compute_metrics(preds, labels) == {
        "accuracy": m["accuracy"], "score": m["accuracy"]}
    assert get_task("cola").compute_metrics(preds, labels) == {"mcc": m["mcc"], "score": m["mcc"]}


@pytest.mark.parametrize("preds", [np.ones(4, dtype=int), np.zeros(4, dtype=int)])
def test_degenerate_predictions_give_zero_mcc_and_f1(preds: np.ndarray) -> None:
    labels = np.array([0, 1, 1, 0])
    assert get_task("cola").compute_metrics(preds, labels)["mcc"] == 0.0
    assert get_task("mrpc").compute_metrics(preds, np.zeros(4, dtype=int))["f1"] == 0.0


def test_prediction_length_mismatch() -> None:
    with pytest.raises(ValueError, match="3 predictions for 2 labels"):
        get_task("rte").compute_metrics([0, 1, 1], [0, 1])


@pytest.mark.realdata
@pytest.mark.parametrize("name", TASK_NAMES)
def test_majority_scores_match_the_real_dev_sets(name: str, real_glue_dir) -> None:
    task = get_task(name)
    dev = read_glue_tsv(real_glue_dir / task.glue_dir_name / "dev.tsv", task)
    assert task.majority_score == pytest.approx(task.majority_score_of([e.label for e in dev]))
