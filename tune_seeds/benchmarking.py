"""What the benchmarks (``benchmarks/`` in the repository) share: the machine in words,
our tokens as a Trainer dataset, and their result files."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tune_seeds.atomic import atomic_path

if TYPE_CHECKING:
    from datasets import Dataset

    from tune_seeds.trial.data import TokenizedSplit


def machine_info() -> dict[str, Any]:
    """The machine and library versions a measurement was taken with (no paths)."""
    # Imported here: they take seconds, which --help and bench_precision_parity.py's
    # --from-json (it writes a result but measures nothing) need not wait for.
    import torch
    import transformers

    return {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
            "transformers": transformers.__version__, "python": platform.python_version()}


def hf_dataset(split: TokenizedSplit) -> Dataset:
    """A :class:`~tune_seeds.trial.data.TokenizedSplit` as a ``datasets.Dataset`` for the Trainer.

    The ids are ours, so that both sides of a comparison see the very same tokens.
    """
    from datasets import Dataset  # slow to import; only two benchmarks need it

    bounds = list(zip(split.offsets[:-1], split.offsets[1:], strict=True))
    ids = [split.ids[a:b].tolist() for a, b in bounds]
    return Dataset.from_dict({
        "input_ids": ids,
        "token_type_ids": [split.type_ids[a:b].tolist() for a, b in bounds],
        "attention_mask": [[1] * len(row) for row in ids],
        "labels": split.labels.tolist(),
    })


def write_result(path: str | os.PathLike[str], result: dict[str, Any]) -> Path:
    """Write a benchmark's result as indented JSON, whole or not at all, creating the folder.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     out = write_result(Path(folder) / "new" / "bench.json", {"seconds": 1.5})
    ...     print(out.name, json.loads(out.read_text()))
    bench.json {'seconds': 1.5}
    """
    out = Path(path)
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    return out
