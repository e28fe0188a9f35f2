"""Is sweep B better than sweep A, or is it the seeds? A seed-aware comparison of two sweeps.

Usage::

    python experiments/compare_sweeps.py A B [--json PATH] [--figure PATH] [--resamples N]
        [--seed S] [--unpaired] [--shared-pairs] [--no-power]

``A`` and ``B`` are two results folders of the same task (``trials.parquet``,
``curves.parquet`` and, when the sweeps recorded them, ``predictions.parquet``). The
report gives the difference of the mean best score, B - A, with a 95% interval and a
two-sided p-value by the Multi-Bootstrap (trials and dev examples resampled together,
paired when both sweeps ran the same seed pairs; trials alone, and said so, when a sweep
has no predictions), the almost-stochastic-order eps_min of B over A and of A over B, and
the trials per sweep that 80% power at the observed difference needs
(:mod:`tune_seeds.analysis.compare` states each procedure). ``--json`` writes the numbers,
``--figure`` a PNG of the bootstrap distribution of the difference beside the two sweeps'
score distributions. Sweeps of different tasks, a folder that is not a sweep, or a missing
one: exit status 2 and one line on stderr.

A side may be several folders read as one sweep (a grid run as one sweep per WI seed):
comma-separated, or a quoted glob pattern, e.g. ``'<storage>/mrpc-full-wi*'``, whose
matches are the folders that hold a ``trials.parquet`` (a sweep that has not yet written
its tables is no sweep yet). Only trials that ended (``TERMINATED``) count, so the same
command compares more of a running grid each time it is run. ``--shared-pairs`` compares
only the seed pairs both sides ran, paired.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from tune_seeds.analysis import Comparison, SweepData, compare_sweeps, load_sweep
from tune_seeds.reporting import plots

PROG = "compare_sweeps.py"


def aso_verdict(eps_b_over_a: float, eps_a_over_b: float) -> str:
    """The almost-stochastic-order reading of the two eps_min (0.5 the loose threshold,
    0.2 the strict one; the smaller eps_min names the sweep that dominates)."""
    for eps, better, worse in ((eps_b_over_a, "B", "A"), (eps_a_over_b, "A", "B")):
        if eps < 0.2:
            return f"{better} is almost stochastically better than {worse} (eps_min < 0.2)"
    for eps, better, worse in ((eps_b_over_a, "B", "A"), (eps_a_over_b, "A", "B")):
        if eps < 0.5:
            return (f"{better} is almost stochastically better than {worse} in the loose "
                    "reading (eps_min < 0.5, not < 0.2)")
    return "neither sweep is almost stochastically better than the other"


def format_p(p: float, n_resamples: int) -> str:
    """A bootstrap p-value as text: below its resolution (2 / R) when no resample crossed 0."""
    return f"p < {2 / n_resamples:.2g}" if p == 0 else f"p = {p:.3g}"


def format_report(result: Comparison, a: SweepData, b: SweepData) -> str:
    """The comparison in a few lines of text."""
    out = [f"{label}  {s.name}: {result.task or 'task unknown'}, {n} trials, "
           f"mean best score {mean:.4f}"
           for label, s, n, mean in (("A", a, result.n_a, result.mean_a),
                                     ("B", b, result.n_b, result.mean_b))]
    resampled = ("trials and dev examples resampled together" if result.examples_resampled
                 else "trials only (seeds-only bootstrap)")
    out.append(f"design: {'paired (same seed pairs)' if result.paired else 'unpaired'}; "
               f"{resampled}")
    out += [f"note: {note}" for note in result.note.split("; ") if note]
    out.append(f"B - A = {result.delta:+.4f}, 95% CI [{result.ci_low:+.4f}, "
               f"{result.ci_high:+.4f}], {format_p(result.p_value, result.n_resamples)} "
               f"(Multi-Bootstrap, {result.n_resamples} resamples)")
    out.append(f"almost stochastic order (confidence {result.aso_confidence:.2f}): "
               f"eps_min(B over A) = {result.aso_eps_min_b_over_a:.3f}, "
               f"eps_min(A over B) = {result.aso_eps_min_a_over_b:.3f}: "
               + aso_verdict(result.aso_eps_min_b_over_a, result.aso_eps_min_a_over_b))
    power = result.power
    if power is not None:
        needed = (str(power.trials) if power.trials is not None
                  else f"more than {power.max_trials}")
        out.append(f"trials per sweep for {power.target:.0%} power at delta = "
                   f"{power.delta:+.4f}: {needed} (bootstrap power: up to {power.repeats} "
                   f"simulated comparisons of {power.resamples} resamples each)")
    return "\n".join(out)


def comparison_figure(result: Comparison, names: tuple[str, str] = ("A", "B"),
                      synthetic: bool = False) -> Figure:
    """The bootstrap distribution of B - A, and the two sweeps' score distributions
    (``names``: what to call A and B in the title)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.hist(result.bootstrap.deltas, bins=50, color="tab:gray", alpha=0.7)
    left.axvline(0, color="black", lw=1)
    left.axvline(result.delta, color="tab:red", label=f"B - A = {result.delta:+.4f}")
    for x in (result.ci_low, result.ci_high):
        left.axvline(x, color="tab:red", ls="--", lw=1)
    left.set_xlabel("B - A, mean best score (bootstrap)")
    left.set_ylabel("resamples")
    left.legend(title=f"95% CI, {format_p(result.p_value, result.n_resamples)}", fontsize=8)
    for scores, label in ((result.scores_a, "A"), (result.scores_b, "B")):
        x = np.sort(scores)
        right.step(x, np.arange(1, len(x) + 1) / len(x), where="post",
                   label=f"{label} ({len(x)} trials)")
    right.set_xlabel("best score of a trial")
    right.set_ylabel("share of trials at or below")
    right.legend(title=f"eps_min(B over A) = {result.aso_eps_min_b_over_a:.2f}", fontsize=8)
    title = f"B = {names[1]} against A = {names[0]}{f' ({result.task})' if result.task else ''}"
    fig.suptitle(f"{title} (synthetic)" if synthetic else title)
    fig.tight_layout()
    return fig


