"""Refusing a sweep that cannot run, before anything starts or is written.

Each check raises :class:`PreflightError` (a ``ValueError``, which the command line
turns into exit code 2) with one line naming what was asked and what is there:

- :func:`check_storage`: a local ``--storage-path`` that is a file, lies under a
  file, or is not writable;
- :func:`check_trial_count`: more trials than ``--max-trials`` (a full grid over
  wide seed ranges would otherwise build and save a searcher state of millions
  of pairs);
- :func:`check_local_resources`: a trial asking for more CPUs or GPUs than the
  embedded Ray will have, which Tune would otherwise wait for forever;
- :func:`wait_for_resources`: the same against the nodes of a running cluster,
  waiting a bounded time where the cluster may autoscale.

Only :func:`wait_for_resources` needs Ray (connected) and :func:`local_gpus` torch; they
import them themselves, so that the rest (which :mod:`tune_seeds.tuning.spec` imports) is
plain Python.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

DEFAULT_MAX_TRIALS = 100_000
"""The trial cap unless ``--max-trials`` raises it: 160 times the paper's 625-trial
grid, and at ~1 KB of searcher state per pending trial already ~100 MB."""
POLL_S = 5.0
EPS = 1e-9
"""Slack in resource comparisons: fractional amounts such as 0.1 GPU add up inexactly."""


class PreflightError(ValueError):
    """The sweep cannot run as asked; the message is one line."""


def is_remote(storage_path: str) -> bool:
    """Whether ``storage_path`` is a pyarrow URI other than ``file://``."""
    return "://" in storage_path and not storage_path.startswith("file://")


def nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists (where the sweep creates folders)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def local_storage(storage_path: str) -> Path | None:
    """The local folder of a ``--storage-path``, ``~`` expanded; None when remote."""
    if is_remote(storage_path):
        return None
    return Path(storage_path.removeprefix("file://")).expanduser()


def check_storage(storage_path: str) -> None:
    """A local ``storage_path`` must be, or be creatable as, a writable directory.

    Remote URIs are left to pyarrow when the sweep starts (checking them here would
    need the network and credentials).
    """
    path = local_storage(storage_path)
    if path is None:
        return
    existing = nearest_existing(path)
    if not existing.is_dir():
        where = "" if existing == path.absolute() else f" ({existing} is in the way)"
        raise PreflightError(f"--storage-path {storage_path}: is a file, not a directory{where}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PreflightError(
            f"--storage-path {storage_path}: {existing} is not writable by this user"
        )


def check_trial_count(trials: int, max_trials: int, what: str) -> None:
    """Refuse more than ``max_trials`` trials; ``what`` says where the count comes from."""
    if trials > max_trials:
        raise PreflightError(
            f"{what} is {trials:,} trials, more than --max-trials {max_trials:,}; narrow the "
            "seed ranges or give --num-samples, or raise --max-trials if you mean it"
        )


def local_cpus() -> int:
    """CPUs the embedded Ray detects (container limits included), as Ray counts them."""
    try:
        from ray._private.utils import get_num_cpus

        return int(get_num_cpus())
    except Exception:  # a private helper: fall back to the OS's count
        return os.cpu_count() or 1


def local_gpus() -> int:
    """GPUs a trial on this machine can use: ``torch.cuda.device_count()``."""
    import torch

    return torch.cuda.device_count()


def _count(value: float, unit: str) -> str:
    return f"{value:g} {unit}{'' if value == 1 else 's'}"


def _asked(cpus_per_trial: float, gpus_per_trial: float) -> str:
    asked = f"--cpus-per-trial {cpus_per_trial:g}"
    if gpus_per_trial:
        asked += f" --gpus-per-trial {gpus_per_trial:g}"
    return asked


def fits(cpus_per_trial: float, gpus_per_trial: float, node: Mapping[str, float]) -> bool:
    """Whether one trial fits on a node with these resources (Ray's ``CPU``/``GPU``)."""
    return (
        node.get("CPU", 0) + EPS >= cpus_per_trial
        and node.get("GPU", 0) + EPS >= gpus_per_trial
    )


