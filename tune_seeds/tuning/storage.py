"""Where a sweep's files live: its saved settings (``sweep.json``) and its checkpoints.

Paths are local directories or pyarrow filesystem URIs (``s3://...``), as Tune's
``storage_path``. ``sweep.json`` also records which code started the sweep
(:func:`code_version`): Tune's saved experiment names the project's modules, so a
resume by a version that moved them cannot load it, and the runner says which
version to resume with.
"""

from __future__ import annotations

import json
import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from ray.tune import Callback

from tune_seeds.tuning.spec import SPEC_FILE, SweepSpec, expand_path


def fs_and_path(uri: str) -> tuple[Any, str]:
    """The pyarrow filesystem of a local path or URI, and the path within it."""
    import pyarrow.fs

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


def save_spec(spec: SweepSpec) -> None:
    """Write ``sweep.json`` (the spec and the :func:`code_version` that started it)
    into the experiment folder (local or remote)."""
    fs, path = fs_and_path(spec.experiment_path)
    fs.create_dir(path, recursive=True)
    saved = {**spec.to_dict(), "code_version": code_version()}
    with fs.open_output_stream(f"{path}/{SPEC_FILE}") as f:
        f.write(json.dumps(saved, indent=2).encode())


def _read_saved(storage_path: str, name: str) -> dict[str, Any]:
    import pyarrow.fs

    fs, path = fs_and_path(f"{expand_path(storage_path).rstrip('/')}/{name}")
    spec_path = f"{path}/{SPEC_FILE}"
    if fs.get_file_info(spec_path).type != pyarrow.fs.FileType.File:
        raise ValueError(f"--resume: no sweep named {name!r} under {storage_path} ({spec_path})")
    with fs.open_input_stream(spec_path) as f:
        return json.loads(f.read().decode())


def load_spec(storage_path: str, name: str) -> SweepSpec:
    """The spec of a sweep to resume; ``ValueError`` if there is none to resume."""
    saved = _read_saved(storage_path, name)
    saved.pop("code_version", None)
    return SweepSpec.from_dict(saved)


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


class DropFinishedCheckpoints(Callback):
    """Tune callback deleting a trial's checkpoints once it has ended.

    A finished (or stopped) trial is never resumed, and a checkpoint of the default
    model weighs ~270 MB, so a sweep of hundreds of trials keeps only those of
    trials that may still run (running, paused, errored).
    """

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info):
        import pyarrow.fs

        storage = trial.storage
        fs, root = storage.storage_filesystem, storage.trial_fs_path
        for entry in fs.get_file_info(pyarrow.fs.FileSelector(root, allow_not_found=True)):
            if entry.type == pyarrow.fs.FileType.Directory and entry.base_name.startswith(
                "checkpoint_"
            ):
                fs.delete_dir(entry.path)
