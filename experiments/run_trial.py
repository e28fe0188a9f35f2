#!/usr/bin/env python
"""Fine-tune once with a weight-init seed and a data-order seed; write the learning curve.

Example:

    python experiments/run_trial.py --task rte --wi-seed 3 --do-seed 7 \\
        --train-examples 320 --dev-examples 100 --output curve.csv

Identical arguments give an identical CSV (on the same machine and thread count).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

from tune_seeds.atomic import atomic_path
from tune_seeds.trial.compiled import add_compile_arguments
from tune_seeds.trial.config import (
    CLI_OPTIONS,
    DROPOUT_SEEDS,
    OPTIMIZER_IMPLS,
    OPTIMIZERS,
    TrainConfig,
)
from tune_seeds.trial.data import DataError
from tune_seeds.trial.model import ModelError
from tune_seeds.trial.precision import add_precision_arguments
from tune_seeds.trial.tasks import TASK_NAMES, get_task
from tune_seeds.trial.training import Trial


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from err
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"a seed is a non-negative integer, got {text!r}") from err
    if value < 0:
        raise argparse.ArgumentTypeError(f"a seed is a non-negative integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--task", required=True, help=f"GLUE task: {', '.join(TASK_NAMES)} (any case)")
    p.add_argument("--wi-seed", type=seed, required=True, help="weight-init seed (classifier head)")
    p.add_argument("--do-seed", type=seed, required=True, help="data-order seed (shuffles)")
    p.add_argument("--output", required=True, help="CSV file for the learning curve")
    p.add_argument("--preset", choices=("default", "paper"), default="default",
                   help="'default' learns on MiniLM (lr 1e-4); 'paper' is lr 2e-5 as in the paper")
    p.add_argument("--model", default="default",
                   help="'default' (packaged MiniLM-L6), a local directory or a Hub name")
    p.add_argument("--glue-dir", default=None,
                   help="GLUE data directory (<TASK>/train.tsv, dev.tsv); default $GLUE_DIR, "
                   "else the Hub")
    p.add_argument("--train-examples", type=positive_int, help="seeded training subset")
    p.add_argument("--dev-examples", type=positive_int, help="seeded dev subset")
    p.add_argument("--subset-seed", type=seed, default=0, help="seed of the subsets")
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--lr", type=float)
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--max-length", type=positive_int)
    p.add_argument("--evals-per-epoch", type=positive_int)
    p.add_argument("--optimizer", choices=OPTIMIZERS,
                   help="adamw (bias-corrected, default) or bert-adam (the paper's)")
    p.add_argument("--optimizer-impl", choices=OPTIMIZER_IMPLS,
                   help="fused (default: one kernel over all parameters) or for-loop (one "
                   "step per parameter, as sweeps recorded before it ran)")
    p.add_argument("--dropout-seed", choices=DROPOUT_SEEDS,
                   help="which seed drives dropout: do (paper, default) or wi (Hugging Face)")
    add_precision_arguments(p)
    add_compile_arguments(p)
    p.add_argument("--num-hidden-layers", type=positive_int,
                   help="cut the model to its first layers (quick checks)")
    p.add_argument("--threads", type=positive_int, default=min(2, os.cpu_count() or 1),
                   help="torch threads, pinned for bit-identical runs (default: %(default)s)")
    p.add_argument("--cache-dir", help="tokenization cache (default $TUNE_SEEDS_CACHE or "
                   "~/.cache/tune-seeds)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    return p


def make_config(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig.from_options(
        args.preset, task=get_task(args.task).name, model=args.model, glue_dir=args.glue_dir,
        cache_dir=args.cache_dir, threads=args.threads, subset_seed=args.subset_seed,
        **{name: getattr(args, name) for name in CLI_OPTIONS},
    )


def write_csv(records: list[dict], path: Path) -> None:
    # Atomic: an interrupted run leaves no half file.
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows({k: repr(v) if isinstance(v, float) else v
                          for k, v in r.items()} for r in records)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    output = Path(args.output)
    if output.is_dir():
        parser.error(f"--output {output} is a directory")
    try:
        config = make_config(args)
    except ValueError as err:
        parser.error(str(err))

    start = time.perf_counter()
    try:
        trial = Trial(config, args.wi_seed, args.do_seed, device=args.device)
    except (DataError, ModelError, ValueError) as err:
        parser.error(str(err))
    print(
        f"{config.task}: {len(trial.data.train)} train / {len(trial.data.dev)} dev examples, "
        f"{trial.total_steps} steps, {len(trial.eval_steps)} evaluations, "
        f"WI seed {args.wi_seed}, DO seed {args.do_seed}, {config.threads} threads, "
        f"precision {trial.precision} ({trial.precision_reason})",
        flush=True,
    )
    for record in trial.evaluations():
        print(
            f"  eval {record['eval_index']:3d}  step {record['step']:5d}  "
            f"epoch {record['epoch']:.2f}  score {record['score']:.4f}  "
            f"best {record['best_score']:.4f}",
            flush=True,
        )
    write_csv(trial.records, output)
    best = max(trial.records, key=lambda r: r["score"])
    task = trial.task
    print(
        f"{trial.status.value}: best {best['score']:.4f} at step {best['step']} "
        f"(final {trial.records[-1]['score']:.4f}; majority class {task.majority_score:.4f}) "
        f"in {time.perf_counter() - start:.1f} s -> {output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
