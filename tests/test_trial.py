from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
import torch

from tune_seeds.trial import training
from tune_seeds.trial.config import TrainConfig
from tune_seeds.trial.data import prepare_data
from tune_seeds.trial.optim import BertAdam, parameter_groups
from tune_seeds.trial.precision import cpu_has_native_bf16
from tune_seeds.trial.training import Trial, TrialStatus, evaluation_steps


@pytest.fixture(scope="module")
def data(tiny_config: TrainConfig):
    return prepare_data(tiny_config)


def head(trial: Trial) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trial.model.named_parameters() if k.startswith("classifier")}


def body(trial: Trial) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trial.model.named_parameters() if k.startswith("bert")}


def canon(records: list[dict]) -> list[dict]:
    """Records with NaN made comparable (NaN != NaN once read back from a checkpoint)."""
    return [{k: "nan" if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()}
            for r in records]


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_evaluation_steps() -> None:
    assert evaluation_steps(6, 2, 3) == [0, 2, 4, 6, 8, 10, 12]
    assert evaluation_steps(23, 1, 10)[-1] == 23
    with pytest.raises(ValueError, match="only 4 steps, fewer than the 10 evaluations"):
        evaluation_steps(4, 3, 10)


def test_wi_and_do_seeds_are_independent(tiny_config: TrainConfig, data) -> None:
    a = Trial(tiny_config, wi_seed=1, do_seed=1, data=data)
    b = Trial(tiny_config, wi_seed=1, do_seed=2, data=data)
    c = Trial(tiny_config, wi_seed=2, do_seed=1, data=data)
    # Changing DO leaves the head identical; changing WI leaves the order identical.
    assert same(head(a), head(b))
    assert not same(head(a), head(c))
    assert all(torch.equal(x, y) for x, y in zip(a.orders, c.orders, strict=True))
    assert not torch.equal(a.orders[0], b.orders[0])
    # The pretrained body depends on neither seed.
    assert same(body(a), body(c))
    # The head is normal(0, initializer_range) with zero bias.
    w = head(a)["classifier.weight"]
    assert torch.count_nonzero(head(a)["classifier.bias"]) == 0
    assert 0.005 < float(w.detach().std()) < 0.05


def test_step_zero_evaluation_depends_on_the_wi_seed_only(tiny_config: TrainConfig, data) -> None:
    first = [next(Trial(tiny_config, 4, do, data=data).evaluations()) for do in (1, 2, 3)]
    assert first[0] == first[1] == first[2]
    other = next(Trial(tiny_config, 5, 1, data=data).evaluations())
    assert other["eval_loss"] != first[0]["eval_loss"]


def test_same_seeds_same_curve(tiny_config: TrainConfig, data) -> None:
    curve = Trial(tiny_config, 3, 7, data=data).run()
    assert len(curve) == 7
    assert [r["eval_index"] for r in curve] == list(range(7))
    assert [r["step"] for r in curve] == [0, 2, 4, 6, 8, 10, 12]
    assert math.isnan(curve[0]["train_loss"]) and all(
        math.isfinite(r["train_loss"]) for r in curve[1:])
    assert Trial(tiny_config, 3, 7, data=data).run() == curve
    assert Trial(tiny_config, 3, 8, data=data).run() != curve
    best = [r["best_score"] for r in curve]
    # Evaluation 0 is its own best; from then on, the best since training started.
    assert best == [curve[0]["score"]] + [max(r["score"] for r in curve[1: i + 1])
                                          for i in range(1, 7)]


