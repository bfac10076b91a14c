"""A minimal heatmap of a metric over two grid axes (the paper's Figure 2).

Rows are the first axis, columns the second, in the order given; every
cell is annotated with its value, diverged/unstable cells are drawn hatched
in grey and labelled with the step they stopped at. Matplotlib's Agg
backend only, so it works without a display.
"""
from __future__ import annotations

import math


def draw(path: str, row_axis, col_axis, cells: dict, metric: str,
         title: str = "") -> None:
    """Writes a PNG heatmap.

    Args:
      path: PNG file to write.
      row_axis: (name, [value texts]) of the rows.
      col_axis: (name, [value texts]) of the columns.
      cells: {(row text, col text): (status, metric value or None,
        diverged step or None)}; missing cells are left blank.
      metric: Name shown on the colour bar.
      title: Figure title. Defaults to none.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    (row_name, rows), (col_name, cols) = row_axis, col_axis
    values = np.full((len(rows), len(cols)), np.nan)
    for (r, c), (_, value, _) in cells.items():
        if value is not None and math.isfinite(value):
            values[rows.index(r), cols.index(c)] = value
    fig, ax = plt.subplots(figsize=(1.2 * len(cols) + 2.5, 0.8 * len(rows) + 1.8))
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="white")
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, aspect="auto")
    fig.colorbar(image, ax=ax, label=metric)
    finite = values[np.isfinite(values)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            status, value, step = cells.get((r, c), ("missing", None, None))
            if status in ("diverged", "unstable"):
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1,
                                           facecolor="0.85", hatch="//",
                                           edgecolor="0.5"))
                label = f"{status}\n@{step}" if step is not None else status
                ax.text(j, i, label, ha="center", va="center", fontsize=8,
                        color="firebrick")
            elif value is not None:
                ax.text(j, i, f"{value:.4g}", ha="center", va="center",
                        fontsize=9,
                        color="black" if value > middle else "white")
            elif status != "missing":
                ax.text(j, i, status, ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel(col_name)
    ax.set_ylabel(row_name)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
