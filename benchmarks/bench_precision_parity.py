#!/usr/bin/env python
"""Precision parity: do bf16 trials score like fp32 ones, seed for seed?

``--precision auto`` picks bf16 where the device runs it natively (about 2x faster on a
CPU with AVX512-BF16, see :mod:`tune_seeds.trial.precision`). This benchmark checks that
the seed study does not change with it: it runs the same WI x DO grid (5 x 5 by
default) of in-process trials in fp32 and in bf16 on one small real task (default
SST-2, a 160-example training subset and 128 dev examples, lr 2e-4, as the committed
SST-2 sweeps in ``experiments/results/``), one trial after another on one device with
the same thread count, and compares the best score of every trial.

It reports, per precision, the mean, standard deviation and standard error of the
best scores and the wall time; the difference of the means in fp32's standard errors;
the paired differences (same seeds); Spearman's rank correlation of the 25 trials
between the precisions; and, under ``comparison``, the seed-aware comparison of
:mod:`tune_seeds.analysis.compare` (bf16 - fp32 of the mean best score with its 95%
interval and p-value by the paired seeds-only bootstrap, almost stochastic order both
ways, trials per precision for 80% power). The trials recorded only their scores, so the
dev set's sampling noise is not in the interval: it is the seeds' alone.

The verdict is "bf16 acceptable as default" if and only if the 95% interval of
bf16 - fp32 lies within +-0.01 (:data:`MARGIN`): an equivalence test. A test of "is
there a difference" cannot give the verdict, since failing to find one is no evidence
that there is none, and with the same seeds a tiny difference can be significant. 0.01 is
about one dev example in 128 and under half the seeds' own standard deviation of the best
score (about 0.022): a change that small does not move the seed study. (Before the
comparison, the verdict asked the difference of the means to be within one of fp32's
standard errors; ``one_se_verdict`` keeps that rule's answer.)

No Ray is needed. On 2 CPU cores the default grid takes about half an hour (fp32
trials take about twice as long as bf16 ones); run it alone.

    python benchmarks/bench_precision_parity.py --glue-dir $GLUE_DIR

``--from-json FILE`` runs no trial: it recomputes every statistic, the comparison and the
verdict from the per-trial best scores of a saved result and rewrites FILE (in seconds).

    python benchmarks/bench_precision_parity.py --from-json benchmarks/results/precision_parity.json

A smoke run (seconds): ``--wi-seeds 1-2 --do-seeds 1 --num-hidden-layers 1
--train-examples 32 --dev-examples 16 --batch-size 8 --evals-per-epoch 2 --epochs 1
--output /tmp/p.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from tune_seeds.analysis import SweepData, compare_sweeps
from tune_seeds.benchmarking import machine_info, write_result

RESULTS = Path(__file__).resolve().parent / "results"

# torch, the model and Ray's seed parsing are imported where trials run: --from-json needs
# none of them.

PRECISIONS = ("fp32", "bf16")
VERDICT_OK = "bf16 acceptable as default"
VERDICT_NOT = "bf16 not acceptable as default"
MARGIN = 0.01
"""Equivalence margin of the verdict, in best score (accuracy on SST-2)."""
RULE = (f"bf16 acceptable as default iff the 95% interval of bf16 - fp32 (mean best score, "
        f"paired seeds-only bootstrap) lies within +-{MARGIN}")
ONE_SE_RULE = "bf16 acceptable as default iff |mean(bf16) - mean(fp32)| <= se(fp32)"


def seeds(text: str) -> list[int]:
    """A seed range (``1-5``, ``1,3,5``) as the sweep runner reads it (ValueError if not)."""
    from tune_seeds.tuning.search import parse_seed_range

    return parse_seed_range(text)


def describe(scores: np.ndarray) -> dict[str, float]:
    """Mean, sample standard deviation and standard error of the mean."""
    sd = float(scores.std(ddof=1)) if len(scores) > 1 else math.nan
    return {"mean": float(scores.mean()), "sd": sd, "se": sd / math.sqrt(len(scores))}


def compare(fp32: np.ndarray, bf16: np.ndarray) -> dict[str, Any]:
    """The parity statistics of two equally ordered arrays of best scores, and the verdict.

    The verdict here is the one-standard-error rule's (:data:`ONE_SE_RULE`); the
    benchmark's own comes from :func:`seed_comparison`.

    >>> r = compare(np.array([0.80, 0.70, 0.75, 0.85]), np.array([0.81, 0.70, 0.74, 0.85]))
    >>> r["one_se_verdict"], round(r["difference_in_se"], 3), r["spearman_rho"]
    ('bf16 acceptable as default', 0.0, 1.0)
    """
    a, b = describe(fp32), describe(bf16)
    difference = b["mean"] - a["mean"]
    paired = bf16 - fp32
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: rho is NaN, reported as such
        rho, p_value = stats.spearmanr(fp32, bf16)
    within = abs(difference) <= a["se"] if math.isfinite(a["se"]) else difference == 0

    def number(x: float) -> float | None:
        return float(x) if math.isfinite(x) else None

    return {
        "fp32": a, "bf16": b,
        "difference_of_means": difference,
        "difference_in_se": (number(difference / a["se"]) if a["se"] > 0
                             else (0.0 if difference == 0 else None)),
        "paired_mean_difference": float(paired.mean()),
        "paired_se": number(paired.std(ddof=1) / math.sqrt(len(paired)))
        if len(paired) > 1 else None,
        "spearman_rho": number(rho), "spearman_p": number(p_value),
        "one_se_verdict": VERDICT_OK if within else VERDICT_NOT, "one_se_rule": ONE_SE_RULE,
    }


def seed_comparison(trials: list[dict[str, Any]], task: str | None = None,
                    seed: int = 0) -> dict[str, Any]:
    """The paired seeds-only comparison of bf16 (B) with fp32 (A), and the verdict.

    Args:
        trials: the result's ``trials``: ``wi_seed``, ``do_seed`` and each precision's best
            score, one per seed pair.
        task: the task, for the record.
        seed: seeds the bootstrap.

    Returns:
        ``comparison`` (:meth:`tune_seeds.analysis.Comparison.to_dict`: ``delta`` =
        bf16 - fp32, ``ci_low``, ``ci_high``, ``p_value``, ASO's ``eps_min`` both ways,
        ``trials_for_80_power`` ...), ``verdict`` (by :data:`RULE`) and ``rule``.

    >>> pairs = [{"wi_seed": i, "do_seed": 1, "fp32": 0.8 + i / 100, "bf16": 0.8 + i / 100}
    ...          for i in range(10)]
    >>> r = seed_comparison(pairs)
    >>> r["comparison"]["delta"], r["comparison"]["paired"], r["verdict"]
    (0.0, True, 'bf16 acceptable as default')
    """
    pairs = [(t["wi_seed"], t["do_seed"]) for t in trials]
    fp32, bf16 = (SweepData.from_scores([t[p] for t in trials], pairs, task, name=p)
                  for p in PRECISIONS)
    result = compare_sweeps(fp32, bf16, seed=seed, paired=True).to_dict()
    within = result["ci_low"] >= -MARGIN and result["ci_high"] <= MARGIN
    return {"comparison": result, "verdict": VERDICT_OK if within else VERDICT_NOT,
            "rule": RULE}


def judge(pairs: list[tuple[int, int]], best: dict[str, list[float]],
          task: str | None) -> dict[str, Any]:
    """Every statistic of the result that the per-trial best scores give, in its order."""
    trials = [{"wi_seed": wi, "do_seed": do, "fp32": a, "bf16": b}
              for (wi, do), a, b in zip(pairs, best["fp32"], best["bf16"], strict=True)]
    return {**compare(np.array(best["fp32"]), np.array(best["bf16"])),
            **seed_comparison(trials, task), "trials": trials}


def summary(result: dict[str, Any]) -> str:
    """The result in a few lines."""
    lines = []
    for precision in PRECISIONS:
        s = result[precision]
        seconds = result.get("seconds", {}).get(precision)
        lines.append(f"{precision}: best score mean {s['mean']:.4f}, sd {s['sd']:.4f}, se "
                     f"{s['se']:.4f}" + ("" if seconds is None else f" ({seconds:.0f} s)"))
    diff_se, rho = result["difference_in_se"], result["spearman_rho"]
    c = result["comparison"]
    lines += [
        f"bf16 - fp32: {result['difference_of_means']:+.4f} "
        f"({'n/a' if diff_se is None else f'{diff_se:+.2f}'} fp32 SE); Spearman rho "
        f"{'n/a' if rho is None else f'{rho:.3f}'} over {len(result['trials'])} trials",
        f"paired seeds-only bootstrap: bf16 - fp32 = {c['delta']:+.4f}, 95% CI "
        f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}], p = {c['p_value']:.3g}; eps_min(bf16 "
        f"over fp32) = {c['aso_eps_min_b_over_a']:.3f}, eps_min(fp32 over bf16) = "
        f"{c['aso_eps_min_a_over_b']:.3f}; trials for 80% power: "
        f"{c['trials_for_80_power'] or 'more than ' + str(c['power']['max_trials'])}",
        f"verdict: {result['verdict']} ({result['rule']})",
    ]
    return "\n".join(lines)


def recompute(path: Path) -> int:
    """``--from-json``: the statistics, comparison and verdict of a saved result, from its
    ``trials``, written back into it (its other fields kept)."""
    result = json.loads(path.read_text())
    trials = result["trials"]
    pairs = [(t["wi_seed"], t["do_seed"]) for t in trials]
    best = {p: [t[p] for t in trials] for p in PRECISIONS}
    result.update(judge(pairs, best, result.get("settings", {}).get("task")))
    print(summary(result))
    print(f"-> {write_result(path, result)}")
    return 0


def run_grid(config: Any, pairs: list[tuple[int, int]], device: str | None,
             data: Any) -> tuple[list[float], float]:
    """Best score of every pair's trial (``config`` a TrainConfig), one after another, and
    the seconds it took."""
    from tune_seeds.trial.training import Trial

    start = time.perf_counter()
    best = []
    for i, (wi, do) in enumerate(pairs, start=1):
        trial = Trial(config, wi, do, data=data, device=device)
        score = trial.run()[-1]["best_score"]
        best.append(float(score))
        print(f"  {config.precision} {i:3d}/{len(pairs)} WI {wi:2d} DO {do:2d}: best "
              f"{score:.4f} ({trial.status.value})", flush=True)
    return best, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--glue-dir", default=os.environ.get("GLUE_DIR"))
    p.add_argument("--model", default="default")
    p.add_argument("--task", default="sst2")
    # Parsed after --from-json is handled: parsing seeds imports Ray.
    p.add_argument("--wi-seeds", default="1-5")
    p.add_argument("--do-seeds", default="1-5")
    p.add_argument("--train-examples", type=int, default=160)
    p.add_argument("--dev-examples", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--evals-per-epoch", type=int)
    p.add_argument("--num-hidden-layers", type=int, help="cut the model (smoke runs)")
    p.add_argument("--device", help="cpu or cuda (default: the GPU if there is one)")
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--output", default=str(RESULTS / "precision_parity.json"))
    p.add_argument("--from-json", type=Path, metavar="FILE",
                   help="run no trial: recompute the statistics, comparison and verdict from "
                        "a saved result's trials and rewrite FILE")
    args = p.parse_args(argv)
    if args.from_json:
        return recompute(args.from_json)
    try:
        args.wi_seeds, args.do_seeds = seeds(args.wi_seeds), seeds(args.do_seeds)
    except ValueError as err:
        p.error(f"--wi-seeds/--do-seeds: {err}")
    if not args.glue_dir:
        p.error("give --glue-dir or set GLUE_DIR")
    if len(args.wi_seeds) * len(args.do_seeds) < 2:
        p.error("the grid needs at least 2 trials for a standard error")
    import torch

    from tune_seeds.trial.config import TrainConfig
    from tune_seeds.trial.data import prepare_data
    from tune_seeds.trial.precision import cpu_has_native_bf16, resolve_precision

    torch.set_num_threads(args.threads)
    base = TrainConfig.from_options(
        task=args.task, model=args.model, glue_dir=args.glue_dir, lr=args.lr,
        train_examples=args.train_examples, dev_examples=args.dev_examples,
        batch_size=args.batch_size, epochs=args.epochs, evals_per_epoch=args.evals_per_epoch,
        num_hidden_layers=args.num_hidden_layers, threads=args.threads,
    )
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    data = prepare_data(base)  # tokenized once, shared by all the trials
    pairs = [(wi, do) for wi in args.wi_seeds for do in args.do_seeds]
    best, seconds, why = {}, {}, {}
    for precision in PRECISIONS:
        config = base.replace(precision=precision)
        why[precision] = resolve_precision(precision, device)[1]
        print(f"{precision}: {len(pairs)} trials on {device} ({why[precision]})", flush=True)
        best[precision], seconds[precision] = run_grid(config, pairs, str(device), data)

    result = {
        "benchmark": "precision parity: the same WI x DO grid in fp32 and bf16",
        **judge(pairs, best, args.task),
        "seconds": seconds,
        "bf16_speedup": seconds["fp32"] / seconds["bf16"],
        "device": str(device),
        "cpu_native_bf16": cpu_has_native_bf16() if device.type == "cpu" else None,
        "settings": {**{k: v for k, v in vars(args).items()
                        if k not in ("glue_dir", "output", "from_json")},
                     "train_config": {k: v for k, v in base.to_dict().items()
                                      if k not in ("glue_dir", "cache_dir", "precision")}},
        "machine": machine_info(),
    }
    print(summary(result))
    print(f"-> {write_result(args.output, result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
