"""Figures of the analysis, drawn with matplotlib's Agg backend (no display needed).

Each function takes the tables the analysis returns, draws one figure and returns it;
:func:`save` writes a figure as PNG and closes it. Figures made from synthetic data
carry "(synthetic)" in their title. Inside a Jupyter kernel the notebook's own
(inline) backend is kept, so the figures show in the notebook.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def _title(text: str, synthetic: bool) -> str:
    return f"{text} (synthetic)" if synthetic else text


def evp_figure(evp: pd.DataFrame, label: str = "", synthetic: bool = False) -> Figure:
    """Expected best score against the number of trials, with the +-1 sd band."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(evp["n"], evp["mean"], label=label or "expected best")
    ax.fill_between(evp["n"], evp["lower"], evp["upper"], alpha=0.25)
    ax.set_xscale("log")
    ax.set_xlabel("trials (n)")
    ax.set_ylabel("expected best validation score")
    ax.set_title(_title("Expected validation performance", synthetic))
    if label:
        ax.legend()
    fig.tight_layout()
    return fig


def heatmap_figure(table: pd.DataFrame, synthetic: bool = False) -> Figure:
    """WI x DO grid of scores (rows WI seeds, columns DO seeds)."""
    fig, ax = plt.subplots(figsize=(6, 5))
    im = ax.imshow(table.to_numpy(dtype=float), cmap="viridis", aspect="auto")
    ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns], fontsize=7)
    ax.set_yticks(range(table.shape[0]), [str(i) for i in table.index], fontsize=7)
    ax.set_xlabel("data-order seed")
    ax.set_ylabel("weight-initialization seed")
    ax.set_title(_title("Best score per seed pair", synthetic))
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    return fig


def seed_means_figure(
    wi: pd.DataFrame, do: pd.DataFrame, synthetic: bool = False
) -> Figure:
    """Per-seed mean score (+-1 sd) for each factor, seeds in numeric order."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
    for ax, table, name in zip(axes, (wi, do), ("WI seed", "DO seed"), strict=True):
        t = table.sort_index()
        ax.errorbar(t.index, t["mean"], yerr=t["sd"].fillna(0), fmt="o", ms=3)
        ax.set_xlabel(name)
    axes[0].set_ylabel("mean best score")
    fig.suptitle(_title("Mean score per seed", synthetic))
    fig.tight_layout()
    return fig


def curves_figure(
    curves: pd.DataFrame, metric: str = "score", max_curves: int = 200, synthetic: bool = False
) -> Figure:
    """Validation curves (up to ``max_curves`` of them) against the evaluation index."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (_, g) in enumerate(curves.groupby("trial_id", sort=True)):
        if i >= max_curves:
            break
        ax.plot(g["eval_index"], g[metric], lw=0.6, alpha=0.4)
    ax.set_xlabel("evaluation")
    ax.set_ylabel(metric)
    ax.set_title(_title("Validation curves", synthetic))
    fig.tight_layout()
    return fig


def planner_figure(best: pd.DataFrame, synthetic: bool = False) -> Figure:
    """Best plan's expected best against training every trial fully, per budget."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(best["budget"], best["baseline"], label="train all fully")
    ax.plot(best["budget"], best["expected_best"], label="best early-discarding plan")
    ax.set_xlabel("budget (full runs)")
    ax.set_ylabel("expected best score")
    ax.set_title(_title("Early discarding by budget", synthetic))
    ax.legend()
    fig.tight_layout()
    return fig


def compare_figure(summary: pd.DataFrame, synthetic: bool = False) -> Figure:
    """Best score found against compute used per scheduler, mean +- sd over repeats."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for _, row in summary.iterrows():
        ax.errorbar(
            row["compute_mean"], row["best_mean"],
            xerr=np.nan_to_num(row["compute_sd"]), yerr=np.nan_to_num(row["best_sd"]),
            fmt="o", capsize=3, label=row["scheduler"],
        )
    ax.set_xlabel("compute used (full runs)")
    ax.set_ylabel("best score found")
    ax.set_title(_title("Schedulers on replayed curves", synthetic))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def cut_figure(tables: dict[str, pd.DataFrame], budget: float) -> Figure:
    """Where a cut pays: per sweep, against the share of training before the cut, the
    rank correlation of the early ranking with the final one (left) and the best plan's
    expected best against FIFO's at ``budget`` full runs, with +-2 se (right).

    ``tables`` maps a sweep's label to its :func:`~tune_seeds.analysis.cut_table`.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for label, t in tables.items():
        name = Path(label).name
        left.plot(t["share"], t["spearman"], marker=".", label=name)
        right.plot(t["share"], t["gain"], marker=".", label=name)
        right.fill_between(t["share"], t["gain"] - 2 * t["se"], t["gain"] + 2 * t["se"],
                           alpha=0.2)
    left.axhline(0.5, color="grey", lw=0.8, ls=":")
    right.axhline(0.0, color="grey", lw=0.8)
    for ax in (left, right):
        ax.axvline(0.25, color="grey", lw=0.8, ls="--")  # the paper's rule of thumb
        ax.set_xlabel("share of training before the cut")
        ax.legend(fontsize="small")
    left.set_ylabel("rank correlation with the final ranking")
    left.set_title("How well the ranking at the cut predicts the end")
    right.set_ylabel(f"best plan's expected best - FIFO's (budget {budget:g})")
    right.set_title("What the best plan cutting there gains")
    fig.tight_layout()
    return fig


def save(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as PNG (creating the folder) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
