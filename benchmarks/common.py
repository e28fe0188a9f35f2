"""Helpers the benchmarks share: the machine in words, our tokens as a Trainer dataset, results.

The benchmark scripts put the repository root on ``sys.path`` and import this module
as ``benchmarks.common``.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def machine_info() -> dict[str, Any]:
    """The machine and library versions a measurement was taken with (no paths)."""
    import torch
    import transformers

    return {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
            "transformers": transformers.__version__, "python": platform.python_version()}


def hf_dataset(split: Any) -> Any:
    """A :class:`~tune_seeds.trial.data.TokenizedSplit` as a ``datasets.Dataset`` for the Trainer.

    The ids are ours, so that both sides of a comparison see the very same tokens.
    """
    from datasets import Dataset

    bounds = list(zip(split.offsets[:-1], split.offsets[1:], strict=True))
    ids = [split.ids[a:b].tolist() for a, b in bounds]
    return Dataset.from_dict({
        "input_ids": ids,
        "token_type_ids": [split.type_ids[a:b].tolist() for a, b in bounds],
        "attention_mask": [[1] * len(row) for row in ids],
        "labels": split.labels.tolist(),
    })


def write_result(path: str | os.PathLike[str], result: dict[str, Any]) -> Path:
    """Write a benchmark's result as indented JSON, creating the folder."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return out