def test_global_rng_use_does_not_shift_the_trial(
    tiny_config: TrainConfig, data, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = Trial(tiny_config, 3, 7, data=data).run()
    disturbed = Trial(tiny_config, 3, 7, data=data)
    original = disturbed._train_step

    def noisy_step() -> float:
        torch.rand(1000)  # another library drawing from the global RNG
        return original()

    monkeypatch.setattr(disturbed, "_train_step", noisy_step)
    assert disturbed.run() == reference


def test_dropout_follows_the_chosen_seed(tiny_config: TrainConfig, data) -> None:
    cfg = tiny_config.replace(dropout_seed="wi")
    # With dropout on the WI seed, two DO seeds share masks but not the order; with
    # it on the DO seed, the curves of two WI seeds differ by the head only. Both
    # differ from each other, showing the option changes which stream is used.
    assert Trial(cfg, 3, 7, data=data).run() != Trial(tiny_config, 3, 7, data=data).run()
    assert Trial(cfg, 3, 7, data=data).run() == Trial(cfg, 3, 7, data=data).run()


@pytest.mark.parametrize("stop_after", [0, 2, 3, 5])
def test_resume_is_exact(tiny_config: TrainConfig, data, tmp_path: Path, stop_after: int) -> None:
    reference = Trial(tiny_config, 3, 7, data=data)
    expected = reference.run()
    first = Trial(tiny_config, 3, 7, data=data)
    for record in first.evaluations():
        if record["eval_index"] == stop_after:
            first.save_checkpoint(tmp_path / "ckpt.pt")
            break
    resumed = Trial(tiny_config, 3, 7, data=data)
    resumed.load_checkpoint(tmp_path / "ckpt.pt")
    assert canon(resumed.run()) == canon(expected)
    assert resumed.status is TrialStatus.COMPLETED
    assert same(body(resumed), body(reference)) and same(head(resumed), head(reference))


def test_checkpoint_of_another_trial_is_refused(
    tiny_config: TrainConfig, data, tmp_path: Path
) -> None:
    trial = Trial(tiny_config, 3, 7, data=data)
    trial.save_checkpoint(tmp_path / "c.pt")
    with pytest.raises(ValueError, match="checkpoint belongs to another trial: its do_seed is 7"):
        Trial(tiny_config, 3, 8, data=data).load_checkpoint(tmp_path / "c.pt")


def test_nan_loss_ends_the_trial_as_diverged(tiny_config: TrainConfig, data) -> None:
    trial = Trial(tiny_config, 3, 7, data=data)
    records = trial.evaluations()
    next(records)
    with torch.no_grad():
        trial.model.classifier.weight.fill_(float("nan"))
    assert list(records) == []
    assert trial.status is TrialStatus.DIVERGED
    # Noticed where the interval ends (the loss is read there, not after every step),
    # and that evaluation is not made.
    assert len(trial.records) == 1 and trial.step == trial.eval_steps[1]


def test_seeds_must_be_non_negative_integers(tiny_config: TrainConfig, data) -> None:
    with pytest.raises(ValueError, match="wi_seed must be a non-negative integer, got -1"):
        Trial(tiny_config, -1, 0, data=data)
    with pytest.raises(ValueError, match="do_seed must be a non-negative integer, got 1\\.5"):
        Trial(tiny_config, 1, 1.5, data=data)  # type: ignore[arg-type]


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="unknown task"):
        TrainConfig(task="squad")
    with pytest.raises(ValueError, match="optimizer must be one of"):
        TrainConfig(optimizer="sgd")
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        TrainConfig(batch_size=0)
    assert TrainConfig.paper().lr == 2e-5
    assert TrainConfig().total_evals == 30


def test_weight_decay_skips_biases_and_layer_norm(tiny_config: TrainConfig, data) -> None:
    trial = Trial(tiny_config, 1, 1, data=data)
    decay, no_decay = parameter_groups(trial.model, 0.01)
    names = {id(p): n for n, p in trial.model.named_parameters()}
    assert all("bias" in names[id(p)] or "LayerNorm" in names[id(p)] for p in no_decay["params"])
    assert all(names[id(p)].endswith("weight") and "LayerNorm" not in names[id(p)]
               for p in decay["params"])
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0


def test_bert_adam_has_no_bias_correction() -> None:
    p = torch.nn.Parameter(torch.tensor([1.0]))
    opt = BertAdam([p], lr=0.1)
    p.grad = torch.tensor([2.0])
    opt.step()
    m, v = 0.1 * 2.0, 0.001 * 4.0
    assert p.item() == pytest.approx(1.0 - 0.1 * m / (math.sqrt(v) + 1e-6))


def test_bert_adam_option_trains(tiny_config: TrainConfig, data) -> None:
    curve = Trial(tiny_config.replace(optimizer="bert-adam"), 3, 7, data=data).run()
    assert curve != Trial(tiny_config, 3, 7, data=data).run()
    assert all(math.isfinite(r["eval_loss"]) for r in curve)


# -- optimizer implementations ---------------------------------------------------


