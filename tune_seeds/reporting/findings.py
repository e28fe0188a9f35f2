"""The study's four findings for recorded sweeps, as numbers and verdicts beside the paper's.

Dodge et al. (2020) report four things about fine-tuning seeds: (a) how the expected
best score grows with the number of trials, (b) how weight initialization (WI) and
data order (DO) compare, (c) how many runs fail, and (d) how much early discarding
saves; and they observe that some WI seeds are good on every task.

This module only computes: :func:`task_findings` turns one sweep's analyses
(:func:`~tune_seeds.reporting.report.sweep_report`, the planner, scheduler
comparisons from ``experiments/compare_schedulers.py``) into a plain dict of numbers
and verdicts; :func:`findings` gathers several tasks and the cross-task comparison of
WI seeds. The page's sentences live in ``templates/findings.md.j2`` and the paper's
numbers, with their source, in ``paper.json``; :func:`render` joins them.
``experiments/findings.py`` is the command-line entry point.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from tune_seeds.analysis.compare import SweepData, compare_sweeps
from tune_seeds.analysis.consistency import Consistency, pair_consistency, seed_consistency
from tune_seeds.analysis.variance import two_way_anova
from tune_seeds.replay.compare import paired_vs_fifo
from tune_seeds.schedulers.kinds import BASELINE

TASK_LABELS = {"mrpc": "MRPC", "rte": "RTE", "cola": "CoLA", "sst2": "SST-2"}
OPTIMIZER_LABELS = {"adamw": "AdamW", "bert-adam": "BERT's Adam"}
SIGNIFICANCE = 0.05
MATCH_BUDGET = 10
"""The budget (full runs) at which the compute to match FIFO is reported, as the paper did."""
HOLDS_GAIN = 0.01
"""(a) holds when ten trials' expected best beats one trial's by at least this (a point)."""
HOLDS_SHARE = 0.6
"""(d) holds when planned early discarding matches FIFO with at most this share of its
compute (the paper: about half)."""
PAIRED_RESAMPLES = 2000
"""Multi-Bootstrap resamples of the difference between two sweeps of the same seeds."""


@cache
def paper() -> dict[str, Any]:
    """The paper's numbers (``paper.json``, with its ``source``)."""
    return json.loads(resources.files("tune_seeds.reporting").joinpath("paper.json").read_text())


@dataclass(frozen=True)
class Comparison:
    """One ``experiments/compare_schedulers.py`` output folder.

    Attributes:
        path: the folder.
        meta: its ``meta.json`` (budget, repeats, schedulers, pilot share, seed, curves).
        summary: its ``summary.csv`` (one row per scheduler).
        runs: its ``runs.csv`` (one row per repeat per scheduler).
    """

    path: str
    meta: dict[str, Any]
    summary: pd.DataFrame
    runs: pd.DataFrame


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
        str(directory),
        json.loads((directory / "meta.json").read_text()),
        pd.read_csv(directory / "summary.csv"),
        pd.read_csv(directory / "runs.csv"),
    )


@dataclass(frozen=True)
class Sweep:
    """One recorded sweep and what was computed on it.

    Attributes:
        source: where its tables are (shown on the page).
        report: its :func:`~tune_seeds.reporting.report.sweep_report`, with ``planner``
            and ``cut_correlation`` entries when plans were computed.
        trials: its trials table.
        curves: its curves table.
        spec: its ``sweep.json`` (None when not saved beside its tables).
    """

    source: str
    report: dict[str, Any]
    trials: pd.DataFrame
    curves: pd.DataFrame
    spec: dict[str, Any] | None

    @property
    def task(self) -> str:
        tasks = self.report["meta"]["tasks"]
        if self.report["meta"]["synthetic"]:
            raise ValueError(f"{self.source}: refusing to write findings from synthetic curves")
        if len(tasks) != 1:
            raise ValueError(f"{self.source}: findings need a sweep of one task, got "
                             f"{tasks or 'none'}")
        return tasks[0]

    @property
    def train_examples(self) -> int | None:
        """Training examples used (None: the whole training set, or not recorded)."""
        return (self.spec or {}).get("train", {}).get("train_examples")

    @property
    def dev_examples(self) -> int | None:
        """Dev examples scored (None: the whole dev set, or not recorded)."""
        return (self.spec or {}).get("train", {}).get("dev_examples")

    def size(self) -> int | None:
        """Training examples, the whole set counted as the paper's (GLUE's) size."""
        return self.train_examples or paper()["train_examples"].get(self.task)


