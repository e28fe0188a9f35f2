"""Where a sweep's files live: its saved settings (``sweep.json``) and its checkpoints.

Paths are local directories or pyarrow filesystem URIs (``s3://...``), as Tune's
``storage_path``.
"""

from __future__ import annotations

import json
from typing import Any

from ray.tune import Callback

from tune_seeds.tuning.spec import SPEC_FILE, SweepSpec, expand_path


def fs_and_path(uri: str) -> tuple[Any, str]:
    """The pyarrow filesystem of a local path or URI, and the path within it."""
    import pyarrow.fs

    return pyarrow.fs.FileSystem.from_uri(expand_path(uri))


def save_spec(spec: SweepSpec) -> None:
    """Write ``sweep.json`` into the experiment folder (local or remote)."""
    fs, path = fs_and_path(spec.experiment_path)
    fs.create_dir(path, recursive=True)
    with fs.open_output_stream(f"{path}/{SPEC_FILE}") as f:
        f.write(json.dumps(spec.to_dict(), indent=2).encode())


def load_spec(storage_path: str, name: str) -> SweepSpec:
    """The spec of a sweep to resume; ``ValueError`` if there is none to resume."""
    import pyarrow.fs

    fs, path = fs_and_path(f"{expand_path(storage_path).rstrip('/')}/{name}")
    spec_path = f"{path}/{SPEC_FILE}"
    if fs.get_file_info(spec_path).type != pyarrow.fs.FileType.File:
        raise ValueError(f"--resume: no sweep named {name!r} under {storage_path} ({spec_path})")
    with fs.open_input_stream(spec_path) as f:
        return SweepSpec.from_dict(json.loads(f.read().decode()))


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
