#!/usr/bin/env python3
"""One prepared GPU run: Ray from wheels, a probe of how many MRPC trials share the GPU,
an early-discard sweep on full MRPC sized to the time left, and its throughput.

Made for a machine with one GPU, no network and a python3 that has torch and
transformers but no Ray. It runs end to end in
``--time-limit`` seconds (default 480, 8 minutes) from a fresh copy of the repository.

What to bring (besides a fresh copy of this repository, which goes on ``PYTHONPATH``
and is not pip-installed, as the command below puts it):

- the MRPC TSVs, ``<glue>/MRPC/train.tsv`` and ``dev.tsv`` (1.5 MB);
- the default model as float16 (45 MB), made where the model's package is installed::

      python experiments/export_model.py --out model-fp16

- a folder of wheels: Ray and what the machine lacks of Ray core's dependencies
  (cp312, manylinux x86-64; the GPU machine already has click, filelock, msgpack,
  packaging, protobuf, pyyaml, requests and attrs)::

      pip download --only-binary=:all: --python-version 3.12 --implementation cp \\
          --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --no-deps \\
          -d wheels ray==2.60.0 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 \\
          referencing==0.37.0 rpds-py==2026.9.1

  The Ray wheel alone is 75.6 MiB. Where one upload is capped below what has to travel
  (64 MiB per call with the device tool here, and the model takes 45 MB of it), bring
  it in parts (``split -b 40m`` here, ``cat`` the parts back into the wheels folder
  there before running this script).

The command, on the GPU machine, from the repository's root::

    PYTHONPATH=. python3 benchmarks/gpu_sweep.py OUT --glue-dir glue --model model-fp16 \
        --wheels wheels

What it does, all within the time limit:

1. **Setup.** If ``import ray`` fails, installs every wheel of ``--wheels`` with
   ``pip install --no-index --no-deps --target <scratch>/site`` and puts that folder and
   the repository on ``PYTHONPATH`` of everything it starts (Ray's workers inherit it).
2. **Probe** (GPU only, about a minute). Starts up to ``--max-trials-at-once``
   processes that each build one trial of the sweep's configuration on the GPU; then
   for 1, 2, 4, 8... of them at once trains for ``--probe-seconds`` and evaluates once.
   From each level's step and evaluation times and the GPU memory per process
   (``nvidia-smi``, CUDA context included) it estimates full trials per GPU-hour and
   chooses the level past which one more step up brings less than 10% more, within 90%
   of the GPU's memory: ``--gpus-per-trial`` is 1 over it. On ``--device cpu`` the
   probe is skipped (``--trials-at-once``, default the CPU count, sets concurrency).
3. **Sweep.** ``experiments/run_sweep.py --task mrpc --scheduler early-discard
   --search random --num-samples N`` on the full MRPC data, N the most trials (a
   multiple of the level) whose estimated time fits before the deadline, within half of
   the free disk for paused checkpoints. ``nvidia-smi`` samples utilization and memory
   every 2 s meanwhile. A sweep still running at the deadline gets SIGINT: it stops
   cleanly, writes its tables, and the throughput counts the work done.
4. **Report**: ``OUT/gpu_sweep.json``.

``OUT`` receives six files (five on a CPU): ``trials.parquet`` and ``curves.parquet`` (the sweep's
tables, with ``device``, ``device_name`` and ``gpu_peak_mb``), ``sweep.json`` (the
sweep's settings), ``nvidia_smi.csv``, ``gpu_sweep.log`` (everything printed) and
``gpu_sweep.json``: full-trial equivalents (evaluation intervals trained / intervals of
a full run) per GPU-hour of the sweep's wall time, trials per GPU at once, peak GPU
memory per trial, GPU utilization, the probe's measurements and the wall times.
Checkpoints, the Ray installation and Tune's state stay in a scratch folder, deleted at
the end unless ``--scratch`` names one.

Options this script does not know (``--batch-size``, ``--train-examples``,
``--num-hidden-layers``, ``--precision``...) go to ``run_sweep.py`` unchanged, so a
tiny CPU run for tests is::

    python benchmarks/gpu_sweep.py OUT --device cpu --glue-dir GLUE --num-samples 4 \\
        --trials-at-once 2 --num-hidden-layers 2 --train-examples 32 --dev-examples 16 \\
        --batch-size 8 --epochs 2 --evals-per-epoch 2
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib.util
import json
import math
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

# The package is imported where it is used, not here: this process starts before Ray is
# installed (setup() installs it for the processes it starts), and only the probe's
# workers need torch.

ROOT = Path(__file__).resolve().parents[1]
SWEEP_SCRIPT = ROOT / "experiments" / "run_sweep.py"
SWEEP_NAME = "mrpc-gpu-sweep"
TIME_LIMIT_S = 480.0
FINISH_S = 20.0
"""Kept after the sweep's deadline for reading the tables and writing the report."""
INTERRUPT_GRACE_S = 40.0
"""How long a sweep stopped with SIGINT may take to write its tables and stop Ray."""
RAY_START_S = 30.0
"""Estimated start of the embedded Ray and of the first trials' workers (imports, CUDA
context); a guess, which the SIGINT at the deadline makes safe."""
RESTART_S = 3.0
"""Estimated cost of a pause or resume beyond building the trial: writing or reading a
~270 MB checkpoint; a guess too."""
SAFETY = 1.2
"""Factor on the estimated sweep time when choosing the number of trials."""
GAIN = 1.10
"""A probe level is worth taking if it brings at least this much more trials per hour."""
MEMORY_SHARE = 0.9
"""Share of the GPU's free memory that the trials at once may fill."""
DISK_SHARE = 0.5
"""Share of the free disk that paused checkpoints may fill."""
MAX_TRIALS = 400
"""Largest sweep sized here: the project's main job."""
NVIDIA_QUERY = "timestamp,utilization.gpu,utilization.memory,memory.used,memory.total,power.draw"
NVIDIA_TIME = "%Y/%m/%d %H:%M:%S.%f"


