#!/usr/bin/env python
"""Execute the notebooks top to bottom and save them with their outputs.

Usage::

    python experiments/run_notebooks.py [NOTEBOOK ...] [--curves PATH]

Runs ``notebooks/seed_variance.ipynb``, ``notebooks/compare_schedulers.ipynb`` and
``notebooks/compare_sweeps.ipynb`` (or the ones named) with their default parameters, on
the recorded sweeps they name, and writes each back in place. ``--curves`` first makes
``PATH`` (relative to ``notebooks/``, e.g.
``../experiments/results/sst2-grid10-fifo``) the default ``CURVES_PATH`` of every
notebook that has one (``compare_sweeps.ipynb`` compares two sweeps and has none). The tests
execute them the same way (:mod:`tune_seeds.reporting.notebooks`) and check that the committed
text outputs are current.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tune_seeds.reporting import notebooks

DEFAULT = (*notebooks.NAMES, "compare_sweeps.ipynb")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        default=[notebooks.NOTEBOOKS / n for n in DEFAULT],
                        help="notebooks to execute (default: the three of notebooks/)")
    parser.add_argument("--curves", metavar="PATH",
                        help="make PATH (relative to notebooks/) the default CURVES_PATH "
                        "of the notebooks that have one")
    args = parser.parse_args(argv)
    for path in args.notebooks:
        start = time.perf_counter()
        nb = notebooks.read(path)
        if args.curves and "CURVES_PATH" in nb.cells[notebooks.parameters_cell(nb)].source:
            notebooks.set_parameter(nb, "CURVES_PATH", args.curves)
            notebooks.write(nb, path)
        nb = notebooks.execute(path)
        notebooks.write(nb, path)
        print(f"executed {path} in {time.perf_counter() - start:.0f} s "
              f"({notebooks.images(nb)} figures)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
