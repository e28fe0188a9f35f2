#!/usr/bin/env python
"""Training throughput: our loop against the Hugging Face ``Trainer``, same model and data.

Both train the same model (the default MiniLM-L6 unless ``--model``), from the same
pretrained weights, on the same seeded MRPC subset, with the same batch size,
number of optimizer steps, optimizer family (AdamW + linear schedule), gradient
clipping and thread count; no evaluation and no checkpointing are timed.

Baselines, measured in the same run:

- ``trainer_pad128``: the Trainer as GLUE examples use it (``run_glue.py`` pads every
  example to ``max_length`` by default), the named baseline of the ratio;
- ``trainer_dynamic``: the Trainer with ``DataCollatorWithPadding`` (dynamic padding),
  to show how much of the gain is padding and how much the loop.

Run it alone: on 2 cores anything else running skews the numbers.

    python benchmarks/bench_train_vs_trainer.py --glue-dir $GLUE_DIR
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from tune_seeds.benchmarking import hf_dataset, machine_info, write_result
from tune_seeds.trial.config import TrainConfig
from tune_seeds.trial.data import prepare_data
from tune_seeds.trial.model import build_model, load_tokenizer
from tune_seeds.trial.training import Trial


def time_ours(config: TrainConfig, steps: int, warmup: int) -> float:
    trial = Trial(config, wi_seed=1, do_seed=1, device="cpu")
    for _ in range(warmup):
        trial._train_step()
    start = time.perf_counter()
    for _ in range(steps):
        trial._train_step()
    return time.perf_counter() - start


class _Timer:
    """A TrainerCallback that times the steps after the warm-up ones."""

    def __init__(self, warmup: int) -> None:
        from transformers import TrainerCallback

        timer = self

        class Callback(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step == warmup:
                    timer.start = time.perf_counter()

            def on_train_end(self, args, state, control, **kwargs):
                timer.end = time.perf_counter()

        self.callback = Callback()
        self.start = self.end = 0.0


def time_trainer(config: TrainConfig, steps: int, warmup: int, pad_to_max: bool) -> float:
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    data = prepare_data(config)
    tokenizer = load_tokenizer(config.model)
    dataset = hf_dataset(data.train)
    collator = DataCollatorWithPadding(
        tokenizer, padding="max_length" if pad_to_max else "longest",
        max_length=config.max_length if pad_to_max else None,
    )
    model = build_model(config.model, data.task.num_labels, wi_seed=1)
    timer = _Timer(warmup)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=config.batch_size,
            max_steps=steps + warmup, learning_rate=config.lr, weight_decay=config.weight_decay,
            warmup_steps=config.warmup_fraction, lr_scheduler_type="linear",
            max_grad_norm=config.max_grad_norm, adam_epsilon=1e-6, seed=1,
            save_strategy="no", eval_strategy="no", logging_strategy="no", report_to=[],
            use_cpu=True, dataloader_num_workers=0, disable_tqdm=True,
        )
        trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator,
                          callbacks=[timer.callback])
        trainer.train()
    return timer.end - timer.start


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--glue-dir", default=os.environ.get("GLUE_DIR"))
    p.add_argument("--model", default="default")
    p.add_argument("--task", default="mrpc")
    p.add_argument("--train-examples", type=int, default=640)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup-steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--output", default=str(Path(__file__).resolve().parent / "results" /
                                            "train_vs_trainer.json"))
    args = p.parse_args()
    if not args.glue_dir:
        p.error("give --glue-dir or set GLUE_DIR")
    torch.set_num_threads(args.threads)
    config = TrainConfig(task=args.task, model=args.model, glue_dir=args.glue_dir,
                         train_examples=args.train_examples, batch_size=args.batch_size,
                         threads=args.threads)
    examples = args.steps * args.batch_size
    seconds = {
        "ours": time_ours(config, args.steps, args.warmup_steps),
        "trainer_pad128": time_trainer(config, args.steps, args.warmup_steps, pad_to_max=True),
        "trainer_dynamic": time_trainer(config, args.steps, args.warmup_steps, pad_to_max=False),
    }
    rate = {k: examples / v for k, v in seconds.items()}
    result = {
        "benchmark": "training throughput, our loop vs Hugging Face Trainer",
        "baseline": "trainer_pad128",
        "examples_per_s": rate,
        "ratio_vs_trainer_pad128": rate["ours"] / rate["trainer_pad128"],
        "ratio_vs_trainer_dynamic": rate["ours"] / rate["trainer_dynamic"],
        # Paths are left out: they describe the machine, not the measurement.
        "settings": {**{k: v for k, v in vars(args).items() if k not in ("glue_dir", "output")},
                     "timed_examples": examples},
        "machine": machine_info(),
    }
    for name, value in rate.items():
        print(f"{name:16s} {value:7.1f} examples/s")
    print(f"ratio ours / trainer_pad128  = {result['ratio_vs_trainer_pad128']:.2f}x")
    print(f"ratio ours / trainer_dynamic = {result['ratio_vs_trainer_dynamic']:.2f}x")
    print(f"-> {write_result(args.output, result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
