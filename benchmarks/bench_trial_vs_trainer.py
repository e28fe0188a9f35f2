#!/usr/bin/env python
"""Whole-trial throughput: one full trial of our ``Trial`` against the Hugging Face
``Trainer`` configured at its best for the same job, measured in the same run.

The job is one trial as a sweep runs it: fine-tuning on MRPC (a seeded 1,000-example
training subset by default, batch 16, 3 epochs: 189 steps) with its 31 evaluations on
the full dev set (408 examples) at step 0 and 10 times per epoch. Both sides use the
same model, the same pretrained weights and WI-seeded head
(:func:`tune_seeds.trial.model.build_model`), the same token ids, batch sizes, steps,
learning rate, warm-up and decay, weight decay, Adam epsilon, gradient clipping,
precision and thread count. This is the headline comparison;
``bench_train_vs_trainer.py`` times training steps alone.

The Trainer at its best for this job:

- dynamic padding (``DataCollatorWithPadding``), not ``run_glue.py``'s pad to 128;
- the same precision through its ``bf16``/``fp16`` flags (autocast, as ours; ``tf32``
  on CUDA where ours allows it);
- ``eval_strategy="steps"`` with ``eval_on_start`` and, because its ``eval_steps`` is a
  constant interval while ours are ``k * steps_per_epoch // 10`` in each epoch, a
  callback that pins evaluation to exactly our steps (checked: the same 31);
- the task's own metric through ``compute_metrics``;
- no saving, no logging integrations (``report_to=[]``), no progress bar, no
  dataloader workers; its default optimizer (fused AdamW).
- its tokenizing is not timed: a Trainer sweep tokenizes once too (``datasets``
  caches ``map``). The time one run of our tokenizer takes on the raw TSVs is in the
  JSON as ``tokenize_per_run_s`` and in ``ratio_vs_trainer_tokenizing_each_run``.

Breakdown (seconds) for each: ``train``, ``eval`` and ``overhead = total - train -
eval``.

- ours: total from reading the tokenization cache (:func:`prepare_data`, as every
  trial of a sweep does) and building the :class:`Trial` to its last evaluation;
  eval is the time inside ``Trial._evaluate``;
- Trainer: total from turning the token ids into a ``datasets.Dataset`` and building
  the model and the ``Trainer`` to the end of ``train()``; eval is the time inside
  ``Trainer.evaluate``; train is ``on_train_begin`` to ``on_train_end`` less eval.

The headline is ``ratio_vs_trainer_best`` = Trainer total / our total.

Where our gain comes from, each claim checked against ``tune_seeds/trial/training.py``:

- *Tokenizing once per sweep with a cache*: holds (``tune_seeds.trial.data`` caches the
  tokenized splits), but it is no gain over a Trainer whose dataset is cached too,
  and inside one trial it is at most ``tokenize_per_run_s``.
- *Length-sorted evaluation*: holds. ``Trial`` orders the dev set by length once
  (``_dev_order``), so evaluation batches carry the least padding; the Trainer
  evaluates in dataset order, padding each batch to its longest example.
- *No per-step host syncs*: holds for training. The training loss is summed on the
  device and read once per evaluation, and a non-finite loss is noticed there (fp16's
  scaler still syncs every step, inside ``GradScaler.step``). An evaluation moves its
  predictions to the host once, after its last batch. On a CPU a sync costs nothing; on
  a GPU each one waits for the queue to drain.
- *No per-evaluation setup*: holds for the dev data (split and order are prepared
  once; an evaluation only pads its batches). The Trainer builds a new
  ``DataLoader`` (no persistent workers without workers), prepares the model,
  gathers all logits, then computes metrics and logs, in every ``evaluate()``.

The eval and overhead columns say how much each of these is worth here; the train
column compares the training loops (same padding on both sides).

A third side, ``plain_eager``, is the floor a trial should reach: a plain eager loop
with fused AdamW over the same model, tokens, order, batches, schedule and evaluation
points, without the trial's bookkeeping (``ratio_vs_plain_eager``; above 1 means ours
is faster).

Tried, measured, and where it stands (2026-12-03, 2 threads, bf16, quiet machine):

- *Fused AdamW* (``--optimizer-impl fused``, the default for new sweeps): adopted. The
  optimizer's step went from 0.164 s to 0.031 s (one thread, full MRPC); the Trainer
  uses it too, so it closes the training gap (``ratio_train`` 0.91 -> 0.98) rather
  than opening one. ``benchmarks/results/trial_profile.json`` breaks a whole trial
  down: forward and backward are 57% of it, the optimizer 3%, clipping 2%, batching
  0.1%, evaluation 38%.
- *Multi-tensor BERT Adam*: adopted for its GPU gain; on a CPU ``torch._foreach_*``
  falls back to one kernel per tensor, so it is no faster there (0.185 s against
  0.194 s per step, within noise).
- *glibc's malloc keeping freed memory* (``MALLOC_TRIM_THRESHOLD_``): the word
  embedding's dense gradient (30,522 x 384) is allocated and zeroed every step; a
  larger trim threshold gave -3% to -9% process time per step on a loaded machine, not
  confirmed on a quiet one, so not adopted (the mmap threshold cannot be raised above
  32 MB, which this gradient exceeds).
- *torch.compile* with length buckets: not tried this round. A naive
  ``torch.compile(model, dynamic=True)`` measured slower before (0.64 s per step,
  2.5 min to compile, evaluation 10x slower).
- Still open: the trial is about 3% slower than the plain eager loop (dropout's own
  generator swapped in and out around each step, the checks and records), and its
  matrix products run at about a fifth of one large bf16 product's throughput on the
  same threads (``trial_profile.json``: ``share_of_peak_forward_backward``).

Run it alone: on 2 cores anything else running skews the numbers.

    python benchmarks/bench_trial_vs_trainer.py --glue-dir $GLUE_DIR
    python benchmarks/bench_trial_vs_trainer.py --glue-dir $GLUE_DIR --precision bf16

A smoke run (seconds): ``--num-hidden-layers 1 --train-examples 40 --dev-examples 32
--batch-size 4 --epochs 1 --output /tmp/t.json``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tune_seeds.benchmarking import hf_dataset, machine_info, write_result
from tune_seeds.trial.config import TrainConfig
from tune_seeds.trial.data import (
    load_examples,
    prepare_data,
    resolve_glue_dir,
    subset_indices,
    tokenize,
)
from tune_seeds.trial.model import build_model, load_tokenizer
from tune_seeds.trial.optim import ADAM_EPS, linear_warmup_decay, parameter_groups
from tune_seeds.trial.precision import add_precision_arguments, autocast, resolve_precision
from tune_seeds.trial.seeds import epoch_orders
from tune_seeds.trial.tasks import get_task
from tune_seeds.trial.training import Trial, evaluation_steps

RESULTS = Path(__file__).resolve().parent / "results"

SIDES = ("ours", "trainer_best", "plain_eager")


def now(device: torch.device) -> float:
    """A timestamp after the device's queued work is done."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def breakdown(total: float, train: float, evaluation: float, evals: int) -> dict[str, Any]:
    return {"total_s": total, "train_s": train, "eval_s": evaluation,
            "overhead_s": total - train - evaluation, "evaluations": evals}


