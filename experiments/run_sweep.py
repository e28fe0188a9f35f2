#!/usr/bin/env python
"""Run a sweep of seeded fine-tuning trials on Ray Tune: the (WI, DO) seeds are the search space.

Quick start (real GLUE data, the default model, early discarding, 16 trials on a
small training subset; about a quarter of an hour on a 2-core CPU):

    GLUE_DIR=/path/to/glue python experiments/run_sweep.py --quick

The main job (every MRPC trial on the full data, 400 seed pairs):

    python experiments/run_sweep.py --task mrpc --num-samples 400 --glue-dir /path/to/glue

Add --dry-run to print its plan first (trials, compute against FIFO, peak checkpoint
disk against the free space, an estimated wall time) without starting Ray or writing
anything.

Searches: --search random draws --num-samples distinct pairs from --wi-seeds x
--do-seeds (reproducible with --seed); --search grid runs the whole grid (or a
near-square part of --num-samples pairs); --search optuna lets a seeded TPE
sampler pick pairs. No pair ever runs twice.

Schedulers (budgets in evaluation intervals; a full run is --evals-per-epoch x
--epochs of them): fifo runs every trial to the end; early-discard (default)
trains every trial for --discard-at of a run, continues the best --keep-share of
them and stops the rest; asha and hyperband are Ray's.

Ray: an embedded local Ray by default, its dashboard on 127.0.0.1 with token
authentication (the URL and how to log in are printed at the start). --address
auto or --address ray://host:port joins a running cluster.

Results: trials.parquet (one row per trial) and curves.parquet (one row per
evaluation) in the experiment folder <storage-path>/<name>, kept current while
the sweep runs. Interrupt with Ctrl+C and continue with --resume --name <name>.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow.fs

from tune_seeds.cli import number
from tune_seeds.reporting.report import format_summary, sweep_report
from tune_seeds.schedulers.kinds import RANK_BY, SWEEP_KINDS, SchedulerSpec
from tune_seeds.schedulers.stall import SweepStalled
from tune_seeds.tables import load_results
from tune_seeds.trial.compiled import add_compile_arguments
from tune_seeds.trial.config import (
    CLI_OPTIONS,
    DROPOUT_SEEDS,
    OPTIMIZER_IMPLS,
    OPTIMIZERS,
    TrainConfig,
)
from tune_seeds.trial.data import DataError, prepare_data, resolve_glue_dir
from tune_seeds.trial.model import ModelError
from tune_seeds.trial.precision import add_precision_arguments, describe_choice
from tune_seeds.trial.tasks import TASK_NAMES, get_task
from tune_seeds.trial.training import evaluation_steps

# Called through their modules: the tests replace some of their functions (free space, CPUs).
from tune_seeds.tuning import dryrun, preflight
from tune_seeds.tuning.atomic_sync import check_snapshot
from tune_seeds.tuning.cluster_auth import ClusterAuthError
from tune_seeds.tuning.connect import check_address
from tune_seeds.tuning.fingerprint import (
    ResumeRefused,
    check_resume,
    data_fingerprint,
    fingerprint,
)
from tune_seeds.tuning.lock import SweepLocked, driver_lock, holds_only_lock
from tune_seeds.tuning.preflight import DEFAULT_MAX_TRIALS, PreflightError
from tune_seeds.tuning.search import SEARCHES, parse_seed_range
from tune_seeds.tuning.spec import PAUSE_MODES, SweepSpec
from tune_seeds.tuning.storage import (
    SweepFileError,
    fs_and_path,
    load_spec,
    record_fingerprint,
    recorded_fingerprint,
    spec_file,
    version_notice,
)
from tune_seeds.tuning.sweep import DiskFull, errored_trials, is_disk_full, run_sweep

QUICK = {"task": "sst2", "lr": 2e-4, "train_examples": 160, "dev_examples": 100,
         "num_samples": 16, "keep_share": 0.25}
"""What --quick sets, unless given explicitly: 16 SST-2 trials of 30 intervals, all
trained for 8 intervals, the best 4 to the end (16 * 8 + 4 * 22 = 216 intervals).
SST-2 and lr 2e-4 because on 160 examples MiniLM learns them within 3 epochs, where
MRPC at 1e-4 stays at the majority class."""
DEFAULT_TASK = "mrpc"
DEFAULT_KEEP_SHARE = 0.5


def seeds(text: str) -> tuple[int, ...]:
    try:
        return tuple(parse_seed_range(text))
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    count = number(int, 1)
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (trials, compute against FIFO, peak checkpoint disk "
                   "against the free space, an estimated wall time from a short timing probe) "
                   "and stop: Ray is not started and nothing is written")
    g = p.add_argument_group("trials")
    g.add_argument("--task", help=f"GLUE task: {', '.join(TASK_NAMES)} "
                   f"(any case; default {DEFAULT_TASK}, or sst2 with --quick)")
    g.add_argument("--glue-dir", help="GLUE data directory (<TASK>/train.tsv, dev.tsv); "
                   "default $GLUE_DIR")
    g.add_argument("--quick", action="store_true",
                   help="quick-start preset: " + ", ".join(
                       f"--{k.replace('_', '-')} {v}" for k, v in QUICK.items())
                   + " (explicit options win)")
    g.add_argument("--model", default="default",
                   help="'default' (packaged MiniLM-L6), a local directory or a Hub name")
    g.add_argument("--preset", choices=("default", "paper"), default="default",
                   help="hyper-parameters: 'default' learns on MiniLM (lr 1e-4), 'paper' "
                   "is the paper's (lr 2e-5)")
    g.add_argument("--lr", type=number(float, 0, low_open=True))
    g.add_argument("--batch-size", type=count)
    g.add_argument("--epochs", type=count)
    g.add_argument("--max-length", type=count)
    g.add_argument("--evals-per-epoch", type=count,
                   help="validations per epoch besides the one at step 0 (default 10)")
    g.add_argument("--optimizer", choices=OPTIMIZERS)
    g.add_argument("--optimizer-impl", choices=OPTIMIZER_IMPLS,
                   help="fused (default: one kernel over all parameters) or for-loop (one "
                   "step per parameter, as sweeps recorded before it ran)")
    g.add_argument("--dropout-seed", choices=DROPOUT_SEEDS,
                   help="which seed drives dropout: do (paper, default) or wi")
    g.add_argument("--train-examples", type=count, help="seeded training subset (default all)")
    g.add_argument("--dev-examples", type=count, help="seeded dev subset (default all)")
    g.add_argument("--subset-seed", type=number(int, 0), default=0)
    add_precision_arguments(g)
    add_compile_arguments(g)
    g.add_argument("--num-hidden-layers", type=count,
                   help="cut the model to its first layers (tests and smoke runs)")
    g.add_argument("--cache-dir", help="tokenization cache (default $TUNE_SEEDS_CACHE or "
                   "~/.cache/tune-seeds)")

    g = p.add_argument_group("search")
    g.add_argument("--search", choices=SEARCHES, default="random",
                   help="how pairs are chosen (default %(default)s)")
    g.add_argument("--wi-seeds", type=seeds, default=tuple(range(1, 26)),
                   help="weight-init seeds, e.g. 1-25 or 1-5,9 (default 1-25)")
    g.add_argument("--do-seeds", type=seeds, default=tuple(range(1, 26)),
                   help="data-order seeds (default 1-25)")
    g.add_argument("--num-samples", type=number(int, 1),
                   help="trials to run (grid: default the whole grid; random/optuna: required "
                   "unless --quick)")
    g.add_argument("--seed", type=number(int, 0), default=0,
                   help="seed of the random draw / Optuna's sampler (default %(default)s)")
    g.add_argument("--max-trials", type=count, default=DEFAULT_MAX_TRIALS,
                   help="refuse a sweep of more trials than this, e.g. a full grid over wide "
                   "seed ranges (default %(default)s)")

    g = p.add_argument_group("scheduler (budgets in evaluation intervals)")
    g.add_argument("--scheduler", choices=SWEEP_KINDS, default="early-discard",
                   help="default %(default)s")
    g.add_argument("--discard-at", type=number(float, 0, 1, low_open=True, high_open=True),
                   default=0.25, help="early-discard: share of a run trained before the "
                   "ranking (the milestone; default %(default)s)")
    g.add_argument("--keep-share", "--keep", type=number(float, 0, 1, low_open=True),
                   help="early-discard: share of each cohort's trials continued to the end "
                   f"(default {DEFAULT_KEEP_SHARE}; --keep is its older name)")
    g.add_argument("--cohort-size", type=count,
                   help="early-discard: trials ranked together (default: all)")
    g.add_argument("--rank-by", choices=RANK_BY, default="best",
                   help="rank by the best score so far (paper) or the current one")
    g.add_argument("--grace-period", type=count, default=3,
                   help="asha: intervals before the first rung (default %(default)s)")
    g.add_argument("--reduction-factor", type=number(float, 1, low_open=True), default=3.0,
                   help="asha/hyperband: halving rate (default %(default)s)")

    g = p.add_argument_group("resources and cluster")
    g.add_argument("--address", help="join a running Ray cluster: auto, host:port or "
                   "ray://host:port (default: an embedded local Ray)")
    g.add_argument("--cpus-per-trial", type=number(float, 0, low_open=True), default=1.0,
                   help="CPUs per trial; also its torch threads (default %(default)s)")
    g.add_argument("--gpus-per-trial", type=number(float, 0), default=0.0,
                   help="GPUs per trial, fractional to share one (e.g. 0.25)")
    g.add_argument("--max-concurrent", type=count, help="most trials running at once")
    g.add_argument("--autoscale-wait", type=number(float, 0), default=0.0, metavar="SECONDS",
                   help="with --address: when no node can hold a trial, ask the autoscaler "
                   "for one and wait this long (default 0: refuse at once)")
    g.add_argument("--no-dashboard", action="store_true", help="do not start Ray's dashboard")
    g.add_argument("--dashboard-port", type=number(int, 1, 65535),
                   help="dashboard port of the embedded Ray (default: 8265 or the next free one)")

    g = p.add_argument_group("storage and resume")
    g.add_argument("--storage-path", default="~/ray_results",
                   help="local directory or pyarrow URI (s3://..., gs://...) "
                   "(default %(default)s)")
    g.add_argument("--name", help="experiment folder (default <task>-<search>-<scheduler>-<time>)")
    g.add_argument("--results-dir", help="where the tables go (default: the experiment folder; "
                   "required for a remote --storage-path)")
    g.add_argument("--resume", action="store_true",
                   help="continue the interrupted sweep --name (its saved settings are used)")
    g.add_argument("--max-failures", type=number(int, -1), default=1,
                   help="retries of a failed trial from its checkpoint (-1: forever; "
                   "default %(default)s)")
    g.add_argument("--checkpoint-every", type=number(int, 0), default=10,
                   help="checkpoint every this many evaluations, for retries and resume "
                   "(0: only at pause points; default %(default)s)")
    g.add_argument("--keep-checkpoints", action="store_true",
                   help="keep checkpoints of finished trials (default: delete them)")
    g.add_argument("--pause-mode", choices=PAUSE_MODES, default="checkpoint",
                   help="what a paused trial keeps: 'checkpoint' (its weights and optimizer "
                   "state, ~270 MB for the default model) or 'recompute' (its position and "
                   "curve, a few KB; on resume it is retrained from its seeds to that point, "
                   "exactly: no disk for at most kept x milestone more training) "
                   "(default %(default)s)")
    g.add_argument("--max-checkpoint-gb", type=number(float, 0, low_open=True),
                   help="most disk the paused checkpoints of early discarding may take; "
                   "without --cohort-size the cohort is sized to fit it (default: "
                   f"{dryrun.DISK_SHARE:.0%}% of the storage's free space)")
    g.add_argument("--no-predictions", dest="predictions", action="store_false",
                   help="do not keep every evaluation's dev-set predictions in "
                   "predictions.parquet (about 3 MB per 100 MRPC trials)")
    g.add_argument("--tune-loggers", action="store_true",
                   help="also write Tune's per-trial progress.csv/result.json (slower)")
    g.add_argument("--tables-every", type=number(float, 0), default=30.0,
                   help="rewrite the results tables at most every this many seconds while "
                   "the sweep runs (default %(default)s)")
    g.add_argument("--verbose", type=number(int, 0, 2), default=1,
                   help="0 silent; 1 a progress line and Tune's status table (seeds, score, "
                   "best_score) every 30 s; 2 also every result, and Ray's checkpoint, restore "
                   "and snapshot messages")
    return p


def train_config(args: argparse.Namespace) -> TrainConfig:
    # GLUE_DIR is resolved here: the trials of a cluster do not see this shell's environment.
    glue_dir = resolve_glue_dir(args.glue_dir)
    return TrainConfig.from_options(
        args.preset, task=get_task(args.task).name, model=args.model,
        glue_dir=str(glue_dir.resolve()) if glue_dir else None,
        cache_dir=args.cache_dir, subset_seed=args.subset_seed,
        **{name: getattr(args, name) for name in CLI_OPTIONS},
    )


def sweep_spec(args: argparse.Namespace) -> SweepSpec:
    if args.quick:
        for key, value in QUICK.items():
            if getattr(args, key) is None:
                setattr(args, key, value)
    if args.task is None:
        args.task = DEFAULT_TASK
    if args.keep_share is None:
        args.keep_share = DEFAULT_KEEP_SHARE
    name = args.name or (
        f"{get_task(args.task).name}-{args.search}-{args.scheduler}-"
        f"{time.strftime('%Y%m%d-%H%M%S')}"
    )
    scheduler = SchedulerSpec(
        name=args.scheduler, discard_at=args.discard_at, keep_share=args.keep_share,
        cohort_size=args.cohort_size, rank_by=args.rank_by, grace_period=args.grace_period,
        reduction_factor=args.reduction_factor,
    )
    return SweepSpec(
        train=train_config(args), search=args.search, wi_seeds=args.wi_seeds,
        do_seeds=args.do_seeds, num_samples=args.num_samples, seed=args.seed,
        scheduler=scheduler, cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial, max_concurrent=args.max_concurrent,
        max_failures=args.max_failures, checkpoint_every=args.checkpoint_every,
        keep_checkpoints=args.keep_checkpoints, pause_mode=args.pause_mode,
        storage_path=args.storage_path, name=name,
        results_dir=args.results_dir, tune_loggers=args.tune_loggers,
        tables_every_s=args.tables_every, predictions=args.predictions,
    )


def check_data(spec: SweepSpec, write_cache: bool = True) -> tuple[str, Any]:
    """Tokenize (cached) before Ray starts: bad data fails here, and workers only read the cache.

    Returns a one-line description of the data, and the data. A dry run passes
    ``write_cache=False``: it writes nothing, not even the cache.
    """
    cfg = spec.train
    try:
        data = prepare_data(cfg, write_cache=write_cache)
        steps_per_epoch = math.ceil(len(data.train) / cfg.batch_size)
        evaluation_steps(steps_per_epoch, cfg.epochs, cfg.evals_per_epoch)
    except (DataError, ModelError) as err:
        raise ValueError(str(err)) from err
    return (
        f"{cfg.task}: {len(data.train)} train / {len(data.dev)} dev examples, "
        f"{steps_per_epoch * cfg.epochs} steps and {cfg.total_evals + 1} evaluations per trial\n"
        + describe_choice(cfg.precision, spec.gpus_per_trial)
    ), data


def trials_asked(spec: SweepSpec) -> str:
    """Where the trial count comes from, for the --max-trials message."""
    if spec.num_samples is not None:
        return f"--num-samples {spec.num_samples}"
    return f"--search grid over {len(spec.wi_seeds):,} WI x {len(spec.do_seeds):,} DO seeds"


def check_before_ray(spec: SweepSpec, args: argparse.Namespace) -> None:
    """What must fail before anything starts: storage, the trial cap, the embedded
    Ray's resources (a cluster's are checked once joined)."""
    preflight.check_storage(spec.storage_path)
    if not args.resume:
        preflight.check_trial_count(spec.trial_count, args.max_trials, trials_asked(spec))
    if not args.address:
        preflight.check_local_resources(spec.cpus_per_trial, spec.gpus_per_trial,
                                        preflight.local_cpus(), preflight.local_gpus())


def dry_run(spec: SweepSpec, data: Any, on_cluster: bool) -> list[str]:
    """The plan's lines; builds one trial and times it, writes nothing."""
    try:
        probe = dryrun.timing_probe(spec, data)
    except ModelError as err:
        raise ValueError(str(err)) from err
    return ["Dry run: Ray is not started and nothing is written.", *dryrun.format_plan(
        spec, probe, preflight.local_cpus(), preflight.local_gpus(),
        dryrun.free_bytes(spec.storage_path), on_cluster,
    )]