@pytest.mark.parametrize("optimizer", ["adamw", "bert-adam"])
def test_each_optimizer_implementation_is_reproducible_and_resumes_exactly(
    tiny_config: TrainConfig, data, tmp_path: Path, optimizer: str
) -> None:
    for impl in ("fused", "for-loop"):
        cfg = tiny_config.replace(optimizer=optimizer, optimizer_impl=impl)
        expected = Trial(cfg, 3, 7, data=data).run()
        assert Trial(cfg, 3, 7, data=data).run() == expected
        first = Trial(cfg, 3, 7, data=data)
        for record in first.evaluations():
            if record["eval_index"] == 3:
                first.save_checkpoint(tmp_path / f"{optimizer}-{impl}.pt")
                break
        resumed = Trial(cfg, 3, 7, data=data)
        resumed.load_checkpoint(tmp_path / f"{optimizer}-{impl}.pt")
        assert canon(resumed.run()) == canon(expected)


def test_bert_adam_multi_tensor_step_gives_the_loop_s_numbers(
    tiny_config: TrainConfig, data
) -> None:
    loop = Trial(tiny_config.replace(optimizer="bert-adam", optimizer_impl="for-loop"), 3, 7,
                 data=data)
    fused = Trial(tiny_config.replace(optimizer="bert-adam", optimizer_impl="fused"), 3, 7,
                  data=data)
    assert not loop.optimizer.foreach and fused.optimizer.foreach
    assert loop.run() == fused.run()
    assert same(dict(loop.model.named_parameters()), dict(fused.model.named_parameters()))


def test_fused_adamw_is_the_default_and_differs_from_the_loop_only_in_rounding(
    tiny_config: TrainConfig, data
) -> None:
    fused = Trial(tiny_config, 3, 7, data=data)
    loop = Trial(tiny_config.replace(optimizer_impl="for-loop"), 3, 7, data=data)
    assert all(g["fused"] for g in fused.optimizer.param_groups)
    assert not any(g["fused"] or g["foreach"] for g in loop.optimizer.param_groups)
    a, b = fused.run(), loop.run()
    assert [r["eval_index"] for r in a] == [r["eval_index"] for r in b]
    gaps = [abs(x["train_loss"] - y["train_loss"]) for x, y in zip(a[1:], b[1:], strict=True)]
    assert max(gaps) < 1e-3


def test_a_config_saved_before_optimizer_impl_runs_the_loop(
    tiny_config: TrainConfig, data, tmp_path: Path
) -> None:
    saved = tiny_config.replace(optimizer_impl="for-loop").to_dict()
    del saved["optimizer_impl"]
    assert TrainConfig.from_dict(saved).optimizer_impl == "for-loop"
    old = Trial(TrainConfig.from_dict(saved), 3, 7, data=data)
    records = old.evaluations()
    next(records), next(records)
    state = old.state_dict()
    state["config"] = saved  # as a checkpoint written by the older version
    torch.save(state, tmp_path / "old.pt")
    Trial(TrainConfig.from_dict(saved), 3, 7, data=data).load_checkpoint(tmp_path / "old.pt")
    with pytest.raises(ValueError, match="its config is"):
        Trial(tiny_config, 3, 7, data=data).load_checkpoint(tmp_path / "old.pt")


def test_training_loss_is_the_mean_of_the_interval_s_step_losses(
    tiny_config: TrainConfig, data, monkeypatch: pytest.MonkeyPatch
) -> None:
    trial = Trial(tiny_config, 3, 7, data=data)
    losses: list[float] = []
    accumulate = trial._accumulate

    def record_loss(loss: torch.Tensor) -> None:
        losses.append(float(loss.item()))
        accumulate(loss)

    monkeypatch.setattr(trial, "_accumulate", record_loss)
    curve = trial.run()
    for before, after in itertools.pairwise(curve):
        interval = losses[before["step"] : after["step"]]
        total = 0.0
        for value in interval:  # summed in double precision, in step order
            total += value
        assert after["train_loss"] == total / len(interval)


# -- precision ---------------------------------------------------------------------

PRECISIONS = ("fp32", "bf16", "fp16")


@pytest.mark.parametrize("precision", PRECISIONS)
def test_each_precision_is_reproducible_and_resumes_exactly(
    tiny_config: TrainConfig, data, tmp_path: Path, precision: str
) -> None:
    cfg = tiny_config.replace(precision=precision)
    expected = Trial(cfg, 3, 7, data=data).run()
    assert Trial(cfg, 3, 7, data=data).run() == expected
    first = Trial(cfg, 3, 7, data=data)
    for record in first.evaluations():
        if record["eval_index"] == 3:
            first.save_checkpoint(tmp_path / "ckpt.pt")
            break
    resumed = Trial(cfg, 3, 7, data=data)
    resumed.load_checkpoint(tmp_path / "ckpt.pt")
    assert canon(resumed.run()) == canon(expected)
    assert resumed.precision == precision