def labels(sweeps: list[Sweep]) -> list[str]:
    """Each sweep's name on the page: its task, with its training-set size when another
    sweep of the same task sits beside it."""
    tasks = [s.task for s in sweeps]
    out = []
    for s in sweeps:
        label = TASK_LABELS.get(s.task, s.task)
        if tasks.count(s.task) > 1:
            size = s.size()
            label += f" ({size:,} examples)" if size else f" (`{s.source}`)"
        out.append(label)
    if len(set(out)) != len(out):
        raise ValueError(f"two sweeps of one task with the same training set: {out}")
    return out


def _within(diff: float, se: float) -> bool:
    return not math.isfinite(se) or abs(diff) <= 2 * se


def _verdict(diff: float, se: float) -> str:
    """``tie`` within two standard errors, else ``better`` or ``worse``."""
    return "tie" if _within(diff, se) else ("better" if diff > 0 else "worse")


def _setup(sweep: Sweep, task: str) -> dict[str, Any]:
    meta = sweep.report["meta"]
    train = (sweep.spec or {}).get("train", {})
    p = paper()
    return {
        "known": sweep.spec is not None,
        "default_model": train.get("model", "default") == "default",
        "model": train.get("model", "default"),
        "optimizer": train.get("optimizer", "adamw"),
        "lr": train.get("lr"),
        "precision": train.get("precision", "fp32"),
        "train_examples": train.get("train_examples"),
        "dev_examples": train.get("dev_examples"),
        "batch_size": train.get("batch_size", 16),
        "epochs": train.get("epochs"),
        "evals_per_epoch": train.get("evals_per_epoch"),
        "dropout_seed": train.get("dropout_seed", "do"),
        "n_wi": meta["n_wi_seeds"], "n_do": meta["n_do_seeds"], "n_trials": meta["n_trials"],
        "paper_grid": p["grid"].get(task),
        "paper_train_examples": p["train_examples"].get(task),
        "paper_dev_examples": p["dev_examples"].get(task),
    }


def _evp(report: dict[str, Any], task: str) -> dict[str, Any]:
    evp = {int(r["n"]): r for r in report["expected_best"]}
    ours_paper = paper()["evp"].get(task, {})
    rows = [{"n": n, "mean": evp[n]["mean"], "sd": evp[n]["sd"],
             "paper": ours_paper.get(str(n))}
            for n in (1, 5, 10, 20, 30, 50, 100) if n in evp]
    top = report["best_seeds"]["trials"]
    gain = evp[10]["mean"] - evp[1]["mean"] if 10 in evp and 1 in evp else None
    paper_gain = (ours_paper["10"] - ours_paper["1"]) if ours_paper else None
    return {"rows": rows, "gain_1_to_10": gain, "paper_gain_1_to_10": paper_gain,
            "best": top[0]["best_score"] if top else None,
            "paper_best": paper()["best"].get(task), "n_scored": report["meta"]["n_scored"]}


def _variance(report: dict[str, Any], task: str) -> dict[str, Any]:
    v = report["variance"]
    out: dict[str, Any] = {"sd": v, "paper_sd": paper()["sd"].get(task),
                           "paper_sd_task": task if task in paper()["sd"] else "mrpc"}
    out["paper_sd"] = out["paper_sd"] or paper()["sd"]["mrpc"]
    ps = out["paper_sd"]
    out["kept_share"] = {"wi": v["wi_varying_do_fixed"] / v["overall"],
                         "do": v["do_varying_wi_fixed"] / v["overall"]}
    out["paper_kept_share"] = {"wi": ps["wi_varying_do_fixed"] / ps["overall"],
                               "do": ps["do_varying_wi_fixed"] / ps["overall"]}
    out["more_spread_per_seed_here"] = (max(out["kept_share"].values())
                                        < min(out["paper_kept_share"].values()))
    anova = report["anova"]
    out["anova"] = None if "skipped" in anova else {
        "wi": anova["wi_seed"], "do": anova["do_seed"], "residual": anova["residual"],
        "significant": [name for name, key in (("WI", "wi_seed"), ("DO", "do_seed"))
                        if anova[key]["p_value"] < SIGNIFICANCE],
        "larger": "WI" if anova["wi_seed"]["share"] > anova["do_seed"]["share"] else "DO",
    }
    rows = [r for r in report["best_vs_worst"].values() if "skipped" not in r]
    # A seed with a single trial (a grid still running) has no p-value.
    out["best_vs_worst"] = [{**r, "p": "n/a" if r["p_value"] is None else f"{r['p_value']:.2g}"}
                            for r in rows]
    out["best_vs_worst_significant"] = [r["factor"] for r in rows if r["p_value"] is not None
                                        and r["p_value"] < SIGNIFICANCE]
    return out


