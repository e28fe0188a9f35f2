"""What a sweep was started with, so that a resume can refuse what changed since.

``sweep.json`` records a ``fingerprint`` beside the settings:

- ``settings``: a digest of every setting (``train.task``, ``scheduler.keep``...), so an
  edit of ``sweep.json`` after the start is seen, and named, at the resume. The data's
  paths (``train.glue_dir``, ``train.cache_dir``) are left out: the data is checked by
  its content, wherever it lies.
- ``data``: a digest of the train and dev data as the trials read them (the TSV files'
  bytes; the tokenized subsets for data from the Hub).

A resume whose settings or data differ would mix results of two settings or two data
sets in one set of tables: :func:`check_resume` refuses it before Ray starts, in one
line naming what changed. A ``sweep.json`` saved before fingerprints were recorded
resumes with a notice; its fingerprint is recorded then, for the resumes after it.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tune_seeds.trial.config import TrainConfig
    from tune_seeds.trial.data import PreparedData
    from tune_seeds.tuning.spec import SweepSpec

UNCHECKED_SETTINGS = frozenset({"train.glue_dir", "train.cache_dir"})
"""Where the data and its cache lie: they may move; the data's content is checked."""
DIGEST_CHARS = 16


class ResumeRefused(ValueError):
    """The sweep's data or settings changed since it started; the message is one line."""


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:DIGEST_CHARS]


def _flat(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def settings_digests(spec: SweepSpec) -> dict[str, str]:
    """One digest per setting of ``spec``, keyed by its dotted name (``train.task``).

    >>> from tune_seeds.trial.config import TrainConfig
    >>> from tune_seeds.tuning.spec import SweepSpec
    >>> digests = settings_digests(SweepSpec(TrainConfig(task="rte")))
    >>> len(digests["train.task"]), "train.glue_dir" in digests
    (16, False)
    """
    return {
        key: _digest(json.dumps(value, sort_keys=True).encode())
        for key, value in sorted(_flat(spec.to_dict()).items())
        if key not in UNCHECKED_SETTINGS
    }


def data_fingerprint(train: TrainConfig, data: PreparedData) -> dict[str, dict[str, str]]:
    """The train and dev data as the trials of ``train`` read them: per split, where it
    comes from and a digest (of the TSV file's bytes, or of the tokenized subset for data
    from the Hub)."""
    import numpy as np

    from tune_seeds.trial.data import HUB_DATASET, data_source, resolve_glue_dir
    from tune_seeds.trial.tasks import get_task

    task = get_task(train.task)
    glue_dir = resolve_glue_dir(train.glue_dir)
    out = {}
    for split, tokenized in (("train", data.train), ("dev", data.dev)):
        path = data_source(task, split, glue_dir)
        if path is not None:
            out[split] = {"source": str(path), "sha256": _digest(path.read_bytes())}
            continue
        arrays = (tokenized.ids, tokenized.type_ids, tokenized.offsets, tokenized.labels)
        out[split] = {
            "source": f"{HUB_DATASET}/{task.hub_config} {split}",
            "sha256": _digest(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)),
        }
    return out


def fingerprint(spec: SweepSpec, data: dict[str, dict[str, str]]) -> dict[str, Any]:
    """What ``sweep.json`` records under ``fingerprint``."""
    return {"settings": settings_digests(spec), "data": data}


def check_resume(
    recorded: dict[str, Any] | None, spec: SweepSpec, data: dict[str, dict[str, str]],
    spec_file: str,
) -> str | None:
    """Refuse (:class:`ResumeRefused`) a resume of ``spec`` whose settings or ``data``
    (:func:`data_fingerprint`) differ from the ``recorded`` fingerprint; the notice for a
    ``sweep.json`` that records none (saved by an older version), else None.

    Settings that this code has and the recorded fingerprint lacks (added by a later
    version) are not compared: an older ``sweep.json`` gets them from their defaults.
    """
    if recorded is None:
        return (
            f"Note: {spec_file} records no fingerprint of its data and settings (saved by an "
            "older version): whether they changed since the start cannot be checked. They "
            "are recorded now, and later resumes are checked against them."
        )
    then, now = recorded.get("settings", {}), settings_digests(spec)
    edited = [key for key in sorted(then.keys() & now.keys()) if then[key] != now[key]]
    if edited:
        values = _flat(spec.to_dict())
        named = ", ".join(f"{key} (now {values[key]!r})" for key in edited[:3])
        more = f" and {len(edited) - 3} more" if len(edited) > 3 else ""
        raise ResumeRefused(
            f"--resume: {spec_file} was edited since the sweep started: {named}{more} "
            "differ from what it recorded; resuming would mix results of two settings. Undo "
            "the edit, or start a new sweep with the new settings"
        )
    for split, was in sorted(recorded.get("data", {}).items()):
        is_now = data.get(split)
        if is_now is not None and is_now["sha256"] != was["sha256"]:
            raise ResumeRefused(
                f"--resume: the {split} data ({is_now['source']}) is not what the sweep "
                f"started with (sha256 {was['sha256']} then, {is_now['sha256']} now); "
                "resuming would mix results of two data sets. Restore the data, or start a "
                "new sweep"
            )
    return None