def test_precisions_give_different_curves(tiny_config: TrainConfig, data) -> None:
    curves = {p: Trial(tiny_config.replace(precision=p), 3, 7, data=data).run() for p in PRECISIONS}
    losses = {p: [r["eval_loss"] for r in c] for p, c in curves.items()}
    assert losses["fp32"] != losses["bf16"] != losses["fp16"] != losses["fp32"]
    # Close, though: the same training, rounded differently.
    assert abs(losses["fp32"][-1] - losses["bf16"][-1]) < 0.05


def test_checkpoint_of_another_precision_is_refused(
    tiny_config: TrainConfig, data, tmp_path: Path
) -> None:
    Trial(tiny_config.replace(precision="bf16"), 3, 7, data=data).save_checkpoint(tmp_path / "c.pt")
    with pytest.raises(ValueError, match="checkpoint belongs to another trial"):
        Trial(tiny_config.replace(precision="fp32"), 3, 7, data=data).load_checkpoint(
            tmp_path / "c.pt")


def test_auto_precision_follows_the_cpu(tiny_config: TrainConfig, data) -> None:
    trial = Trial(tiny_config.replace(precision="auto"), 3, 7, data=data, device="cpu")
    assert trial.precision == ("bf16" if cpu_has_native_bf16() else "fp32")
    assert trial.precision_reason.startswith("auto: this CPU has")
    assert trial.deterministic is True


def test_fp16_overflow_is_skipped_by_the_scaler_not_a_divergence(
    tiny_config: TrainConfig, data
) -> None:
    trial = Trial(tiny_config.replace(precision="fp16"), 3, 7, data=data)
    records = trial.evaluations()
    next(records)
    # So large a scale that the scaled gradients overflow to inf.
    trial.scaler = torch.amp.GradScaler("cpu", init_scale=3.0e38)
    before = {k: v.clone() for k, v in trial.model.state_dict().items()}
    trial._train_step()
    assert all(torch.equal(before[k], v) for k, v in trial.model.state_dict().items())
    assert trial.scaler.get_scale() < 3.0e38
    assert len(list(records)) == len(trial.eval_steps) - 1
    assert trial.status is TrialStatus.COMPLETED


def test_fp16_non_finite_losses_in_a_row_become_a_divergence(
    tiny_config: TrainConfig, data, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(training, "FP16_SKIPS_BEFORE_DIVERGED", 2)
    trial = Trial(tiny_config.replace(precision="fp16"), 3, 7, data=data)
    records = trial.evaluations()
    next(records)
    with torch.no_grad():
        trial.model.classifier.weight.fill_(float("inf"))
    assert list(records) == []
    assert trial.status is TrialStatus.DIVERGED
    assert trial.step == 2  # the first skipped step was the scaler's, the second ends it


@pytest.mark.parametrize("stop_after", [0, 3, 5])
def test_recompute_from_the_position_alone_is_exact(
    tiny_config: TrainConfig, data, stop_after: int
) -> None:
    expected = Trial(tiny_config, 3, 7, data=data).run()
    first = Trial(tiny_config, 3, 7, data=data)
    for record in first.evaluations():
        if record["eval_index"] == stop_after:
            position = first.position_state()
            break
    assert "model" not in position and "optimizer" not in position
    again = Trial(tiny_config, 3, 7, data=data)
    again.recompute(position)
    assert canon(again.run()) == canon(expected)


def test_recompute_refuses_different_arithmetic(tiny_config: TrainConfig, data) -> None:
    first = Trial(tiny_config, 3, 7, data=data)
    for record in first.evaluations():
        if record["eval_index"] == 2:
            break
    position = first.position_state()
    position["records"][-1]["train_loss"] += 1e-9  # as if another machine had run it
    with pytest.raises(ValueError, match="not the same arithmetic"):
        Trial(tiny_config, 3, 7, data=data).recompute(position)
    used = Trial(tiny_config, 3, 7, data=data)
    next(used.evaluations())
    with pytest.raises(ValueError, match="needs a fresh trial"):
        used.recompute(first.position_state())
