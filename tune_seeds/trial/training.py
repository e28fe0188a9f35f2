"""One seeded fine-tuning trial: the training loop, its learning curve and exact resume.

A :class:`Trial` fine-tunes a pretrained model on a GLUE task with a
weight-initialization (WI) seed and a data-order (DO) seed:

- the WI seed alone sets the new classifier head;
- the DO seed alone sets one permutation of the training set per epoch;
- dropout follows the DO seed (the paper's code) or the WI seed (Hugging Face's
  convention), see :mod:`tune_seeds.trial.config`.

It validates at step 0 and ``evals_per_epoch`` times per epoch, yielding one record
per evaluation. A checkpoint taken after any evaluation holds the model, optimizer,
LR schedule, step, random states and the position in the data order, so that a
resumed trial continues with the very same curve (bit for bit on CPU with a pinned
thread count, in every precision).

Precision (``config.precision``, see :mod:`tune_seeds.trial.precision`): autocast to bf16 or
fp16 around the forward passes, weights and optimizer in float32, and for fp16 a
gradient scaler whose state is part of the checkpoint.

An example (it reads RTE from ``GLUE_DIR``, so it is not run as a test)::

    from tune_seeds.trial.config import TrainConfig, with_legacy_defaults

    trial = Trial(TrainConfig(task="rte", train_examples=160, dev_examples=32), 3, 7)
    for record in trial.evaluations():
        print(record["eval_index"], record["score"])
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.profiler import record_function

from tune_seeds.atomic import atomic_path
from tune_seeds.trial.compiled import compile_model
from tune_seeds.trial.config import TrainConfig, with_legacy_defaults
from tune_seeds.trial.data import PreparedData, TokenizedSplit, prepare_data
from tune_seeds.trial.model import build_model
from tune_seeds.trial.optim import linear_warmup_decay, make_optimizer
from tune_seeds.trial.precision import (
    allow_tf32,
    autocast,
    default_deterministic,
    grad_scaler,
    resolve_precision,
    set_deterministic,
)
from tune_seeds.trial.seeds import DropoutRNG, epoch_orders

__all__ = ["TrainConfig", "Trial", "TrialStatus", "evaluation_steps"]

CHECKPOINT_FORMAT = 2

FP16_SKIPS_BEFORE_DIVERGED = 30
"""fp16 steps in a row that the gradient scaler may skip before the trial counts as
diverged: by then the loss scale has fallen by 2**30, so the overflow is not the
scaler's to fix."""


class TrialStatus(str, Enum):
    RUNNING = "running"
    COMPLETED = "completed"
    DIVERGED = "diverged"


def evaluation_steps(steps_per_epoch: int, epochs: int, evals_per_epoch: int) -> list[int]:
    """Optimizer steps after which to validate: 0, then ``evals_per_epoch`` per epoch."""
    if steps_per_epoch < evals_per_epoch:
        raise ValueError(
            f"an epoch has only {steps_per_epoch} steps, fewer than the {evals_per_epoch} "
            "evaluations per epoch: use more training examples, a smaller batch or fewer "
            "evaluations"
        )
    return [0] + [
        epoch * steps_per_epoch + (k * steps_per_epoch) // evals_per_epoch
        for epoch in range(epochs)
        for k in range(1, evals_per_epoch + 1)
    ]


