"""The study's four findings on a recorded sweep, side by side with the paper's numbers.

Dodge et al. (2020) report four things about fine-tuning seeds: (a) how the expected
best score grows with the number of trials, (b) how weight initialization (WI) and
data order (DO) compare, (c) how many runs fail, and (d) how much early discarding
saves. :func:`findings_markdown` writes a page stating each of them for one of our
sweeps, from the numbers of :func:`~tune_seeds.analysis.report.sweep_report` and
:func:`~tune_seeds.analysis.report.planner_report` and from the scheduler comparisons
written by ``experiments/compare_schedulers.py`` (:func:`load_comparison`), next to
the paper's figures (:data:`PAPER`). Every number on the page comes from those
inputs or from :data:`PAPER`, so rerunning the commands regenerates it; the prose
around them only chooses words from the numbers (which factor is larger, whether a
difference is within its standard error).

``experiments/analyze.py RESULTS --plan 5,10 --compare DIR --findings PAGE.md`` is
the command-line entry point.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

PAPER: dict[str, Any] = {
    "model": "BERT-large-uncased (335M parameters, plain masked-LM pretraining)",
    "optimizer": "BERT's Adam without bias correction",
    "lr": 2e-5,
    "grid": {"mrpc": 25, "rte": 25, "cola": 25, "sst2": 15},
    "train_examples": {"mrpc": 3668, "rte": 2490, "cola": 8551, "sst2": 67349},
    "dev_examples": {"mrpc": 408, "rte": 277, "cola": 1043, "sst2": 872},
    "best": {"mrpc": 0.914, "rte": 0.773, "cola": 0.676, "sst2": 0.951},
    "evp": {
        "mrpc": {1: 0.825, 10: 0.898, 30: 0.904},
        "rte": {1: 0.626, 10: 0.727, 30: 0.745},
        "cola": {1: 0.588, 10: 0.651, 30: 0.659},
        "sst2": {1: 0.940, 10: 0.945, 30: 0.947},
    },
    # Only MRPC's per-factor standard deviations are quoted in the paper's text.
    "sd_mrpc": {"overall": 0.061, "do_varying_wi_fixed": 0.058, "wi_varying_do_fixed": 0.059},
    "failed_threshold": {"mrpc": 0.75, "rte": 0.5, "cola": 0.1},
    # Budget of 10 full runs: (started, trained fully, stopped after, EVP without, with).
    "early_discard_b10": {
        "mrpc": (24, 4, 0.30, 0.898, 0.902),
        "rte": (21, 6, 0.27, 0.727, 0.737),
        "cola": (38, 8, 0.07, 0.651, 0.654),
        "sst2": (16, 6, 0.40, 0.945, 0.946),
    },
}
"""The paper's figures used for comparison (Dodge et al. 2020, arXiv 2002.06305)."""

TASK_LABELS = {"mrpc": "MRPC", "rte": "RTE", "cola": "CoLA", "sst2": "SST-2"}
OPTIMIZER_LABELS = {"adamw": "AdamW", "bert-adam": "BERT's Adam"}


@dataclass(frozen=True)
class Comparison:
    """One ``experiments/compare_schedulers.py`` output folder.

    Attributes:
        meta: its ``meta.json`` (budget, repeats, schedulers, pilot share, seed).
        summary: its ``summary.csv`` (one row per scheduler).
        runs: its ``runs.csv`` (one row per repeat per scheduler).
    """

    meta: dict[str, Any]
    summary: pd.DataFrame
    runs: pd.DataFrame


@dataclass(frozen=True)
class Contrast:
    """Another sweep of the same task with other settings, set beside the main one in (c).

    Attributes:
        source: where its tables are (shown on the page).
        report: its :func:`~tune_seeds.analysis.report.sweep_report`.
        spec: its ``sweep.json`` (None when not saved beside its tables).
    """

    source: str
    report: dict[str, Any]
    spec: dict[str, Any] | None


