"""A float16 copy of the model for small uploads: exported, then trained in float32."""

from __future__ import annotations

import pytest
import torch

from tune_seeds.trial.model import build_model

from .test_analysis import _script


def test_float16_export_loads_as_float32_with_the_same_head(tmp_path, capsys):
    out = tmp_path / "model-fp16"
    assert _script("export_model").main(["--out", str(out)]) == 0
    assert "weights in float16" in capsys.readouterr().out
    weights = out / "model.safetensors"
    assert weights.stat().st_size < 50 * 2**20  # the float32 file is 91 MB
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left

    half = build_model(str(out), num_labels=2, wi_seed=3, num_hidden_layers=1)
    full = build_model("default", num_labels=2, wi_seed=3, num_hidden_layers=1)
    # Trained in float32 whatever the checkpoint's dtype.
    assert {p.dtype for p in half.parameters()} == {torch.float32}
    fp, hp = dict(full.named_parameters()), dict(half.named_parameters())
    assert fp.keys() == hp.keys()
    for name in fp:
        if name.startswith("classifier."):
            # The head comes from the WI seed alone, not from the checkpoint.
            assert torch.equal(fp[name], hp[name]), name
        else:
            assert torch.equal(fp[name].detach().half().float(), hp[name]), name


def test_export_refuses_an_existing_folder(tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    with pytest.raises(SystemExit) as exc:
        _script("export_model").main(["--out", str(out)])
    assert exc.value.code == 2 and "exists" in capsys.readouterr().err
    assert list(out.iterdir()) == []
