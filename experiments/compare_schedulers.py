"""Compare schedulers on recorded curves replayed through Ray Tune.

Usage::

    python experiments/compare_schedulers.py --curves PATH --budget 10 --repeats 5 \
        [--schedulers fifo,early-discard,adaptive,asha,hyperband,median] [--out DIR]

``PATH`` is a curves file (``.parquet``/``.csv``) or a results directory. For each
of ``--repeats`` seeded repeats, the curves are shuffled: a pilot share is held out
for the adaptive planner and every scheduler starts its trials from the same
held-out pool in the same arrival order (see :mod:`tune_seeds.replay.compare`). Writes
``runs.csv`` (one row per run), ``summary.csv`` and ``summary.md`` (compute used and
best score found, mean and sd over repeats), ``meta.json`` (the settings, for
``experiments/analyze.py --compare``) and ``compare.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import ray

from tune_seeds.cli import number
from tune_seeds.replay.compare import SCHEDULERS, compare_schedulers, summarize
from tune_seeds.reporting import plots
from tune_seeds.reporting.findings import markdown_table
from tune_seeds.tables import is_synthetic, load_any


def scheduler_names(text: str) -> list[str]:
    """An argparse type: a comma-separated subset of :data:`SCHEDULERS`."""
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in SCHEDULERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown scheduler(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(SCHEDULERS)}")
    return names


def markdown(summary, budget: float, repeats: int, synthetic: bool, source: str) -> str:
    """The summary as a markdown table with a header saying what it measured."""
    lines = [
        f"# Schedulers on replayed curves{' (SYNTHETIC curves)' if synthetic else ''}",
        "",
        f"Curves: `{source}`; budget {budget:g} full runs; {repeats} repeats "
        "(random pilot, pool and arrival order). Compute in full runs; best = best score "
        "found, stopped trials included; best_vs_fifo = paired mean difference to FIFO.",
        "",
        markdown_table(summary, digits=4),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--curves", required=True, help="curves file or results directory")
    parser.add_argument("--budget", type=number(float, 2), default=10.0,
                        help="budget B in full runs, at least 2 (early discarding needs room): "
                        "FIFO trains floor(B) trials, early discarding and the planner spend at "
                        "most B runs, ASHA/HyperBand/median start as many trials as early "
                        "discarding (default %(default)s)")
    parser.add_argument("--repeats", type=number(int, 1), default=3,
                        help="random subsets and arrival orders per scheduler; mean and sd "
                        "are over these (default %(default)s)")
    parser.add_argument("--schedulers", type=scheduler_names, default=list(SCHEDULERS),
                        help=f"comma-separated subset of {','.join(SCHEDULERS)} (default: all)")
    parser.add_argument("--pilot-share", type=number(float, 0, 1, high_open=True), default=0.2,
                        help="share of curves held out for the adaptive planner")
    parser.add_argument("--out", type=Path, default=Path("compare_out"),
                        help="folder for the table (CSV, markdown) and plots "
                        "(default %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the subsets, orders and planner (default %(default)s)")
    parser.add_argument("--cpus", type=number(int, 1), default=2, help="CPUs given to Ray")
    parser.add_argument("--resamples", type=number(int, 2), default=2000,
                        help="planner resamples")
    args = parser.parse_args(argv)
    names = args.schedulers
    try:
        _, curves = load_any(args.curves)
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))

    # No result.json/progress.csv per replayed trial: they triple the overhead of a
    # trial that does no work, and the comparison reads the results from memory.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    ray.init(address="local", num_cpus=args.cpus, include_dashboard=False,
             log_to_driver=False)
    try:
        runs = compare_schedulers(
            curves, args.budget, args.repeats, names=names, pilot_share=args.pilot_share,
            seed=args.seed, n_resamples=args.resamples, progress=print,
        )
    except ValueError as err:
        parser.error(str(err))
    finally:
        ray.shutdown()

    synthetic = is_synthetic(curves)
    summary = summarize(runs)
    args.out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.out / "runs.csv", index=False)
    summary.to_csv(args.out / "summary.csv", index=False)
    text = markdown(summary, args.budget, args.repeats, synthetic, str(args.curves))
    (args.out / "summary.md").write_text(text)
    meta = {
        "budget": args.budget, "repeats": args.repeats, "schedulers": names,
        "pilot_share": args.pilot_share, "seed": args.seed, "resamples": args.resamples,
        "curves": str(args.curves), "n_curves": int(curves["trial_id"].nunique()),
        "n_evals": int(curves["eval_index"].max()), "synthetic": synthetic,
    }
    (args.out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    plots.save(plots.compare_figure(summary, synthetic), args.out / "compare.png")
    print(text)
    print(f"wrote {args.out}/runs.csv, summary.csv, summary.md, meta.json, compare.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
