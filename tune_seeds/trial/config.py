"""The hyper-parameters of one seeded trial, everything except the two seeds.

A :class:`TrainConfig` is frozen and plain (numbers and strings only) so that it
travels unchanged in a Ray Tune config, a checkpoint or a results table.

Two presets:

- the defaults learn on the default model (MiniLM-L6): lr 1e-4, batch 16, 3 epochs,
  max length 128. At the paper's 2e-5 for 3 epochs MiniLM stays near the
  majority class;
- :meth:`TrainConfig.paper` is the paper's BERT-large setup: lr 2e-5, batch 16,
  3 epochs, max length 128.

Which seed drives dropout (``dropout_seed``):

- ``"do"`` (default): the data-order seed, as in the paper's code, which re-seeds
  the global RNG after the model is built. The WI seed then touches nothing but
  the new head;
- ``"wi"``: the weight-initialization seed, as Hugging Face's ``TrainingArguments``
  does (``seed`` drives head and dropout, ``data_seed`` the order).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from tune_seeds.trial.tasks import get_task

OPTIMIZERS = ("adamw", "bert-adam")
OPTIMIZER_IMPLS = ("fused", "for-loop")
LEGACY_OPTIMIZER_IMPL = "for-loop"
"""What a config recorded before ``optimizer_impl`` existed ran: torch's per-parameter
AdamW. A sweep started then resumes with it, so its trials keep their arithmetic."""
PRESETS = ("default", "paper")
CLI_OPTIONS = (
    "lr", "batch_size", "epochs", "max_length", "evals_per_epoch", "optimizer",
    "dropout_seed", "train_examples", "dev_examples", "num_hidden_layers", "precision",
    "deterministic", "optimizer_impl", "torch_compile", "pad_to_multiple_of",
)
"""Fields that the command-line tools expose under the same name (``--batch-size``)."""
DROPOUT_SEEDS = ("do", "wi")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
COMPILE_MODES = ("off", "eval", "all")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a trial.

    Args:
        task: GLUE task name (``mrpc``, ``rte``, ``cola``, ``sst2``).
        model: ``"default"`` (the packaged MiniLM-L6), a local directory or a Hub name.
        lr: peak learning rate.
        batch_size: training batch size.
        epochs: passes over the training set.
        max_length: tokens per example after truncation (pairs share it).
        warmup_fraction: share of the steps with a linear warm-up, then linear decay.
        weight_decay: decoupled weight decay, not applied to biases and LayerNorm.
        max_grad_norm: global gradient-norm clipping.
        evals_per_epoch: validations per epoch, besides the one at step 0.
        optimizer: ``"adamw"`` (with bias correction) or ``"bert-adam"`` (the
            paper's BERT Adam without bias correction, which fails more often).
        optimizer_impl: ``"fused"`` (default): AdamW as one fused kernel over all
            parameters (torch's ``fused=True``, CPU and CUDA), BERT Adam as multi-tensor
            (``torch._foreach_*``) operations; ``"for-loop"``: one step per parameter,
            as every sweep recorded before this option ran. For AdamW the two differ in
            the last bits (another order of operations), so a sweep keeps the one it
            started with; for BERT Adam they give the same numbers.
        dropout_seed: which seed drives dropout masks, ``"do"`` or ``"wi"``.
        train_examples: seeded subset of the training set (None: all of it).
        dev_examples: seeded subset of the dev set (None: all of it).
        subset_seed: seed of those subsets; the same for every trial of a sweep.
        eval_batch_size: batch size of validation (no effect on results).
        num_hidden_layers: cut the model to its first layers (tests, quick runs).
        threads: torch intra-op threads; pinned so that runs are bit-identical.
        precision: ``auto`` (bf16 where the device runs it natively, else fp32),
            ``fp32``, ``bf16`` or ``fp16``; see :mod:`tune_seeds.trial.precision`.
        deterministic: PyTorch's settings for reproducible runs (None: on for a CPU,
            where they cost nothing, off for a GPU, where they cost speed).
        torch_compile: ``"off"``, ``"eval"`` or ``"all"``: which forward passes run
            through ``torch.compile`` (:mod:`tune_seeds.trial.compiled`).
        pad_to_multiple_of: pad every batch to a multiple of this many tokens (None: to
            its longest example); few widths let compiled code be reused.
        glue_dir: GLUE data directory (None: ``GLUE_DIR``, else the Hub).
        cache_dir: where tokenized data is cached (None: ``TUNE_SEEDS_CACHE`` or
            ``~/.cache/tune-seeds``).
    """

    task: str = "mrpc"
    model: str = "default"
    lr: float = 1e-4
    batch_size: int = 16
    epochs: int = 3
    max_length: int = 128
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    evals_per_epoch: int = 10
    optimizer: str = "adamw"
    optimizer_impl: str = "fused"
    dropout_seed: str = "do"
    train_examples: int | None = None
    dev_examples: int | None = None
    subset_seed: int = 0
    eval_batch_size: int = 64
    num_hidden_layers: int | None = None
    threads: int | None = None
    precision: str = "auto"
    deterministic: bool | None = None
    torch_compile: str = "off"
    pad_to_multiple_of: int | None = None
    glue_dir: str | None = None
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        get_task(self.task)
        positive = ("batch_size", "epochs", "max_length", "evals_per_epoch", "eval_batch_size")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("train_examples", "dev_examples", "num_hidden_layers", "threads",
                     "pad_to_multiple_of"):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise ValueError(f"{name} must be at least 1 (or unset), got {value}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.optimizer_impl not in OPTIMIZER_IMPLS:
            raise ValueError(
                f"optimizer_impl must be one of {OPTIMIZER_IMPLS}, got {self.optimizer_impl!r}"
            )
        if self.torch_compile not in COMPILE_MODES:
            raise ValueError(
                f"torch_compile must be one of {COMPILE_MODES}, got {self.torch_compile!r}"
            )
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.dropout_seed not in DROPOUT_SEEDS:
            raise ValueError(
                f"dropout_seed must be one of {DROPOUT_SEEDS}, got {self.dropout_seed!r}"
            )

    @classmethod
    def paper(cls, **overrides: Any) -> TrainConfig:
        """The paper's fixed hyper-parameters (BERT-large, Dodge et al. 2020)."""
        values: dict[str, Any] = dict(lr=2e-5, batch_size=16, epochs=3, max_length=128)
        values.update(overrides)
        return cls(**values)

    @classmethod
    def from_options(cls, preset: str = "default", **options: Any) -> TrainConfig:
        """A preset overridden by the options a user gave (``None`` means not given)."""
        if preset not in PRESETS:
            raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
        values = {k: v for k, v in options.items() if v is not None}
        return cls.paper(**values) if preset == "paper" else cls(**values)

    @property
    def total_evals(self) -> int:
        """Evaluation intervals in a full run: the budget unit of the schedulers."""
        return self.evals_per_epoch * self.epochs

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """A config from :meth:`to_dict`, including one saved by an older version.

        >>> TrainConfig.from_dict({"task": "rte"}).optimizer_impl
        'for-loop'
        """
        values = with_legacy_defaults(values)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {', '.join(unknown)}")
        return cls(**values)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


def with_legacy_defaults(values: dict[str, Any]) -> dict[str, Any]:
    """A saved config dict with the fields it predates set to what it actually ran."""
    return {"optimizer_impl": LEGACY_OPTIMIZER_IMPL, **values}
