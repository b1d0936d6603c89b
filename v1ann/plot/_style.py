"""Shared look for v1ann figures and an atomic PNG writer."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=False)  # headless by default; notebooks switch to inline themselves

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from v1ann._utils import atomic_path  # noqa: E402

BRAIN_COLOR = "#222222"
PALETTE = "viridis"


def apply_style() -> None:
    """Seaborn 'ticks' style with a readable font size."""
    sns.set_theme(style="ticks", context="notebook", font_scale=1.0)


def new_figure(ncols: int = 1, width: float = 4.2, height: float = 3.6):
    """A figure with ``ncols`` axes side by side, styled consistently."""
    apply_style()
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return fig, axes[0]


def save_figure(fig, path, dpi: int = 150) -> Path:
    """Write ``fig`` atomically to ``path`` (format from the suffix) and close it."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path
