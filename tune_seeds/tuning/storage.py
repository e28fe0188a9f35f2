"""Where a sweep's files live: its saved settings (``sweep.json``) and its checkpoints.

Paths are local directories or pyarrow filesystem URIs (``s3://...``), as Tune's
``storage_path``. ``sweep.json`` also records which code started the sweep
(:func:`code_version`): Tune's saved experiment names the project's modules, so a
resume by a version that moved them cannot load it, and the runner says which
version to resume with. And it records a fingerprint of the sweep's settings and data
(:mod:`tune_seeds.tuning.fingerprint`), which a resume checks.

A ``sweep.json`` is read strictly (:func:`load_spec`): not JSON, a key missing or one
unknown is a :class:`SweepFileError` naming the file and the key, never a default
quietly taking the place of what the sweep ran with. Settings renamed since
(:data:`RENAMED`) are read under their new names.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import pyarrow.fs
from ray.tune import Callback

from tune_seeds.schedulers.kinds import SchedulerSpec
from tune_seeds.trial.config import TrainConfig
from tune_seeds.tuning.spec import SPEC_FILE, SweepSpec, expand_path

SAVED_EXTRAS = frozenset({"code_version", "fingerprint"})
"""Keys of ``sweep.json`` beside the spec's own."""
LATER_KEYS = {"": frozenset({"pause_mode", "predictions"}),
              "train": frozenset({"optimizer_impl", "precision", "deterministic",
                                  "torch_compile", "pad_to_multiple_of"})}
"""Settings added after the first recorded sweeps, which their ``sweep.json`` lacks (the
spec's ``from_dict`` fills them in); every other key must be there."""
RENAMED = {"scheduler.keep": "scheduler.keep_share"}
"""Settings renamed since sweeps were first saved, by dotted name: old -> new."""


class SweepFileError(ValueError):
    """A ``sweep.json`` that cannot be used; the message (one line) names file and key."""


def fs_and_path(uri: str) -> tuple[Any, str]:
    """The pyarrow filesystem of a local path or URI, and the path within it."""
    return pyarrow.fs.FileSystem.from_uri(expand_path(uri))


@cache
def code_version() -> str:
    """This code's version: the package's, and its git commit when run from a checkout
    (``0.1.0 (git 4b80f2f, with local changes)``)."""
    version = metadata.version("tune-seeds")
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                                capture_output=True, text=True, timeout=10, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=10,
                               check=True)
    except (OSError, subprocess.SubprocessError):  # no git, or not a checkout
        return version
    changes = ", with local changes" if dirty.stdout.strip() else ""
    return f"{version} (git {commit.stdout.strip()}{changes})"


def _write_saved(experiment_path: str, saved: dict[str, Any]) -> None:
    """Write ``sweep.json`` whole or not at all (a temporary file, then a rename)."""
    fs, path = fs_and_path(experiment_path)
    fs.create_dir(path, recursive=True)
    tmp = f"{path}/.{SPEC_FILE}.tmp"
    with fs.open_output_stream(tmp) as f:
        f.write(json.dumps(saved, indent=2).encode())
    fs.move(tmp, f"{path}/{SPEC_FILE}")


def save_spec(spec: SweepSpec, fingerprint: dict[str, Any] | None = None) -> None:
    """Write ``sweep.json`` (the spec, the :func:`code_version` that started it and the
    ``fingerprint`` of its settings and data) into the experiment folder (local or
    remote)."""
    saved = {**spec.to_dict(), "code_version": code_version()}
    if fingerprint is not None:
        saved["fingerprint"] = fingerprint
    _write_saved(spec.experiment_path, saved)


def record_fingerprint(storage_path: str, name: str, fingerprint: dict[str, Any]) -> None:
    """Add a fingerprint to the ``sweep.json`` of a sweep saved before they were recorded."""
    saved = _read_saved(storage_path, name)
    _write_saved(f"{expand_path(storage_path).rstrip('/')}/{name}",
                 {**saved, "fingerprint": fingerprint})


def spec_file(storage_path: str, name: str) -> str:
    """Where a sweep's ``sweep.json`` is (a local path or a URI)."""
    return f"{expand_path(storage_path).rstrip('/')}/{name}/{SPEC_FILE}"


def _read_saved(storage_path: str, name: str) -> dict[str, Any]:
    fs, path = fs_and_path(f"{expand_path(storage_path).rstrip('/')}/{name}")
    spec_path = f"{path}/{SPEC_FILE}"
    if fs.get_file_info(spec_path).type != pyarrow.fs.FileType.File:
        raise ValueError(f"--resume: no sweep named {name!r} under {storage_path} ({spec_path})")
    with fs.open_input_stream(spec_path) as f:
        raw = f.read()
    try:
        saved = json.loads(raw.decode())
    except ValueError as err:  # not UTF-8, or not JSON
        raise SweepFileError(f"{spec_path}: not valid JSON ({err})") from None
    if not isinstance(saved, dict):
        raise SweepFileError(f"{spec_path}: not a JSON object")
    return renamed(saved)


