"""The plan of a sweep that ``--dry-run`` prints: trials, compute, checkpoint disk, wall time.

Nothing here starts Ray or writes a file. The compute comes from the scheduler's
own plan (:attr:`~tune_seeds.tuning.spec.SweepSpec.setup`, cohort by cohort as early
discarding decides); the size of a checkpoint is the in-memory
state of one trial of the configured model (model, AdamW moments, about 3 times
its float32 parameters); the wall time is extrapolated from a short timing probe
of that trial (its build, a few training steps and one evaluation), so it is an
estimate.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tune_seeds.plan import share_kept
from tune_seeds.tuning.preflight import PreflightError, local_storage, nearest_existing
from tune_seeds.tuning.trainable import threads_for

# torch, transformers and the trial's modules (which need both) are imported where a
# trial is built or measured, so that the plan's arithmetic imports in a blink.

if TYPE_CHECKING:
    from tune_seeds.trial.config import TrainConfig
    from tune_seeds.trial.data import PreparedData
    from tune_seeds.tuning.spec import SweepSpec

PROBE_STEPS = 3


@dataclass(frozen=True)
class Compute:
    """A sweep's training compute in evaluation intervals.

    Args:
        used: intervals the sweep trains; None where the scheduler decides from the
            scores as it goes (ASHA, HyperBand: at most ``fifo``).
        fifo: intervals of the same trials all trained to the end.
        resumed: trials known to restart from a checkpoint after a pause.
        detail: how ``used`` comes about, in words.
        recomputed: intervals retrained, without their evaluations, to bring paused
            trials back to their position (``--pause-mode recompute``); not in ``used``.
    """

    used: int | None
    fifo: int
    resumed: int
    detail: str
    recomputed: int = 0


def sweep_compute(spec: SweepSpec) -> Compute:
    """What the sweep's scheduler trains, against FIFO on the same trials."""
    setup, trials, total = spec.setup, spec.trial_count, spec.train.total_evals
    fifo = trials * total
    kind, plan = setup.kind, setup.plan
    if plan is None:
        return Compute(None, fifo, 0, f"{kind.label} {kind.acts} trials by their scores as they "
                       "come: at most the FIFO figure")
    if not plan.discards:
        return Compute(plan.cost, fifo, 0, f"{kind.label} trains every trial to the end")
    cohort_size = plan.cohort_size
    cohorts = (
        f" (in {math.ceil(trials / cohort_size)} cohorts of up to {cohort_size})"
        if cohort_size is not None and cohort_size < trials else ""
    )
    recompute = spec.pause_mode == "recompute"
    again = plan.keep * plan.milestone
    recomputed = (f"; --pause-mode recompute retrains the {plan.keep} kept trials' first "
                  f"{plan.milestone} intervals once more, {again:,} intervals"
                  if recompute else "")
    return Compute(plan.cost, fifo, plan.keep,
                   f"every trial trains {plan.milestone} of {total} intervals, the best "
                   f"{plan.keep} go on to the end{cohorts}{recomputed}",
                   recomputed=again if recompute else 0)


def paused_checkpoints(spec: SweepSpec, running: int) -> tuple[int, str]:
    """Most checkpoints on disk at once, and why (one per trial that holds one)."""
    trials, total = spec.trial_count, spec.train.total_evals
    if spec.keep_checkpoints:
        return trials, "--keep-checkpoints keeps every trial's last checkpoint"
    periodic = 0 < spec.checkpoint_every < total
    paused = spec.setup.peak_paused(trials)
    if paused is not None and spec.pause_mode == "recompute":
        if not periodic:
            return 0, "--pause-mode recompute keeps no weights, and no --checkpoint-every"
        return min(trials, running), (
            "--pause-mode recompute keeps no weights where trials pause; one periodic "
            "checkpoint per running trial")
    if paused is not None:
        return paused
    if periodic:
        every = spec.checkpoint_every
        return min(trials, running), f"one per running trial (--checkpoint-every {every})"
    return 0, "no pauses and no --checkpoint-every within a run"