def load_comparison(directory: str | Path) -> Comparison:
    """Read a comparison folder; a clear error names what is missing."""
    directory = Path(directory)
    missing = [n for n in ("meta.json", "summary.csv", "runs.csv") if not (directory / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{directory} is not a compare_schedulers.py output folder: it lacks "
            f"{', '.join(missing)}"
        )
    return Comparison(
        json.loads((directory / "meta.json").read_text()),
        pd.read_csv(directory / "summary.csv"),
        pd.read_csv(directory / "runs.csv"),
    )


def _f(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(header: list[str], rows: list[list[Any]], digits: int = 3) -> list[str]:
    """A markdown table; floats with ``digits`` decimals, None and NaN as ``n/a``."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_f(c, digits) for c in row) + " |" for row in rows]
    return lines


def paired_vs_fifo(runs: pd.DataFrame) -> pd.DataFrame:
    """Per scheduler: mean, standard error and wins/ties/losses of best - FIFO's best.

    The difference is paired within a repeat (same pool, same arrival order), so the
    luck of the pool cancels.
    """
    fifo = runs[runs["scheduler"] == "fifo"].set_index("repeat")["best_score"]
    if fifo.empty:
        raise ValueError("the comparison has no FIFO runs to pair with")
    diff = runs["best_score"] - runs["repeat"].map(fifo)
    g = diff.groupby(runs["scheduler"], sort=False)
    n = g.size()
    return pd.DataFrame({
        "diff": g.mean(),
        "se": g.std(ddof=1) / n.pow(0.5),
        "wins": g.apply(lambda d: int((d > 0).sum())),
        "ties": g.apply(lambda d: int((d == 0).sum())),
        "losses": g.apply(lambda d: int((d < 0).sum())),
    })


def _within(diff: float, se: float) -> bool:
    return not math.isfinite(se) or abs(diff) <= 2 * se


def _setup_section(task: str, meta: dict[str, Any], spec: dict[str, Any] | None) -> list[str]:
    if spec is None:
        return ["## Setup", "", "The sweep's `sweep.json` is not beside its tables, so its "
                "training settings are not shown here.", ""]
    train = spec["train"]
    grid = f"{meta['n_wi_seeds']} x {meta['n_do_seeds']} ({meta['n_trials']} trials)"
    paper_grid = PAPER["grid"].get(task)
    rows = [
        ["model", "MiniLM-L6 (`all-MiniLM-L6-v2`, 22.7M parameters, further trained on "
         "sentence pairs)" if train.get("model", "default") == "default"
         else f"`{train['model']}`", PAPER["model"]],
        ["optimizer", "AdamW with bias correction" if train.get("optimizer", "adamw") == "adamw"
         else "BERT's Adam without bias correction", PAPER["optimizer"]],
        ["learning rate", f"{train['lr']:g}", f"{PAPER['lr']:g}"],
        ["training examples", str(train.get("train_examples") or "all"),
         str(PAPER["train_examples"].get(task, "n/a"))],
        ["dev examples", str(train.get("dev_examples") or "all"),
         str(PAPER["dev_examples"].get(task, "n/a"))],
        ["epochs, evaluations", f"{train.get('epochs', 'n/a')}, "
         f"{train.get('evals_per_epoch', 'n/a')} per epoch", "3, 10 per epoch"],
        ["WI x DO seeds", grid, f"{paper_grid} x {paper_grid}" if paper_grid else "n/a"],
        ["dropout follows", f"the {train.get('dropout_seed', 'do').upper()} seed", "the DO seed"],
    ]
    return ["## Setup, ours against the paper's", "",
            *markdown_table(["", "this sweep", "paper"], rows), ""]


def _evp_section(report: dict[str, Any], task: str) -> list[str]:
    evp = {int(r["n"]): r for r in report["expected_best"]}
    paper = PAPER["evp"].get(task, {})
    ns = [n for n in (1, 5, 10, 20, 30, 50, 100) if n in evp]
    rows = [[n, evp[n]["mean"], evp[n]["sd"], paper.get(n)] for n in ns]
    top = report["best_seeds"]["trials"]
    best = top[0]["best_score"] if top else None
    gain10 = evp[10]["mean"] - evp[1]["mean"] if 10 in evp else None
    out = ["## (a) Expected best score against the number of trials", "",
           "Expected validation performance (Dodge et al. 2019): the expected best of n "
           "trials drawn with replacement from the recorded ones, with its standard "
           "deviation.", "",
           *markdown_table(
               ["n trials", "expected best", "sd", f"paper ({TASK_LABELS.get(task, task)})"],
               rows), ""]
    if gain10 is not None:
        paper_gain = paper[10] - paper[1] if paper else None
        out.append(
            f"Going from one trial to ten raises the expected best by {gain10:.3f} here"
            + (f" (paper: {paper_gain:.3f})" if paper_gain is not None else "")
            + f"; the best of all {report['meta']['n_scored']} trials is {_f(best)}"
            + (f" (paper: {PAPER['best'][task]:.3f} over its sweep)." if task in PAPER["best"]
               else ".")
        )
        out.append("")
    return out


def _variance_words(v: dict, wi: dict, do: dict, res: dict) -> str:
    """The variance finding in words, each claim chosen by the numbers."""
    significant = [name for name, row in (("WI", wi), ("DO", do)) if row["p_value"] < 0.05]
    lead = {2: "Both seeds matter (two-way ANOVA, p < 0.05 for each)",
            1: f"Only the {''.join(significant)} seed matters at p < 0.05",
            0: "Neither seed matters at p < 0.05"}[len(significant)]
    paper = PAPER["sd_mrpc"]
    ours = (v["wi_varying_do_fixed"] / v["overall"], v["do_varying_wi_fixed"] / v["overall"])
    theirs = (paper["wi_varying_do_fixed"] / paper["overall"],
              paper["do_varying_wi_fixed"] / paper["overall"])
    text = (f"{lead}. Holding one seed fixed leaves {ours[0]:.0%} (WI varying) and "
            f"{ours[1]:.0%} (DO varying) of the overall standard deviation, against "
            f"{theirs[0]:.0%} and {theirs[1]:.0%} in the paper on MRPC")
    if max(ours) < min(theirs):
        text += ": each seed alone accounts for more of the spread here than there"
    larger = "WI" if wi["share"] > do["share"] else "DO"
    return (f"{text}. {larger} explains the larger share of the sum of squares "
            f"({max(wi['share'], do['share']):.0%} against {min(wi['share'], do['share']):.0%}); "
            f"{res['share']:.0%} is left to their interaction and noise.")


def _variance_section(report: dict[str, Any]) -> list[str]:
    v = report["variance"]
    paper = PAPER["sd_mrpc"]
    out = ["## (b) Weight initialization against data order", "",
           *markdown_table(["standard deviation of the best score", "this sweep", "paper (MRPC)"], [
               ["overall", v["overall"], paper["overall"]],
               ["WI varying, DO fixed", v["wi_varying_do_fixed"], paper["wi_varying_do_fixed"]],
               ["DO varying, WI fixed", v["do_varying_wi_fixed"], paper["do_varying_wi_fixed"]],
           ]), ""]
    anova = report["anova"]
    if "skipped" not in anova:
        wi, do, res = anova["wi_seed"], anova["do_seed"], anova["residual"]
        out += [
            "Two-way ANOVA (additive, one trial per cell, so the interaction is the residual):",
            "",
            *markdown_table(["source", "share of the sum of squares", "F", "p"], [
                ["WI seed", wi["share"], wi["F"], f"{wi['p_value']:.2g}"],
                ["DO seed", do["share"], do["F"], f"{do['p_value']:.2g}"],
                ["residual (interaction)", res["share"], None, None],
            ]), "",
            _variance_words(v, wi, do, res),
            "",
        ]
    rows = [r for r in report["best_vs_worst"].values() if "skipped" not in r]
    if rows:
        out += ["One-way ANOVA of the best seed's trials against the worst seed's "
                "(the paper's test; it found both significant on every task):", "",
                *markdown_table(["factor", "best seed", "mean", "worst seed", "mean", "F", "p"],
                        [[r["factor"], r["best_seed"], r["best_mean"], r["worst_seed"],
                          r["worst_mean"], r["f_stat"], f"{r['p_value']:.2g}"] for r in rows]),
                ""]
        sig = [r["factor"] for r in rows if r["p_value"] < 0.05]
        out += [f"Significant at 5%: {', '.join(sig) if sig else 'neither'}. The best and "
                "worst seeds are picked from the same data the test runs on, so these p-values "
                "are optimistic, in the paper as here.", ""]
    return out


def _failure_row(source: str, report: dict[str, Any], spec: dict[str, Any] | None) -> list[Any]:
    train = (spec or {}).get("train", {})
    fails = report["failures"]
    evp = {int(r["n"]): r["mean"] for r in report["expected_best"]}
    return [f"`{source}`" if source else "this sweep", train.get("optimizer", "n/a"),
            f"{train['lr']:g}" if "lr" in train else "n/a", fails.get("n_trials"),
            fails.get("n_failed"), fails.get("rate"), fails.get("lowest_score"),
            report["variance"]["overall"], evp.get(1), evp.get(10)]


def _failure_section(
    report: dict[str, Any], task: str, spec: dict[str, Any] | None, source: str,
    contrasts: list[Contrast],
) -> list[str]:
    fails = report["failures"]
    out = ["## (c) Failed runs", ""]
    if "skipped" in fails:
        return [*out, f"Not computed: {fails['skipped']}.", ""]
    paper_thr = PAPER["failed_threshold"].get(task)
    out.append(
        f"A run fails when its best score stays at or below the majority class "
        f"({fails['threshold']:.3f} for {TASK_LABELS.get(task, task)}"
        + (", the paper's threshold" if paper_thr is not None else
           "; the paper gives no threshold for this task, so the majority score is used")
        + f"): **{fails['n_failed']} of {fails['n_trials']}** runs failed "
        f"({fails['rate']:.1%}); the lowest best score of a run is "
        f"{_f(fails.get('lowest_score'))}."
    )
    for factor, counts in fails["per_seed"].items():
        if counts:
            listed = ", ".join(f"{s} ({n})" for s, n in counts.items())
            out.append(f"Failures per {factor}: {listed}.")
    out.append("")
    usable = [c for c in contrasts if "skipped" not in c.report["failures"]]
    if usable:
        out += ["The same task with other settings: failed runs, the lowest best score, "
                "the spread of best scores and the expected best of 1 and 10 trials:", "",
                *markdown_table(["sweep", "optimizer", "lr", "trials", "failed", "rate",
                                 "lowest best", "sd of best", "EVP n=1", "EVP n=10"],
                        [_failure_row(source, report, spec),
                         *(_failure_row(c.source, c.report, c.spec) for c in usable)]), ""]
        sd = report["variance"]["overall"]
        for c in usable:
            other = c.report["failures"]
            c_sd = c.report["variance"]["overall"]
            out += [f"`{c.source}`: {other['n_failed']} of {other['n_trials']} runs failed; "
                    f"its best scores spread {c_sd / sd:.1f} times as widely (sd {c_sd:.3f} "
                    f"against {sd:.3f}) and its lowest best score is "
                    f"{_f(other.get('lowest_score'))} against {_f(fails.get('lowest_score'))}.",
                    ""]
    out += ["The paper found failed runs on its small tasks (MRPC, RTE, CoLA) with BERT's "
            "Adam; later work (Mosbach et al. 2021) traced most of them to the missing bias "
            "correction and showed that AdamW with bias correction fails far less often.", ""]
    return out


def _cut(milestones: pd.Series, n_evals: int) -> str:
    """Where a scheduler cut: one milestone, or the mean of those planned per repeat."""
    if milestones.empty:
        return ""
    m = milestones.mean()
    shown = f"{int(m)}" if milestones.nunique() == 1 else f"{m:.1f} (mean)"
    return f"{shown} = {m / n_evals:.0%}"


def _comparison_section(cmp: Comparison, task: str) -> list[str]:
    meta, summary = cmp.meta, cmp.summary
    T = meta["n_evals"]
    paired = paired_vs_fifo(cmp.runs)
    rows = []
    for _, r in summary.iterrows():
        name = r["scheduler"]
        cut = _cut(cmp.runs.loc[cmp.runs["scheduler"] == name, "milestone"].dropna(), T)
        p = paired.loc[name]
        rows.append([name, f"{r['started']:.1f}".rstrip("0").rstrip("."), cut,
                     f"{r['compute_mean']:.2f}", f"{r['best_mean']:.4f} ± {r['best_sd']:.4f}",
                     "" if name == "fifo" else f"{p['diff']:+.4f} ± {p['se']:.4f}",
                     "" if name == "fifo" else
                     f"{int(p['wins'])}/{int(p['ties'])}/{int(p['losses'])}"])
    out = [f"### Budget {meta['budget']:g} full runs, {meta['repeats']} repeats", "",
           f"Each repeat holds out a random {meta['pilot_share']:.0%} of the "
           f"{meta['n_curves']} curves as the adaptive planner's pilot and replays every "
           "scheduler through Ray Tune on the same remaining pool in the same arrival order. "
           "Compute is in full runs; the best score counts stopped trials; the difference "
           "to FIFO is paired within a repeat (± its standard error), with wins/ties/losses. "
           "FIFO and both early-discarding variants do not depend on timing, by design; "
           "ASHA, HyperBand and median stopping decide as results arrive, so a rerun of "
           "the command may move their numbers slightly.",
           "",
           *markdown_table(["scheduler", "started", "cut after", "compute",
                            "best found (mean ± sd)", "vs FIFO", "W/T/L"], rows), ""]
    sentences = []
    for name, label in (("early_discard", "Early discarding with the paper's rule of thumb"),
                        ("adaptive", "Early discarding planned on the pilot")):
        if name in paired.index:
            d, se = paired.loc[name, "diff"], paired.loc[name, "se"]
            verdict = ("within two standard errors of FIFO" if _within(d, se)
                       else ("better than FIFO" if d > 0 else "worse than FIFO"))
            sentences.append(f"{label} is {verdict} ({d:+.4f} ± {se:.4f}).")
    others = (("asha", "ASHA"), ("hyperband", "HyperBand"), ("median", "Median stopping"))
    for name, label in others:
        if name in paired.index:
            row = summary.set_index("scheduler").loc[name]
            d, se = paired.loc[name, "diff"], paired.loc[name, "se"]
            sentences.append(
                f"{label} has no budget parameter: with as many trials as early discarding "
                f"it used {row['compute_mean']:.2f} full runs (budget {meta['budget']:g}) and "
                f"found {d:+.4f} ± {se:.4f} against FIFO.")
    return [*out, " ".join(sentences), ""]


def _cut_lines(cuts: list[dict[str, Any]]) -> list[str]:
    """Why a cut works or not: does the ranking at the cut predict the final one?"""
    if not cuts:
        return []
    rows = [[f"{c['milestone']} ({c['share']:.0%})", c["spearman"]] for c in cuts]
    rule = [c for c in cuts if c["share"] >= 0.25]
    strong = [c for c in cuts if c["spearman"] is not None and c["spearman"] >= 0.5]
    out = ["Early discarding can only help when the ranking at the cut predicts the final "
           "ranking. Spearman correlation, over the recorded trials, of the best score so "
           "far at the cut with the best score of the whole run:", "",
           *markdown_table(["cut after", "rank correlation"], rows), ""]
    words = []
    if rule:
        words.append(f"At {rule[0]['share']:.0%} of training, near the paper's cut, it is "
                     f"{_f(rule[0]['spearman'], 2)}")
    if strong:
        words.append(f"it first reaches 0.5 at {strong[0]['share']:.0%}")
    if words:
        out += ["; ".join(words) + ".", ""]
    return out


def _planner_section(
    planner: list[dict[str, Any]], cuts: list[dict[str, Any]], task: str
) -> list[str]:
    paper = PAPER["early_discard_b10"].get(task)
    def rule(r: dict[str, Any]) -> str:
        q = r["rule_of_thumb"]
        if q is None:
            return "n/a"
        return f"{q['started']}/{q['kept']}/{q['cut_after']}: {q['expected_best']:.4f}"

    rows = [[f"{r['budget']:g}", r["started"], r["kept"],
             f"{r['cut_after']} ({r['cut_share']:.0%})", r["no_early_stopping"],
             f"{r['expected_best']:.4f} ± {r['se']:.4f}", f"{r['gain']:+.4f}", rule(r)]
            for r in planner]
    out = ["### The planner's recommended plans", "",
           "For each budget, the plan (start t, train p fully, stop the rest after e "
           "evaluations) with the highest expected best score, estimated as the paper's "
           "analysis does: t trials drawn with replacement from the recorded ones, only "
           "plans that spend the budget exactly, ranked by the best score over the first e "
           "evaluations after training starts (the step-0 evaluation left out). 'Without' is "
           "the expected best of `budget` full runs. The rule of thumb is the paper's advice "
           "(cut at 25%, train half the budget fully, start what the rest buys) as "
           "started/kept/cut after.", "",
           *markdown_table(["budget", "started", "trained fully", "stopped after",
                            "EVP without", "EVP with plan", "gain", "rule of thumb"], rows, 4),
           ""]
    for r in planner:
        q = r["rule_of_thumb"]
        if q is not None:
            diff = q["expected_best"] - r["no_early_stopping"]
            out.append(f"At budget {r['budget']:g} the rule of thumb is estimated at "
                       f"{q['expected_best']:.4f}, {diff:+.4f} against training "
                       f"{int(r['budget'])} trials fully.")
    out.append("")
    if paper:
        t, p, f, without, with_ = paper
        out += [f"The paper's optimum at budget 10 on {TASK_LABELS[task]}: start {t}, train "
                f"{p} fully, stop the rest after {f:.0%}: {without:.3f} -> {with_:.3f} "
                f"({with_ - without:+.3f}).", ""]
    out += _cut_lines(cuts)
    return out


def _differences_section(report: dict[str, Any], task: str, spec: dict | None) -> list[str]:
    """Why our numbers differ from the paper's: the settings, each with its effect."""
    train = (spec or {}).get("train", {})
    out = ["## Why the numbers differ from the paper's", ""]
    items = []
    if train.get("model", "default") == "default":
        items.append(
            "**Model.** MiniLM-L6 has 15 times fewer parameters than BERT-large and was "
            "trained further on sentence pairs before we fine-tune it; it is the only "
            "BERT-family checkpoint installable offline here. Its scores are lower across "
            "the board, so compare shapes (how the expected best grows, which seed "
            "matters, where a cut predicts the end), not levels.")
    n_train, n_dev = train.get("train_examples"), train.get("dev_examples")
    evp = {int(r["n"]): r["mean"] for r in report["expected_best"]}
    if n_train:
        steps = n_train // train.get("batch_size", 16) * train.get("epochs", 3)
        text = (f"**Data size.** {n_train} training examples instead of "
                f"{PAPER['train_examples'].get(task, 'all')}: {steps} optimizer steps in all, "
                "so each seed's draw of head and order weighs far more than over the full "
                "training set.")
        if 10 in evp and task in PAPER["evp"]:
            ours, paper, mrpc = evp[10] - evp[1], PAPER["evp"][task], PAPER["evp"]["mrpc"]
            text += (f" The expected best of 10 trials gains {ours:+.3f} over one trial here "
                     f"against {paper[10] - paper[1]:+.3f} on the paper's "
                     f"{TASK_LABELS[task]} and {mrpc[10] - mrpc[1]:+.3f} on its MRPC.")
        items.append(text)
    if n_dev:
        top = report["best_seeds"]["trials"]
        tied = sum(t["best_score"] == top[0]["best_score"] for t in top) if top else 0
        items.append(
            f"**Dev set.** {n_dev} examples instead of {PAPER['dev_examples'].get(task)}: "
            f"scores move in steps of 1/{n_dev} = {1 / n_dev:.4f}, so trials tie often"
            + (f" (at least {tied} seed pairs share the best score)." if tied > 1 else "."))
    if train.get("optimizer", "adamw") == "adamw":
        items.append(
            "**Optimizer and learning rate.** AdamW with bias correction at "
            f"{train.get('lr', 0):g} instead of BERT's Adam without it at 2e-5: the small "
            "model learns too little at 2e-5 in so few steps, and later work attributes most "
            "of the paper's failed runs to the missing bias correction (see (c)).")
    meta = report["meta"]
    items.append(
        f"**Grid.** {meta['n_wi_seeds']} x {meta['n_do_seeds']} seeds instead of "
        f"{PAPER['grid'].get(task, 25)} x {PAPER['grid'].get(task, 25)}: the planner and "
        "the replayed schedulers draw from fewer recorded trials, which caps how many "
        "trials a plan can start and makes large plans overlap (see (d)). One task only, "
        "so the paper's observation that some WI seeds are good on every task is not "
        "tested here.")
    return [*out, *(f"- {item}" for item in items), ""]


def _summary(
    report: dict[str, Any], task: str, comparisons: list[Comparison], contrasts: list[Contrast]
) -> list[str]:
    """One line per finding, each number taken from the sections below."""
    evp = {int(r["n"]): r["mean"] for r in report["expected_best"]}
    paper = PAPER["evp"].get(task, {})
    lines = []
    if 1 in evp and 10 in evp:
        lines.append(
            f"(a) The expected best score grows from {evp[1]:.3f} with one trial to "
            f"{evp[10]:.3f} with ten" + (f" (paper, {TASK_LABELS[task]}: {paper[1]:.3f} to "
                                          f"{paper[10]:.3f})" if paper else "") + ".")
    anova = report["anova"]
    if "skipped" not in anova:
        wi, do = anova["wi_seed"], anova["do_seed"]
        lines.append(f"(b) WI explains {wi['share']:.0%} of the variance of the best score "
                     f"(p = {wi['p_value']:.1g}) and DO {do['share']:.0%} "
                     f"(p = {do['p_value']:.1g}).")
    fails = report["failures"]
    if "skipped" not in fails:
        text = f"(c) {fails['n_failed']} of {fails['n_trials']} runs failed"
        for c in contrasts:
            o = c.report["failures"]
            if "skipped" not in o:
                name = (c.spec or {}).get("train", {}).get("optimizer")
                optimizer = OPTIMIZER_LABELS.get(name, f"`{c.source}`")
                ratio = c.report["variance"]["overall"] / report["variance"]["overall"]
                text += (f"; with {optimizer}, {o['n_failed']} of {o['n_trials']}, its best "
                         f"scores spread {ratio:.1f} times as widely")
        lines.append(text + ".")
    for cmp in comparisons:
        paired = paired_vs_fifo(cmp.runs)
        parts = [f"{label} {paired.loc[name, 'diff']:+.4f} ± {paired.loc[name, 'se']:.4f}"
                 for name, label in (("early_discard", "the paper's rule of thumb"),
                                     ("adaptive", "the planned cut"), ("asha", "ASHA"))
                 if name in paired.index]
        if parts:
            lines.append(f"(d) At a budget of {cmp.meta['budget']:g} full runs, best score "
                         f"found against FIFO: {', '.join(parts)}.")
    rule = [c for c in report.get("cut_correlation", []) if c["share"] >= 0.25]
    if rule and rule[0]["spearman"] is not None:
        lines.append(f"(d) The ranking at {rule[0]['share']:.0%} of training has a rank "
                     f"correlation of {rule[0]['spearman']:.2f} with the final ranking.")
    return ["## In short", "", *(f"- {line}" for line in lines), ""] if lines else []


def findings_markdown(
    report: dict[str, Any],
    *,
    comparisons: list[Comparison] = (),
    contrasts: list[Contrast] = (),
    spec: dict[str, Any] | None = None,
    source: str = "",
    commands: list[str] = (),
) -> str:
    """The findings page for one sweep.

    Args:
        report: :func:`~tune_seeds.analysis.report.sweep_report`'s dict, with a
            ``planner`` entry from :func:`~tune_seeds.analysis.report.planner_report`
            when plans were computed.
        comparisons: scheduler comparisons on the same curves (:func:`load_comparison`).
        contrasts: other sweeps of the same task whose failed runs are set beside
            this one's.
        spec: the sweep's ``sweep.json`` (its training settings fill the setup table).
        source: where the results tables are (shown on the page).
        commands: the commands that regenerate the page (shown on the page).
    """
    meta = report["meta"]
    if meta["synthetic"]:
        raise ValueError("refusing to write findings from synthetic curves")
    if len(meta["tasks"]) != 1:
        raise ValueError(f"findings need a sweep of one task, got {meta['tasks'] or 'none'}")
    task = meta["tasks"][0]
    out = [f"# Findings on {TASK_LABELS.get(task, task)}: the study's four results with "
           "tune-seeds", "",
           "Generated by `experiments/analyze.py --findings`; do not edit by hand. "
           f"Data: {meta['n_scored']} real fine-tuning trials"
           + (f" in `{source}` (command, versions, machine and wall time in its README)"
              if source else "") + ".", ""]
    if commands:
        out += ["Regenerate with:", "", "```", *commands, "```", ""]
    out += _summary(report, task, list(comparisons), list(contrasts))
    out += _setup_section(task, meta, spec)
    out += _evp_section(report, task)
    out += _variance_section(report)
    for c in contrasts:
        if c.report["meta"]["tasks"] != [task] or c.report["meta"]["synthetic"]:
            raise ValueError(f"{c.source}: a contrast must be a real sweep of {task} too")
    out += _failure_section(report, task, spec, source, list(contrasts))
    out += ["## (d) Early discarding against FIFO and ASHA at equal budgets", ""]
    if not comparisons and not report.get("planner"):
        out += ["No comparison was given (`--compare`, `--plan`).", ""]
    for cmp in comparisons:
        out += _comparison_section(cmp, task)
    if report.get("planner"):
        out += _planner_section(report["planner"], report.get("cut_correlation", []), task)
    out += _differences_section(report, task, spec)
    return "\n".join(out).rstrip() + "\n"
