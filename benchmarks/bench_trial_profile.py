#!/usr/bin/env python
"""Where a whole trial's time goes: a ``torch.profiler`` breakdown, FLOPs and GFLOPS.

One trial as a sweep runs it (MRPC, a 1,000-example training subset by default or
``--train-examples all``, 31 evaluations on the full dev set) is run twice in one
process: once plain, for its wall time, and once under ``torch.profiler`` with FLOP
counting. ``Trial`` labels its phases with ``record_function`` (``batching``,
``forward``, ``backward``, ``clipping``, ``optimizer``, ``evaluation``); the profile
gives each phase's share of the profiled trial, which is then applied to the plain wall
time (the profiler itself slows the run down). Whatever no label covers (the loop, the
records, the host-side checks) is ``other``.

FLOPs are the profiler's count for the matrix products (``aten::mm``, ``addmm``,
``bmm``...), attributed to the phase that ran them; attention's fused kernels and the
elementwise work are not counted, so the GFLOPS are a floor. Beside them, the same
thread count's throughput on one large bf16 (or the trial's precision's) matrix
product, measured in the same run: the distance between the two is how far the trial is
from this CPU's matrix units.

Tune's own overhead per trial is measured by ``bench_tune_overhead.py`` (reported here
from its JSON, per report, times the trial's 31 reports).

Run it alone: on 2 cores anything else running skews the numbers.

    python benchmarks/bench_trial_profile.py --glue-dir $GLUE_DIR

A smoke run (seconds): ``--num-hidden-layers 1 --train-examples 40 --dev-examples 32
--batch-size 4 --epochs 1 --output /tmp/p.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

from tune_seeds.benchmarking import machine_info, write_result
from tune_seeds.trial.config import TrainConfig
from tune_seeds.trial.data import prepare_data
from tune_seeds.trial.precision import add_precision_arguments, autocast
from tune_seeds.trial.training import Trial

RESULTS = Path(__file__).resolve().parent / "results"

PHASES = ("batching", "forward", "backward", "clipping", "optimizer", "evaluation")


def run_trial(config: TrainConfig, data: Any) -> tuple[float, Trial]:
    start = time.perf_counter()
    trial = Trial(config, 1, 1, data=data)
    trial.run()
    return time.perf_counter() - start, trial


def phase_of(event: Any) -> str:
    """The labelled phase an op ran in (its nearest labelled ancestor), else ``other``."""
    while event is not None:
        if event.name in PHASES:
            return event.name
        event = event.cpu_parent
    return "other"


def breakdown(prof: Any) -> tuple[dict[str, float], dict[str, float], float]:
    """Seconds and FLOPs per phase, and the profiled total, from the profiler's events."""
    seconds: dict[str, float] = defaultdict(float)
    flops: dict[str, float] = defaultdict(float)
    events = prof.events()
    for e in events:
        if e.name in PHASES and phase_of(e.cpu_parent) == "other":  # outermost label only
            seconds[e.name] += e.cpu_time_total / 1e6
        if getattr(e, "flops", 0):
            flops[phase_of(e)] += e.flops
    roots = [e for e in events if e.cpu_parent is None]
    total = (max(e.time_range.end for e in roots) - min(e.time_range.start for e in roots)) / 1e6
    return dict(seconds), dict(flops), total


