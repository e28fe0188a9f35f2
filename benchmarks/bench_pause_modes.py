#!/usr/bin/env python
"""Pause modes of early discarding: checkpoint against recompute, on one small real sweep.

The same early-discarding sweep runs twice on the embedded Ray, once with
``--pause-mode checkpoint`` (the baseline: every trial paused at the milestone keeps
its weights and optimizer state) and once with ``--pause-mode recompute`` (a paused
trial keeps its position only; a kept trial is retrained from its seeds). A thread
samples the size of the experiment folder every 0.2 s. Printed and written to
``benchmarks/results/pause_modes.json``: the peak disk of each mode and their ratio,
the compute (evaluation intervals reported, plus the intervals recomputed), the wall
time, and whether the two sweeps' tables are identical (they must be: trials are
deterministic).

    python benchmarks/bench_pause_modes.py --glue-dir $GLUE_DIR

Defaults: SST-2, 160 training / 64 dev examples, lr 2e-4, the default model, 8 random
seed pairs, cut after 25% of training, keep half. Run it alone: the wall times mean
nothing on a busy machine (the disk and compute figures do not depend on it).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd

from tune_seeds.benchmarking import machine_info, write_result
from tune_seeds.tables import load_results
from tune_seeds.trial.config import TrainConfig
from tune_seeds.tuning.spec import SchedulerSpec, SweepSpec
from tune_seeds.tuning.sweep import run_sweep

RESULTS = Path(__file__).resolve().parent / "results"

MODES = ("checkpoint", "recompute")


def folder_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):  # removed while walking
                total += os.path.getsize(os.path.join(root, name))
    return total


class PeakDisk:
    """Largest size of a folder, sampled in a thread while the block runs."""

    def __init__(self, path: Path, every_s: float = 0.2):
        self.path, self.every_s, self.peak = path, every_s, 0
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, folder_bytes(self.path))
            self._stop.wait(self.every_s)

    def __enter__(self) -> PeakDisk:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_mode(mode: str, args: argparse.Namespace, storage: Path) -> dict:
    train = TrainConfig(task=args.task, glue_dir=args.glue_dir, lr=args.lr,
                        train_examples=args.train_examples, dev_examples=args.dev_examples,
                        num_hidden_layers=args.num_hidden_layers, precision=args.precision)
    spec = SweepSpec(
        train=train, search="random", num_samples=args.num_samples, seed=args.seed,
        scheduler=SchedulerSpec("early-discard", discard_at=args.discard_at, keep_share=0.5),
        storage_path=str(storage), name=mode, pause_mode=mode, checkpoint_every=0,
        tables_every_s=0.0,
    )
    (storage / mode).mkdir(parents=True)
    start = time.perf_counter()
    with PeakDisk(storage / mode) as disk:
        run_sweep(spec, verbose=0, dashboard=False, out=lambda _: None)
    wall = time.perf_counter() - start
    trials, curves = load_results(spec.tables_dir)
    kept = int((trials["stopped_by"] == "completed").sum())
    milestone = spec.setup.plan.milestone
    recomputed = kept * milestone if mode == "recompute" else 0
    return {
        "mode": mode, "peak_disk_bytes": disk.peak, "wall_s": wall,
        "intervals_reported": int(trials["evals_trained"].sum()),
        "intervals_recomputed": recomputed, "kept": kept, "trials": len(trials),
        "_tables": (trials, curves),
    }


def same_tables(a: tuple[pd.DataFrame, pd.DataFrame], b: tuple[pd.DataFrame, pd.DataFrame]) -> bool:
    keys = ["wi_seed", "do_seed"]
    cols = ["stopped_by", "best_score", "evals_trained"]
    ta, tb = (t.set_index(keys).sort_index()[cols] for t in (a[0], b[0]))
    ccols = ["step", "train_loss", "eval_loss", "score", "best_score"]
    ca, cb = (c.set_index([*keys, "eval_index"]).sort_index()[ccols] for c in (a[1], b[1]))
    return ta.equals(tb) and ca.equals(cb)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--glue-dir", default=os.environ.get("GLUE_DIR"))
    p.add_argument("--task", default="sst2")
    p.add_argument("--train-examples", type=int, default=160)
    p.add_argument("--dev-examples", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--num-samples", type=int, default=8)
    p.add_argument("--discard-at", type=float, default=0.25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", default="auto")
    p.add_argument("--num-hidden-layers", type=int, help="cut the model (smoke runs)")
    p.add_argument("--output", default=str(RESULTS / "pause_modes.json"))
    args = p.parse_args(argv)
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory(prefix="pause-modes-") as tmp:
            runs = {m: run_mode(m, args, Path(tmp)) for m in MODES}
    finally:
        ray.shutdown()
    identical = same_tables(runs["checkpoint"].pop("_tables"), runs["recompute"].pop("_tables"))
    ck, re_ = runs["checkpoint"], runs["recompute"]
    result = {
        "baseline": "checkpoint",
        "runs": [ck, re_],
        "disk_ratio_recompute_vs_checkpoint": re_["peak_disk_bytes"] / ck["peak_disk_bytes"],
        "compute_ratio_recompute_vs_checkpoint": (
            (re_["intervals_reported"] + re_["intervals_recomputed"]) / ck["intervals_reported"]),
        "identical_tables": identical,
        "settings": {k: v for k, v in vars(args).items() if k not in ("glue_dir", "output")},
        "machine": machine_info(),
    }
    for r in result["runs"]:
        print(f"{r['mode']:>10}: peak disk {r['peak_disk_bytes'] / 1e6:8.1f} MB, "
              f"{r['intervals_reported']} intervals reported + {r['intervals_recomputed']} "
              f"recomputed, {r['wall_s']:.0f} s")
    print(f"recompute / checkpoint: disk {result['disk_ratio_recompute_vs_checkpoint']:.4f}x, "
          f"compute {result['compute_ratio_recompute_vs_checkpoint']:.3f}x; identical tables: "
          f"{identical}")
    write_result(args.output, result)
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