def warm_up(config: TrainConfig, device: torch.device) -> None:
    """Untimed: fill the tokenization cache and run the kernels once, so that neither side
    pays the process's first-use costs."""
    trial = Trial(config, wi_seed=1, do_seed=1, device=device)
    for _ in range(2):
        trial._train_step()
    trial.predict(trial.data.dev, trial._dev_order[: config.eval_batch_size])


def run_ours(config: TrainConfig, wi_seed: int, do_seed: int,
             device: torch.device) -> tuple[dict[str, Any], float]:
    """One whole trial of ours: its breakdown and best score."""
    start = now(device)
    trial = Trial(config, wi_seed, do_seed, data=prepare_data(config), device=device)
    evaluate, eval_s = trial._evaluate, [0.0]

    def timed_evaluate() -> dict[str, Any]:
        begin = now(device)
        record = evaluate()
        eval_s[0] += now(device) - begin
        return record

    trial._evaluate = timed_evaluate  # the loop looks it up on the instance
    loop_start = now(device)
    records = trial.run()
    end = now(device)
    return breakdown(end - start, end - loop_start - eval_s[0], eval_s[0], len(records)), \
        records[-1]["best_score"]


def run_plain_eager(config: TrainConfig, wi_seed: int, do_seed: int,
                    device: torch.device) -> tuple[dict[str, Any], float]:
    """The floor a trial should reach: a plain eager loop, fused AdamW, on the same model,
    tokens, order, batches, schedule and evaluation points, with none of the trial's
    bookkeeping (no seeded dropout stream, no checks, no records)."""
    start = now(device)
    data = prepare_data(config)
    model = build_model(config.model, data.task.num_labels, wi_seed,
                        config.num_hidden_layers).to(device)
    optimizer = torch.optim.AdamW(parameter_groups(model, config.weight_decay), lr=config.lr,
                                  eps=ADAM_EPS, fused=True)
    steps_per_epoch = math.ceil(len(data.train) / config.batch_size)
    total = steps_per_epoch * config.epochs
    schedule = linear_warmup_decay(optimizer, total, config.warmup_fraction)
    orders = epoch_orders(do_seed, len(data.train), config.epochs)
    precision = resolve_precision(config.precision, device)[0]
    dev_order = np.argsort(data.dev.lengths(), kind="stable")
    eval_at = set(evaluation_steps(steps_per_epoch, config.epochs, config.evals_per_epoch))
    eval_s, scores = 0.0, []

    def evaluate() -> float:
        model.eval()
        preds = np.empty(len(data.dev), dtype=np.int64)
        with torch.inference_mode():
            for i in range(0, len(dev_order), config.eval_batch_size):
                idx = dev_order[i : i + config.eval_batch_size]
                batch = {k: v.to(device) for k, v in data.dev.batch(idx).items()}
                batch.pop("labels")
                with autocast(precision, device):
                    preds[idx] = model(**batch).logits.argmax(-1).cpu().numpy()
        return data.task.compute_metrics(preds, data.dev.labels)["score"]

    loop_start = now(device)
    for step in range(total + 1):
        if step in eval_at:
            begin = now(device)
            scores.append(evaluate())
            eval_s += now(device) - begin
        if step == total:
            break
        epoch, position = divmod(step, steps_per_epoch)
        idx = orders[epoch][position * config.batch_size : (position + 1) * config.batch_size]
        batch = {k: v.to(device) for k, v in data.train.batch(idx).items()}
        model.train()
        with autocast(precision, device):
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
    end = now(device)
    return breakdown(end - start, end - loop_start - eval_s, eval_s, len(scores)), \
        max(scores[1:])