# -- running and logging ---------------------------------------------------------------


class Log:
    """Everything printed goes to stdout and to ``gpu_sweep.log`` as well."""

    def __init__(self, path: Path) -> None:
        self.file: TextIO = path.open("a", encoding="utf-8")
        self.lock = threading.Lock()

    def __call__(self, line: str) -> None:
        with self.lock:
            print(line, flush=True)
            self.file.write(line + "\n")
            self.file.flush()

    def close(self) -> None:
        self.file.close()


def _copy_lines(stream: TextIO, log: Log) -> None:
    for line in stream:
        log(line.rstrip("\n"))


def run_logged(cmd: list[str], env: dict[str, str], log: Log, deadline: float | None = None,
               interrupt: bool = False) -> tuple[int, bool]:
    """Run ``cmd`` with its output in the log; returns (exit code, stopped at the deadline).

    At ``deadline`` (a ``time.monotonic()`` value) the command gets SIGINT when
    ``interrupt`` (a sweep then writes its tables) and is killed otherwise; either way
    its whole process group goes after :data:`INTERRUPT_GRACE_S`.
    """
    log("$ " + " ".join(cmd))
    # Its own session: at the end, killing the group reaches Ray's processes and nothing else.
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    assert proc.stdout is not None
    reader = threading.Thread(target=_copy_lines, args=(proc.stdout, log), daemon=True)
    reader.start()
    stopped = False
    try:
        proc.wait(timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        stopped = True
        log(f"deadline reached: {'interrupting' if interrupt else 'stopping'} {cmd[1]}")
        if interrupt:
            proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=INTERRUPT_GRACE_S)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    reader.join(timeout=5)
    return proc.returncode, stopped


def python_env(site: Path | None) -> dict[str, str]:
    """The environment of everything started here: the repository (and installed
    wheels) on ``PYTHONPATH``, no usage reporting, no tokenizer threads after forks."""
    env = dict(os.environ)
    paths = [str(ROOT)] + ([str(site)] if site else [])
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env.update(PYTHONPATH=os.pathsep.join(paths), PYTHONUNBUFFERED="1",
               RAY_USAGE_STATS_ENABLED="0", TOKENIZERS_PARALLELISM="false")
    return env


