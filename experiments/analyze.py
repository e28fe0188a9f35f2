"""Report of a seed sweep: expected best, WI against DO, failed runs, best seeds.

Usage::

    python experiments/analyze.py RESULTS_DIR [--json PATH] [--figures DIR] [--threshold X]
        [--plan 5,10] [--match 10] [--schedulers COMPARE_DIR ...]

``RESULTS_DIR`` is a sweep's results directory (``trials.parquet`` and
``curves.parquet``) or a bare curves file (``.parquet``/``.csv``), whose trials
table is rebuilt from the curves. The report is printed; ``--json`` writes the same
numbers as JSON and ``--figures`` writes PNG figures (expected best, WI x DO heat
map, per-seed means, curves), with ``--schedulers`` also the best score found against
compute of ``experiments/compare_schedulers.py`` output folders (from their
``summary.csv``, as ``schedulers-<folder>.png``). ``--threshold`` sets the failed-run
threshold on the best score (default: the task's, from the ``task`` column). ``--plan``
adds the budget planner's recommended early-discarding plan for each budget (in full
runs), and how well the ranking at cuts across training predicts the final ranking.
``--match B`` adds the compute planned early discarding needs to match FIFO's expected
best at ``B`` full runs (``tune_seeds.analysis.match``; JSON key ``match``).
The findings page over several sweeps is ``experiments/findings.py``'s.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from tune_seeds.analysis import (
    compute_to_match,
    expected_validation_performance,
    heatmap_table,
    seed_means,
)
from tune_seeds.reporting import plots
from tune_seeds.reporting.report import (
    cut_report,
    format_report,
    parse_budgets,
    planner_report,
    sweep_report,
)
from tune_seeds.tables import is_synthetic, load_any, load_sweep_json


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


def planned_trials(results: str | Path) -> int | None:
    """Trials the sweep runs in all, by the ``sweep.json`` beside its tables (None without
    one): those the tables lack have not reported a result yet."""
    try:
        spec = load_sweep_json(results)
        return spec["num_samples"] or len(spec["wi_seeds"]) * len(spec["do_seeds"])
    except (TypeError, KeyError, ValueError):  # none, or not a sweep's: the tables stand alone
        return None


def whole_runs(text: str) -> int:
    """``--match``: a whole number of full runs, at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of full runs, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 full run, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", help="results directory or curves file (.parquet/.csv)")
    parser.add_argument("--json", type=Path, help="write the numbers as JSON here")
    parser.add_argument("--figures", type=Path, help="write PNG figures into this folder")
    parser.add_argument("--threshold", type=float, help="failed-run threshold on best score")
    parser.add_argument("--plan", type=parse_budgets, metavar="B[,B...]",
                        help="budgets in full runs (e.g. 5,10): add the planner's best "
                        "early-discarding plan for each")
    parser.add_argument("--resamples", type=int, default=2000,
                        help="planner Monte-Carlo resamples (default %(default)s)")
    parser.add_argument("--plan-without-replacement", action="store_true",
                        help="planner: draw distinct recorded trials instead of the paper's "
                        "sampling with replacement")
    parser.add_argument("--plan-at-most-budget", action="store_true",
                        help="planner: also consider plans that spend less than the budget "
                        "(the paper searched only plans spending it exactly)")
    parser.add_argument("--match", type=whole_runs, metavar="B",
                        help="how many full runs planned early discarding needs to match "
                        "FIFO's expected best at B full runs (a scan of every plan, JSON key "
                        "'match')")
    parser.add_argument("--match-resamples", type=int, default=20_000,
                        help="--match: resamples per estimate (default %(default)s; the "
                        "answer's standard error shrinks as 1/sqrt of it)")
    parser.add_argument("--schedulers", type=Path, action="append", default=[],
                        metavar="DIR", help="with --figures: also draw this "
                        "compare_schedulers.py output folder's best score found against "
                        "compute (repeatable)")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.schedulers and not args.figures:
        parser.error("--schedulers draws figures: give --figures too")
    try:
        trials, curves = load_any(args.results)
        # Read every input before writing anything, so a bad one leaves no half of it.
        comparisons = {d: pd.read_csv(d / "summary.csv") for d in args.schedulers}
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    synthetic = is_synthetic(curves)
    try:
        report = sweep_report(trials, threshold=args.threshold, synthetic=synthetic,
                              trial_count=planned_trials(args.results))
        if args.plan:
            report["planner"] = planner_report(
                curves, args.plan, n_resamples=args.resamples,
                replace=not args.plan_without_replacement,
                exact_budget=not args.plan_at_most_budget,
            )
            report["cut_correlation"] = cut_report(curves)
        match = None
        if args.match:
            match = compute_to_match(curves, args.match, n_resamples=args.match_resamples)
            report["match"] = match.to_dict()
    except ValueError as err:
        parser.error(f"{args.results}: {err}")
    print(format_report(report))
    if match is not None:
        print("\nCompute to match FIFO\n" + match.summary())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    if args.figures:
        paths = write_figures(trials, curves, args.figures, synthetic)
        paths += [plots.save(plots.compare_figure(summary, synthetic),
                             args.figures / f"schedulers-{d.name}.png")
                  for d, summary in comparisons.items()]
        for path in paths:
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