def folders(spec: str) -> list[Path]:
    """The results folders a side names: comma-separated, each a folder or a glob pattern.

    Raises:
        FileNotFoundError: a pattern matches no folder that holds a trials table.
    """
    out: list[Path] = []
    for part in filter(None, spec.split(",")):
        if not any(c in part for c in "*?["):  # a folder, not a pattern
            out.append(Path(part))
            continue
        matches = [Path(m) for m in sorted(glob.glob(part))
                   if Path(m, "trials.parquet").is_file()]
        if not matches:
            raise FileNotFoundError(f"no results folder matches {part}")
        out += matches
    return out


def fail(message: str) -> int:
    """One line on stderr, exit status 2 (the line stays one line whatever the message)."""
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("a", help="results folder(s) of sweep A, the baseline (several: "
                        "comma-separated, or a quoted glob pattern)")
    parser.add_argument("b", help="results folder(s) of sweep B, compared with A")
    parser.add_argument("--json", type=Path, help="write the numbers as JSON here")
    parser.add_argument("--figure", type=Path, help="write a PNG figure here")
    parser.add_argument("--resamples", type=int, default=2000,
                        help="Multi-Bootstrap resamples (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every draw (default 0)")
    parser.add_argument("--unpaired", action="store_true",
                        help="treat the sweeps as independent even if they ran the same seeds")
    parser.add_argument("--shared-pairs", action="store_true",
                        help="compare only the seed pairs both sweeps ran (paired)")
    parser.add_argument("--no-power", action="store_true",
                        help="skip the power analysis (trials_for_80_power is null)")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.resamples < 100:
        parser.error(f"--resamples must be at least 100, got {args.resamples}")
    try:
        sweeps = [load_sweep(folders(spec), name=spec) for spec in (args.a, args.b)]
        result = compare_sweeps(*sweeps, n_resamples=args.resamples, seed=args.seed,
                                paired=False if args.unpaired else None,
                                shared_pairs=args.shared_pairs, power=not args.no_power)
    except (OSError, ValueError) as err:
        # A missing folder or table, a table without its columns, two tasks, two dev sets.
        return fail(err)
    print(format_report(result, *sweeps))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"a": args.a, "b": args.b, "seed": args.seed,
                   "shared_pairs": args.shared_pairs, **result.to_dict()}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    if args.figure:
        fig = comparison_figure(result, tuple(Path(s.rstrip("/")).name for s in (args.a, args.b)),
                                synthetic=any(s.synthetic for s in sweeps))
        print(f"wrote {plots.save(fig, args.figure)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
