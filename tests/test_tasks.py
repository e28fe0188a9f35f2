from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from tune_seeds.data import read_glue_tsv
from tune_seeds.tasks import TASK_NAMES, get_task


@pytest.mark.parametrize("alias,name", [("MRPC", "mrpc"), ("sst-2", "sst2"), ("SST2", "sst2"),
                                        ("CoLA", "cola"), (" rte ", "rte")])
def test_task_aliases(alias: str, name: str) -> None:
    assert get_task(alias).name == name


def test_unknown_task_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown task 'qnli'.*mrpc, rte, cola, sst2"):
        get_task("qnli")


@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    preds, labels = rng.integers(0, 2, 200), rng.integers(0, 2, 200)
    acc, f1 = accuracy_score(labels, preds), f1_score(labels, preds)
    mcc = matthews_corrcoef(labels, preds)
    assert get_task("mrpc").compute_metrics(preds, labels) == pytest.approx(
        {"accuracy": acc, "f1": f1, "score": (acc + f1) / 2}, abs=1e-12)
    assert get_task("rte").compute_metrics(preds, labels) == pytest.approx(
        {"accuracy": acc, "score": acc}, abs=1e-12)
    assert get_task("sst2").compute_metrics(preds, labels)["score"] == pytest.approx(acc)
    assert get_task("cola").compute_metrics(preds, labels) == pytest.approx(
        {"mcc": mcc, "score": mcc}, abs=1e-12)


def test_constant_predictions_give_zero_mcc_like_scikit_learn() -> None:
    labels = np.array([0, 1, 1, 0])
    preds = np.ones(4, dtype=int)
    expected = matthews_corrcoef(labels, preds)
    assert get_task("cola").compute_metrics(preds, labels)["mcc"] == expected


def test_prediction_length_mismatch() -> None:
    with pytest.raises(ValueError, match="3 predictions for 2 labels"):
        get_task("rte").compute_metrics([0, 1, 1], [0, 1])


@pytest.mark.realdata
@pytest.mark.parametrize("name", TASK_NAMES)
def test_majority_scores_match_the_real_dev_sets(name: str, real_glue_dir) -> None:
    task = get_task(name)
    dev = read_glue_tsv(real_glue_dir / task.glue_dir_name / "dev.tsv", task)
    assert task.majority_score == pytest.approx(task.majority_score_of([e.label for e in dev]))