def library_versions(env: dict[str, str]) -> dict[str, Any] | None:
    """Versions of torch, transformers and Ray as the runs will see them (None: no Ray)."""
    code = ("import json, torch, transformers, ray; print(json.dumps({'python': "
            "__import__('platform').python_version(), 'torch': torch.__version__, "
            "'transformers': transformers.__version__, 'ray': ray.__version__, "
            "'cuda_available': torch.cuda.is_available()}))")
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                          text=True)
    if done.returncode != 0:
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def setup(wheels: Path | None, scratch: Path, log: Log) -> tuple[dict[str, str], dict[str, Any]]:
    """Make Ray importable (installing ``wheels`` if needed); the environment and versions."""
    env = python_env(None)
    versions = library_versions(env)
    if versions is not None:
        log(f"setup: ray {versions['ray']} is importable; nothing to install")
        return env, versions
    if wheels is None:
        raise SystemExit("setup: ray is not importable here; give --wheels DIR with the Ray "
                         "wheel and its missing dependencies (see this script's header)")
    files = sorted(str(f) for f in wheels.glob("*.whl"))
    if not files:
        raise SystemExit(f"setup: no .whl files in {wheels}")
    site = scratch / "site"
    # --no-deps: the machine's own packages serve the other dependencies; --target keeps
    # the installation out of the system's site-packages.
    code, _ = run_logged([sys.executable, "-m", "pip", "install", "--quiet", "--no-index",
                          "--no-deps", "--no-compile", "--target", str(site), *files],
                         python_env(None), log)
    env = python_env(site)
    versions = library_versions(env)
    if code != 0 or versions is None:
        raise SystemExit("setup: installing the wheels did not make ray importable (see above)")
    log(f"setup: installed {len(files)} wheels into {site}; ray {versions['ray']}")
    return env, versions


# -- GPU memory and nvidia-smi -----------------------------------------------------------


def gpu_memory_mb() -> tuple[float, float] | None:
    """(used, total) MiB of GPU 0 as ``nvidia-smi`` sees them, CUDA contexts included."""
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=memory.used,memory.total",
                               "--format=csv,noheader,nounits", "-i", "0"],
                              capture_output=True, text=True, timeout=30)
        used, total = done.stdout.strip().splitlines()[0].split(",")
        return float(used), float(total)
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return None


def start_monitor(path: Path) -> subprocess.Popen | None:
    """``nvidia-smi`` sampling every 2 s into ``path``, in the background."""
    if shutil.which("nvidia-smi") is None:
        return None
    with path.open("w") as f:
        return subprocess.Popen(["nvidia-smi", f"--query-gpu={NVIDIA_QUERY}",
                                 "--format=csv,nounits", "-l", "2"], stdout=f,
                                stderr=subprocess.DEVNULL)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:  # "[N/A]"
        return math.nan


def gpu_samples(path: Path, since: datetime, until: datetime) -> dict[str, Any] | None:
    """Utilization and memory of the samples between ``since`` and ``until``."""
    if not path.is_file():
        return None
    rows = []
    with path.open() as f:
        for row in csv.reader(f, skipinitialspace=True):
            if not row or row[0].startswith("timestamp") or len(row) < 6:
                continue
            try:
                when = datetime.strptime(row[0].strip(), NVIDIA_TIME)
            except ValueError:
                continue
            if since <= when <= until:
                rows.append([_number(v.strip()) for v in row[1:6]])
    if not rows:
        return {"samples": 0}

    def mean(i: int) -> float:
        values = [r[i] for r in rows if math.isfinite(r[i])]
        return round(sum(values) / len(values), 1) if values else math.nan

    return {
        "samples": len(rows),
        "mean_utilization_pct": mean(0),
        "max_utilization_pct": max(r[0] for r in rows),
        "mean_memory_utilization_pct": mean(1),
        "max_memory_used_mb": max(r[2] for r in rows),
        "memory_total_mb": rows[0][3],
        "mean_power_w": mean(4),
    }


# -- the probe (GPU only; runs as `gpu_sweep.py _probe ...` in its own process) ---------


def _probe_step(trial: Any) -> None:
    # The probe may outrun a whole trial: start its data order again (the learning rate
    # has decayed to 0 by then, which costs the same).
    if trial.step >= trial.total_steps:
        trial.step = 0
    trial._train_step()