def check_local_resources(
    cpus_per_trial: float, gpus_per_trial: float, cpus: int, gpus: int
) -> None:
    """Refuse a trial that the embedded Ray, with ``cpus`` CPUs and ``gpus`` GPUs, can
    never start (Tune would wait for it forever)."""
    short = [
        (f"--{unit.lower()}s-per-trial {asked:g}", _count(asked, unit))
        for unit, asked, have in (("CPU", cpus_per_trial, cpus), ("GPU", gpus_per_trial, gpus))
        if asked > have + EPS
    ]
    if short:
        raise PreflightError(
            f"{' '.join(flag for flag, _ in short)}: a trial needs "
            f"{' and '.join(need for _, need in short)}, but the embedded Ray has "
            f"{_count(cpus, 'CPU')} and {_count(gpus, 'GPU')} on this machine (GPUs: "
            "torch.cuda.device_count()); ask for less, or join a cluster with --address"
        )


def describe_nodes(nodes: Sequence[Mapping[str, float]]) -> str:
    """The biggest node and the whole cluster in words, for an error message."""
    if not nodes:
        return "the cluster has no live node"
    biggest = max(nodes, key=lambda n: (n.get("GPU", 0), n.get("CPU", 0)))
    total_cpu = sum(n.get("CPU", 0) for n in nodes)
    total_gpu = sum(n.get("GPU", 0) for n in nodes)
    return (
        f"its largest node has {_count(biggest.get('CPU', 0), 'CPU')} and "
        f"{_count(biggest.get('GPU', 0), 'GPU')} ({_count(total_cpu, 'CPU')} and "
        f"{_count(total_gpu, 'GPU')} on {len(nodes)} node{'' if len(nodes) == 1 else 's'})"
    )


def live_nodes() -> list[dict[str, float]]:
    """The resources of every live node of the connected Ray cluster."""
    import ray

    return [dict(node["Resources"]) for node in ray.nodes() if node.get("Alive")]


def ask_autoscaler(bundle: dict[str, float] | None) -> None:
    """Ask the autoscaler for a node that holds ``bundle`` (None: withdraw the request).

    Tune's own demand only exists once the sweep has started, so without this an
    autoscaler would see nothing to scale for while we wait.
    """
    try:
        from ray.autoscaler.sdk import request_resources

        if bundle is None:
            request_resources(num_cpus=0)
        else:
            request_resources(bundles=[bundle])
    except Exception:  # no autoscaler, or Ray Client without the SDK: waiting still works
        pass


def wait_for_resources(
    cpus_per_trial: float,
    gpus_per_trial: float,
    wait_s: float = 0.0,
    out: Callable[[str], Any] = print,
    nodes: Callable[[], Sequence[Mapping[str, float]]] = live_nodes,
    ask: Callable[[dict[str, float] | None], None] = ask_autoscaler,
    sleep: Callable[[float], Any] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Return once some node of the connected cluster can run one trial.

    With ``wait_s`` 0, refuse at once; otherwise (a cluster that may autoscale) say
    so, ask the autoscaler for such a node and poll for up to ``wait_s`` seconds.
    Raises :class:`PreflightError` when no node fits in time.
    """
    seen = nodes()
    if any(fits(cpus_per_trial, gpus_per_trial, n) for n in seen):
        return
    asked = (
        f"{_asked(cpus_per_trial, gpus_per_trial)}: no node of the cluster has "
        f"{_count(cpus_per_trial, 'CPU')} and {_count(gpus_per_trial, 'GPU')} for a trial"
    )
    if wait_s <= 0:
        raise PreflightError(
            f"{asked}: {describe_nodes(seen)}; if the cluster autoscales, give "
            "--autoscale-wait SECONDS"
        )
    out(f"{asked} yet: {describe_nodes(seen)}. Waiting up to {wait_s:g} s for the "
        "autoscaler to add one (--autoscale-wait)...")
    bundle = {"CPU": cpus_per_trial, **({"GPU": gpus_per_trial} if gpus_per_trial else {})}
    ask(bundle)
    deadline = clock() + wait_s
    try:
        while clock() < deadline:
            sleep(min(POLL_S, max(0.0, deadline - clock())))
            seen = nodes()
            if any(fits(cpus_per_trial, gpus_per_trial, n) for n in seen):
                out("A node that fits a trial has joined; starting the sweep.")
                return
    finally:
        ask(None)
    raise PreflightError(
        f"{asked} after waiting {wait_s:g} s (--autoscale-wait): {describe_nodes(seen)}"
    )