class Trial:
    """A fine-tuning run for one (WI seed, DO seed) pair.

    Args:
        config: every hyper-parameter but the seeds.
        wi_seed: weight-initialization seed (the classifier head).
        do_seed: data-order seed (one shuffle per epoch).
        data: tokenized data; prepared from ``config`` when not given. Pass it to
            run many trials in one process without reading the cache again.
        device: ``"cpu"``, ``"cuda"``...; the GPU when there is one by default.
    """

    def __init__(
        self,
        config: TrainConfig,
        wi_seed: int,
        do_seed: int,
        data: PreparedData | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        for name, seed in (("wi_seed", wi_seed), ("do_seed", do_seed)):
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {seed!r}")
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        self.config = config
        self.wi_seed = int(wi_seed)
        self.do_seed = int(do_seed)
        self.data = data if data is not None else prepare_data(config)
        self.task = self.data.task
        self.device = torch.device(
            device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
        )
        self.precision, self.precision_reason = resolve_precision(config.precision, self.device)
        allow_tf32(self.device, config.precision)
        self.deterministic = (
            default_deterministic(self.device)
            if config.deterministic is None
            else bool(config.deterministic)
        )
        set_deterministic(self.deterministic)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

        n_train = len(self.data.train)
        self.steps_per_epoch = math.ceil(n_train / config.batch_size)
        self.total_steps = self.steps_per_epoch * config.epochs
        self.eval_steps = evaluation_steps(
            self.steps_per_epoch, config.epochs, config.evals_per_epoch
        )
        self.orders = epoch_orders(self.do_seed, n_train, config.epochs)

        self.model = build_model(
            config.model, self.task.num_labels, self.wi_seed, config.num_hidden_layers
        ).to(self.device)
        self._train_forward, self._eval_forward = compile_model(self.model, config.torch_compile)
        self.optimizer = make_optimizer(
            self.model, config.optimizer, config.lr, config.weight_decay, config.optimizer_impl
        )
        self.lr_schedule = linear_warmup_decay(
            self.optimizer, self.total_steps, config.warmup_fraction
        )
        dropout_seed = self.do_seed if config.dropout_seed == "do" else self.wi_seed
        self.dropout = DropoutRNG(dropout_seed, self.device)
        self.scaler = grad_scaler(self.precision, self.device)
        self._skipped_in_a_row = 0
        # Validation in order of length wastes the least padding; the order has no
        # effect on the metrics.
        self._dev_order = np.argsort(self.data.dev.lengths(), kind="stable")

        self.step = 0
        self.records: list[dict[str, Any]] = []
        self.status = TrialStatus.RUNNING
        self.last_predictions: tuple[np.ndarray, np.ndarray] | None = None
        """Labels and probabilities of label 1 predicted for the dev set at the latest
        evaluation, in dev order."""
        self._reset_interval()

    # -- the loop ---------------------------------------------------------------

    def evaluations(self) -> Iterator[dict[str, Any]]:
        """Train, yielding a record after every evaluation, until done or diverged.

        A checkpoint saved while the generator is suspended at a ``yield`` resumes
        right after that evaluation.
        """
        if not self.records:
            yield self._evaluate()
        while len(self.records) < len(self.eval_steps):
            target = self.eval_steps[len(self.records)]
            while self.step < target:
                self._train_step()
                if self.scaler is not None and self._diverged():
                    self.status = TrialStatus.DIVERGED
                    return
            # Read once per interval, not once per step: the device never waits on the host.
            if self.scaler is None and self._nonfinite_steps():
                self.status = TrialStatus.DIVERGED
                return
            yield self._evaluate()
        self.status = TrialStatus.COMPLETED

    def run(self) -> list[dict[str, Any]]:
        """Train to the end (or divergence) and return the learning curve."""
        for _ in self.evaluations():
            pass
        return self.records

    def _train_step(self) -> None:
        # The phases are labelled for torch.profiler (benchmarks/bench_trial_profile.py);
        # a label costs about a microsecond when no profiler runs.
        epoch, position = divmod(self.step, self.steps_per_epoch)
        bs = self.config.batch_size
        with record_function("batching"):
            batch = self._to_device(self.data.train.batch(
                self.orders[epoch][position * bs : (position + 1) * bs],
                self.config.pad_to_multiple_of,
            ))
        self.model.train()
        with self.dropout.active():
            # The loss's cross-entropy is on autocast's float32 list: reduced in fp32.
            with record_function("forward"), autocast(self.precision, self.device):
                loss = self._train_forward(**batch).loss
            with record_function("backward"):
                (self.scaler.scale(loss) if self.scaler else loss).backward()
        with record_function("clipping"):
            if self.scaler is not None:
                self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
        with record_function("optimizer"):
            if self.scaler is not None:
                # Skips the update when the gradients overflowed, and lowers the scale.
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            self.lr_schedule.step()
            self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self._accumulate(loss.detach())

    def _reset_interval(self) -> None:
        """Start the training-loss sums of a new evaluation interval, on the device."""
        # float64, as the sum of Python floats it replaces: the same train_loss, bit for bit.
        dtype = torch.float32 if self.device.type == "mps" else torch.float64
        self._loss_sum = torch.zeros((), dtype=dtype, device=self.device)
        self._loss_count = torch.zeros((), dtype=torch.int64, device=self.device)
        self._nonfinite = torch.zeros((), dtype=torch.int64, device=self.device)

    def _accumulate(self, loss: torch.Tensor) -> None:
        """Add a step's loss to the interval's sums without a host synchronisation."""
        finite = torch.isfinite(loss)
        self._loss_sum += torch.where(finite, loss, 0.0).to(self._loss_sum.dtype)
        self._loss_count += finite
        self._nonfinite += ~finite
        if self.scaler is not None:
            # fp16 counts the scaler's skips in a row; GradScaler.step syncs anyway.
            self._skipped_in_a_row = 0 if bool(finite) else self._skipped_in_a_row + 1

    def _nonfinite_steps(self) -> int:
        return int(self._nonfinite.item())

    def _interval_train_loss(self) -> float:
        """Mean training loss over the interval's finite steps (NaN when there were none)."""
        count = int(self._loss_count.item())
        return float(self._loss_sum.item()) / count if count else math.nan

    def _diverged(self) -> bool:
        """fp16: diverged once the scaler has skipped too many steps in a row."""
        return self._skipped_in_a_row >= FP16_SKIPS_BEFORE_DIVERGED

    @property
    def device_name(self) -> str:
        """The device in words: the GPU's model on CUDA, else the device type."""
        if self.device.type == "cuda":
            return torch.cuda.get_device_name(self.device)
        return self.device.type

    def peak_gpu_memory_mb(self) -> float:
        """Peak GPU memory allocated by this process since the trial began (NaN off CUDA)."""
        if self.device.type != "cuda":
            return math.nan
        return torch.cuda.max_memory_allocated(self.device) / 2**20

    def _to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    @torch.inference_mode()
    def predict(
        self, split: TokenizedSplit, order: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Predicted labels and probabilities of label 1 (in split order), and the mean
        cross-entropy on ``split``."""
        self.model.eval()
        preds = np.empty(len(split), dtype=np.int64)
        probs = np.empty(len(split), dtype=np.float32)
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        size = self.config.eval_batch_size
        batches = []
        for start in range(0, len(order), size):
            idx = order[start : start + size]
            batch = self._to_device(split.batch(idx, self.config.pad_to_multiple_of))
            labels = batch.pop("labels")
            with autocast(self.precision, self.device):
                logits = self._eval_forward(**batch).logits
            logits = logits.float()
            loss_sum += torch.nn.functional.cross_entropy(logits, labels, reduction="sum")
            batches.append((idx, logits.argmax(dim=-1), logits.softmax(dim=-1)[:, -1]))
        # One transfer at the end: the device never waits on the host between batches.
        for idx, pred, prob in batches:
            preds[idx] = pred.cpu().numpy()
            probs[idx] = prob.cpu().numpy()
        return preds, probs, float(loss_sum.item()) / len(split)

    @record_function("evaluation")
    def _evaluate(self) -> dict[str, Any]:
        dev = self.data.dev
        preds, probs, eval_loss = self.predict(dev, self._dev_order)
        self.last_predictions = (preds, probs)
        metrics = self.task.compute_metrics(preds, dev.labels)
        # Evaluation 0 (the untrained model) is not a result of training: the best
        # score counts from the first evaluation after training starts, as the paper's.
        previous_best = self.records[-1]["best_score"] if len(self.records) > 1 else -math.inf
        record: dict[str, Any] = {
            "eval_index": len(self.records),
            "step": self.step,
            "epoch": self.step / self.steps_per_epoch,
            "train_loss": self._interval_train_loss(),
            "eval_loss": eval_loss,
            **{m: metrics[m] for m in self.task.metric_names},
            "score": metrics["score"],
            "best_score": max(previous_best, metrics["score"]),
        }
        self._reset_interval()
        self.records.append(record)
        return record

    # -- checkpoints --------------------------------------------------------------

    def position_state(self) -> dict[str, Any]:
        """Where the trial is and its curve so far, without weights: a few kilobytes.

        :meth:`recompute` retrains a fresh trial to this position from its seeds, which
        lands on the same weights because a trial is deterministic; a pause can keep
        this instead of a full checkpoint (``--pause-mode recompute``).
        """
        return {
            "format": CHECKPOINT_FORMAT,
            "precision": self.precision,
            "config": self.config.to_dict(),
            "wi_seed": self.wi_seed,
            "do_seed": self.do_seed,
            "step": self.step,
            "records": [dict(r) for r in self.records],
            "loss_sum": float(self._loss_sum.item()),
            "loss_count": int(self._loss_count.item()),
            "status": self.status.value,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            **self.position_state(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "lr_schedule": self.lr_schedule.state_dict(),
            "dropout_rng": self.dropout.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "skipped_in_a_row": self._skipped_in_a_row,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._check_owner(state)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.lr_schedule.load_state_dict(state["lr_schedule"])
        self.dropout.load_state_dict(state["dropout_rng"])
        if self.scaler is not None and state["scaler"]:  # empty before the first step
            self.scaler.load_state_dict(state["scaler"])
        self._skipped_in_a_row = int(state["skipped_in_a_row"])
        self._set_position(state)

    def recompute(self, state: dict[str, Any]) -> None:
        """Retrain this fresh trial to the position of :meth:`position_state`.

        Validations are skipped: they draw no random numbers and change no weights, so
        the training steps alone land on the weights the run had. As a check, the
        mean training loss of the last interval must equal the recorded one to the last
        bit; otherwise (another thread count, another machine) this raises
        ``ValueError`` rather than continuing from different weights.
        """
        self._check_owner(state)
        if self.step or self.records:
            raise ValueError("recompute() needs a fresh trial")
        records = state["records"]
        target = int(state["step"])
        last_start = int(records[-2]["step"]) if len(records) > 1 else 0
        while self.step < target:
            if self.step == last_start:
                self._check_recomputed_interval()
                self._reset_interval()
            self._train_step()
            if self.scaler is not None:
                self._check_recomputed_interval()
        self._check_recomputed_interval()
        if int(self._loss_count.item()):
            again = self._interval_train_loss()
            recorded = records[-1]["train_loss"]
            if again != recorded:
                raise ValueError(
                    f"recomputing WI {self.wi_seed} / DO {self.do_seed} to step {target} gave "
                    f"a training loss of {again!r}, the run recorded {recorded!r}: not the "
                    "same arithmetic (thread count, precision, device or library versions)"
                )
        self._set_position(state)

    def _check_recomputed_interval(self) -> None:
        diverged = self._diverged() if self.scaler is not None else self._nonfinite_steps() > 0
        if diverged:
            raise ValueError(f"the recomputed trial diverged before step {self.step}")

    def _set_position(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.records = [dict(r) for r in state["records"]]
        self._reset_interval()
        self._loss_sum.fill_(float(state["loss_sum"]))
        self._loss_count.fill_(int(state["loss_count"]))
        self.status = TrialStatus(state["status"])

    def _check_owner(self, state: dict[str, Any]) -> None:
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"unsupported checkpoint format {state.get('format')!r}")
        ours = {
            "config": self.config.to_dict(), "wi_seed": self.wi_seed, "do_seed": self.do_seed,
            "precision": self.precision,
        }
        # Paths and thread counts may differ between the run and its resumption.
        ignored = {"glue_dir", "cache_dir", "threads"}
        for key, value in ours.items():
            theirs = with_legacy_defaults(state[key]) if key == "config" else state[key]
            if key == "config":
                value = {k: v for k, v in value.items() if k not in ignored}
                theirs = {k: v for k, v in theirs.items() if k not in ignored}
            if theirs != value:
                raise ValueError(
                    f"checkpoint belongs to another trial: its {key} is {theirs!r}, "
                    f"this trial's is {value!r}"
                )

    def save_checkpoint(self, path: str | os.PathLike[str]) -> Path:
        """Write the whole state to ``path`` atomically (:func:`~tune_seeds.atomic.atomic_path`)."""
        path = Path(path)
        with atomic_path(path) as tmp:
            torch.save(self.state_dict(), tmp)
        return path

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        state = torch.load(Path(path), map_location=self.device, weights_only=True)
        self.load_state_dict(state)