def _failures(sweep: Sweep, task: str, contrasts: list[Sweep]) -> dict[str, Any]:
    def row(s: Sweep) -> dict[str, Any]:
        fails = s.report["failures"]
        train = (s.spec or {}).get("train", {})
        evp = {int(r["n"]): r["mean"] for r in s.report["expected_best"]}
        lr = train.get("lr")
        return {"source": s.source, "optimizer": train.get("optimizer"),
                "lr": None if lr is None else f"{lr:g}",
                **{k: fails.get(k) for k in ("n_trials", "n_failed", "rate", "lowest_score")},
                "sd": s.report["variance"]["overall"], "evp1": evp.get(1), "evp10": evp.get(10)}

    fails = sweep.report["failures"]
    if "skipped" in fails:
        return {"skipped": fails["skipped"]}
    for c in contrasts:
        if c.task != task:
            raise ValueError(f"{c.source}: a contrast must be a real sweep of {task} too")
    usable = [c for c in contrasts if "skipped" not in c.report["failures"]]
    sd = sweep.report["variance"]["overall"]
    return {
        **fails,
        "paper_threshold": paper()["failed_threshold"].get(task),
        "rows": [row(sweep), *(row(c) for c in usable)],
        "contrasts": [{**row(c), "optimizer_label": OPTIMIZER_LABELS.get(
            (c.spec or {}).get("train", {}).get("optimizer"), f"`{c.source}`"),
            "spread_ratio": c.report["variance"]["overall"] / sd} for c in usable],
    }


def _comparison(cmp: Comparison) -> dict[str, Any]:
    T = cmp.meta["n_evals"]
    paired = paired_vs_fifo(cmp.runs)
    rows = []
    for _, r in cmp.summary.iterrows():
        name = r["scheduler"]
        cuts = cmp.runs.loc[cmp.runs["scheduler"] == name, "milestone"].dropna()
        p = paired.loc[name]
        rows.append({
            "scheduler": name, "started": float(r["started"]),
            "cut": None if cuts.empty else float(cuts.mean()),
            "cut_varies": cuts.nunique() > 1, "cut_share": None if cuts.empty
            else float(cuts.mean()) / T, "compute": float(r["compute_mean"]),
            "best_mean": float(r["best_mean"]), "best_sd": float(r["best_sd"]),
            "diff": float(p["diff"]), "se": float(p["se"]), "verdict": _verdict(p["diff"], p["se"]),
            "wins": int(p["wins"]), "ties": int(p["ties"]), "losses": int(p["losses"]),
        })
    return {"meta": cmp.meta, "path": cmp.path, "rows": rows,
            "by_name": {r["scheduler"]: r for r in rows}}


def _cuts(cuts: list[dict[str, Any]]) -> dict[str, Any]:
    """Every cut's rank correlation and best plan (:func:`~tune_seeds.analysis.cut_table`)."""
    near_rule = next((c for c in cuts if c["share"] >= 0.25), None)
    strong = next((c for c in cuts if _finite(c["spearman"]) and c["spearman"] >= 0.5), None)
    # A cut pays when its best plan beats FIFO by more than its Monte-Carlo error.
    paying = [c for c in cuts if _finite(c.get("gain")) and c["gain"] > 2 * c["se"]]
    best = max(paying, key=lambda c: c["gain"]) if paying else None
    return {"rows": cuts, "near_rule": near_rule, "first_strong": strong, "paying": paying,
            "best": best}


def _finite(value: Any) -> bool:
    return value is not None and isinstance(value, float | int) and math.isfinite(value)


