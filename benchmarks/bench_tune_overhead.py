#!/usr/bin/env python
"""Ray Tune's overhead per trial: the sweep runner's settings against Ray's defaults.

Runs an empty trainable (no model, 10 reports per trial) for N trials twice in one
Ray instance:

- **runner**: exactly what ``experiments/run_sweep.py`` builds
  (:func:`tune_seeds.tuning.sweep.build_tuner`: the pair-list searcher, ``reuse_actors``,
  no per-trial CSV/JSON/TensorBoard loggers, the results-tables callback writing
  parquet every 30 s, checkpoint clean-up), with the FIFO scheduler;
- **ray_defaults**: a plain ``tune.Tuner`` over the same pairs with Ray's defaults.

and writes seconds per trial and their ratio to ``benchmarks/results/tune_overhead.json``.
The goal for the runner is 0.1 s per trial or less.

    python benchmarks/bench_tune_overhead.py            # 200 trials each
    python benchmarks/bench_tune_overhead.py --trials 50 --output /tmp/o.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from tune_seeds.trial.config import TrainConfig
from tune_seeds.tuning.progress import tune_file_loggers
from tune_seeds.tuning.spec import SchedulerSpec, SweepSpec
from tune_seeds.tuning.sweep import build_tuner

REPORTS = 10
GOAL_S = 0.1


def empty_trial(config: dict) -> None:
    """Reports REPORTS records shaped like a real trial's, and does nothing else."""
    from ray import tune

    for i in range(REPORTS):
        tune.report({"eval_index": i, "step": i, "epoch": i / REPORTS, "train_loss": 0.5,
                     "eval_loss": 0.5, "score": 0.5, "best_score": 0.5, "accuracy": 0.5,
                     "wi_seed": config["wi_seed"], "do_seed": config["do_seed"]})


def seed_ranges(trials: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """WI seeds 1..trials/10 x DO seeds 1..10: a grid of exactly ``trials`` pairs."""
    if trials % 10:
        raise SystemExit("--trials must be a multiple of 10")
    return tuple(range(1, trials // 10 + 1)), tuple(range(1, 11))


def time_runner(trials: int, storage: str) -> float:
    wi, do = seed_ranges(trials)
    spec = SweepSpec(
        train=TrainConfig(task="rte", evals_per_epoch=REPORTS - 1, epochs=1), search="grid",
        wi_seeds=wi, do_seeds=do, num_samples=None, scheduler=SchedulerSpec("fifo"),
        storage_path=storage, name="runner",
    )
    tuner = build_tuner(spec, trainable=empty_trial, verbose=0)
    start = time.perf_counter()
    with tune_file_loggers(spec.tune_loggers):
        tuner.fit()
    return time.perf_counter() - start


def time_ray_defaults(trials: int, storage: str) -> float:
    from ray import tune

    wi, do = seed_ranges(trials)
    tuner = tune.Tuner(
        empty_trial,
        param_space={"wi_seed": tune.grid_search(wi), "do_seed": tune.grid_search(do)},
        run_config=tune.RunConfig(name="defaults", storage_path=storage, verbose=0),
    )
    start = time.perf_counter()
    tuner.fit()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=200, help="trials per setting (x10)")
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" /
                                               "tune_overhead.json"))
    args = parser.parse_args(argv)
    if args.trials < 10:
        parser.error("--trials must be at least 10")

    import ray

    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-tune-") as storage:
            runner_s = time_runner(args.trials, storage)
            defaults_s = time_ray_defaults(args.trials, storage)
    finally:
        ray.shutdown()

    per_runner = runner_s / args.trials
    per_default = defaults_s / args.trials
    result = {
        "benchmark": "tune_overhead",
        "trials": args.trials,
        "reports_per_trial": REPORTS,
        "runner": {"wall_s": round(runner_s, 3), "per_trial_s": round(per_runner, 4)},
        "ray_defaults": {"wall_s": round(defaults_s, 3), "per_trial_s": round(per_default, 4)},
        "ratio_runner_to_defaults": round(per_runner / per_default, 4),
        "goal_per_trial_s": GOAL_S,
        "meets_goal": per_runner <= GOAL_S,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "ray": ray.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(f"runner:       {per_runner:.3f} s per trial ({runner_s:.1f} s for {args.trials})")
    print(f"ray defaults: {per_default:.3f} s per trial ({defaults_s:.1f} s for {args.trials})")
    print(f"ratio {per_runner / per_default:.3f}; goal {GOAL_S} s per trial: "
          f"{'met' if per_runner <= GOAL_S else 'NOT met'} -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