def peak_checkpoints(spec: SweepSpec, running: int) -> tuple[int, str]:
    """The most checkpoints on disk at once, and why in words: those held
    (:func:`paused_checkpoints`), and with periodic checkpoints one more per running trial
    while it writes its next beside its last (Tune deletes the older only once the new
    one is whole)."""
    count, why = paused_checkpoints(spec, running)
    said = f"up to {count:,} at once ({why})"
    if not 0 < spec.checkpoint_every < spec.train.total_evals:
        return count, said
    writing = min(spec.trial_count, running)
    return count + writing, f"{said}, and {writing} more while running trials write their next"


def state_bytes(state: Any) -> int:
    """Bytes of the tensors in a (nested) state dict: what ``torch.save`` writes, give or
    take a few KB of metadata."""
    import torch

    if isinstance(state, torch.Tensor):
        return state.numel() * state.element_size()
    if isinstance(state, Mapping):
        return sum(state_bytes(v) for v in state.values())
    if isinstance(state, (list, tuple)):
        return sum(state_bytes(v) for v in state)
    return 0


@dataclass(frozen=True)
class Probe:
    """What one trial of the sweep costs here, measured on a short run."""

    device: str
    threads: int
    steps_per_trial: int
    build_s: float
    step_s: float
    eval_s: float
    checkpoint_bytes: int


def timing_probe(spec: SweepSpec, data: PreparedData, steps: int = PROBE_STEPS) -> Probe:
    """Build the sweep's first trial, time one evaluation and a few training steps, and
    measure its checkpoint in memory (nothing is written)."""
    import torch

    from tune_seeds.trial.training import Trial

    threads = threads_for(spec.cpus_per_trial)
    device = "cuda" if spec.gpus_per_trial and torch.cuda.is_available() else "cpu"

    def now() -> float:
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter()

    start = now()
    trial = Trial(spec.train.replace(threads=threads), spec.wi_seeds[0], spec.do_seeds[0],
                  data=data, device=device)
    built = now()
    next(trial.evaluations())  # the evaluation at step 0: a whole pass over dev
    evaluated = now()
    steps = max(1, min(steps, trial.total_steps - 1))
    # The first step also allocates AdamW's moments: time the ones after it.
    trial._train_step()
    warm = now()
    for _ in range(steps):
        trial._train_step()
    done = now()
    return Probe(
        device=device, threads=threads, steps_per_trial=trial.total_steps,
        build_s=built - start, step_s=(done - warm) / steps, eval_s=evaluated - built,
        checkpoint_bytes=state_bytes(trial.state_dict()),
    )


def concurrency(spec: SweepSpec, cpus: float, gpus: float) -> int:
    """Trials that run at once with ``cpus`` CPUs and ``gpus`` GPUs (at least 1).

    CPUs // ``cpus_per_trial``, GPUs // ``gpus_per_trial``, ``max_concurrent`` and the
    number of trials, whichever is least.
    """
    eps = 1e-9  # 0.1-GPU trials on 1 GPU are 10, not 9
    limits = [spec.trial_count, math.floor(cpus / spec.cpus_per_trial + eps)]
    if spec.gpus_per_trial:
        limits.append(math.floor(gpus / spec.gpus_per_trial + eps))
    if spec.max_concurrent is not None:
        limits.append(spec.max_concurrent)
    return max(1, min(limits))


def estimate_wall_s(spec: SweepSpec, probe: Probe, compute: Compute, running: int) -> float:
    """Seconds the sweep takes with ``running`` trials at a time (Ray's start-up aside).

    Every start (each trial once, and again for each resume after a pause) builds a
    trial; each trial evaluates at step 0; each interval trained costs its share of
    the steps plus one evaluation; each interval recomputed, its steps alone.
    """
    total = spec.train.total_evals
    used = compute.fifo if compute.used is None else compute.used
    train_s = probe.steps_per_trial / total * probe.step_s
    starts = spec.trial_count + compute.resumed
    serial = (starts * probe.build_s + spec.trial_count * probe.eval_s
              + used * (train_s + probe.eval_s) + compute.recomputed * train_s)
    return serial / running


