#!/usr/bin/env python
"""Static shapes and ``torch.compile``: whole trials against today's eager trial, in one run.

Each variant runs one whole trial (MRPC, a seeded 1,000-example subset by default, its
31 evaluations on the full dev set) in a fresh process, so that nothing compiled or
cached in memory carries over:

- ``eager``: the baseline, today's default (dynamic padding, no compilation);
- ``eager-pad16``: every batch padded to a multiple of 16 tokens, still eager: what
  padding alone costs;
- ``compile-eval``: padded to 16, validation compiled (``--torch-compile eval``);
- ``compile-all``: padded to 16, training's forward and backward compiled too.

A compiled variant runs twice against one fresh Inductor cache folder
(``TORCHINDUCTOR_CACHE_DIR``): ``cold``, the first trial of a sweep on a machine, which
compiles every shape; ``warm``, every later trial, which reads the compiled code from
the cache. The compile time is counted in both. The baseline runs first and again at
the end; the ratios use the mean of its two runs. ``per_trial_in_sweep_s`` spreads the
cold trial's extra time over a sweep of ``--sweep-trials`` trials, and the headline
``ratio_vs_eager`` is eager's time over that.

Every variant reports its total, the time inside evaluations, and its scores; the
score columns say how far padding and compiled kernels move a trial's curve (they
change the last bits of the logits, and padding changes the shape dropout masks are
drawn at).

Measured on the project's 2-core CPU (quiet, bf16, 2 threads, MRPC with 1,000 training
examples, 2026-12-03; ``benchmarks/results/compile.json``), per trial in a sweep of 100:

=============  =======  ===========================================================
variant        seconds  against eager
=============  =======  ===========================================================
eager          80.5     baseline (79.1 s when run again at the end)
eager-pad16    79.5     1.00x: evaluation 1.07x, training 0.98x
compile-eval   82.5     0.97x: the other 30 evaluations take 16.4 s against 19.8 s
                        eager, but loading the compiled code from the cache costs
                        6.4 s in every trial and compiling it 32 s in the first
compile-all    88.3     0.90x: compiled training is slower (64.3 s against 58.8 s),
                        and the first trial compiles for 137 s more
=============  =======  ===========================================================

So on this CPU neither padding nor compilation pays, and both stay off by default. The
best score moves by up to 0.031 with padding (another shape draws other dropout masks),
so they would also have split the recorded sweeps' arithmetic. Kept as options because
they may pay where kernels launch asynchronously and Python overhead dominates (a GPU);
unmeasured there. An earlier probe beside a running sweep showed compiled validation
2x faster: contention, which this run's baseline measured twice rules out.

Usage::

    python benchmarks/bench_compile.py [--train-examples 1000|all] [--precision bf16]
        [--threads 2] [--variants eager,eager-pad16,compile-eval,compile-all]

Writes ``benchmarks/results/compile.json``. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tune_seeds.benchmarking import machine_info, write_result

RESULTS = Path(__file__).resolve().parent / "results"

VARIANTS = {
    "eager": ("off", None),
    "eager-pad16": ("off", 16),
    "compile-eval": ("eval", 16),
    "compile-all": ("all", 16),
}
BASELINE = "eager"


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    """One trial of ``args.worker`` in this process: its times and curve."""
    # Imported here: the parent process only starts workers and must not touch torch.
    from tune_seeds.trial.config import TrainConfig
    from tune_seeds.trial.data import prepare_data
    from tune_seeds.trial.training import Trial

    torch_compile, pad = VARIANTS[args.worker]
    config = TrainConfig(task="mrpc", precision=args.precision, threads=args.threads,
                         train_examples=args.train_examples, torch_compile=torch_compile,
                         pad_to_multiple_of=pad)
    start = time.perf_counter()
    trial = Trial(config, args.wi_seed, args.do_seed, data=prepare_data(config))
    evaluate, spent = trial._evaluate, []

    def timed() -> dict[str, Any]:
        t = time.perf_counter()
        record = evaluate()
        spent.append(time.perf_counter() - t)
        return record

    trial._evaluate = timed  # type: ignore[method-assign]
    records = trial.run()
    total = time.perf_counter() - start
    return {"total_s": total, "eval_s": sum(spent), "first_eval_s": spent[0],
            "train_s": total - sum(spent), "steps": trial.step,
            "scores": [r["score"] for r in records],
            "eval_losses": [r["eval_loss"] for r in records]}


def spawn(variant: str, args: argparse.Namespace, cache: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", variant, "--precision", args.precision,
           "--threads", str(args.threads), "--wi-seed", str(args.wi_seed),
           "--do-seed", str(args.do_seed),
           "--train-examples", "all" if args.train_examples is None else str(args.train_examples)]
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def summarize(variant: str, runs: dict[str, dict[str, Any]], base: dict[str, Any] | None,
              sweep_trials: int) -> dict[str, Any]:
    last = runs.get("warm", runs["cold"])
    extra = runs["cold"]["total_s"] - last["total_s"] if "warm" in runs else 0.0
    per_trial = last["total_s"] + extra / sweep_trials
    out = {"variant": variant, "torch_compile": VARIANTS[variant][0],
           "pad_to_multiple_of": VARIANTS[variant][1], "runs": runs,
           "compile_extra_s": extra, "per_trial_in_sweep_s": per_trial}
    if base is not None:
        out["ratio_vs_eager"] = base["total_s"] / per_trial
        out["ratio_eval_vs_eager"] = base["eval_s"] / last["eval_s"]
        out["ratio_train_vs_eager"] = base["train_s"] / last["train_s"]
        out["max_abs_score_diff_vs_eager"] = max(
            abs(a - b) for a, b in zip(last["scores"], base["scores"], strict=True))
        out["best_score"] = max(last["scores"][1:])
        out["eager_best_score"] = max(base["scores"][1:])
    return out


def examples(text: str) -> int | None:
    return None if text == "all" else int(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help="comma-separated, from " + ", ".join(VARIANTS) + " (default all)")
    p.add_argument("--train-examples", type=examples, default=1000,
                   help="seeded training subset, or 'all' (default 1000)")
    p.add_argument("--precision", default="bf16")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--wi-seed", type=int, default=1)
    p.add_argument("--do-seed", type=int, default=1)
    p.add_argument("--sweep-trials", type=int, default=100,
                   help="trials a sweep spreads the first trial's compile time over")
    p.add_argument("--out", type=Path, default=RESULTS / "compile.json")
    p.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(run_one(args)))
        return 0
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        p.error(f"unknown variants: {', '.join(unknown)}")
    if BASELINE not in variants:
        variants.insert(0, BASELINE)
    measured = {}
    for variant in variants:
        with tempfile.TemporaryDirectory(prefix="inductor-") as cache:
            runs = {"cold": spawn(variant, args, cache)}
            if VARIANTS[variant][0] != "off":
                runs["warm"] = spawn(variant, args, cache)
        measured[variant] = runs
        print(f"{variant:13s} {runs.get('warm', runs['cold'])['total_s']:7.1f} s", flush=True)
    # The baseline again at the end: a machine that drifts during the run shows as two
    # different baselines, and the ratios use their mean.
    again = spawn(BASELINE, args, "")
    first = measured[BASELINE]["cold"]
    base = {k: (first[k] + again[k]) / 2 if isinstance(first[k], float) else first[k]
            for k in first}
    measured[BASELINE] = {"cold": first, "again": again}
    print(f"{BASELINE:13s} {again['total_s']:7.1f} s (again, at the end)", flush=True)
    rows = []
    for variant, runs in measured.items():
        row = summarize(variant, {k: v for k, v in runs.items() if k != "again"}, base,
                        args.sweep_trials)
        row["runs"] = runs
        rows.append(row)
        print(f"{variant:13s} {row['per_trial_in_sweep_s']:7.1f} s per trial in a sweep "
              f"(compile extra {row['compile_extra_s']:5.1f} s): "
              f"{row['ratio_vs_eager']:.2f}x eager", flush=True)
    result = {"benchmark": "compile", "baseline": BASELINE, "task": "mrpc",
              "train_examples": args.train_examples, "precision": args.precision,
              "threads": args.threads, "seeds": [args.wi_seed, args.do_seed],
              "sweep_trials": args.sweep_trials, "machine": machine_info(), "variants": rows}
    print(f"wrote {write_result(args.out, result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
