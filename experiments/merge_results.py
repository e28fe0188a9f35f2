#!/usr/bin/env python
"""Merge the tables of sweeps of parts of one grid into one results folder.

Usage::

    python experiments/merge_results.py OUT PART [PART ...] [--all-trials]

A long grid can run as several sweeps (one WI seed each, say), each resumable on its
own; trials are deterministic, so their tables together are the grid's. ``OUT`` gets
``trials.parquet``, ``curves.parquet`` and, when every part has one,
``predictions.parquet``, with the trials that ended (``--all-trials`` keeps unfinished
ones too), sorted by seed pair; and ``sweep.json``: the first part's settings with the
WI and DO seeds of all parts, and the storage, data and cache paths blanked. A pair in
two parts, or parts of different tasks, exit 2 with one line and write nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tune_seeds.tables import CURVES_FILE, PREDICTIONS_FILE, TRIALS_FILE, merge_results
from tune_seeds.tuning.results import write_atomic


def merged_spec(parts: list[Path]) -> dict:
    """The first part's ``sweep.json`` covering every part's seeds."""
    specs = [json.loads((p / "sweep.json").read_text()) for p in parts]
    spec = dict(specs[0])
    spec["wi_seeds"] = sorted({s for x in specs for s in x["wi_seeds"]})
    spec["do_seeds"] = sorted({s for x in specs for s in x["do_seeds"]})
    spec["storage_path"] = ""
    spec["name"] = None
    # Where the data and cache were on the machine that ran it says nothing about the sweep.
    spec["train"] = {**spec["train"], "glue_dir": None, "cache_dir": None}
    return spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the merged results folder (created)")
    parser.add_argument("parts", nargs="+", type=Path, help="results folders of the parts")
    parser.add_argument("--all-trials", action="store_true",
                        help="keep trials that have not ended too")
    args = parser.parse_args(argv)
    try:
        trials, curves, predictions = merge_results(args.parts, not args.all_trials)
        spec = merged_spec(args.parts)
    except (FileNotFoundError, ValueError, KeyError, json.JSONDecodeError) as err:
        parser.error(str(err))
    args.out.mkdir(parents=True, exist_ok=True)
    if predictions is not None:
        write_atomic(predictions, args.out / PREDICTIONS_FILE)
    write_atomic(curves, args.out / CURVES_FILE)
    write_atomic(trials, args.out / TRIALS_FILE)
    spec["name"] = args.out.name
    (args.out / "sweep.json").write_text(json.dumps(spec, indent=2) + "\n")
    print(f"{len(trials)} trials, {len(curves)} curve rows"
          + (f", {len(predictions)} predictions" if predictions is not None else "")
          + f" -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
