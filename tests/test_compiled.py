"""Static shapes and torch.compile: padded batches, the config, and a compiled trial."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tune_seeds.trial.compiled import compile_model
from tune_seeds.trial.config import TrainConfig
from tune_seeds.trial.training import Trial


def test_padded_batches_have_few_widths_and_the_same_tokens(tiny_config):
    split = Trial(tiny_config, 1, 1).data.train
    idx = np.arange(8)
    plain, padded = split.batch(idx), split.batch(idx, 16)
    width = plain["input_ids"].shape[1]
    assert padded["input_ids"].shape[1] == -(-width // 16) * 16
    for key in ("input_ids", "token_type_ids", "attention_mask"):
        assert torch.equal(padded[key][:, :width], plain[key])
    assert (padded["input_ids"][:, width:] == split.pad_id).all()
    assert (padded["attention_mask"][:, width:] == 0).all()
    assert torch.equal(padded["labels"], plain["labels"])


def test_config_checks_and_old_configs_run_eager_unpadded():
    with pytest.raises(ValueError, match="torch_compile must be one of"):
        TrainConfig(torch_compile="yes")
    with pytest.raises(ValueError, match="pad_to_multiple_of must be at least 1"):
        TrainConfig(pad_to_multiple_of=0)
    old = TrainConfig.from_dict({"task": "rte"})
    assert (old.torch_compile, old.pad_to_multiple_of) == ("off", None)
    with pytest.raises(ValueError, match="torch_compile must be one of"):
        compile_model(torch.nn.Linear(2, 2), "fast")


def test_compiled_trial_is_deterministic_and_draws_the_eager_dropout_masks(tiny_config):
    """Compiled and eager trials on the same padded batches draw the same dropout masks
    (the global generator, as eager), so they differ by rounding only; two compiled
    runs are identical."""
    padded = tiny_config.replace(pad_to_multiple_of=16, precision="fp32")
    compiled = padded.replace(torch_compile="all")
    eager = Trial(padded, 2, 3).run()
    first = Trial(compiled, 2, 3).run()
    again = Trial(compiled, 2, 3).run()
    assert first == again
    for a, b in zip(eager, first, strict=True):
        assert b["step"] == a["step"]
        assert b["eval_loss"] == pytest.approx(a["eval_loss"], rel=1e-4)
        if a["eval_index"]:
            assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
    # Padding alone is not free of effects: dropout masks are drawn at another shape.
    unpadded = Trial(tiny_config.replace(precision="fp32"), 2, 3).run()
    assert unpadded[1]["train_loss"] != eager[1]["train_loss"]


def test_compile_eval_leaves_training_eager(tiny_config):
    trial = Trial(tiny_config.replace(torch_compile="eval", pad_to_multiple_of=16), 1, 1)
    assert trial._train_forward is trial.model
    assert trial._eval_forward is not trial.model
