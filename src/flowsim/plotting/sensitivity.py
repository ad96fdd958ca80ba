"""The sensitivity figure: which input each headline effect's uncertainty hangs on."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

#: Inputs shown: those whose index reaches this in some effect (and at most `MOST`).
SHOWN = 0.05
MOST = 18
NOISE = "(replication noise)"


def sensitivity_figure(indices: pd.DataFrame, summary: pd.DataFrame) -> Figure:
    """A heat map of first-order indices: a row per input, a column per effect.

    Boxed cells drive the effect (a main effect significant at 5% over the inputs); the
    dummy's row shows the estimator's noise, the last row the replication noise's share.
    """
    effects = [f"{r.scenario}\n{r.country}" for r in summary.itertuples()]
    table = indices.assign(effect=indices["scenario"] + "\n" + indices["country"])
    s1 = table.pivot(index="input", columns="effect", values="s1")[effects]
    drives = table.pivot(index="input", columns="effect", values="drives")[effects]
    real = s1.drop(index=[i for i in s1.index if i.startswith("(")])
    strongest = real.max(axis=1).sort_values(ascending=False)
    shown = list(strongest[strongest >= SHOWN].index[:MOST]) or list(strongest.index[:1])
    dummy = list(table.loc[table["kind"] == "dummy", "input"].unique())
    grid = pd.concat([s1.loc[shown + dummy], summary.set_index(s1.columns)[["noise_share"]].T])
    grid.index = [*shown, *dummy, NOISE]
    values = grid.to_numpy(float)
    fig = Figure(figsize=(1.0 * len(effects) + 3.5, 0.38 * len(grid) + 2.2), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(np.clip(values, 0, 1), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for (row, col), value in np.ndenumerate(values):
        if np.isfinite(value):
            dark = value > 0.55
            ax.text(col, row, f"{value:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if dark else "black")  # fmt: skip
        if row < len(shown) and bool(drives.loc[shown[row]].iloc[col]):
            ax.add_patch(_box(col, row))
    ax.set_xticks(range(len(effects)), effects, fontsize=7, rotation=60, ha="right")
    ax.set_yticks(range(len(grid)), grid.index, fontsize=8)
    ax.axhline(len(shown) - 0.5, color="grey", lw=0.8)
    fig.colorbar(image, ax=ax, shrink=0.6, label="share of the effect's variance")
    ax.set_title(
        "What each effect on entries hangs on: first-order index of each input;\n"
        "boxed: significant at 5% over the inputs; the dummy is never read by the model",
        fontsize=9,
    )
    return fig


def _box(col: int, row: int):
    from matplotlib.patches import Rectangle

    return Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="black", lw=1.5)