def _probe_worker(index: int, config: Any, device: str, commands: Any, results: Any) -> None:
    """One trial on ``device``: report when built, then per command train and evaluate once.

    (The probe is for the GPU; ``device="cpu"`` exists to test its mechanics.)
    """
    try:
        import torch

        from tune_seeds.trial.data import prepare_data
        from tune_seeds.trial.training import Trial

        cuda = device == "cuda"
        torch.set_num_threads(config.threads or 1)
        data = prepare_data(config)
        start = time.perf_counter()
        trial = Trial(config, index + 1, index + 1, data=data, device=device)
        if cuda:
            torch.cuda.synchronize()
        build_s = time.perf_counter() - start
        for _ in range(3):  # kernels, cuBLAS handles, AdamW's moments
            _probe_step(trial)
        trial.predict(trial.data.dev, trial._dev_order)
        params = sum(p.numel() for p in trial.model.parameters())
        results.put({"worker": index, "ready": True, "build_s": build_s,
                     "steps_per_trial": trial.total_steps,
                     "evals_per_trial": len(trial.eval_steps),
                     # model + AdamW's two moments, float32
                     "checkpoint_mb": params * 4 * 3 / 2**20,
                     "precision": trial.precision, "device_name": trial.device_name})
        while (seconds := commands.get()) is not None:
            steps, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                _probe_step(trial)  # loss.item() in each step: the time is the GPU's too
                steps += 1
            train_s = time.perf_counter() - start
            start = time.perf_counter()
            trial.predict(trial.data.dev, trial._dev_order)
            results.put({"worker": index, "steps": steps, "train_s": train_s,
                         "eval_s": time.perf_counter() - start,
                         "peak_allocated_mb": trial.peak_gpu_memory_mb(),
                         "peak_reserved_mb": (torch.cuda.max_memory_reserved() / 2**20
                                              if cuda else math.nan)})
    except Exception as err:  # reported to the parent, which decides what to do
        results.put({"worker": index, "error": f"{type(err).__name__}: {err}"})


def level_estimate(trials: int, reports: list[dict], ready: dict[str, Any]) -> dict[str, Any]:
    """What ``trials`` trials at once achieve, from their reports at that level.

    >>> r = level_estimate(2, [{"steps": 100, "train_s": 5.0, "eval_s": 0.5}] * 2,
    ...                    {"build_s": 2.0, "steps_per_trial": 690, "evals_per_trial": 31})
    >>> round(r["trial_s"], 1), round(r["trials_per_hour"])
    (52.0, 138)
    """
    step_s = sum(r["train_s"] / max(1, r["steps"]) for r in reports) / len(reports)
    eval_s = sum(r["eval_s"] for r in reports) / len(reports)
    trial_s = (ready["build_s"] + ready["steps_per_trial"] * step_s
               + ready["evals_per_trial"] * eval_s)
    return {"trials": trials, "step_s": step_s, "eval_s": eval_s, "trial_s": trial_s,
            "trials_per_hour": trials * 3600 / trial_s,
            "steps_per_s": sum(r["steps"] / r["train_s"] for r in reports)}


def choose_level(levels: list[dict[str, Any]]) -> dict[str, Any]:
    """The level past which going up brings less than :data:`GAIN` more trials per hour.

    >>> pick = choose_level([{"trials": 1, "trials_per_hour": 100},
    ...                      {"trials": 2, "trials_per_hour": 190},
    ...                      {"trials": 4, "trials_per_hour": 200}])
    >>> pick["trials"]
    2
    """
    best = levels[0]
    for level in levels[1:]:
        if level["trials_per_hour"] >= GAIN * best["trials_per_hour"]:
            best = level
    return best


def sweep_estimate_s(spec: Any, trials: int, at_once: int, level: dict[str, Any],
                     build_s: float) -> float:
    """Estimated wall time of the sweep ``spec`` with ``trials`` trials, ``at_once`` at a time.

    Every start (each trial, and each kept trial again after its pause) builds a trial
    and moves a checkpoint; each trial evaluates at step 0; each interval trained costs
    its steps and one evaluation. Waves of ``at_once`` trials, so ``trials`` should be a
    multiple of it.
    """
    total = spec.train.total_evals
    plan = spec.scheduler.setup(trials, total).plan
    if plan is None:  # stops trials by their scores: at most all of it
        used, resumed = trials * total, 0
    else:
        used, resumed = plan.cost, plan.keep if plan.discards else 0
    interval_s = level["step_s"] * level["steps_per_trial"] / total + level["eval_s"]
    serial_s = ((trials + resumed) * (build_s + RESTART_S) + trials * level["eval_s"]
                + used * interval_s)
    return RAY_START_S + SAFETY * serial_s / at_once


def size_sweep(spec: Any, at_once: int, level: dict[str, Any], build_s: float,
               budget_s: float, cap: int) -> int:
    """The most trials, a multiple of ``at_once`` up to ``cap``, estimated to fit
    ``budget_s`` (at least ``at_once``: the deadline stops a sweep that runs over)."""
    trials = at_once
    while (trials + at_once <= cap
           and sweep_estimate_s(spec, trials + at_once, at_once, level, build_s) <= budget_s):
        trials += at_once
    return trials


def load_sweep_module() -> Any:
    spec = importlib.util.spec_from_file_location("run_sweep", SWEEP_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def probe_main(argv: list[str]) -> int:
    """The probe: measure levels of trials at once, choose one, size the sweep."""
    import multiprocessing

    p = argparse.ArgumentParser(prog="gpu_sweep.py _probe")
    p.add_argument("--sweep-args", required=True, help="run_sweep.py's arguments, JSON")
    p.add_argument("--levels", required=True, help="trials at once to try, e.g. 1,2,4,8")
    p.add_argument("--seconds", type=float, required=True, help="training per level")
    p.add_argument("--sweep-deadline", type=float, required=True,
                   help="time.time() by which the sweep must be done")
    p.add_argument("--scratch", type=Path, required=True)
    p.add_argument("--output", type=Path, required=True)
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                   help="cpu only to test the probe's mechanics")
    args = p.parse_args(argv)

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        args.output.write_text(json.dumps({"error": "torch sees no CUDA device"}))
        return 3
    run_sweep = load_sweep_module()
    spec = run_sweep.sweep_spec(run_sweep.build_parser().parse_args(
        [*json.loads(args.sweep_args), "--num-samples", "1"]))
    config = spec.train.replace(threads=1)  # as a trial of 1 CPU gets
    from tune_seeds.trial.data import prepare_data

    prepare_data(config)  # tokenize once; the workers read the cache
    levels = [int(k) for k in args.levels.split(",")]
    before = gpu_memory_mb()
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    commands = [context.Queue() for _ in range(max(levels))]
    workers = [context.Process(target=_probe_worker,
                               args=(i, config, args.device, commands[i], results), daemon=True)
               for i in range(max(levels))]
    for worker in workers:
        worker.start()
    report: dict[str, Any] = {"levels": [], "errors": []}
    try:
        ready = []
        for _ in workers:
            try:
                message = results.get(timeout=180)
            except queue.Empty:
                break
            (ready if message.get("ready") else report["errors"]).append(message)
        if not ready:
            raise RuntimeError(f"no probe worker started: {report['errors']}")
        ready.sort(key=lambda m: m["worker"])
        first = ready[0]
        after = gpu_memory_mb()
        if before is not None and after is not None:
            per_trial_mb = (after[0] - before[0]) / len(ready)
            free_mb = after[1] - before[0]
        else:  # no nvidia-smi (or the CPU test): memory does not limit the levels
            per_trial_mb, free_mb = math.nan, math.nan
        fit = (math.floor(MEMORY_SHARE * free_mb / per_trial_mb)
               if math.isfinite(per_trial_mb) and per_trial_mb > 0 else len(ready))
        usable = [k for k in levels if k <= min(len(ready), fit)] or [1]
        alive = [m["worker"] for m in ready]
        for k in usable:
            for i in alive[:k]:
                commands[i].put(args.seconds)
            reports = []
            for _ in range(k):
                try:
                    message = results.get(timeout=args.seconds * 4 + 120)
                except queue.Empty:
                    report["errors"].append({"level": k, "error": "no report in time"})
                    break
                (report["errors"] if "error" in message else reports).append(message)
            if len(reports) < k:
                break
            level = level_estimate(k, reports, first)
            level.update(steps_per_trial=first["steps_per_trial"],
                         peak_allocated_mb=max(r["peak_allocated_mb"] for r in reports),
                         peak_reserved_mb=max(r["peak_reserved_mb"] for r in reports))
            report["levels"].append(level)
            print(f"probe: {k:2d} at once: {level['step_s'] * 1e3:6.1f} ms/step, "
                  f"{level['eval_s']:5.2f} s/eval, {level['trial_s']:6.1f} s/trial, "
                  f"{level['trials_per_hour']:7.0f} full trials/h", flush=True)
    finally:
        for q in commands:
            q.put(None)
        for worker in workers:
            worker.join(timeout=20)
            if worker.is_alive():
                worker.terminate()
    if not report["levels"]:
        raise RuntimeError(f"the probe measured nothing: {report['errors']}")
    chosen = choose_level(report["levels"])
    at_once = chosen["trials"]
    free_disk = shutil.disk_usage(args.scratch).free / 2**20
    cap = max(at_once, min(MAX_TRIALS, int(DISK_SHARE * free_disk / first["checkpoint_mb"])))
    cap -= cap % at_once
    budget_s = args.sweep_deadline - time.time()
    trials = size_sweep(spec, at_once, chosen, first["build_s"], budget_s, cap)
    report.update(
        trials_at_once=at_once, num_samples=trials, budget_s=budget_s,
        estimated_sweep_s=sweep_estimate_s(spec, trials, at_once, chosen, first["build_s"]),
        gpu_memory_per_trial_mb=per_trial_mb, gpu_memory_free_mb=free_mb,
        trials_fitting_memory=fit, build_s=first["build_s"],
        steps_per_trial=first["steps_per_trial"], evals_per_trial=first["evals_per_trial"],
        checkpoint_mb=first["checkpoint_mb"], precision=first["precision"],
        device_name=first["device_name"], seconds_per_level=args.seconds,
    )
    args.output.write_text(json.dumps(report, indent=2))
    print(f"probe: {at_once} trials at once (--gpus-per-trial 1/{at_once}); {trials} trials "
          f"estimated at {report['estimated_sweep_s']:.0f} s of the {budget_s:.0f} s left",
          flush=True)
    return 0