def bound_checkpoint_disk(spec: SweepSpec, max_gb: float | None) -> tuple[SweepSpec, str]:
    """The spec with early discarding's cohort sized so that its paused checkpoints fit on
    the storage (see :func:`tune_seeds.tuning.dryrun.disk_bounded_cohort`), and a line saying so."""
    if not dryrun.pauses_every_trial(spec):
        return spec, ""
    if spec.pause_mode == "recompute":
        return spec, "pause mode recompute: no checkpoint is kept at the milestone"
    size = dryrun.checkpoint_bytes(spec.train)
    free = dryrun.free_bytes(spec.storage_path)
    max_bytes = None if max_gb is None else max_gb * 1e9
    cohort = dryrun.disk_bounded_cohort(spec, size, free, max_bytes)
    if cohort is None:
        return spec, ""
    limit = dryrun.human_bytes(max_bytes) if max_bytes is not None else (
        f"{dryrun.DISK_SHARE:.0%} of the {dryrun.human_bytes(free)} free")
    spec = dataclasses.replace(
        spec, scheduler=dataclasses.replace(spec.scheduler, cohort_size=cohort))
    return spec, (
        f"cohorts of {cohort}: {spec.trial_count} paused checkpoints of "
        f"{dryrun.human_bytes(size)} would not fit in {limit}; each cohort is decided before "
        "the next starts (--cohort-size to choose, --pause-mode recompute for none)"
    )


