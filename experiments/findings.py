#!/usr/bin/env python
"""Write the findings page: the study's four results on recorded sweeps, beside the paper's.

Usage::

    python experiments/findings.py SWEEP [SWEEP ...] --out docs/findings.md
        [--plan 5,10] [--compare DIR ...] [--contrast DIR ...] [--resamples 2000]

Each ``SWEEP`` is a results directory (``trials.parquet``, ``curves.parquet`` and
``sweep.json``) of one task. ``--plan`` adds the budget planner's best plan per budget
(the paper's sampling) and, for the budget 10, how much compute planned early
discarding needs to match FIFO; ``--compare`` adds ``experiments/compare_schedulers.py``
output folders (each names the curves it replayed, which must be one of the sweeps);
``--cut-figure`` draws every cut's rank correlation and best plan's gain against FIFO;
``--contrast`` adds another sweep of the same task with other settings beside the
failed runs. The page lists the commands that regenerate it; every input is read
before anything is written.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pandas as pd

from tune_seeds.analysis import compute_to_match, cut_table
from tune_seeds.reporting import plots
from tune_seeds.reporting.findings import (
    MATCH_BUDGET,
    Comparison,
    Sweep,
    findings,
    load_comparison,
    render,
)
from tune_seeds.reporting.report import parse_budgets, planner_report, sweep_report
from tune_seeds.tables import is_synthetic, load_results, load_sweep_json


def load_sweep(
    path: str, plan: list[float] | None, resamples: int, match_resamples: int
) -> Sweep:
    """A sweep with its report; with ``plan``, the planner's numbers, the compute to match
    FIFO at :data:`MATCH_BUDGET` and every cut's worth at that budget."""
    trials, curves = load_results(path)
    report = sweep_report(trials, synthetic=is_synthetic(curves))
    if plan:
        report["planner"] = planner_report(curves, plan, n_resamples=resamples)
        report["match"] = compute_to_match(
            curves, MATCH_BUDGET, n_resamples=match_resamples).to_dict()
        report["cuts"] = cut_table(
            curves, MATCH_BUDGET, n_resamples=match_resamples).to_dict(orient="records")
    return Sweep(path, report, trials, curves, load_sweep_json(path))


def regenerate_commands(argv: list[str], comparisons: list[Comparison]) -> list[str]:
    """Each comparison's command, then this one: what rebuilds the page from the sweeps."""
    commands = []
    for cmp in comparisons:
        m = cmp.meta
        commands.append(
            f"python experiments/compare_schedulers.py --curves {m['curves']} "
            f"--budget {m['budget']:g} --repeats {m['repeats']} "
            f"--schedulers {','.join(m['schedulers'])} --pilot-share {m['pilot_share']:g} "
            f"--seed {m['seed']} --resamples {m['resamples']} --out {cmp.path}"
        )
    commands.append("python experiments/findings.py " + " ".join(argv))
    return commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Example: python experiments/findings.py experiments/results/mrpc-grid10-fifo "
        "experiments/results/sst2-grid10-fifo --plan 5,10 --out docs/findings.md",
    )
    parser.add_argument("sweeps", nargs="+", metavar="SWEEP",
                        help="results directories, one per task")
    parser.add_argument("--out", type=Path, required=True, help="the markdown page to write")
    parser.add_argument("--plan", type=parse_budgets, metavar="B[,B...]",
                        help="budgets in full runs (e.g. 5,10): the planner's best plan for "
                        "each, and the compute needed to match FIFO at budget "
                        f"{MATCH_BUDGET}")
    parser.add_argument("--resamples", type=int, default=2000,
                        help="planner Monte-Carlo draws (default %(default)s)")
    parser.add_argument("--match-resamples", type=int, default=20_000,
                        help="resamples per estimate of the compute to match FIFO and of "
                        "each cut's best plan (default %(default)s)")
    parser.add_argument("--cut-figure", type=Path,
                        help="also draw every sweep's rank correlation and best plan's gain "
                        "against the cut into this PNG (with --plan)")
    parser.add_argument("--compare", action="append", default=[], metavar="DIR",
                        help="a compare_schedulers.py output folder (repeatable)")
    parser.add_argument("--contrast", action="append", default=[], metavar="DIR",
                        help="another sweep of one of the tasks with other settings, set "
                        "beside its failed runs (repeatable)")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    try:
        sweeps = [load_sweep(s, args.plan, args.resamples, args.match_resamples)
                  for s in args.sweeps]
        comparisons = [load_comparison(d) for d in args.compare]
        contrasts = [load_sweep(d, None, args.resamples, args.match_resamples)
                     for d in args.contrast]
        figure = (os.path.relpath(args.cut_figure, args.out.parent)
                  if args.cut_figure and args.plan else None)
        page = render(findings(sweeps, comparisons=comparisons, contrasts=contrasts,
                               commands=regenerate_commands(argv, comparisons),
                               cut_figure=figure))
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(page)
    print(f"wrote {args.out}")
    if args.cut_figure and args.plan:
        tables = {s.source: pd.DataFrame(s.report["cuts"]) for s in sweeps}
        print(f"wrote {plots.save(plots.cut_figure(tables, MATCH_BUDGET), args.cut_figure)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
