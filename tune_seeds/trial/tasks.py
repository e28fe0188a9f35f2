"""GLUE tasks: their TSV layout, labels and the paper's metrics.

Each :class:`Task` knows how to read its rows, which metric is the headline score
(the one trials are ranked by) and what a majority-class predictor scores on the
standard dev set, so that failed runs can be told apart from learning ones.

>>> task = get_task("SST-2")
>>> task.name, task.metric_names
('sst2', ('accuracy',))
>>> task.compute_metrics([1, 0, 1], [1, 1, 1])["score"]
0.6666666666666666
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef


@dataclass(frozen=True)
class Task:
    """One GLUE classification task.

    Args:
        name: canonical lower-case name (``mrpc``, ``rte``, ``cola``, ``sst2``).
        glue_dir_name: folder name in the GLUE data layout (``MRPC`` ...).
        hub_config: configuration name of the ``nyu-mll/glue`` dataset on the Hub.
        has_header: whether the TSV files start with a header line.
        num_columns: number of tab-separated fields on every line.
        label_column: index of the label field.
        text_columns: indices of the one or two text fields.
        label_names: label strings as written in the TSV, in label-id order
            (the Hub's ids use the same order).
        metric_names: metrics reported at every evaluation.
        majority_score: headline score of always predicting the majority dev label.
        failed_threshold: a run whose best score is at or below this failed
            (the paper's thresholds; the majority score where it gives none).
    """

    name: str
    glue_dir_name: str
    hub_config: str
    has_header: bool
    num_columns: int
    label_column: int
    text_columns: tuple[int, ...]
    label_names: tuple[str, ...]
    metric_names: tuple[str, ...]
    majority_score: float
    failed_threshold: float

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def is_pair(self) -> bool:
        return len(self.text_columns) == 2

    def compute_metrics(
        self, preds: Sequence[int] | np.ndarray, labels: Sequence[int] | np.ndarray
    ) -> dict[str, float]:
        """Every metric of the task plus ``score``, the headline the paper reports."""
        p = np.asarray(preds, dtype=np.int64)
        y = np.asarray(labels, dtype=np.int64)
        if p.shape != y.shape:
            raise ValueError(f"{len(p)} predictions for {len(y)} labels")
        # scikit-learn's metrics: F1 of the positive class (label 1), 0 when it is never
        # predicted nor present; MCC 0 when a marginal is constant. They equal the
        # hand-written formulas the recorded sweeps used, bit for bit (checked on 1,500
        # random cases per metric), so no recorded number changes.
        out: dict[str, float] = {}
        if "accuracy" in self.metric_names:
            out["accuracy"] = float(accuracy_score(y, p)) if len(y) else 0.0
        if "f1" in self.metric_names:
            out["f1"] = float(f1_score(y, p, zero_division=0.0))
        if "mcc" in self.metric_names:
            out["mcc"] = float(matthews_corrcoef(y, p))
        # MRPC's headline is the mean of accuracy and F1, as in the paper.
        out["score"] = float(np.mean([out[m] for m in self.metric_names]))
        return out

    def majority_score_of(self, labels: Sequence[int] | np.ndarray) -> float:
        """Headline score of predicting the most frequent label for every example."""
        y = np.asarray(labels, dtype=np.int64)
        majority = int(np.bincount(y, minlength=self.num_labels).argmax())
        return self.compute_metrics(np.full_like(y, majority), y)["score"]


# Majority scores follow from the dev label counts of the standard GLUE files
# (MRPC 279/129, RTE 146/131, CoLA 721/322, SST-2 444/428); a test checks them
# against the files when they are present.
TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task(
            name="mrpc",
            glue_dir_name="MRPC",
            hub_config="mrpc",
            has_header=True,
            num_columns=5,
            label_column=0,
            text_columns=(3, 4),
            label_names=("0", "1"),
            metric_names=("accuracy", "f1"),
            majority_score=(279 / 408 + 2 * 279 / (2 * 279 + 129)) / 2,
            failed_threshold=0.75,
        ),
        Task(
            name="rte",
            glue_dir_name="RTE",
            hub_config="rte",
            has_header=True,
            num_columns=4,
            label_column=3,
            text_columns=(1, 2),
            label_names=("entailment", "not_entailment"),
            metric_names=("accuracy",),
            majority_score=146 / 277,
            failed_threshold=0.5,
        ),
        Task(
            name="cola",
            glue_dir_name="CoLA",
            hub_config="cola",
            has_header=False,
            num_columns=4,
            label_column=1,
            text_columns=(3,),
            label_names=("0", "1"),
            metric_names=("mcc",),
            majority_score=0.0,
            failed_threshold=0.1,
        ),
        Task(
            name="sst2",
            glue_dir_name="SST-2",
            hub_config="sst2",
            has_header=True,
            num_columns=2,
            label_column=1,
            text_columns=(0,),
            label_names=("0", "1"),
            metric_names=("accuracy",),
            majority_score=444 / 872,
            failed_threshold=444 / 872,
        ),
    )
}

TASK_NAMES: tuple[str, ...] = tuple(TASKS)


def get_task(name: str) -> Task:
    """Look a task up by name, in any case, with or without a dash (``SST-2``)."""
    key = name.strip().lower().replace("-", "").replace("_", "")
    if key not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASK_NAMES)}")
    return TASKS[key]