def matmul_gflops(precision: str, size: int = 2048, repeats: int = 10) -> float:
    """Throughput of one large square matrix product in the trial's precision."""
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    with autocast(precision, torch.device("cpu")):
        a @ b
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        elapsed = time.perf_counter() - start
    return 2 * size**3 * repeats / elapsed / 1e9


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--glue-dir", default=os.environ.get("GLUE_DIR"))
    p.add_argument("--task", default="mrpc")
    p.add_argument("--train-examples", default="1000",
                   help="seeded training subset, or 'all' (default %(default)s)")
    p.add_argument("--dev-examples", type=int, help="seeded dev subset (default: all)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--num-hidden-layers", type=int, help="cut the model (smoke runs)")
    add_precision_arguments(p)
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--output", default=str(RESULTS / "trial_profile.json"))
    args = p.parse_args(argv)
    if not args.glue_dir:
        p.error("give --glue-dir or set GLUE_DIR")
    torch.set_num_threads(args.threads)
    config = TrainConfig.from_options(
        task=args.task, glue_dir=args.glue_dir, batch_size=args.batch_size, epochs=args.epochs,
        train_examples=None if args.train_examples == "all" else int(args.train_examples),
        dev_examples=args.dev_examples, num_hidden_layers=args.num_hidden_layers,
        threads=args.threads, precision=args.precision, deterministic=args.deterministic,
    )
    data = prepare_data(config)
    run_trial(config.replace(epochs=1, evals_per_epoch=1), data)  # warm-up, untimed
    wall, trial = run_trial(config, data)
    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        profiled_wall, _ = run_trial(config, data)
    seconds, flops, profiled_total = breakdown(prof)
    seconds["other"] = max(0.0, profiled_total - sum(seconds.values()))
    shares = {k: v / profiled_total for k, v in seconds.items()}
    train_flops = flops.get("forward", 0.0) + flops.get("backward", 0.0)
    train_s = wall * (shares.get("forward", 0) + shares.get("backward", 0))
    eval_s = wall * shares.get("evaluation", 0)
    peak = matmul_gflops(trial.precision)
    overhead_file = RESULTS / "tune_overhead.json"
    tune_per_report = None
    if overhead_file.is_file():
        o = json.loads(overhead_file.read_text())
        tune_per_report = o["runner"]["per_trial_s"] / o["reports_per_trial"]
    result = {
        "benchmark": "one whole trial profiled: time per phase, FLOPs, GFLOPS",
        "baseline": "one large matrix product in the same precision and threads",
        "wall_s": wall,
        "profiled_wall_s": profiled_wall,
        "steps": trial.total_steps,
        "evaluations": len(trial.records),
        "seconds": {k: wall * v for k, v in sorted(shares.items())},
        "shares": dict(sorted(shares.items())),
        "per_step_s": {k: wall * shares.get(k, 0) / trial.total_steps
                       for k in ("batching", "forward", "backward", "clipping", "optimizer")},
        "per_evaluation_s": eval_s / len(trial.records),
        "gflop": {k: v / 1e9 for k, v in sorted(flops.items())},
        "gflops_forward_backward": train_flops / train_s / 1e9 if train_s else None,
        "gflops_evaluation": flops.get("evaluation", 0) / eval_s / 1e9 if eval_s else None,
        "matmul_gflops_peak": peak,
        "share_of_peak_forward_backward": (
            train_flops / train_s / 1e9 / peak if train_s else None),
        "tune_overhead_s": (tune_per_report * len(trial.records)
                            if tune_per_report is not None else None),
        "precision": trial.precision,
        "optimizer_impl": config.optimizer_impl,
        "train_config": {k: v for k, v in config.to_dict().items()
                         if k not in ("glue_dir", "cache_dir")},
        "machine": machine_info(),
    }
    print(f"whole trial {wall:.1f} s ({trial.total_steps} steps, {len(trial.records)} "
          f"evaluations; profiled {profiled_wall:.1f} s)")
    for k, v in sorted(shares.items(), key=lambda kv: -kv[1]):
        print(f"  {k:11s} {wall * v:8.1f} s  {v:6.1%}  {flops.get(k, 0) / 1e9:9.1f} GFLOP")
    print(f"forward+backward {result['gflops_forward_backward']:.0f} GFLOPS, evaluation "
          f"{result['gflops_evaluation']:.0f} GFLOPS; one large matmul {peak:.0f} GFLOPS")
    print(f"-> {write_result(args.output, result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