def _holds(t: dict[str, Any]) -> list[dict[str, Any]]:
    """Each of the paper's four findings, whether it holds on this sweep, and the number
    that says so (the thresholds are :data:`HOLDS_GAIN` and :data:`HOLDS_SHARE`)."""
    out = []
    gain = t["evp"]["gain_1_to_10"]
    if gain is not None:
        out.append({"finding": "a", "holds": "yes" if gain >= HOLDS_GAIN else "no",
                    "value": gain, "paper": t["evp"]["paper_gain_1_to_10"]})
    anova = t["variance"]["anova"]
    if anova:
        both = len(anova["significant"]) == 2
        out.append({"finding": "b", "holds": "yes" if both else
                    ("partly" if anova["significant"] else "no"),
                    "value": (anova["wi"]["share"], anova["do"]["share"]),
                    "significant": anova["significant"]})
    fails = t["failures"]
    if "skipped" not in fails:
        out.append({"finding": "c", "holds": "yes" if fails["n_failed"] else "no",
                    "value": (fails["n_failed"], fails["n_trials"])})
    match = t["match"]
    if match:
        share = match["share"]
        out.append({"finding": "d", "value": share, "plan_budget": match["plan_budget"],
                    "holds": "yes" if share <= HOLDS_SHARE else
                    ("partly" if share < 1 else "no")})
    return out


def task_findings(
    sweep: Sweep, comparisons: list[Comparison] = (), contrasts: list[Sweep] = (),
    label: str | None = None,
) -> dict[str, Any]:
    """Every number and verdict of one sweep's findings (no sentences)."""
    task = sweep.task
    report = sweep.report
    b10 = paper()["early_discard_b10"].get(task)
    out = {
        "task": task, "label": label or TASK_LABELS.get(task, task), "source": sweep.source,
        "setup": _setup(sweep, task),
        "evp": _evp(report, task),
        "variance": _variance(report, task),
        "failures": _failures(sweep, task, list(contrasts)),
        "comparisons": [_comparison(c) for c in comparisons],
        "planner": report.get("planner") or [],
        "paper_b10": b10,
        "cuts": _cuts(report.get("cuts") or []),
        "match": report.get("match"),
        "best_trials": report["best_seeds"]["trials"],
    }
    out["holds"] = _holds(out)
    return out


def cross_task(sweeps: list[Sweep], names: list[str]) -> list[dict[str, Any]]:
    """Per pair of sweeps of different tasks: do the WI seeds that are good on one do
    well on the other?"""
    out = []
    for i, a in enumerate(sweeps):
        for j in range(i + 1, len(sweeps)):
            b = sweeps[j]
            if a.task == b.task:
                continue
            c = seed_consistency(a.trials, b.trials, "wi_seed")
            table = c.table.sort_values("rank_a")
            out.append({
                "a": names[i], "b": names[j],
                "rho": c.rho, "p_value": c.p_value, "n_seeds": c.n_seeds,
                "significant": bool(math.isfinite(c.p_value) and c.p_value < SIGNIFICANCE),
                "rows": [{"wi_seed": int(s), **{k: float(v) for k, v in r.items()}}
                         for s, r in table.iterrows()],
                "top_both": [int(s) for s, r in table.iterrows()
                             if r["rank_a"] <= 3 and r["rank_b"] <= 3],
            })
    return out


def _on_pairs(trials: pd.DataFrame, pairs: pd.MultiIndex) -> pd.DataFrame:
    index = pd.MultiIndex.from_frame(trials[["wi_seed", "do_seed"]])
    return trials[index.isin(pairs)]


def _finished(trials: pd.DataFrame) -> pd.DataFrame:
    # A trial still running or paused has a partial best score (as SweepData reads it).
    return trials[trials["status"] == "TERMINATED"] if "status" in trials else trials


def _consistency(c: Consistency) -> dict[str, Any]:
    return {"rho": c.rho, "p_value": c.p_value, "n": c.n_seeds,
            "significant": bool(math.isfinite(c.p_value) and c.p_value < SIGNIFICANCE)}


