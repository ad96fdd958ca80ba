"""The posterior figures: each parameter's prior against its posterior, and the pairs plot."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

POSTERIOR_COLOR = "#1f77b4"
PRIOR_COLOR = "#7f7f7f"
BINS = 30


def _values(params: Sequence, draws: np.ndarray) -> np.ndarray:
    """Draws on the parameters' own scales."""
    lower = np.array([p.lower for p in params])
    upper = np.array([p.upper for p in params])
    return lower + draws * (upper - lower)


def marginals_figure(params: Sequence, draws: np.ndarray) -> Figure:
    """One panel per parameter: the uniform prior on its bounds and the posterior histogram."""
    n = len(params)
    cols = min(4, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(3.2 * cols, 2.4 * rows), layout="constrained")
    values = _values(params, draws)
    for i, p in enumerate(params):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.hist(values[:, i], bins=BINS, range=(p.lower, p.upper), density=True,
                color=POSTERIOR_COLOR, alpha=0.8, label="posterior")  # fmt: skip
        ax.axhline(1 / (p.upper - p.lower), color=PRIOR_COLOR, lw=1.5, ls="--", label="prior")
        ax.axvline(float(np.median(values[:, i])), color="black", lw=1)
        ax.set_title(p.name, fontsize=9)
        ax.set_xlim(p.lower, p.upper)
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
    fig.axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle("Prior (dashed) and posterior of each calibrated parameter; line: median")
    return fig


def pairs_figure(params: Sequence, draws: np.ndarray) -> Figure:
    """The pairs plot: histograms on the diagonal, draws of each pair below it."""
    n = len(params)
    size = max(1.1, min(2.2, 14 / n))
    fig = Figure(figsize=(size * n, size * n), layout="constrained")
    values = _values(params, draws)
    grid = fig.add_gridspec(n, n)
    for row in range(n):
        for col in range(row + 1):
            ax = fig.add_subplot(grid[row, col])
            if row == col:
                ax.hist(values[:, col], bins=BINS, range=(params[col].lower, params[col].upper),
                        color=POSTERIOR_COLOR)  # fmt: skip
                ax.set_yticks([])
            else:
                ax.scatter(values[:, col], values[:, row], s=1, alpha=0.3, color=POSTERIOR_COLOR,
                           rasterized=True)  # fmt: skip
                ax.set_ylim(params[row].lower, params[row].upper)
            ax.set_xlim(params[col].lower, params[col].upper)
            ax.tick_params(labelsize=5)
            if row < n - 1:
                ax.set_xticklabels([])
            else:
                ax.set_xlabel(params[col].name, fontsize=6, rotation=30, ha="right")
            if col > 0 or row == 0:
                ax.set_yticklabels([])
            elif row != col:
                ax.set_ylabel(params[row].name, fontsize=6, rotation=0, ha="right")
    fig.suptitle("Posterior draws, pair by pair (axes: the prior bounds)")
    return fig


def posterior_figures(params: Sequence, posterior) -> dict[str, Figure]:
    """The two figures `flowsim calibrate` writes beside ``posterior.csv``."""
    return {
        "posterior_marginals.png": marginals_figure(params, posterior.draws),
        "posterior_pairs.png": pairs_figure(params, posterior.draws),
    }


def sbc_figure(table) -> Figure:
    """Simulation-based calibration: each parameter's ranks of the truth (flat if right)."""
    names = list(dict.fromkeys(table["parameter"]))
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig = Figure(figsize=(3.0 * cols, 2.2 * rows), layout="constrained")
    datasets = table["dataset"].nunique()
    bins = max(4, min(10, datasets // 4))
    for i, name in enumerate(names):
        part = table[table["parameter"] == name]
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.hist(part["rank"], bins=bins, range=(0, 1), color=POSTERIOR_COLOR)
        ax.axhline(datasets / bins, color=PRIOR_COLOR, ls="--", lw=1)
        ax.set_title(f"{name}: {part['covered'].mean():.0%} covered", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(
        f"Rank of the true value among the posterior draws, {datasets} synthetic data sets "
        "(dashed: uniform)"
    )
    return fig