def duration(seconds: float) -> str:
    """``seconds`` in words, to a sensible precision.

    >>> [duration(s) for s in (42, 600, 5400, 200_000)]
    ['42 s', '10 min', '1 h 30 min', '2 d 7 h']
    """
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def human_bytes(num_bytes: float) -> str:
    """Bytes in decimal units (as ``df -H``), one decimal below 100.

    >>> human_bytes(272_000_000), human_bytes(108_800_000_000), human_bytes(83_140_000_000)
    ('272 MB', '109 GB', '83.1 GB')
    """
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if num_bytes >= scale:
            value = num_bytes / scale
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{num_bytes:.0f} B"


def free_bytes(storage_path: str) -> int | None:
    """Free space where the sweep writes its checkpoints (None for remote storage)."""
    path = local_storage(storage_path)
    return None if path is None else shutil.disk_usage(nearest_existing(path)).free


def format_plan(
    spec: SweepSpec,
    probe: Probe,
    cpus: float,
    gpus: float,
    free: int | None,
    on_cluster: bool = False,
) -> list[str]:
    """The lines of the plan printed by ``--dry-run``."""
    total = spec.train.total_evals
    trials = spec.trial_count
    pairs = len(spec.wi_seeds) * len(spec.do_seeds)
    running = concurrency(spec, cpus, gpus)
    compute = sweep_compute(spec)
    lines = [f"Trials: {trials:,} of the {pairs:,} (WI, DO) pairs ({spec.search} search)"]
    fifo_runs = compute.fifo / total
    if compute.used is None:
        lines.append(f"Compute: at most {fifo_runs:,.1f} full runs of {total} evaluation "
                     f"intervals, FIFO's figure; {compute.detail}")
    else:
        lines.append(
            f"Compute: {compute.used:,} evaluation intervals = {compute.used / total:,.1f} full "
            f"runs, {compute.used / compute.fifo:.0%} of FIFO's {fifo_runs:,.0f} full runs "
            f"({compute.detail})"
        )
    count, why = peak_checkpoints(spec, running)
    peak = count * probe.checkpoint_bytes
    lines.append(
        f"Checkpoint disk: {human_bytes(probe.checkpoint_bytes)} per checkpoint (model and AdamW "
        f"state), {why}: {human_bytes(peak)} at peak"
    )
    where = spec.storage_path
    if free is None:
        lines.append(f"  free space of {where} unknown (remote storage)")
    elif peak <= free:
        lines.append(f"  fits: {human_bytes(free)} free under {where}")
    else:
        lines.append(
            f"  WARNING: does not fit: only {human_bytes(free)} free under {where} (a smaller "
            "--cohort-size or another --storage-path would)"
        )
    lines.append(
        f"Timing probe ({probe.device}, {probe.threads} thread{'s' if probe.threads > 1 else ''}): "
        f"{probe.build_s:.1f} s to build a trial, {probe.step_s:.2f} s per training step "
        f"({probe.steps_per_trial:,} per trial), {probe.eval_s:.1f} s per evaluation"
    )
    wall = estimate_wall_s(spec, probe, compute, running)
    machine = "this machine's" if not on_cluster else "this machine's (not the cluster's)"
    resources = f"{cpus:g} CPUs // {spec.cpus_per_trial:g} per trial"
    if spec.gpus_per_trial:
        resources += f", {gpus:g} GPUs // {spec.gpus_per_trial:g} per trial"
    bound = "at most " if compute.used is None else ""
    lines.append(
        f"Estimated wall time: {bound}about {duration(wall)} with {running} trial"
        f"{'s' if running > 1 else ''} at a time ({machine} {resources}), plus Ray's start-up. "
        "An estimate from a short probe: other load on the machine and the length of "
        "the batches change it"
    )
    return lines



def checkpoint_bytes(train: TrainConfig) -> int:
    """Bytes of one full trial checkpoint: the float32 weights and AdamW's two moments.

    Counted from the model's configuration on PyTorch's meta device, so no weights are
    loaded (a second, whatever the model's size).
    """
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from tune_seeds.trial.model import resolve_model
    from tune_seeds.trial.tasks import get_task

    overrides: dict[str, int] = {"num_labels": get_task(train.task).num_labels}
    if train.num_hidden_layers is not None:
        overrides["num_hidden_layers"] = train.num_hidden_layers
    config = AutoConfig.from_pretrained(resolve_model(train.model), **overrides)
    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(config)
    return 3 * 4 * sum(p.numel() for p in model.parameters())