def renamed(saved: dict[str, Any]) -> dict[str, Any]:
    """A saved spec with the settings of :data:`RENAMED` under their new names, in the
    settings and in the fingerprint's digests of them (a digest is of the value, so it
    still matches), so that a sweep saved before a renaming resumes and is checked."""
    digests = (saved.get("fingerprint") or {}).get("settings")
    for old, new in RENAMED.items():
        section, _, key = old.rpartition(".")
        values = saved.get(section) if section else saved
        new_key = new.rpartition(".")[2]
        if isinstance(values, dict) and key in values and new_key not in values:
            values[new_key] = values.pop(key)
        if isinstance(digests, dict) and old in digests and new not in digests:
            digests[new] = digests.pop(old)
    return saved


def check_keys(saved: dict[str, Any], where: str) -> None:
    """Every key of a saved spec is known, and none is missing but :data:`LATER_KEYS`;
    else :class:`SweepFileError` naming ``where`` (the file) and the key."""
    sections = {"": SweepSpec, "train": TrainConfig, "scheduler": SchedulerSpec}
    for section, kind in sections.items():
        values = saved[section] if section else saved
        if not isinstance(values, dict):
            raise SweepFileError(f"{where}: the key '{section}' must hold a JSON object")
        fields = {f.name for f in dataclasses.fields(kind)}
        prefix = f"{section}." if section else ""
        unknown = sorted(set(values) - fields - (SAVED_EXTRAS if not section else set()))
        if unknown:
            raise SweepFileError(f"{where}: unknown key '{prefix}{unknown[0]}'")
        missing = sorted(fields - set(values) - LATER_KEYS.get(section, frozenset()))
        if missing:
            raise SweepFileError(f"{where}: lacks the key '{prefix}{missing[0]}'")


def load_spec(storage_path: str, name: str) -> SweepSpec:
    """The spec of a sweep to resume; ``ValueError`` if there is none to resume, and
    :class:`SweepFileError` if its ``sweep.json`` cannot be used."""
    saved = _read_saved(storage_path, name)
    where = spec_file(storage_path, name)
    check_keys(saved, where)
    try:
        return SweepSpec.from_dict({k: v for k, v in saved.items() if k not in SAVED_EXTRAS})
    except (ValueError, TypeError) as err:  # a value the spec's own checks refuse
        raise SweepFileError(f"{where}: {err}") from None


def recorded_fingerprint(storage_path: str, name: str) -> dict[str, Any] | None:
    """The fingerprint a sweep's ``sweep.json`` records (None: saved before there were)."""
    return _read_saved(storage_path, name).get("fingerprint")


def version_notice(storage_path: str, name: str) -> str | None:
    """A warning when the sweep was started by other code than this (None otherwise,
    and for sweeps saved before versions were recorded)."""
    started_by = _read_saved(storage_path, name).get("code_version")
    if started_by is None or started_by == code_version():
        return None
    return (
        f"Note: this sweep was started by tune-seeds {started_by}; this is "
        f"{code_version()}. If the resume cannot load Tune's saved experiment (a module "
        "it names was moved), resume with the version that started it."
    )


def _checkpoint_dirs(trial: Any) -> tuple[Any, list[str]]:
    """The storage filesystem of a Tune trial, and its ``checkpoint_*`` folders."""
    storage = trial.storage
    fs, root = storage.storage_filesystem, storage.trial_fs_path
    entries = fs.get_file_info(pyarrow.fs.FileSelector(root, allow_not_found=True))
    return fs, [e.path for e in entries if e.type == pyarrow.fs.FileType.Directory
                and e.base_name.startswith("checkpoint_")]


class DropPartialCheckpoints(Callback):
    """Tune callback deleting what a failed trial's checkpoint upload left half-written.

    A trial copies each checkpoint to the storage itself (in its worker), file by file;
    when that copy fails (the disk is full, the node is lost) the folder is left partial,
    and Tune never registers it. Once the trial failed, every ``checkpoint_*`` folder but
    the one it continues from is such a leftover (Tune keeps one checkpoint per trial).
    """

    def _drop(self, trial: Any) -> None:
        keep = trial.checkpoint.path.rstrip("/") if trial.checkpoint is not None else None
        fs, folders = _checkpoint_dirs(trial)
        for folder in folders:
            if folder.rstrip("/") != keep:
                fs.delete_dir(folder)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._drop(trial)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._drop(trial)


class DropFinishedCheckpoints(Callback):
    """Tune callback deleting a trial's checkpoints once it has ended.

    A finished (or stopped) trial is never resumed, and a checkpoint of the default
    model weighs ~270 MB, so a sweep of hundreds of trials keeps only those of
    trials that may still run (running, paused, errored).
    """

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info):
        fs, folders = _checkpoint_dirs(trial)
        for folder in folders:
            fs.delete_dir(folder)
