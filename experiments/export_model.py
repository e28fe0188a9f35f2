"""Write a pretrained model's body and tokenizer to a folder, optionally in float16.

Usage::

    python experiments/export_model.py --out model-fp16 [--model default] [--dtype float16]

The folder works anywhere a model is accepted (``--model model-fp16``). Its purpose is
moving the model to a machine without network access whose uploads are small: the
default model's float32 weights are 91 MB, a float16 copy 45 MB. Trials always train
in float32 (:func:`tune_seeds.trial.model.build_model` upcasts on load), so a float16 copy
changes the pretrained weights only by their rounding to float16 (relative error
below 1e-3) and nothing else; the classifier head is never exported, since the WI
seed creates it.

The folder is written next to its final place and renamed into it, so an
interrupted export leaves nothing that looks like a model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tune_seeds.atomic import atomic_path

DTYPES = ("float32", "float16", "bfloat16")


def export(model: str, out: Path, dtype: str) -> Path:
    """Save ``model``'s pretrained body and tokenizer in ``dtype`` to ``out``."""
    # torch and transformers take seconds to import: they load to export, not for --help.
    import torch
    from transformers import AutoModel

    from tune_seeds.trial.model import load_tokenizer, resolve_model

    body = AutoModel.from_pretrained(resolve_model(model), trust_remote_code=False,
                                     dtype=getattr(torch, dtype))
    with atomic_path(out) as staging:
        body.save_pretrained(staging)
        load_tokenizer(model).save_pretrained(staging)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to create")
    parser.add_argument("--model", default="default",
                        help="'default' (packaged MiniLM-L6), a local directory or a Hub name")
    parser.add_argument("--dtype", choices=DTYPES, default="float16",
                        help="dtype of the saved weights (default %(default)s)")
    args = parser.parse_args(argv)
    if args.out.exists():
        parser.error(f"{args.out} exists; choose a new folder")
    from tune_seeds.trial.model import ModelError  # imports torch: not before --help

    try:
        path = export(args.model, args.out, args.dtype)
    except (ModelError, OSError) as err:
        parser.error(str(err))
    size = sum(f.stat().st_size for f in path.iterdir()) / 2**20
    print(f"wrote {path} ({size:.1f} MiB, weights in {args.dtype}); use it with --model {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