def check_disk(spec: SweepSpec, max_gb: float | None) -> None:
    """Refuse what ``--dry-run`` says does not fit: the sweep's checkpoints at their peak,
    in every pause mode, periodic ones included (the message names the binding limit)."""
    running = dryrun.concurrency(spec, preflight.local_cpus(), preflight.local_gpus())
    dryrun.check_checkpoint_disk(spec, dryrun.checkpoint_bytes(spec.train),
                                 dryrun.free_bytes(spec.storage_path), running,
                                 None if max_gb is None else max_gb * 1e9)


def check_new_experiment(spec: SweepSpec) -> None:
    fs, path = fs_and_path(spec.experiment_path)
    exists = fs.get_file_info(path).type != pyarrow.fs.FileType.NotFound
    # A folder with nothing but a lock: a start refused or stopped before writing anything.
    if exists and not (spec.is_local and holds_only_lock(path)):
        raise ValueError(
            f"{spec.experiment_path} already exists: continue it with --resume --name "
            f"{spec.name}, or choose another --name"
        )


def lock_folder(spec: SweepSpec) -> Path:
    """Where the sweep's driver lock is: its experiment folder, or with remote storage
    (no lock there) its local results folder."""
    return spec.local_experiment_dir or spec.tables_dir


def main(argv: list[str] | None = None) -> int:
    # Until the sweep's own handling takes over (once Ray is up), SIGTERM does what Ctrl+C
    # does: both stop the checks before anything was started, in one line.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with contextlib.ExitStack() as held:  # the driver lock, until the very end
            return run(argv, held)
    except KeyboardInterrupt:
        print("run_sweep.py: interrupted before the sweep started: nothing ran, nothing to "
              "resume", file=sys.stderr, flush=True)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run(argv: list[str] | None, held: contextlib.ExitStack) -> int:
    """:func:`main`, holding the sweep's driver lock in ``held`` once it is taken."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.resume:
            if not args.name:
                raise ValueError("--resume needs the --name of the sweep to continue")
            if args.dry_run:
                raise ValueError("--dry-run plans a new sweep; it does not combine with --resume")
            spec = load_spec(args.storage_path, args.name)
            notice = version_notice(args.storage_path, args.name)
            if notice:
                print(notice, flush=True)
            if spec.is_local:  # a damaged state would make Tune restart the sweep
                check_snapshot(str(spec.local_experiment_dir))
            check_before_ray(spec, args)
        else:
            spec = sweep_spec(args)
            check_before_ray(spec, args)
            if spec.train.glue_dir is None:
                resolve_glue_dir(None)  # GLUE_DIR pointing nowhere is an error
            check_new_experiment(spec)
        if args.address and spec.limit_by_cpus and spec.max_concurrent:
            raise ValueError(
                f"--max-concurrent with --scheduler {spec.scheduler.name} works through the "
                "embedded Ray's CPUs; on a cluster, limit concurrency with --cpus-per-trial"
            )
        address = check_address(args.address) if args.address else None
        description, data = check_data(spec, write_cache=not args.dry_run)
        data_fp = data_fingerprint(spec.train, data)
        if args.resume:  # the same settings and data as at the start, or nothing runs
            unrecorded = check_resume(recorded_fingerprint(args.storage_path, args.name),
                                      spec, data_fp, spec_file(args.storage_path, args.name))
        else:
            spec, disk_line = bound_checkpoint_disk(spec, args.max_checkpoint_gb)
            if disk_line:
                description += "\n" + disk_line
        if args.dry_run:
            print(description, *dry_run(spec, data, on_cluster=address is not None), sep="\n")
            return 0
        if not args.resume:
            check_disk(spec, args.max_checkpoint_gb)
        # One driver per sweep, from here to the end; nothing was written before.
        held.enter_context(driver_lock(lock_folder(spec), spec.name))
        if not args.resume:
            check_new_experiment(spec)  # again, locked: another start may just have run
        elif unrecorded:
            print(unrecorded, flush=True)
            record_fingerprint(args.storage_path, args.name, fingerprint(spec, data_fp))
    except (ClusterAuthError, SweepFileError, ResumeRefused, SweepLocked) as err:
        # One line: the command line was right, the usage would say nothing.
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    except ValueError as err:
        parser.error(str(err))
    if not spec.is_local:
        print(f"Note: {spec.storage_path} is remote storage, which has no lock: the lock on "
              f"{lock_folder(spec)} stops a second driver of this sweep on this machine, "
              "not one elsewhere writing to the same storage.", flush=True)

    print(description, flush=True)
    del data  # the trials read the tokenization cache
    waiting_in_tune = 0  # trials Tune still holds unfinished when the run returns
    errors: dict[str, str] = {}  # trials in ERROR by id: pair and first error line
    try:
        grid = run_sweep(spec, resume=args.resume, address=address,
                         dashboard=not args.no_dashboard, verbose=args.verbose,
                         dashboard_port=args.dashboard_port,
                         autoscale_wait_s=args.autoscale_wait,
                         fingerprint=None if args.resume else fingerprint(spec, data_fp))
        waiting_in_tune = len(grid) - grid.num_terminated - grid.num_errors
        errors = errored_trials(grid)
    except PreflightError as err:  # no node of the cluster can hold a trial
        parser.error(str(err))
    except SweepStalled as err:  # nothing would ever run again: report, never succeed
        print(f"\nThe sweep stalled and was stopped.\n{err}", flush=True)
        waiting_in_tune = max(1, len(err.trials))
    except DiskFull as err:  # a trial's ENOSPC: every other trial would fail the same way
        print(f"\n{err}", flush=True)
        waiting_in_tune = 1
    except OSError as err:
        if not is_disk_full(err):
            raise
        # The driver's own write (the tables, Tune's state) found the disk full.
        print(f"\nNo space left on device: the sweep's driver could not write ({err}); the "
              "sweep was stopped. Free some space, then --resume", flush=True)
        waiting_in_tune = 1
    except KeyboardInterrupt:  # a second Ctrl+C (or SIGTERM): Tune stopped at once
        print("\nInterrupted.", flush=True)
        waiting_in_tune = 1
    return report_end(spec, waiting_in_tune, errors)


def report_end(spec: SweepSpec, waiting_in_tune: int, errors: dict[str, str]) -> int:
    """Print the summary, the trials in ERROR and how to continue; return the exit code.

    0 only when every trial finished (completed, cut by the scheduler, or diverged); 1
    when any ended in ERROR, was interrupted, waits or never ran: a resume runs those.
    """
    try:
        trials, _ = load_results(spec.tables_dir)
    except FileNotFoundError:
        trials = None
        print("No trial reported a result; no tables were written.")
        unfinished = spec.trial_count
    else:
        print()
        try:
            print(format_summary(sweep_report(trials, total_evals=spec.train.total_evals,
                                              trial_count=spec.trial_count)))
        except ValueError as err:  # the tables stand; only the analysis could not be made
            print(f"Sweep summary: not available ({err})")
        print(f"\nTables: {spec.tables_dir}/trials.parquet, {spec.tables_dir}/curves.parquet")
        unfinished = unfinished_trials(trials, spec.trial_count, waiting_in_tune)
        # Trials in ERROR by the tables too: a stalled run returns no result grid.
        for row in trials[trials["stopped_by"] == "error"].itertuples():
            errors.setdefault(str(row.trial_id), f"WI {row.wi_seed} / DO {row.do_seed} "
                              f"(trial {row.trial_id}): ended in ERROR")
        # A trial in ERROR before its first report is also among the unfinished.
        unfinished = max(0, unfinished - len(set(errors) - set(trials["trial_id"])))
    if errors:
        print(f"{len(errors)} trial(s) ended in ERROR:")
        print("\n".join(f"  {line}" for line in errors.values()))
    if not errors and not unfinished:
        return 0
    what = [f"{len(errors)} trial(s) in ERROR"] if errors else []
    what += [f"{unfinished} trial(s) did not finish"] if unfinished > 0 else []
    again = " (trials in ERROR run again)" if errors else ""
    print(f"{' and '.join(what)}. Continue with{again}:\n"
          f"  python experiments/run_sweep.py --resume --name {spec.name} "
          f"--storage-path {spec.storage_path}")
    return 1


def unfinished_trials(trials: Any, trial_count: int, waiting_in_tune: int) -> int:
    """Trials of the sweep that have not ended, by the tables and by Tune.

    The tables count trials without a ``stopped_by`` (running, paused, pending,
    interrupted) and trials that never reported. ``waiting_in_tune`` counts the trials
    Tune itself still held unfinished (PAUSED, PENDING) at the end, or that a stall
    left waiting: they are unfinished whatever the tables say.
    """
    by_tables = int(trials["stopped_by"].isna().sum()) + trial_count - len(trials)
    return max(by_tables, waiting_in_tune)


if __name__ == "__main__":
    sys.exit(main())