DISK_SHARE = 0.8
"""Share of the free space a sweep's paused checkpoints may take by default."""


def pauses_every_trial(spec: SweepSpec) -> bool:
    """Whether the sweep pauses every trial at once, at the milestone: early discarding
    with no cohorts."""
    plan = spec.setup.plan
    return plan is not None and plan.discards and plan.cohort_size is None


def disk_bounded_cohort(
    spec: SweepSpec, ckpt_bytes: int, free: int | None, max_bytes: float | None = None
) -> int | None:
    """The cohort size whose paused checkpoints fit on the storage, or None for no limit.

    Early discarding pauses a whole cohort at the milestone with one checkpoint each,
    and a cohort is decided while the kept trials of the one before may still hold
    theirs: the peak is ``cohort + keep(cohort)`` checkpoints
    (:func:`~tune_seeds.plan.share_kept`). Without ``--cohort-size``
    the cohort is the whole sweep; this picks the largest cohort whose peak fits in
    ``max_bytes`` (``--max-checkpoint-gb``) or else ``DISK_SHARE`` of the free space.
    Nothing to bound unless the sweep pauses every trial at once
    (:func:`pauses_every_trial`) with a checkpoint each (not ``--pause-mode recompute``).

    Raises ``ValueError`` when not even a cohort of two fits.
    """
    if spec.pause_mode != "checkpoint" or not pauses_every_trial(spec):
        return spec.scheduler.cohort_size
    plan = spec.setup.plan
    assert plan is not None and plan.keep_share is not None, "a sweep keeps a share"
    limits = [m for m in (max_bytes, None if free is None else DISK_SHARE * free)
              if m is not None]
    if not limits:
        return None
    fit = int(min(limits) // ckpt_bytes)
    if plan.started <= fit:
        return None
    cohort = max((c for c in range(2, fit + 1) if c + share_kept(plan.keep_share, c) <= fit),
                 default=None)
    if cohort is None:
        binding = _binding_limit(spec.storage_path, free, max_bytes)
        raise PreflightError(
            f"not even a cohort of 2 paused checkpoints of {human_bytes(ckpt_bytes)} fits in "
            f"{binding}: use --pause-mode recompute (no checkpoint at the milestone) or "
            "another --storage-path"
            + (", or a larger --max-checkpoint-gb" if binding.startswith("--max") else "")
        )
    return cohort


def _binding_limit(storage_path: str, free: float | None, max_bytes: float | None,
                   share: float = DISK_SHARE) -> str:
    """The limit that binds, in words: ``--max-checkpoint-gb`` or the free space (``share``
    of it) under the storage, whichever is less."""
    if free is not None and (max_bytes is None or share * free <= max_bytes):
        given = f", not --max-checkpoint-gb {max_bytes / 1e9:g}" if max_bytes else ""
        part = "" if share == 1 else f"{share:.0%} of "
        return (f"{part}the {human_bytes(free)} free under {storage_path} (the free space "
                f"binds{given})")
    return f"--max-checkpoint-gb {max_bytes / 1e9:g} ({human_bytes(max_bytes)})"


def check_checkpoint_disk(
    spec: SweepSpec, ckpt_bytes: int, free: int | None, running: int,
    max_bytes: float | None = None,
) -> None:
    """Refuse a sweep whose checkpoints at their peak (:func:`peak_checkpoints`, the
    figure ``--dry-run`` prints) do not fit in the free space under its storage, or in
    ``max_bytes`` (``--max-checkpoint-gb``): a :class:`PreflightError` naming the binding
    limit. Nothing to check on remote storage without ``max_bytes``.
    """
    count, why = peak_checkpoints(spec, running)
    peak = count * ckpt_bytes
    limits = [m for m in (free, max_bytes) if m is not None]
    if not count or not limits or peak <= min(limits):
        return
    raise PreflightError(
        f"the checkpoints of {human_bytes(ckpt_bytes)} would not fit: {why}, "
        f"{human_bytes(peak)} at peak, more than "
        f"{_binding_limit(spec.storage_path, free, max_bytes, share=1)}; a smaller "
        "--cohort-size or --max-concurrent, --pause-mode recompute, --checkpoint-every 0 or "
        "another --storage-path would fit"
    )