def tokenize_per_run(config: TrainConfig) -> float:
    """Seconds to read and tokenize the raw TSV subsets, as an uncached run would."""
    task, glue_dir = get_task(config.task), resolve_glue_dir(config.glue_dir)
    tokenizer = load_tokenizer(config.model)
    start = time.perf_counter()
    for split, n in (("train", config.train_examples), ("dev", config.dev_examples)):
        examples = load_examples(task, split, glue_dir)
        idx = subset_indices(len(examples), n, config.subset_seed, split)
        tokenize([examples[i] for i in idx], tokenizer, config.max_length)
    return time.perf_counter() - start


def run_trainer(config: TrainConfig, wi_seed: int, do_seed: int, precision: str,
                device: torch.device) -> tuple[dict[str, Any], float]:
    """One whole trial through the Trainer at its best: its breakdown and best score."""
    from transformers import (
        DataCollatorWithPadding,
        PrinterCallback,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    class TimedTrainer(Trainer):
        """Times ``evaluate`` and counts its calls; nothing else changes."""

        eval_s = 0.0
        evals = 0

        def evaluate(self, *args: Any, **kwargs: Any) -> dict[str, float]:
            begin = now(device)
            try:
                return super().evaluate(*args, **kwargs)
            finally:
                self.eval_s += now(device) - begin
                self.evals += 1

    class OurSchedule(TrainerCallback):
        """Evaluate after exactly our steps (runs after the Trainer's own flow callback)."""

        def __init__(self, steps: list[int]) -> None:
            self.steps, self.begin, self.end = set(steps), 0.0, 0.0

        def on_train_begin(self, args, state, control, **kwargs):
            self.begin = now(device)

        def on_step_end(self, args, state, control, **kwargs):
            control.should_evaluate = state.global_step in self.steps
            return control

        def on_train_end(self, args, state, control, **kwargs):
            self.end = now(device)

    start = now(device)
    data = prepare_data(config)
    train, dev = hf_dataset(data.train), hf_dataset(data.dev)
    steps_per_epoch = math.ceil(len(data.train) / config.batch_size)
    steps = evaluation_steps(steps_per_epoch, config.epochs, config.evals_per_epoch)
    schedule = OurSchedule(steps)
    task = data.task

    def compute_metrics(prediction: Any) -> dict[str, float]:
        return task.compute_metrics(prediction.predictions.argmax(-1), prediction.label_ids)

    model = build_model(config.model, task.num_labels, wi_seed, config.num_hidden_layers)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=config.batch_size,
            per_device_eval_batch_size=config.eval_batch_size, num_train_epochs=config.epochs,
            learning_rate=config.lr, weight_decay=config.weight_decay,
            warmup_steps=config.warmup_fraction, lr_scheduler_type="linear",
            max_grad_norm=config.max_grad_norm, adam_epsilon=ADAM_EPS,
            seed=wi_seed, data_seed=do_seed,
            eval_strategy="steps", eval_steps=max(1, steps_per_epoch // config.evals_per_epoch),
            eval_on_start=True, save_strategy="no", logging_strategy="no", report_to=[],
            disable_tqdm=True, dataloader_num_workers=0, use_cpu=device.type == "cpu",
            bf16=precision == "bf16", fp16=precision == "fp16",
            tf32=True if device.type == "cuda" and config.precision == "auto" else None,
        )
        trainer = TimedTrainer(
            model=model, args=args, train_dataset=train, eval_dataset=dev,
            data_collator=DataCollatorWithPadding(load_tokenizer(config.model)),
            compute_metrics=compute_metrics, callbacks=[schedule],
        )
        trainer.remove_callback(PrinterCallback)  # it prints every evaluation's metrics
        trainer.train()
        end = now(device)
    if trainer.evals != len(steps):
        raise RuntimeError(f"the Trainer evaluated {trainer.evals} times, ours {len(steps)}")
    scores = [e["eval_score"] for e in trainer.state.log_history if "eval_score" in e]
    return breakdown(end - start, schedule.end - schedule.begin - trainer.eval_s,
                     trainer.eval_s, trainer.evals), max(scores)


def examples(text: str) -> int | None:
    """``--train-examples``: a count, or ``all`` for the whole training set."""
    return None if text == "all" else int(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--glue-dir", default=os.environ.get("GLUE_DIR"))
    p.add_argument("--model", default="default")
    p.add_argument("--task", default="mrpc")
    p.add_argument("--train-examples", type=examples, default=1000,
                   help="seeded training subset, or 'all' (default %(default)s)")
    p.add_argument("--no-plain", action="store_true",
                   help="leave out the plain eager loop (it adds a third trial's time)")
    p.add_argument("--dev-examples", type=int, help="seeded dev subset (default: all 408)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--evals-per-epoch", type=int, default=10)
    p.add_argument("--num-hidden-layers", type=int, help="cut the model (smoke runs)")
    p.add_argument("--wi-seed", type=int, default=1)
    p.add_argument("--do-seed", type=int, default=1)
    add_precision_arguments(p)
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--output", default=str(RESULTS / "trial_vs_trainer.json"))
    args = p.parse_args(argv)
    if not args.glue_dir:
        p.error("give --glue-dir or set GLUE_DIR")
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    config = TrainConfig.from_options(
        task=args.task, model=args.model, glue_dir=args.glue_dir,
        train_examples=args.train_examples, dev_examples=args.dev_examples,
        batch_size=args.batch_size, epochs=args.epochs, evals_per_epoch=args.evals_per_epoch,
        num_hidden_layers=args.num_hidden_layers, threads=args.threads,
        precision=args.precision, deterministic=args.deterministic,
    )
    precision, why = resolve_precision(config.precision, device)
    if precision == "fp16" and device.type == "cpu":
        p.error("the Trainer has no fp16 on a CPU: use --precision bf16 or fp32")
    print(f"precision {precision} ({why}); {args.threads} threads on {device}", flush=True)

    warm_up(config, device)
    # Ours first: the Trial sets PyTorch's deterministic mode for the process (on by
    # default on a CPU, off on a GPU), so the Trainer then runs under the same setting.
    seconds, best = {}, {}
    seconds["ours"], best["ours"] = run_ours(config, args.wi_seed, args.do_seed, device)
    seconds["trainer_best"], best["trainer_best"] = run_trainer(
        config, args.wi_seed, args.do_seed, precision, device)
    if not args.no_plain:
        seconds["plain_eager"], best["plain_eager"] = run_plain_eager(
            config, args.wi_seed, args.do_seed, device)
    tokenize_s = tokenize_per_run(config)
    ours, theirs = seconds["ours"], seconds["trainer_best"]
    plain = seconds.get("plain_eager")
    result = {
        "benchmark": "whole trial (training + evaluations), our Trial vs the Hugging Face "
                     "Trainer at its best",
        "baseline": "trainer_best",
        "seconds": seconds,
        "ratio_vs_trainer_best": theirs["total_s"] / ours["total_s"],
        "ratio_train": theirs["train_s"] / ours["train_s"],
        "ratio_eval": theirs["eval_s"] / ours["eval_s"],
        # Above 1: our trial is faster than the plain eager loop with fused AdamW.
        "ratio_vs_plain_eager": plain["total_s"] / ours["total_s"] if plain else None,
        "ratio_train_vs_plain_eager": plain["train_s"] / ours["train_s"] if plain else None,
        "tokenize_per_run_s": tokenize_s,
        "ratio_vs_trainer_tokenizing_each_run": (theirs["total_s"] + tokenize_s) / ours["total_s"],
        # Not expected to be equal (the Trainer draws its own order and dropout): a sanity
        # check that both learned the same kind of thing.
        "best_score": best,
        "precision": precision,
        "optimizer_impl": config.optimizer_impl,
        "train_config": {k: v for k, v in config.to_dict().items()
                         if k not in ("glue_dir", "cache_dir")},
        # Paths are left out: they describe the machine, not the measurement.
        "settings": {k: v for k, v in vars(args).items() if k not in ("glue_dir", "output")},
        "machine": machine_info(),
    }
    print(f"{'':14s} {'total':>8s} {'train':>8s} {'eval':>8s} {'overhead':>9s} "
          f"{'evals':>6s} {'best':>6s}")
    for side in seconds:
        s = seconds[side]
        print(f"{side:14s} {s['total_s']:8.2f} {s['train_s']:8.2f} {s['eval_s']:8.2f} "
              f"{s['overhead_s']:9.2f} {s['evaluations']:6d} {best[side]:6.3f}")
    print(f"ratio_vs_trainer_best = {result['ratio_vs_trainer_best']:.2f}x (train "
          f"{result['ratio_train']:.2f}x, eval {result['ratio_eval']:.2f}x; tokenizing each "
          f"run would add {tokenize_s:.2f} s)")
    if plain:
        print(f"ratio_vs_plain_eager = {result['ratio_vs_plain_eager']:.2f}x (train "
              f"{result['ratio_train_vs_plain_eager']:.2f}x)")
    print(f"-> {write_result(args.output, result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
