"""The default pretrained model learns on a real GLUE subset (skipped without GLUE_DIR)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tune_seeds.trial.config import TrainConfig
from tune_seeds.trial.training import Trial

pytestmark = pytest.mark.realdata


def test_default_model_beats_the_majority_class_on_real_sst2(real_glue_dir: Path) -> None:
    config = TrainConfig(task="sst2", glue_dir=str(real_glue_dir), train_examples=320,
                         dev_examples=200, epochs=2, evals_per_epoch=2, threads=2)
    trial = Trial(config, wi_seed=1, do_seed=1)
    curve = trial.run()
    majority = trial.task.majority_score_of(trial.data.dev.labels)
    assert curve[0]["step"] == 0 and len(curve) == 5
    assert curve[-1]["best_score"] > majority + 0.1, curve