def same_seeds(a: Sweep, b: Sweep, name_a: str, name_b: str) -> dict[str, Any]:
    """Two sweeps of one task that ran the same (WI, DO) pairs on different training
    sets (``a`` the smaller): how the scores move, whether the ranking of the pairs and
    of each seed holds, and whether each seed's share of the variance holds, on the
    pairs both ran."""
    pairs = pair_consistency(_finished(a.trials), _finished(b.trials))
    if pairs.n_seeds == 0:
        raise ValueError(f"{a.source} and {b.source} share no finished seed pair")
    shared = pairs.table.index
    ta, tb = (_on_pairs(_finished(s.trials), shared) for s in (a, b))
    diff = compare_sweeps(
        *(SweepData.from_tables(s.trials, s.curves, task=s.task, name=s.source)
          for s in (a, b)),
        n_resamples=PAIRED_RESAMPLES, shared_pairs=True, power=False)
    higher = pairs.table["mean_b"] > pairs.table["mean_a"]
    shares = []
    for name, trials in ((name_a, ta), (name_b, tb)):
        try:
            anova = two_way_anova(trials)
        except ValueError:
            continue
        shares.append({"sweep": name, **{
            key: fmt(anova.loc[f"{f}_seed", column]) for f in ("wi", "do")
            for key, column, fmt in ((f"share_{f}", "share", float),
                                     (f"p_{f}", "p_value", "{:.2g}".format))}})
    return {
        "a": name_a, "b": name_b, "source_a": a.source, "source_b": b.source,
        "n_pairs": pairs.n_seeds, "complete": len(ta) == len(a.trials) == len(b.trials),
        "mean_a": diff.mean_a, "mean_b": diff.mean_b, "delta": diff.delta,
        "ci_low": diff.ci_low, "ci_high": diff.ci_high, "p_value": diff.p_value,
        # No resample crossing zero bounds the two-sided p by its resolution, 2 / R.
        "p_text": f"< {2 / diff.n_resamples:.2g}" if diff.p_value == 0
        else f"= {diff.p_value:.2g}",
        "n_higher": int(higher.sum()),
        "pairs": _consistency(pairs),
        "wi": _consistency(seed_consistency(ta, tb, "wi_seed")),
        "do": _consistency(seed_consistency(ta, tb, "do_seed")),
        "shares": shares,
    }


def _contrast_owner(c: Sweep, sweeps: list[Sweep]) -> int:
    """The main sweep a contrast sits beside: the one of its task, and among several,
    the one with its training and dev sets."""
    same = [i for i, s in enumerate(sweeps) if s.task == c.task]
    if len(same) > 1:
        same = [i for i in same if (sweeps[i].train_examples, sweeps[i].dev_examples)
                == (c.train_examples, c.dev_examples)]
    if len(same) != 1:
        raise ValueError(f"{c.source}: a contrast needs exactly one main sweep of its task "
                         f"and training set, found {len(same)}")
    return same[0]


def findings(
    sweeps: list[Sweep], *, comparisons: list[Comparison] = (), contrasts: list[Sweep] = (),
    commands: list[str] = (), cut_figure: str | None = None,
) -> dict[str, Any]:
    """The whole page's numbers: one entry per sweep, the cross-task WI comparison, and
    for two sweeps of one task, what the same seeds did on both.

    Comparisons and contrasts go to the sweep whose curves they were made from (a
    comparison's ``meta.json`` names its curves; a contrast is a sweep of a task with
    the same training set as one main sweep).
    """
    names = labels(sweeps)
    by_source = {s.source: s for s in sweeps}
    for c in comparisons:
        if str(c.meta.get("curves")) not in by_source:
            raise ValueError(f"{c.path} compares curves of {c.meta.get('curves')}, which is "
                             f"not one of the sweeps ({', '.join(by_source)})")
    owners = [_contrast_owner(c, sweeps) for c in contrasts]
    per_sweep = [
        task_findings(s, [c for c in comparisons if c.meta["curves"] == s.source],
                      [c for c, o in zip(contrasts, owners, strict=True) if o == i], names[i])
        for i, s in enumerate(sweeps)
    ]
    paired = []
    for i, a in enumerate(sweeps):
        for j in range(i + 1, len(sweeps)):
            if sweeps[j].task != a.task:
                continue
            lo, hi = sorted((i, j), key=lambda k: sweeps[k].size() or 0)
            paired.append(same_seeds(sweeps[lo], sweeps[hi], names[lo], names[hi]))
    return {"tasks": per_sweep, "cross_task": cross_task(sweeps, names), "same_seeds": paired,
            "commands": list(commands), "paper": paper(), "cut_figure": cut_figure}


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(rows: list[dict[str, Any]] | pd.DataFrame, digits: int = 3) -> str:
    """A markdown table (pandas ``to_markdown``); floats with ``digits`` decimals, None as n/a."""
    frame = pd.DataFrame(rows)
    frame = frame.map(lambda v: _num(v, digits)) if len(frame) else frame
    return frame.to_markdown(index=False, disable_numparse=True)


