"""Report of a seed sweep: expected best, WI against DO, failed runs, best seeds.

Usage::

    python experiments/analyze.py RESULTS_DIR [--json PATH] [--figures DIR] [--threshold X]

``RESULTS_DIR`` is a sweep's results directory (``trials.parquet`` and
``curves.parquet``) or a bare curves file (``.parquet``/``.csv``), whose trials
table is rebuilt from the curves. The report is printed; ``--json`` writes the same
numbers as JSON and ``--figures`` writes PNG figures (expected best, WI x DO heat
map, per-seed means, curves). ``--threshold`` sets the failed-run threshold on the
best score (default: the task's, from the ``task`` column).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tune_seeds import plots
from tune_seeds.analysis import expected_validation_performance, heatmap_table, seed_means
from tune_seeds.analysis.report import format_report, sweep_report
from tune_seeds.tables import is_synthetic, load_any


def write_figures(trials, curves, directory: Path, synthetic: bool) -> list[Path]:
    """The report's PNG figures; returns their paths."""
    scores = trials["best_score"].dropna()
    return [
        plots.save(plots.evp_figure(expected_validation_performance(scores),
                                    synthetic=synthetic), directory / "expected_best.png"),
        plots.save(plots.heatmap_figure(heatmap_table(trials), synthetic=synthetic),
                   directory / "heatmap.png"),
        plots.save(plots.seed_means_figure(seed_means(trials, "wi_seed"),
                                           seed_means(trials, "do_seed"), synthetic=synthetic),
                   directory / "seed_means.png"),
        plots.save(plots.curves_figure(curves, synthetic=synthetic), directory / "curves.png"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", help="results directory or curves file (.parquet/.csv)")
    parser.add_argument("--json", type=Path, help="write the numbers as JSON here")
    parser.add_argument("--figures", type=Path, help="write PNG figures into this folder")
    parser.add_argument("--threshold", type=float, help="failed-run threshold on best score")
    args = parser.parse_args(argv)
    try:
        trials, curves = load_any(args.results)
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    synthetic = is_synthetic(curves)
    try:
        report = sweep_report(trials, threshold=args.threshold, synthetic=synthetic)
    except ValueError as err:
        parser.error(f"{args.results}: {err}")
    print(format_report(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    if args.figures:
        for path in write_figures(trials, curves, args.figures, synthetic):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