# -- the run -------------------------------------------------------------------------------


def probe_levels(most: int) -> list[int]:
    """1, 2, 4... below ``most``, then ``most``.

    >>> probe_levels(14), probe_levels(8), probe_levels(1)
    ([1, 2, 4, 8, 14], [1, 2, 4, 8], [1])
    """
    levels = [1]
    while levels[-1] * 2 < most:
        levels.append(levels[-1] * 2)
    if most > levels[-1]:
        levels.append(most)
    return levels


def gpus_per_trial(at_once: int) -> float:
    """1/at_once, rounded down to Ray's resource precision (1e-4) so that they all fit.

    >>> gpus_per_trial(8), gpus_per_trial(14), gpus_per_trial(1)
    (0.125, 0.0714, 1.0)
    """
    return math.floor(10_000 / at_once) / 10_000


def _distinct(table: Any, column: str) -> list[str]:
    return sorted(map(str, table[column].unique())) if column in table else []


def summarize(out: Path, total_evals: int, sweep_s: float, gpus: int) -> dict[str, Any]:
    """Throughput and memory from the sweep's tables."""
    from tune_seeds.tables import load_results

    trials, curves = load_results(out)
    equivalents = float(trials["evals_trained"].sum()) / total_evals
    summary: dict[str, Any] = {
        "trials_reported": len(trials),
        "stopped_by": {str(k): int(v) for k, v in
                       trials["stopped_by"].fillna("unfinished").value_counts().items()},
        "full_trial_equivalents": equivalents,
        "full_trial_equivalents_per_hour": equivalents * 3600 / sweep_s,
        "full_trial_equivalents_per_gpu_hour": (equivalents * 3600 / (sweep_s * gpus)
                                                if gpus else None),
        "best_score": float(trials["best_score"].max()),
        "device_names": _distinct(trials, "device_name"),
        "precisions": _distinct(trials, "precision"),
        "trial_wall_s_median": float(trials["wall_s"].median()),
    }
    peaks = curves.groupby("trial_id")["gpu_peak_mb"].max().dropna() \
        if "gpu_peak_mb" in curves else []
    summary["peak_gpu_memory_per_trial_mb"] = (
        {"max": float(peaks.max()), "median": float(peaks.median())} if len(peaks) else None)
    return summary


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Other options are passed to experiments/run_sweep.py.")
    p.add_argument("out", type=Path, help="folder for the results (new or empty)")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                   help="cuda (default): probe and share the GPU; cpu: no probe, no nvidia-smi")
    p.add_argument("--glue-dir", default=os.environ.get("GLUE_DIR"),
                   help="GLUE data with MRPC/train.tsv and dev.tsv (default $GLUE_DIR)")
    p.add_argument("--model", default="default",
                   help="model folder, e.g. the float16 copy (default: the packaged model)")
    p.add_argument("--wheels", type=Path, help="wheels of Ray and its missing dependencies, "
                   "installed when ray is not importable")
    p.add_argument("--scratch", type=Path, help="folder for Ray's installation, checkpoints "
                   "and Tune's state (default: a temporary folder, deleted at the end)")
    p.add_argument("--time-limit", type=float, default=TIME_LIMIT_S,
                   help="seconds for everything, setup included (default %(default)s)")
    p.add_argument("--num-samples", type=int,
                   help="trials of the sweep (default: as many as fit the time; on a CPU, "
                   "twice --trials-at-once)")
    p.add_argument("--trials-at-once", type=int,
                   help="trials sharing the device (default: the probe's choice; on a CPU, "
                   "the CPU count)")
    p.add_argument("--max-trials-at-once", type=int,
                   default=max(1, min(16, (os.cpu_count() or 1) - 2)),
                   help="most trials at once the probe tries (default: 16 or the CPU count "
                   "less 2, one CPU per trial)")
    p.add_argument("--probe-seconds", type=float, default=6.0,
                   help="training per probe level (default %(default)s)")
    args, sweep_extra = p.parse_known_args(argv)
    if not args.glue_dir:
        p.error("give --glue-dir or set GLUE_DIR")
    if args.out.exists() and any(args.out.iterdir()):
        p.error(f"{args.out} is not empty")
    for name in ("num_samples", "trials_at_once", "max_trials_at_once"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args, sweep_extra


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_probe"]:
        return probe_main(argv[1:])
    start, started_at = time.monotonic(), datetime.now()
    args, sweep_extra = parse_args(argv)
    if importlib.util.find_spec("tune_seeds") is None:
        raise SystemExit("tune_seeds is not importable: run from the repository's root with "
                         "PYTHONPATH=. (see this script's header)")
    sweep_deadline = start + args.time_limit - FINISH_S - INTERRUPT_GRACE_S
    args.out.mkdir(parents=True, exist_ok=True)
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="gpu-sweep-"))
    scratch.mkdir(parents=True, exist_ok=True)
    log = Log(args.out / "gpu_sweep.log")
    monitor = None
    try:
        env, versions = setup(args.wheels, scratch, log)
        setup_s = time.monotonic() - start
        cuda = args.device == "cuda"
        if cuda and not versions["cuda_available"]:
            raise SystemExit("--device cuda, but torch sees no CUDA device (use --device cpu)")
        if cuda:
            monitor = start_monitor(args.out / "nvidia_smi.csv")
        # Absolute paths: the sweep runs in the repository's root.
        model = str(Path(args.model).resolve()) if Path(args.model).exists() else args.model
        sweep_args = ["--task", "mrpc", "--search", "random", "--scheduler", "early-discard",
                      "--glue-dir", str(Path(args.glue_dir).resolve()), "--model", model,
                      "--no-dashboard", "--storage-path", str(scratch / "ray_results"),
                      "--name", SWEEP_NAME, "--results-dir", str(args.out.resolve()),
                      "--tables-every", "15", *sweep_extra]

        probe: dict[str, Any]
        at_once = args.trials_at_once
        if not cuda:
            probe = {"skipped": "no probe on --device cpu"}
            at_once = at_once or os.cpu_count() or 1
        elif at_once is not None:
            probe = {"skipped": "--trials-at-once given"}
        else:
            probe_file = scratch / "probe.json"
            code, _ = run_logged(
                [sys.executable, __file__, "_probe", "--sweep-args", json.dumps(sweep_args),
                 "--levels", ",".join(map(str, probe_levels(args.max_trials_at_once))),
                 "--seconds", str(args.probe_seconds), "--scratch", str(scratch),
                 "--sweep-deadline", str(time.time() + sweep_deadline - time.monotonic()),
                 "--output", str(probe_file)],
                env, log, deadline=start + args.time_limit / 2)
            probe = json.loads(probe_file.read_text()) if code == 0 else {
                "failed": f"exit code {code}; 4 trials at once, see gpu_sweep.log"}
            at_once = probe.get("trials_at_once", 4)
        probe_s = time.monotonic() - start - setup_s
        num_samples = args.num_samples or probe.get("num_samples") or 2 * at_once
        resources = (["--gpus-per-trial", str(gpus_per_trial(at_once)), "--cpus-per-trial", "1"]
                     if cuda else
                     ["--gpus-per-trial", "0", "--cpus-per-trial",
                      str(max(1, (os.cpu_count() or 1) // at_once))])
        command = [sys.executable, str(SWEEP_SCRIPT), *resources,
                   "--num-samples", str(num_samples), *sweep_args]
        sweep_start, sweep_started_at = time.monotonic(), datetime.now()
        code, interrupted = run_logged(command, env, log, deadline=sweep_deadline, interrupt=True)
        sweep_s = time.monotonic() - sweep_start
        sweep_ended_at = datetime.now()
        if monitor is not None:
            monitor.terminate()
            monitor.wait()

        spec_file = scratch / "ray_results" / SWEEP_NAME / "sweep.json"
        if not (args.out / "trials.parquet").is_file() or not spec_file.is_file():
            log(f"the sweep wrote no tables (exit code {code})")
            return 1
        shutil.copy(spec_file, args.out / "sweep.json")
        train = json.loads(spec_file.read_text())["train"]
        result: dict[str, Any] = {
            "benchmark": "gpu_sweep: early-discard MRPC sweep sharing one device",
            "device": args.device,
            "gpus": 1 if cuda else 0,
            "trials_at_once": at_once,
            "trials_per_gpu_at_once": at_once if cuda else None,
            "gpus_per_trial": gpus_per_trial(at_once) if cuda else 0.0,
            "num_samples": num_samples,
            **summarize(args.out, int(train["evals_per_epoch"]) * int(train["epochs"]),
                        sweep_s, 1 if cuda else 0),
            "sweep_exit_code": code,
            "interrupted_at_deadline": interrupted,
            "wall_s": {"setup": setup_s, "probe": probe_s, "sweep": sweep_s,
                       "total": time.monotonic() - start},
            "nvidia_smi": (gpu_samples(args.out / "nvidia_smi.csv", sweep_started_at,
                                       sweep_ended_at) if cuda else None),
            "probe": probe,
            "sweep_command": ["python", "experiments/run_sweep.py", *command[2:]],
            "versions": versions,
            "cpus": os.cpu_count(),
            "started": started_at.isoformat(timespec="seconds"),
        }
        (args.out / "gpu_sweep.json").write_text(json.dumps(result, indent=2) + "\n")
        per_hour = result["full_trial_equivalents_per_gpu_hour"] or \
            result["full_trial_equivalents_per_hour"]
        log(f"{result['trials_reported']} trials, {result['full_trial_equivalents']:.1f} full-"
            f"trial equivalents in {sweep_s:.0f} s: {per_hour:.0f} per "
            f"{'GPU-' if cuda else ''}hour, {at_once} at once; total "
            f"{result['wall_s']['total']:.0f} s -> {args.out / 'gpu_sweep.json'}")
        return 0
    finally:
        if monitor is not None and monitor.poll() is None:
            monitor.terminate()
        log.close()
        if args.scratch is None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