def _columns(rows: list[dict[str, Any]], names: dict[str, str]) -> list[dict[str, Any]]:
    """Rows renamed for a table: ``names`` maps each header to a row key, in order."""
    return [{header: row.get(key) for header, key in names.items()} for row in rows]


def _comparison_row(r: dict[str, Any]) -> dict[str, Any]:
    cut = "" if r["cut"] is None else (
        f"{r['cut']:.1f} (mean)" if r["cut_varies"] else f"{int(r['cut'])}"
    ) + f" = {r['cut_share']:.0%}"
    fifo = r["scheduler"] == BASELINE
    return {"scheduler": r["scheduler"], "started": f"{r['started']:g}", "cut after": cut,
            "compute": f"{r['compute']:.2f}",
            "best found (mean ± sd)": f"{r['best_mean']:.4f} ± {r['best_sd']:.4f}",
            "vs FIFO": "" if fifo else f"{r['diff']:+.4f} ± {r['se']:.4f}",
            "W/T/L": "" if fifo else f"{r['wins']}/{r['ties']}/{r['losses']}"}


def _planner_row(r: dict[str, Any]) -> dict[str, Any]:
    q = r["rule_of_thumb"]
    return {"budget": f"{r['budget']:g}", "started": r["started"], "trained fully": r["kept"],
            "stopped after": f"{r['cut_after']} ({r['cut_share']:.0%})",
            "EVP without": r["no_early_stopping"],
            "EVP with plan": f"{r['expected_best']:.4f} ± {r['se']:.4f}",
            "gain": f"{r['gain']:+.4f}",
            "rule of thumb": "n/a" if q is None else
            f"{q['started']}/{q['kept']}/{q['cut_after']}: {q['expected_best']:.4f}"}


def _cut_row(c: dict[str, Any]) -> dict[str, Any]:
    planned = _finite(c.get("expected_best"))
    return {"cut after": f"{c['cut_after']} ({c['share']:.0%})",
            "rank correlation": c["spearman"],
            "best plan (started/kept)": f"{c['started']}/{c['kept']}" if planned else "n/a",
            "its expected best": f"{c['expected_best']:.4f}" if planned else "n/a",
            "against FIFO": f"{c['gain']:+.4f} ± {c['se']:.4f}" if planned else "n/a"}


def _holds_cell(h: dict[str, Any]) -> str:
    """One sweep's verdict on one finding (:func:`_holds`), with its number."""
    v = h["value"]
    if h["finding"] == "a":
        return f"{h['holds']}: {v:+.3f}"
    if h["finding"] == "b":
        which = ("both p < 0.05" if len(h["significant"]) == 2 else
                 f"only {h['significant'][0]} p < 0.05" if h["significant"] else
                 "neither p < 0.05")
        return f"{h['holds']}: WI {v[0]:.0%}, DO {v[1]:.0%} ({which})"
    if h["finding"] == "c":
        return f"{h['holds']}: {v[0]} of {v[1]} failed"
    return f"{h['holds']}: {h['plan_budget']:.2f} full runs ({v:.0%})"


def render(numbers: dict[str, Any]) -> str:
    """The findings page: ``templates/findings.md.j2`` filled with :func:`findings`' numbers."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tune_seeds.reporting", "templates"),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["num"] = _num
    env.filters["g"] = lambda v: "n/a" if v is None else f"{v:g}"
    env.filters["pct"] = lambda v: "n/a" if v is None else f"{v:.0%}"
    env.filters["signed"] = lambda v, d=4: "n/a" if v is None else f"{v:+.{d}f}"
    env.filters["table"] = markdown_table
    env.filters["columns"] = _columns
    env.filters["comparison_row"] = _comparison_row
    env.filters["planner_row"] = _planner_row
    env.filters["cut_row"] = _cut_row
    env.filters["holds_cell"] = _holds_cell
    env.globals.update(holds_gain=HOLDS_GAIN, holds_share=HOLDS_SHARE,
                       match_budget=MATCH_BUDGET)
    text = env.get_template("findings.md.j2").render(**numbers)
    # Paragraphs are one line in the source of the page; collapse the template's blank runs.
    lines, blank = [], False
    for line in text.splitlines():
        if line.strip():
            lines.append(line.rstrip())
            blank = False
        elif not blank:
            lines.append("")
            blank = True
    return "\n".join(lines).strip() + "\n"
