"""The intro chapter (00): our runs beside the paper's grid, and the reproduction status per chapter."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

STATUS_COLOURS = {
    "reproduced": "#1b9e77",
    "inconclusive": "#e6ab02",
    "not reproduced": "#d95f02",
    "not testable": "#7570b3",
    "missing": "#999999",
}


def scale_comparison(ours: pd.DataFrame, paper: pd.DataFrame, preset: str) -> plt.Figure:
    """Parameters and training tokens of our runs against the paper's Table B.3 grid (log axes).

    ``ours`` needs columns ``params`` (parameters) and ``tokens`` (training tokens); ``paper`` needs ``params``.
    """
    fig, ax = plt.subplots(figsize=(7, 3.6))
    if len(ours):
        sns.scatterplot(data=ours, x="params", y="tokens", hue="experiment", ax=ax, s=28, alpha=0.8)
    paper_tokens = 20 * paper["params"]  # Chinchilla-optimal tokens, for orientation only
    ax.scatter(paper["params"], paper_tokens, marker="x", color="k", label="paper grid (20 tokens/param)")
    ax.set(xscale="log", yscale="log", xlabel="parameters N (incl. embeddings)", ylabel="training tokens D",
           title=f"Our '{preset}' runs vs the paper's model grid")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def status_counts(repro: pd.DataFrame) -> plt.Figure:
    """Stacked bar of verdict statuses per chapter."""
    counts = repro.groupby(["chapter", "status"]).size().unstack(fill_value=0)
    order = [s for s in STATUS_COLOURS if s in counts.columns]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    counts[order].plot.barh(stacked=True, ax=ax, color=[STATUS_COLOURS[s] for s in order], width=0.7)
    ax.set(xlabel="claims", ylabel="", title="Reproduction status of the paper's claims")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig

