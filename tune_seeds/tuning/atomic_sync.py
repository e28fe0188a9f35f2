"""Crash-safe experiment snapshots on local storage (a workaround for Ray Tune 2.60).

Tune writes each experiment snapshot (``experiment_state-*.json``, the searcher's and
the callbacks' state) into a driver staging folder, then copies that folder to the
experiment folder under ``storage_path`` with ``pyarrow.fs.copy_files``, which
truncates and rewrites every file in place. A driver killed during that copy (``kill
-9``, an OOM kill, a power cut) leaves a truncated state file behind, and on
``Tuner.restore`` Tune logs "Failed to restore the run state" and silently *starts the
experiment again from scratch* in the same folder.

:func:`atomic_snapshots` makes that copy crash-safe for local storage:

- every file is first copied beside its target under a temporary name, then all are
  renamed over their targets in one quick pass, ``experiment_state-*.json`` last (so
  the callbacks' state, e.g. the scheduler's bookkeeping, is never older than the trial
  statuses it goes with). A kill leaves the previous snapshot or the new one, never a
  torn file;
- the copy runs at once, in the driver's main thread, right after Tune wrote the
  snapshot into its staging folder, instead of in Tune's background thread. Tune writes
  the next snapshot into the same staging files without waiting for a running copy, so
  a background copy could mix files of two snapshots (or copy a file half-written);
  this one always copies one whole snapshot. It takes milliseconds for small sweeps
  (the state of a trial is about 20 KiB).

It patches Ray's private ``_FilesystemSyncer._sync_up_command`` in the driver process
only, for the duration of a ``with`` block; remote storage (object stores replace whole
objects anyway) is left to Ray.

:func:`check_snapshot` is the other half: before a restore, it refuses a snapshot Tune
could not read, instead of letting Tune restart the sweep.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from tune_seeds.atomic import atomic_path

STATE_GLOB = "experiment_state-*.json"
_TMP_SUFFIX = ".tmp-sync"


def _replace_tree(local_dir: str, dest_dir: str) -> None:
    """Copy ``local_dir`` into ``dest_dir``: all files to temporary names first, then
    renamed over their targets, the experiment state files last."""
    copies: list[tuple[str, str]] = []
    for root, _dirs, files in os.walk(local_dir):
        target_root = os.path.join(dest_dir, os.path.relpath(root, local_dir))
        os.makedirs(target_root, exist_ok=True)  # empty folders too, as Ray's copy makes them
        copies += [(os.path.join(root, name), os.path.join(target_root, name))
                   for name in files if not name.endswith(_TMP_SUFFIX)]
    # The stack renames in the reverse order of entry, so the state files, entered
    # first, are renamed last. A copy that fails renames nothing, and every temporary
    # file is removed.
    copies.sort(key=lambda pair: not Path(pair[1]).match(STATE_GLOB))
    with ExitStack() as stack:
        for source, target in copies:
            shutil.copyfile(source, stack.enter_context(atomic_path(target, _TMP_SUFFIX)))


def _atomic_upload(original: Any, local_path: str, fs: Any, fs_path: str,
                   exclude: list[str] | None = None) -> None:
    import pyarrow.fs

    # Only local storage has a rename to make a copy atomic: other file systems are left
    # to Ray (an object store replaces whole objects anyway), as are uploads with
    # exclusions, which _replace_tree does not apply.
    if not isinstance(fs, pyarrow.fs.LocalFileSystem) or exclude:
        return original(local_path=local_path, fs=fs, fs_path=fs_path, exclude=exclude)
    if os.path.isfile(local_path):
        with atomic_path(fs_path, _TMP_SUFFIX) as tmp:
            shutil.copyfile(local_path, tmp)
        return None
    _replace_tree(local_path, fs_path)
    return None


@contextmanager
def atomic_snapshots() -> Iterator[None]:
    """Within the block, Tune's experiment syncs to local storage are crash-safe."""
    from ray.train._internal.storage import _FilesystemSyncer

    before = _FilesystemSyncer._sync_up_command

    def _sync_up_command(self: Any, local_path: str, uri: str, exclude: list | None = None):
        function, kwargs = before(self, local_path=local_path, uri=uri, exclude=exclude)
        # Tune calls this right after writing the snapshot, before it starts the copy
        # in a thread: copying now sees one whole snapshot.
        try:
            _atomic_upload(function, **kwargs)
        except Exception as err:  # reported like a failed background sync
            return _raise, {"error": err}
        return _done, {}

    _FilesystemSyncer._sync_up_command = _sync_up_command
    try:
        yield
    finally:
        _FilesystemSyncer._sync_up_command = before


def _done() -> None:
    return None


def _raise(error: Exception) -> None:
    raise error


def check_snapshot(experiment_dir: str) -> None:
    """Raise ``ValueError`` if the newest experiment state in a local ``experiment_dir``
    cannot be read (Tune would then restart the sweep from scratch)."""
    states = sorted(glob.glob(os.path.join(experiment_dir, STATE_GLOB)))
    if not states:
        raise ValueError(f"--resume: no experiment state (experiment_state-*.json) in "
                         f"{experiment_dir}; Tune never saved this sweep's state")
    newest = states[-1]
    try:
        with open(newest, encoding="utf-8") as f:
            json.load(f)
    except (OSError, ValueError) as err:
        raise ValueError(
            f"--resume: the experiment state {newest} is damaged ({err}); it was being "
            "written when the sweep's driver died. Tune would start the sweep again from "
            "scratch, so nothing was run. Restore it from a backup, or remove it to resume "
            "from an older state file if there is one."
        ) from err
