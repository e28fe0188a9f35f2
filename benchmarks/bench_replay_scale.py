"""Scale check: thousands of replayed trials through the early-discarding scheduler.

Replays synthetic curves (:mod:`tune_seeds.replay.synthetic`; 30 intervals per run) through
:class:`tune_seeds.schedulers.early_discard.EarlyDiscardScheduler` with cohorts, so that at most
about one cohort of paused checkpoints exists at a time, and records for each size the
wall time, the trials per second, the compute, and the peak resident memory of the
driver and of the whole process tree (driver, Ray's daemons and workers, sampled every
half second). The result shows whether memory stays bounded as the number of trials
grows: it should not grow with the trials once the cohort size is fixed.

Sizes run in increasing order in one Ray instance; a size whose projected time (from
the previous size's trials per second) exceeds ``--max-seconds`` is skipped and the
JSON says so. The machine's load is recorded: the cores may be shared.

    python benchmarks/bench_replay_scale.py --sizes 1000,2500,5000,10000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import threading
from pathlib import Path

import ray

from tune_seeds.plan import EarlyDiscardPlan
from tune_seeds.replay.synthetic import synthetic_curves
from tune_seeds.replay.trainable import ReplayCurves, run_replay
from tune_seeds.schedulers.kinds import KINDS, Setup

os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")


class PeakRSS:
    """Samples the resident memory of this process and all its descendants."""

    def __init__(self, interval_s: float = 0.5) -> None:
        import psutil

        self._proc = psutil.Process()
        self._interval = interval_s
        self.peak_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        total = 0
        for p in [self._proc, *self._proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except Exception:  # a worker may exit while we look
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_total = max(self.peak_total, self._sample())
            self._stop.wait(self._interval)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,2500,5000,10000")
    parser.add_argument("--milestone", type=int, default=8)
    parser.add_argument("--keep", type=float, default=0.1, help="share kept per cohort")
    parser.add_argument("--cohort-size", type=int, default=500)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/replay_scale.json"))
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))

    curves = synthetic_curves(25, 25, n_evals=30, seed=0, n_trials=max(sizes))
    packed = ReplayCurves.from_table(curves)
    report = {
        "benchmark": "replayed trials through EarlyDiscardScheduler (cohorts)",
        "data": "synthetic curves, 30 intervals per run (31 reports)",
        "settings": {
            "milestone": args.milestone, "keep": args.keep, "cohort_size": args.cohort_size,
            "cpus": args.cpus, "checkpoint_at": [args.milestone], "reuse_actors": True,
            "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"],
            # Experiment snapshots serialize every trial; "auto" keeps them near 5% of
            # the run time (Tune's default).
            "TUNE_GLOBAL_CHECKPOINT_S": os.environ.get("TUNE_GLOBAL_CHECKPOINT_S", "auto"),
        },
        "runs": [],
        "machine": {
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "load_avg_start": os.getloadavg(),
            "note": "2 cores shared with other engineers' jobs; see the load averages",
        },
    }
    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    try:
        per_trial_s = None
        for n in sizes:
            if per_trial_s is not None and per_trial_s * n > args.max_seconds:
                report["runs"].append({"trials": n, "skipped": True,
                                       "projected_s": per_trial_s * n})
                continue
            plan = EarlyDiscardPlan.keeping_share(n, args.milestone, args.keep, 30,
                                                  args.cohort_size)
            built = Setup(KINDS["early-discard"], 30, plan=plan).build()
            load = os.getloadavg()
            with tempfile.TemporaryDirectory() as storage, PeakRSS() as mem:
                run = run_replay(packed, packed.ids[:n], built.scheduler, storage_path=storage,
                                 name=f"scale_{n}", checkpoint_at=sorted(built.pause_points))
            per_trial_s = run.wall_s / n
            kept = int((run.trials["evals_trained"] == 30).sum())
            report["runs"].append({
                "trials": n,
                "wall_s": run.wall_s,
                "trials_per_s": n / run.wall_s,
                "kept": kept,
                "compute_intervals": run.compute,
                "expected_compute": n * args.milestone + kept * (30 - args.milestone),
                "errors": int((run.trials["status"] == "ERROR").sum()),
                "peak_rss_tree_mib": mem.peak_total / 2**20,
                "driver_maxrss_mib_so_far": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                / 1024,
                "load_avg_at_start": load,
                "load_avg_at_end": os.getloadavg(),
            })
            print(json.dumps(report["runs"][-1]), flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(report, indent=2) + "\n")
    finally:
        ray.shutdown()
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
